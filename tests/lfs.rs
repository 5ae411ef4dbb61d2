//! Git LFS without git-lfs: a store built with Debian's real git-lfs (`git lfs track`, a
//! few files, one over 100 MiB, a blob that only looks like a pointer). unfurl's checkout
//! equals git-lfs's (a `git worktree add`, smudged by git-lfs), with peak memory under
//! 64 MiB; a missing object fails listing every one; a corrupt one is a hash mismatch;
//! `--lfs pointers` writes the pointers; `unfurl lfs-objects` lists what git-lfs lists;
//! `unfurl verify` accepts the checkout and sees an edited LFS file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

runtime_tests!(
    lfs_files_check_out_as_git_lfs_checks_them_out_in_bounded_memory,
    missing_lfs_objects_fail_once_listing_every_one,
    a_corrupt_lfs_object_is_a_hash_mismatch,
    lfs_pointers_mode_writes_the_pointers_as_stored,
    a_pointers_checkout_is_verified_and_switched_as_pointers,
);

/// The largest file: over 100 MiB.
const BIG: u64 = 101 << 20;

/// Peak memory a checkout of the 101 MiB object may use.
const MAX_RSS_KIB: u64 = 64 << 10;

struct Fixture {
    _tmp: TempDir,
    /// The repository's `.git`, which holds the LFS objects: the store.
    store: PathBuf,
    /// What git-lfs checked out.
    reference: PathBuf,
    /// Every LFS file's path with its oid, as `git lfs ls-files` lists them.
    listed: Vec<(String, String)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        require("git-lfs", "tests/lfs.rs builds its store with git-lfs (run tests/setup, or apt-get install git-lfs)");
        let tmp = TempDir::new("lfs-store");
        let work = tmp.join("work");
        git(tmp.path(), &["init", "-q", "-b", "main", work.to_str().unwrap()]);
        git(&work, &["lfs", "install", "--local"]);
        git(&work, &["lfs", "track", "*.bin", "assets/**"]);
        fs::write(work.join("small.bin"), b"hello\n").unwrap();
        fs::create_dir_all(work.join("assets/deep")).unwrap();
        fs::write(work.join("assets/deep/two.dat"), b"second object\0with a NUL\n").unwrap();
        fs::write(work.join("empty.bin"), b"").unwrap();
        fs::write(work.join("plain.txt"), b"not in LFS\n").unwrap();
        write_big(&work.join("big.bin"));
        git(&work, &["add", "-A"]);
        // Blobs under `filter=lfs` that are not valid pointers: written as stored.
        for (name, text) in [
            ("not-a-pointer.bin", "just text\n".to_owned()),
            (
                "path-like.bin",
                format!(
                    "version https://git-lfs.github.com/spec/v1\noid sha256:../../../../{}\nsize 6\n",
                    "a".repeat(52)
                ),
            ),
        ] {
            let id = git_stdin(&work, &["hash-object", "-w", "--no-filters", "--stdin"], text.as_bytes());
            git(&work, &["update-index", "--add", "--cacheinfo", &format!("100644,{id},{name}")]);
        }
        git(&work, &["commit", "-q", "-m", "lfs files"]);
        let reference = tmp.join("reference");
        git(&work, &["worktree", "add", "-q", "--detach", reference.to_str().unwrap(), "main"]);
        let listed = git(&work, &["lfs", "ls-files", "--long"])
            .lines()
            .map(|line| {
                let (oid, path) = line.split_once(" * ").or_else(|| line.split_once(" - ")).expect("oid * path");
                (path.to_owned(), oid.to_owned())
            })
            .collect();
        Fixture {
            store: work.join(".git"),
            reference,
            listed,
            _tmp: tmp,
        }
    })
}

/// `BIG` bytes that do not compress or repeat (xorshift), written in 1 MiB pieces.
fn write_big(path: &Path) {
    let mut file = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..BIG >> 20 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&buf).unwrap();
    }
    file.flush().unwrap();
}

/// Run unfurl with `args` and return the run and its peak resident memory in KiB (as the
/// kernel counts it for the child, through Python's `getrusage`).
fn unfurl_with_rss(args: &[std::ffi::OsString]) -> (Run, u64) {
    let script = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[1:], capture_output=True)\n\
        sys.stdout.buffer.write(r.stdout)\n\
        sys.stderr.buffer.write(r.stderr)\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
        sys.exit(r.returncode)\n";
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(unfurl_bin())
        .args(args));
    let mut run = output_to_run(out);
    let last = run
        .stderr
        .trim_end()
        .rsplit('\n')
        .next()
        .unwrap_or("")
        .to_owned();
    let rss = last
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("expected python to print the peak RSS, got {run:?}"));
    run.stderr
        .truncate(run.stderr.trim_end().len() - last.len());
    (run, rss)
}

