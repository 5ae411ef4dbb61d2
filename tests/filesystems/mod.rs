//! Filesystems that cannot hold a tree as it is, mounted for real: exFAT (FUSE, on a loop
//! device) has no symlinks, no exec bits and ignores case. unfurl probes the destination
//! once and adapts as git does (symlinks written as files holding their target, exec bits
//! left unset), reports it in `--json`, and refuses two entries that would be one file,
//! unless `--case-collisions=last-wins` keeps the later, as git does. On the suite's own
//! filesystem nothing changes.
//!
//! Mounting needs root and Debian's `exfat-fuse` and `exfatprogs` (`.ci/run` installs them);
//! without them these tests fail, saying what to install.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

runtime_tests!(
    the_corpus_on_exfat_has_the_bytes_git_clone_writes_there,
    two_entries_differing_only_in_case_fail_on_exfat_naming_both,
    last_wins_keeps_the_later_entry_on_exfat_with_a_warning,
    on_a_posix_filesystem_nothing_falls_back,
    switching_across_names_that_differ_only_in_case_on_exfat_loses_nothing,
    directories_differing_only_in_case_on_exfat_keep_the_trees_paths_in_the_index,
);

mod exfat;
use exfat::{Exfat, must};

// ---------------------------------------------------------------------------------------------
// Helpers

/// What `git ls-tree -r` lists for `rev`: path → (mode, blob id).
fn tree_entries(store: &Path, rev: &str) -> BTreeMap<PathBuf, (String, String)> {
    use std::os::unix::ffi::OsStrExt;
    let out = run(git_cmd(store).args(["ls-tree", "-r", "-z", rev]));
    assert!(out.status.success(), "git ls-tree -r {rev} failed: {out:?}");
    out.stdout
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .map(|record| {
            let tab = record.iter().position(|b| *b == b'\t').unwrap();
            let meta = String::from_utf8(record[..tab].to_vec()).unwrap();
            let mut fields = meta.split(' ');
            let mode = fields.next().unwrap().to_owned();
            let id = fields.nth(1).unwrap().to_owned();
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&record[tab + 1..]));
            (path, (mode, id))
        })
        .collect()
}

/// A blob's bytes.
fn blob(store: &Path, id: &str) -> Vec<u8> {
    let out = run(git_cmd(store).args(["cat-file", "blob", id]));
    assert!(out.status.success(), "git cat-file blob {id} failed");
    out.stdout
}

/// Every regular file below `dir` and its content, directories implied; any other kind of
/// entry is a failure. `.git` is left out.
fn files_with_content(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".git"))
        .filter_map(|(path, entry)| match entry {
            Entry::Dir => None,
            Entry::File { .. } => Some((path.clone(), fs::read(dir.join(&path)).unwrap())),
            other => panic!(
                "expected only files and directories in {}, got {other:?} at {path:?}",
                dir.display()
            ),
        })
        .collect()
}

/// The `--json` object `run` printed, after asserting it succeeded.
#[track_caller]
fn json_of(run: &Run, what: &str) -> serde_json::Value {
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{what}: expected one JSON object on stdout ({e}): {run:?}"))
}

