//! Deeply nested trees check out while their paths fit (600 levels, and as deep as Linux
//! paths allow); paths past `PATH_MAX` check out natively and fail clearly under wasm; trees
//! nested past the depth limit, and tree bombs past the entry limit, are refused in little
//! memory.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(
    a_tree_600_levels_deep_matches_git_archive,
    a_tree_as_deep_as_linux_paths_allow_matches_git_archive,
    a_tree_whose_paths_exceed_path_max_checks_out_natively_and_fails_clearly_under_wasm,
    trees_nested_past_the_depth_limit_are_refused_in_little_memory,
    a_tree_bomb_is_refused_at_the_entry_limit_in_bounded_memory,
);

/// Writes `depth` nested trees as loose objects into the bare store `argv[1]`: each holds the
/// one below as `d` (and, if `argv[3]` is `1`, a file `level.txt`), the deepest holds
/// `bottom.txt`. Prints the outermost tree's id. (One `git hash-object` per tree would take
/// minutes for 20,000 levels; this takes seconds.)
const NEST: &str = r#"
import hashlib, os, sys, zlib
store, depth, files = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def put(kind, data):
    raw = b"%s %d\0" % (kind, len(data)) + data
    oid = hashlib.sha1(raw).digest()
    path = os.path.join(store, "objects", oid.hex()[:2], oid.hex()[2:])
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(zlib.compress(raw, 1))
    return oid
level = b"100644 level.txt\0" + put(b"blob", b"a file at every level\n") if files else b""
tree = put(b"tree", b"100644 bottom.txt\0" + put(b"blob", b"bottom\n"))
for _ in range(depth - 1):
    tree = put(b"tree", b"40000 d\0" + tree + level)
print(tree.hex())
"#;

/// The depth limit (`unfurl_engine::plan::MAX_TREE_DEPTH`): a tree nested this many trees
/// deep (counting the root) passes, one level more is refused.
const MAX_TREE_DEPTH: usize = 4096;

/// A new bare store in `tmp` whose only commit holds `depth` nested trees (see [`NEST`]);
/// returns the store and the commit.
fn nested_store(tmp: &TempDir, depth: usize, files: bool) -> (PathBuf, String) {
    require(
        "python3",
        "it writes the loose objects of deeply nested trees",
    );
    let store = init_bare(&tmp.join(format!("nested-{depth}.git")));
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(NEST)
        .arg(&store)
        .arg(depth.to_string())
        .arg(if files { "1" } else { "0" }));
    assert!(
        out.status.success(),
        "expected the nested-tree writer to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let commit = commit_tree(&store, &tree, &format!("{depth} nested trees"));
    (store, commit)
}

fn a_tree_600_levels_deep_matches_git_archive(rt: Runtime) {
    let tmp = TempDir::new("nested");
    let (store, commit) = nested_store(&tmp, 600, true);
    let json = assert_checkout_matches(rt, &store, &commit, &tmp.join("dest"), &[]);
    assert_eq!(
        (json["files"].as_u64(), json["dirs"].as_u64()),
        (Some(600), Some(599)),
        "expected a file at each of the 600 levels and 599 directories, got {json}"
    );
}

/// Every entry under `dir`, one line each: `f SIZE PATH`, `d PATH` or `TYPE PATH`, sorted.
/// `find` walks a tree whose paths are longer than `PATH_MAX`, which [`snapshot`] cannot.
fn find_listing(dir: &Path) -> Vec<String> {
    let out = run(Command::new("find")
        .arg(dir)
        .args([
            "-mindepth",
            "1",
            "(",
            "-type",
            "f",
            "-printf",
            "f %s %P\\n",
            ")",
        ])
        .args(["-o", "(", "-type", "d", "-printf", "d %P\\n", ")"])
        .args(["-o", "-printf", "%y %P\\n"]));
    assert!(
        out.status.success(),
        "expected find {} to succeed, got {}: {}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The deepest chain of one-letter directories whose every path fits in Linux's `PATH_MAX`
/// (4096 bytes with the NUL): 2042 directories and `bottom.txt` make 4094 bytes. git archive
/// takes it too (git refuses more than `core.maxTreeDepth`, 2048 by default, below the root).
///
/// Deeper trees, up to [`MAX_TREE_DEPTH`], check out natively too (the writer reaches each
/// directory one name at a time from its parent's handle), but `tar -x` fails on them: see
/// [`a_tree_whose_paths_exceed_path_max_checks_out_natively_and_fails_clearly_under_wasm`].
fn a_tree_as_deep_as_linux_paths_allow_matches_git_archive(rt: Runtime) {
    // The deepest file's path, `d/`×(depth-1) and `bottom.txt`, is 4094 bytes at 2043
    // levels: the most a Linux path holds. A writer guest names it below its preopen
    // (`/dest/…`), whose prefix takes a few levels off.
    let depth: usize = match rt {
        Runtime::Native => 2043,
        Runtime::Wasm => 2040,
    };
    let tmp = TempDir::new("nested");
    let (store, commit) = nested_store(&tmp, depth, true);
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        rt,
        &["--json", "--git", "none"],
        &store,
        &commit,
        &dest,
    ));
    let what = format!("a tree {depth} levels deep (runtime {})", rt.name());
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    let reference = reference(&store, &commit);
    let (expected, actual) = (find_listing(reference.path()), find_listing(&dest));
    assert_eq!(
        expected.len(),
        2 * depth - 1,
        "{what}: expected git archive to write {depth} files and {} directories",
        depth - 1
    );
    let first_difference = expected.iter().zip(&actual).find(|(e, a)| e != a);
    assert!(
        expected == actual,
        "{what}: expected the checkout to list as git archive's ({} entries), got {} entries; \
         first difference: {:?}",
        expected.len(),
        actual.len(),
        first_difference.map(|(e, a)| (&e[..e.len().min(80)], &a[..a.len().min(80)]))
    );
    let bottom = bottom_content(&dest);
    assert_eq!(
        bottom, "bottom\n",
        "{what}: expected the deepest file's content, got {bottom:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (json["files"].as_u64(), json["dirs"].as_u64()),
        (Some(depth as u64), Some(depth as u64 - 1)),
        "{what}: expected the counts of the tree, got {json}"
    );
}