fn lfs_files_check_out_as_git_lfs_checks_them_out_in_bounded_memory(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("lfs-out");
    let dest = tmp.join("dest");
    let (run, rss) = unfurl_with_rss(&checkout_args(
        rt,
        &["--git", "none"],
        &f.store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let expected = snapshot(&f.reference);
    assert_same_tree(
        &expected,
        &snapshot(&dest),
        &format!("LFS checkout ({})", rt.name()),
    );
    let big = fs::metadata(dest.join("big.bin")).unwrap().len();
    assert_eq!(
        big, BIG,
        "expected big.bin to be the object's {BIG} bytes, got {big}"
    );
    assert!(
        rss < MAX_RSS_KIB,
        "expected the checkout of a {BIG}-byte LFS object to peak under {MAX_RSS_KIB} KiB, it peaked at {rss} KiB ({})",
        rt.name()
    );
    // `verify` takes each LFS file for the object its pointer names (it used to compare
    // it with the pointer, and called every one modified), and sees one byte changed.
    let verify = || unfurl_verify(&["--json"], &f.store, "main", &dest);
    let run = verify();
    assert_eq!(run.code, Some(0), "verify of the LFS checkout: {run:?}");
    let (edited, _) = f
        .listed
        .iter()
        .find(|(path, _)| path != "big.bin")
        .expect("a small LFS file");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(dest.join(edited))
        .unwrap();
    file.write_all(b"!").unwrap();
    let run = verify();
    assert_eq!(run.code, Some(1), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["differences"],
        serde_json::json!([{"path": edited, "change": "modified"}]),
        "{run:?}"
    );
}

/// An LFS objects directory holding `keep` of the fixture's objects (by path), each a
/// hard link to the real one (a symlink out of the directory is not followed), and
/// `corrupt` replaced by same-sized other bytes.
fn objects_dir(tmp: &TempDir, keep: &[&str], corrupt: Option<&str>) -> PathBuf {
    let f = fixture();
    let dir = tmp.join("objects");
    for (path, oid) in &f.listed {
        if !keep.contains(&path.as_str()) {
            continue;
        }
        let rel = Path::new(&oid[..2]).join(&oid[2..4]).join(oid);
        fs::create_dir_all(dir.join(rel.parent().unwrap())).unwrap();
        let real = f.store.join("lfs/objects").join(&rel);
        if corrupt == Some(path.as_str()) {
            let mut data = fs::read(&real).unwrap();
            data[0] ^= 0xff;
            fs::write(dir.join(&rel), data).unwrap();
        } else {
            fs::hard_link(&real, dir.join(&rel)).unwrap();
        }
    }
    dir
}

fn missing_lfs_objects_fail_once_listing_every_one(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("lfs-missing");
    let objects = objects_dir(&tmp, &["small.bin"], None);
    let dest = tmp.join("dest");
    let args = ["--json", "--lfs-objects", objects.to_str().unwrap()];
    let run = unfurl(&checkout_args(rt, &args, &f.store, "main", &dest));
    assert_eq!(run.code, Some(1), "expected failure, got {run:?}");
    assert!(
        !dest.exists(),
        "expected nothing written, found {}",
        dest.display()
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(
        json["error"]["kind"], "lfs-objects-missing",
        "expected the kind, got {json}"
    );
    let missing: Vec<(String, String)> = json["error"]["missing"]
        .as_array()
        .expect("a missing list")
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_owned(),
                m["object"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = f
        .listed
        .iter()
        .filter(|(p, _)| p != "small.bin")
        .cloned()
        .collect();
    let mut got = missing.clone();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "expected every missing object listed with its path"
    );
    for (path, oid) in &want {
        assert!(
            run.stderr.contains(path.as_str()) && run.stderr.contains(oid.as_str()),
            "expected the one-line error to name {path} ({oid}), got {:?}",
            run.stderr
        );
    }
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "expected one error line, got {:?}",
        run.stderr
    );
}

fn a_corrupt_lfs_object_is_a_hash_mismatch(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("lfs-corrupt");
    let all: Vec<&str> = f.listed.iter().map(|(p, _)| p.as_str()).collect();
    let objects = objects_dir(&tmp, &all, Some("assets/deep/two.dat"));
    let dest = tmp.join("dest");
    let args = ["--json", "--lfs-objects", objects.to_str().unwrap()];
    let run = unfurl(&checkout_args(rt, &args, &f.store, "main", &dest));
    assert_eq!(run.code, Some(1), "expected failure, got {run:?}");
    assert!(
        !dest.exists(),
        "expected nothing written, found {}",
        dest.display()
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(
        json["error"]["kind"], "store-corrupt",
        "expected the kind, got {json}"
    );
    assert!(
        run.stderr.contains("hash mismatch") && run.stderr.contains("assets/deep/two.dat"),
        "expected a hash mismatch naming the file, got {:?}",
        run.stderr
    );
}

fn lfs_pointers_mode_writes_the_pointers_as_stored(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("lfs-pointers");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none", "--lfs", "pointers"],
        &f.store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let files = git(&f.store, &["ls-tree", "-r", "--name-only", "main"]);
    for path in files.lines() {
        let out = run_git_blob(&f.store, path);
        let written = fs::read(dest.join(path)).unwrap();
        assert!(
            written == out,
            "{path}: expected the blob as stored ({} bytes), got {} bytes",
            out.len(),
            written.len()
        );
    }
}

/// A checkout made with `--lfs pointers` and a `.git` records it (`unfurl.lfsPointers`):
/// `verify` compares its LFS files with the pointers (it used to expect the objects and
/// call each one modified), a switch in place without `--lfs` keeps writing pointers, and
/// `--lfs smudge` given anew writes the objects, after which `verify` expects those.
fn a_pointers_checkout_is_verified_and_switched_as_pointers(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("lfs-pointers-git");
    let dest = tmp.join("dest");
    let checkout = |extra: &[&str]| {
        let run = unfurl(&checkout_args(rt, extra, &f.store, "main", &dest));
        assert_eq!(run.code, Some(0), "checkout {extra:?}: {run:?}");
    };
    let verify = || {
        let run = unfurl_verify(&[], &f.store, "main", &dest);
        assert_eq!(run.code, Some(0), "verify: {run:?}");
    };
    let (small, _) = f
        .listed
        .iter()
        .find(|(path, _)| path != "big.bin")
        .expect("a small LFS file");
    checkout(&["--lfs", "pointers"]);
    let pointer = run_git_blob(&f.store, small);
    assert_eq!(
        fs::read(dest.join(small)).unwrap(),
        pointer,
        "{small}: the pointer"
    );
    verify();
    // The same commit again, without --lfs: nothing to do, still pointers.
    checkout(&[]);
    assert_eq!(
        fs::read(dest.join(small)).unwrap(),
        pointer,
        "{small}: still the pointer"
    );
    verify();
    checkout(&["--lfs", "smudge"]);
    assert_eq!(
        fs::read(dest.join(small)).unwrap(),
        fs::read(f.reference.join(small)).unwrap(),
        "{small}: the object, once --lfs smudge is given"
    );
    verify();
}

fn run_git_blob(store: &Path, path: &str) -> Vec<u8> {
    let out = run(git_cmd(store).args(["cat-file", "blob", &format!("main:{path}")]));
    assert!(out.status.success(), "git cat-file {path}: {out:?}");
    out.stdout
}

#[test]
fn lfs_objects_lists_what_git_lfs_lists() {
    let f = fixture();
    for json in [false, true] {
        let mut args = vec![
            "lfs-objects".to_owned(),
            f.store.to_str().unwrap().to_owned(),
            "main".to_owned(),
        ];
        if json {
            args.push("--json".into());
        }
        let run = unfurl(&args);
        assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
        let mut got: Vec<(String, String, u64)> = if json {
            let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
            v["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["path"].as_str().unwrap().into(),
                        o["oid"].as_str().unwrap().into(),
                        o["size"].as_u64().unwrap(),
                    )
                })
                .collect()
        } else {
            run.stdout
                .lines()
                .map(|l| {
                    let mut parts = l.splitn(3, ' ');
                    let (oid, size, path) = (
                        parts.next().unwrap(),
                        parts.next().unwrap(),
                        parts.next().unwrap(),
                    );
                    (path.to_owned(), oid.to_owned(), size.parse().unwrap())
                })
                .collect()
        };
        let mut want: Vec<(String, String, u64)> = f
            .listed
            .iter()
            .map(|(p, oid)| {
                (
                    p.clone(),
                    oid.clone(),
                    fs::metadata(f.reference.join(p)).unwrap().len(),
                )
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(
            got, want,
            "expected git lfs ls-files' objects with their sizes (json: {json})"
        );
    }
}

#[test]
fn under_wasm_the_lfs_objects_directory_is_preopened_read_only_and_nothing_more() {
    let f = fixture();
    let tmp = TempDir::new("lfs-preopens");
    let dest = tmp.join("dest");
    let objects = f.store.join("lfs/objects");
    let args = [
        "--json",
        "--git",
        "none",
        "--lfs-objects",
        objects.to_str().unwrap(),
    ];
    let run = unfurl(&checkout_args(
        Runtime::Wasm,
        &args,
        &f.store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let preopens: Vec<(String, String)> = json["preopens"]
        .as_array()
        .expect("preopens")
        .iter()
        .map(|p| {
            (
                p["guest"].as_str().unwrap().to_owned(),
                p["access"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("/store", "read-only"),
        ("/lfs", "read-only"),
        ("/dest", "read-write"),
    ]
    .map(|(g, a)| (g.to_owned(), a.to_owned()));
    assert_eq!(
        preopens, want,
        "expected the LFS directory read-only beside the usual preopens, got {json}"
    );
    let lfs_host = json["preopens"][1]["host"].as_str().unwrap();
    assert_eq!(
        Path::new(lfs_host),
        objects,
        "expected /lfs to be the directory given"
    );
}