/// `fallbacks` of a `--json` report as a map kind → count.
fn fallbacks(json: &serde_json::Value) -> BTreeMap<String, u64> {
    json["fallbacks"]
        .as_array()
        .unwrap_or_else(|| panic!("expected `fallbacks` to be an array in {json}"))
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The JSON `filesystem` object with these facts.
fn facts(symlinks: bool, exec_bits: bool, case_insensitive: bool) -> serde_json::Value {
    serde_json::json!({
        "symlinks": symlinks,
        "exec_bits": exec_bits,
        "case_insensitive": case_insensitive,
    })
}

/// A store with two commits of crafted trees whose names collide when case is ignored:
/// `plain` holds `README`, `readme` and `other.txt`; `mixed` also a file `Docs` and a
/// directory `docs/`, directories `Src/` and `src/`, and `Ä.txt` beside `ä.txt`.
struct Colliding {
    _tmp: TempDir,
    store: PathBuf,
}

impl Colliding {
    fn new() -> Colliding {
        let tmp = TempDir::new("colliding");
        let store = init_bare(&tmp.join("store.git"));
        let b = |content: &str| write_blob(&store, content.as_bytes());
        let (upper, lower, other) = (b("upper\n"), b("lower\n"), b("other\n"));
        let plain = write_tree(
            &store,
            &[
                (FILE, b"README", &upper),
                (FILE, b"readme", &lower),
                (FILE, b"other.txt", &other),
            ],
        );
        let guide = write_tree(&store, &[(FILE, b"guide.md", &b("guide\n"))]);
        let src_a = write_tree(&store, &[(FILE, b"a.rs", &b("a\n"))]);
        let src_b = write_tree(&store, &[(EXEC, b"b.rs", &b("b\n"))]);
        let mixed = write_tree(
            &store,
            &[
                (FILE, b"README", &upper),
                (FILE, b"readme", &lower),
                (FILE, b"other.txt", &other),
                (FILE, b"Docs", &b("docs file\n")),
                (DIR, b"docs", &guide),
                (DIR, b"Src", &src_a),
                (DIR, b"src", &src_b),
                (FILE, "Ä.txt".as_bytes(), &b("A umlaut\n")),
                (FILE, "ä.txt".as_bytes(), &b("a umlaut\n")),
            ],
        );
        for (name, tree) in [("plain", &plain), ("mixed", &mixed)] {
            let commit = commit_tree(&store, tree, name);
            git(
                &store,
                &["update-ref", &format!("refs/heads/{name}"), &commit],
            );
        }
        Colliding { _tmp: tmp, store }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// The corpus (symlinks, executables, odd names) onto exFAT: where `git clone` writes each
/// symlink as a file holding its target and gives up on exec bits, unfurl writes the same
/// bytes, says so in `--json`, and reports the facts a `.git` there needs to keep
/// `git status` clean.
fn the_corpus_on_exfat_has_the_bytes_git_clone_writes_there(rt: Runtime) {
    let corpus = corpus();
    let exfat = Exfat::mount("exfat-corpus");
    let what = format!(
        "unfurl checkout of the corpus onto exFAT (runtime {})",
        rt.name()
    );

    let clone = exfat.join("git-clone");
    let out = run(git_cmd(exfat.path())
        .args(["clone", "-q", "--no-hardlinks", "--branch", "main"])
        .arg(&corpus.store)
        .arg(&clone));
    assert!(
        out.status.success(),
        "expected git clone --no-hardlinks onto exFAT to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let dest = exfat.join("deps").join("unfurl");
    let json = json_of(
        &unfurl(&checkout_args(
            rt,
            &["--json"],
            &corpus.store,
            "main",
            &dest,
        )),
        &what,
    );

    // The same bytes as git's clone, path for path.
    let ours = files_with_content(&dest);
    let gits = files_with_content(&clone);
    let ours_paths: Vec<_> = ours.keys().collect();
    let gits_paths: Vec<_> = gits.keys().collect();
    assert_eq!(
        ours_paths, gits_paths,
        "{what}: expected the paths of git clone's checkout on the same exFAT"
    );
    let differing: Vec<_> = ours
        .iter()
        .filter(|(path, content)| gits[*path] != **content)
        .map(|(path, _)| path)
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: expected every file's bytes to equal git clone's, these differ: {differing:?}"
    );

    // Symlinks are files holding their target; nothing left beside DEST.
    let entries = tree_entries(&corpus.store, "main");
    let links: Vec<_> = entries.iter().filter(|(_, (m, _))| m == LINK).collect();
    let executables = entries.values().filter(|(m, _)| m == EXEC).count() as u64;
    assert!(
        !links.is_empty() && executables > 0,
        "expected the corpus to hold symlinks and executables, got {} and {executables}",
        links.len()
    );
    for (path, (_, id)) in &links {
        let target = blob(&corpus.store, id);
        let on_disk = dest.join(path);
        let meta = fs::symlink_metadata(&on_disk).unwrap();
        assert!(
            meta.is_file(),
            "{what}: expected symlink {path:?} to be a regular file, got {:?}",
            meta.file_type()
        );
        assert_eq!(
            fs::read(&on_disk).unwrap(),
            target,
            "{what}: expected {path:?} to hold its target {:?}",
            String::from_utf8_lossy(&target)
        );
    }
    let mut beside: Vec<_> = fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["unfurl"],
        "{what}: expected only DEST in its parent (no staging or probe left)"
    );

    // The report: the facts, and the fallbacks, by kind.
    assert_eq!(
        json["filesystem"],
        facts(false, false, true),
        "{what}: expected exFAT's facts in {json}"
    );
    let want: BTreeMap<String, u64> = [
        ("no-exec-bit".to_owned(), executables),
        ("symlink-as-file".to_owned(), links.len() as u64),
    ]
    .into();
    assert_eq!(
        fallbacks(&json),
        want,
        "{what}: expected the fallbacks taken (and no exec bit set by the host) in {json}"
    );
    assert_eq!(
        (json["symlinks"].as_u64(), json["executables"].as_u64()),
        (Some(links.len() as u64), Some(executables)),
        "{what}: expected the tree's symlinks and executables counted in {json}"
    );
    assert_eq!(
        json["case_collisions"],
        serde_json::json!([]),
        "{what}: expected no case collision in the corpus, got {json}"
    );

    // The facts are what a .git there needs: git, told them, sees a clean work tree.
    let flag = |key: &str, value: bool| format!("core.{key}={value}");
    let status = must(
        git_cmd(exfat.path())
            .arg("--git-dir")
            .arg(clone.join(".git"))
            .arg("--work-tree")
            .arg(&dest)
            .arg("-c")
            .arg(flag(
                "symlinks",
                json["filesystem"]["symlinks"].as_bool().unwrap(),
            ))
            .arg("-c")
            .arg(flag(
                "filemode",
                json["filesystem"]["exec_bits"].as_bool().unwrap(),
            ))
            .arg("-c")
            .arg(flag(
                "ignorecase",
                json["filesystem"]["case_insensitive"].as_bool().unwrap(),
            ))
            .args(["status", "--porcelain"]),
        "git status on unfurl's checkout",
    );
    assert_eq!(
        status, "",
        "{what}: expected git status to be clean with the reported facts"
    );
}

/// `README` and `readme` are one file on exFAT: the checkout fails before writing, naming
/// both, with the stable kind `case-collision`, and leaves nothing behind.
fn two_entries_differing_only_in_case_fail_on_exfat_naming_both(rt: Runtime) {
    let store = Colliding::new();
    let exfat = Exfat::mount("exfat-collide");
    let dest = exfat.join("x").join("y").join("dest");
    let what = format!(
        "a checkout of README and readme onto exFAT (runtime {})",
        rt.name()
    );
    let run = assert_fails_cleanly(
        &checkout_args(rt, &[], &store.store, "plain", &dest),
        exfat.path(),
        &["\"README\""],
        &what,
    );
    assert!(
        run.stderr.contains("\"README\" and \"readme\"") && run.stderr.contains("case"),
        "{what}: expected the error to name both entries and say why, got {:?}",
        run.stderr
    );

    let run = unfurl(&checkout_args(
        rt,
        &["--json"],
        &store.store,
        "plain",
        &dest,
    ));
    assert_eq!(
        run.code,
        Some(1),
        "{what} with --json: expected exit 1, got {run:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{what}: expected a JSON error ({e}): {run:?}"));
    assert_eq!(
        (
            json["error"]["kind"].as_str(),
            json["error"]["path"].as_str()
        ),
        (Some("case-collision"), Some("README")),
        "{what}: expected kind case-collision naming the earlier entry, got {json}"
    );
    let left: Vec<_> = fs::read_dir(exfat.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "{what}: expected nothing left on the filesystem, got {left:?}"
    );
}

/// With `--case-collisions=last-wins`, git's behaviour: of two entries that are one file,
/// the later in index order is written, with a warning, and reported; directories that
/// differ only in case merge; a file and a directory of one name keep the later.
fn last_wins_keeps_the_later_entry_on_exfat_with_a_warning(rt: Runtime) {
    let store = Colliding::new();
    let exfat = Exfat::mount("exfat-last-wins");
    let dest = exfat.join("dest");
    let what = format!("a last-wins checkout onto exFAT (runtime {})", rt.name());
    let run = unfurl(&checkout_args(
        rt,
        &["--json", "--case-collisions=last-wins"],
        &store.store,
        "mixed",
        &dest,
    ));
    let json = json_of(&run, &what);

    let got = files_with_content(&dest);
    let want: BTreeMap<PathBuf, Vec<u8>> = [
        ("Src/a.rs", "a\n"),
        ("Src/b.rs", "b\n"),
        ("docs/guide.md", "guide\n"),
        ("other.txt", "other\n"),
        ("readme", "lower\n"),
        ("ä.txt", "a umlaut\n"),
    ]
    .into_iter()
    .map(|(p, c)| (PathBuf::from(p), c.as_bytes().to_vec()))
    .collect();
    assert_eq!(
        got, want,
        "{what}: expected the later of each colliding pair, merged directories spelled as \
         the first"
    );
    assert_eq!(
        json["case_collisions"],
        serde_json::json!([
            {"lost": "Docs", "kept": "docs/guide.md"},
            {"lost": "README", "kept": "readme"},
            {"lost": "Ä.txt", "kept": "ä.txt"},
        ]),
        "{what}: expected the entries left out in index order, got {json}"
    );
    assert_eq!(
        fallbacks(&json).get("case-collision"),
        Some(&3),
        "{what}: expected a case-collision fallback counted in {json}"
    );
    let warnings: Vec<_> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert!(
        warnings.len() == 3
            && warnings[1].contains("\"README\"")
            && warnings[1].contains("\"readme\""),
        "{what}: expected one warning per entry left out, naming both, got {:?}",
        run.stderr
    );
    assert_eq!(
        json["files"].as_u64(),
        Some(6),
        "{what}: expected the files written counted, got {json}"
    );
}

/// On the suite's own filesystem (POSIX: symlinks, exec bits, case matters) the probe
/// changes nothing: no fallback, both `README` and `readme` written, the facts reported.
fn on_a_posix_filesystem_nothing_falls_back(rt: Runtime) {
    let tmp = TempDir::new("posix");
    let what = format!(
        "a checkout on the suite's filesystem (runtime {})",
        rt.name()
    );
    let json = assert_checkout_matches(rt, &corpus().store, "main", &tmp.join("corpus"), &[]);
    assert_eq!(
        json["filesystem"],
        facts(true, true, false),
        "{what}: expected a POSIX filesystem's facts in {json}"
    );
    let taken = fallbacks(&json);
    for kind in ["symlink-as-file", "no-exec-bit", "case-collision"] {
        assert!(
            !taken.contains_key(kind),
            "{what}: expected no {kind} fallback, got {json}"
        );
    }

    let store = Colliding::new();
    let json = assert_checkout_matches(rt, &store.store, "mixed", &tmp.join("mixed"), &[]);
    assert_eq!(
        json["case_collisions"],
        serde_json::json!([]),
        "{what}: expected README and readme both written where case matters, got {json}"
    );
}

/// A switch on exFAT between trees whose names differ only in case: `Docs/x` becomes
/// `docs/x` with the same blob, `Docs/sub/y` becomes `docs/sub/y` with another, `README`
/// becomes `readme` with the same blob. Looking the new names up finds the old files, which
/// the switch removes: they must be written again after that, not counted as unchanged.
/// Each switch (there and back) leaves exactly the tree, spelled as the tree spells it, a
/// clean `git status`, and a `verify` that passes.
fn switching_across_names_that_differ_only_in_case_on_exfat_loses_nothing(rt: Runtime) {
    let tmp = TempDir::new("case-switch");
    let store = init_bare(&tmp.join("store.git"));
    let b = |content: &str| write_blob(&store, content.as_bytes());
    let (x, y1, y2, readme, keep) = (b("x\n"), b("y1\n"), b("y2\n"), b("read me\n"), b("k\n"));
    let sub = |y: &str| write_tree(&store, &[(FILE, b"y", y)]);
    let docs = |y: &str| {
        let sub = sub(y);
        write_tree(&store, &[(FILE, b"x", &x), (DIR, b"sub", &sub)])
    };
    let (upper_docs, lower_docs) = (docs(&y1), docs(&y2));
    let before = write_tree(
        &store,
        &[
            (DIR, b"Docs", &upper_docs),
            (FILE, b"README", &readme),
            (FILE, b"k", &keep),
        ],
    );
    let after = write_tree(
        &store,
        &[
            (DIR, b"docs", &lower_docs),
            (FILE, b"k", &keep),
            (FILE, b"readme", &readme),
        ],
    );
    for (name, tree) in [("before", &before), ("after", &after)] {
        let commit = commit_tree(&store, tree, name);
        git(
            &store,
            &["update-ref", &format!("refs/heads/{name}"), &commit],
        );
    }
    let exfat = Exfat::mount("exfat-case-switch");
    let dest = exfat.join("dest");
    let listing = |dir: &Path| snapshot(dir).into_keys().collect::<Vec<_>>();
    let run = unfurl(&checkout_args(rt, &[], &store, "before", &dest));
    assert_eq!(run.code, Some(0), "the checkout of before: {run:?}");
    for rev in ["after", "before", "after"] {
        let what = format!("switch to {rev} on exFAT ({})", rt.name());
        let run = unfurl(&checkout_args(rt, &[], &store, rev, &dest));
        assert_eq!(run.code, Some(0), "{what}: {run:?}");
        let expected = reference(&store, rev);
        assert_eq!(
            listing(&dest),
            listing(expected.path()),
            "{what}: the names"
        );
        assert_eq!(
            files_with_content(&dest),
            files_with_content(expected.path()),
            "{what}: the contents"
        );
        assert_eq!(
            git(&dest, &["status", "--porcelain"]),
            "",
            "{what}: git status"
        );
        let verify = unfurl(&[
            "verify".as_ref(),
            store.as_os_str(),
            rev.as_ref(),
            dest.as_os_str(),
        ]);
        assert_eq!(verify.code, Some(0), "{what}: verify: {verify:?}");
    }
}

/// `Src/a` and `src/b` on exFAT: one directory, spelled `Src` (the first in byte order), as
/// git's checkout makes it. The index still records the tree's paths (`src/b`, as git's
/// does: with `core.ignorecase` git finds it below `Src`), so `git status` is clean and
/// `git ls-files` lists the tree; `verify` compares names as the filesystem does, and
/// passes for unfurl's checkout and for `git clone`'s on the same filesystem.
fn directories_differing_only_in_case_on_exfat_keep_the_trees_paths_in_the_index(rt: Runtime) {
    let tmp = TempDir::new("case-dirs");
    let store = init_bare(&tmp.join("store.git"));
    let b = |content: &str| write_blob(&store, content.as_bytes());
    let upper = write_tree(&store, &[(FILE, b"a", &b("a\n"))]);
    let lower = write_tree(&store, &[(FILE, b"b", &b("b\n"))]);
    let tree = write_tree(&store, &[(DIR, b"Src", &upper), (DIR, b"src", &lower)]);
    let commit = commit_tree(&store, &tree, "two spellings");
    git(&store, &["update-ref", "refs/heads/main", &commit]);
    let exfat = Exfat::mount("exfat-case-dirs");
    let dest = exfat.join("dest");
    let what = format!("Src/a and src/b on exFAT ({})", rt.name());
    let run = unfurl(&checkout_args(rt, &[], &store, "main", &dest));
    assert_eq!(run.code, Some(0), "{what}: {run:?}");
    let names: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".git")
        .collect();
    assert_eq!(names, ["Src"], "{what}: one directory");
    assert_eq!(
        git(&dest, &["ls-files"]),
        "Src/a\nsrc/b",
        "{what}: the index"
    );
    assert_eq!(
        git(&dest, &["status", "--porcelain"]),
        "",
        "{what}: git status"
    );
    let clone = exfat.join("clone");
    git(
        exfat.path(),
        &[
            "clone",
            "-q",
            "--no-hardlinks",
            store.to_str().unwrap(),
            "clone",
        ],
    );
    for dir in [&dest, &clone] {
        let verify = unfurl(&[
            "verify".as_ref(),
            store.as_os_str(),
            "main".as_ref(),
            dir.as_os_str(),
        ]);
        assert_eq!(
            verify.code,
            Some(0),
            "{what}: verify {}: {verify:?}",
            dir.display()
        );
    }
}