/// 2100 levels of `d/` make paths of over 4200 bytes, past Linux's `PATH_MAX`. Natively the
/// writer never hands the system more than one name (it opens each directory from its
/// parent's handle), so the tree checks out whole with `--git none`; with a `.git`, whose
/// index stats each entry by its path (as git does), it fails with a short line that says
/// to pass `--git none`. Under wasm the guest names each file by
/// its path below the preopen, which wasmtime resolves in one call: the checkout fails with
/// one line naming the file and "too long" in the host's words, and leaves nothing.
fn a_tree_whose_paths_exceed_path_max_checks_out_natively_and_fails_clearly_under_wasm(
    rt: Runtime,
) {
    const DEPTH: usize = 2100;
    let tmp = TempDir::new("nested");
    let (store, commit) = nested_store(&tmp, DEPTH, true);
    let what = format!("a tree {DEPTH} levels deep (runtime {})", rt.name());
    if rt == Runtime::Wasm {
        let site = FailureSite::new();
        let run = assert_fails_cleanly(
            &checkout_args(rt, &["--git", "none"], &store, &commit, &site.dest),
            &site.parent,
            &["file name too long (os error 36)"],
            &what,
        );
        assert!(
            run.stderr.contains("d/d/d/d/"),
            "{what}: expected the error to name the path, got {:?}",
            &run.stderr[..run.stderr.len().min(300)]
        );
        return;
    }
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none"],
        &store,
        &commit,
        &dest,
    ));
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    let listing = find_listing(&dest);
    let files: Vec<&String> = listing.iter().filter(|l| l.starts_with("f ")).collect();
    let dirs = listing.iter().filter(|l| l.starts_with("d ")).count();
    assert_eq!(
        (files.len(), dirs, listing.len()),
        (DEPTH, DEPTH - 1, 2 * DEPTH - 1),
        "{what}: expected {DEPTH} files, {} directories and nothing else",
        DEPTH - 1
    );
    let longest = files.iter().map(|l| l.len()).max().unwrap_or(0);
    assert!(
        longest > 4096,
        "{what}: expected a path longer than PATH_MAX, the longest is {longest} bytes"
    );
    let wrong: Vec<&&String> = files
        .iter()
        .filter(|l| !l.starts_with("f 22 ") && !l.starts_with("f 7 "))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: expected level.txt (22 bytes) and bottom.txt (7 bytes) only, got {} others",
        wrong.len()
    );
    let bottom = bottom_content(&dest);
    assert_eq!(
        bottom, "bottom\n",
        "{what}: expected the deepest file's content, got {bottom:?}"
    );
    // With a `.git` (the default), the index cannot record such a path: one short line
    // that says so and what to do, and nothing left behind.
    let site = FailureSite::new();
    let run = assert_fails_cleanly(
        &checkout_args(rt, &[], &store, &commit, &site.dest),
        &site.parent,
        &["longer than this system allows", "--git none"],
        &what,
    );
    assert!(
        run.stderr.trim().len() < 300,
        "{what}: expected a short line, not the whole path, got {} bytes",
        run.stderr.len()
    );
}

/// The content of `bottom.txt`, read from its own directory (its path is too long to open).
fn bottom_content(dest: &Path) -> String {
    let out = run(Command::new("find").arg(dest).args([
        "-name",
        "bottom.txt",
        "-execdir",
        "cat",
        "{}",
        ";",
    ]));
    assert!(
        out.status.success(),
        "expected find -execdir cat bottom.txt to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The most memory a refusal may take, in KiB. Measured with a debug build: about 14 MiB
/// natively and 19 MiB under wasm; 60 MiB under wasm when it first compiles the guest. When
/// each directory held its whole path, 20,000 levels took 525 MiB natively, and 200,000 were
/// killed by the OOM killer.
const REFUSAL_PEAK_KIB: u64 = 64 * 1024;

fn trees_nested_past_the_depth_limit_are_refused_in_little_memory(rt: Runtime) {
    let tmp = TempDir::new("nested");
    // The first wasm run may compile the guest: warm the cache so that the peak measured
    // below is the refusal's.
    let (store, commit) = nested_store(&tmp, 3, false);
    let _ = unfurl(&checkout_args(rt, &[], &store, &commit, &tmp.join("warm")));
    for depth in [MAX_TREE_DEPTH + 1, 20_000] {
        let (store, commit) = nested_store(&tmp, depth, false);
        let site = FailureSite::new();
        let what = format!("a tree nested {depth} deep (runtime {})", rt.name());
        let before = snapshot(&site.parent);
        let (run, peak_kib) = unfurl_with_peak_memory(
            &checkout_args(rt, &[], &store, &commit, &site.dest),
            site.tmp.path(),
        );
        // Refused where the walk reaches the limit, whatever lies below.
        let needle = format!(
            "nested {} trees deep, past the limit of {MAX_TREE_DEPTH}",
            MAX_TREE_DEPTH + 1
        );
        assert_failed_run(&run, &[&needle], &what);
        let d = diff(&before, &snapshot(&site.parent), 25);
        assert!(
            d.is_empty(),
            "{what}: expected {} left exactly as it was, actual changes:\n{}",
            site.parent.display(),
            d.join("\n")
        );
        assert!(
            peak_kib < REFUSAL_PEAK_KIB,
            "{what}: expected the refusal to peak under {} MiB, it took {} MiB",
            REFUSAL_PEAK_KIB / 1024,
            peak_kib / 1024
        );
    }
}

/// Runs `argv[3:]` with its output in the files `argv[1]` and `argv[2]`, then prints its exit
/// code and its peak RSS in KiB. A process's peak RSS starts from its parent's at the fork
/// (and the test process is large), so the child is measured from a small parent: this one.
const PEAK_RSS: &str = r#"
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    run = subprocess.run(sys.argv[3:], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
print(run.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"#;

/// Runs unfurl with `args` and returns what it did and its peak resident memory in KiB (which
/// includes the 10 to 15 MiB of the python that measures it). Its output goes through files
/// in `scratch`.
fn unfurl_with_peak_memory<S: AsRef<OsStr>>(args: &[S], scratch: &Path) -> (Run, u64) {
    require("python3", "it measures unfurl's peak memory");
    let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
    let unfurl = unfurl_cmd();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(PEAK_RSS)
        .arg(&out_path)
        .arg(&err_path)
        .arg(unfurl.get_program())
        .args(args);
    for (key, value) in unfurl.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let measured = run(&mut cmd);
    let report = String::from_utf8_lossy(&measured.stdout);
    let parsed = report
        .split_once(' ')
        .and_then(|(code, kib)| Some((code.parse::<i32>().ok()?, kib.trim().parse::<u64>().ok()?)));
    let Some((code, peak_kib)) = parsed else {
        panic!(
            "expected the measuring python to print an exit code and a peak RSS, got {report:?} \
             and {}",
            String::from_utf8_lossy(&measured.stderr)
        );
    };
    let run = Run {
        // Negative: killed by that signal.
        code: (code >= 0).then_some(code),
        stdout: fs::read_to_string(&out_path).unwrap(),
        stderr: fs::read_to_string(&err_path).unwrap(),
    };
    (run, peak_kib)
}

/// A tree bomb: a store of a few kilobytes whose 30 levels each name the same subtree twice,
/// 2^30 files in all. The walk stops at `MAX_TREE_ENTRIES` (five million) with one line,
/// `tree-rejected`, nothing left, in bounded memory (about 420 MiB natively; it grew without
/// limit, 2.5 GB after two minutes, before the limit; under wasm the memory cap caught it).
fn a_tree_bomb_is_refused_at_the_entry_limit_in_bounded_memory(rt: Runtime) {
    let tmp = TempDir::new("bomb");
    let store = init_bare(&tmp.join("bomb.git"));
    let blob = write_blob(&store, b"hi\n");
    let mut tree = write_tree(&store, &[(FILE, b"f", &blob)]);
    for _ in 0..30 {
        tree = write_tree(&store, &[(DIR, b"a", &tree), (DIR, b"b", &tree)]);
    }
    let commit = commit_tree(&store, &tree, "bomb");
    let site = FailureSite::new();
    let what = format!("a tree of 2^30 files (runtime {})", rt.name());
    let before = snapshot(&site.parent);
    let (run, peak_kib) = unfurl_with_peak_memory(
        &checkout_args(
            rt,
            &["--json", "--git", "none"],
            &store,
            &commit,
            &site.dest,
        ),
        site.tmp.path(),
    );
    assert_eq!(run.code, Some(1), "{what}: {run:?}");
    assert!(
        run.stderr.contains("more than 5000000 entries"),
        "{what}: {run:?}"
    );
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(json["error"]["kind"], "tree-rejected", "{what}: {json}");
    assert!(
        diff(&before, &snapshot(&site.parent), 5).is_empty(),
        "{what}: nothing left"
    );
    assert!(
        peak_kib < 1024 * 1024,
        "{what}: expected the refusal to stay under 1 GiB, it took {} MiB",
        peak_kib / 1024
    );
}
