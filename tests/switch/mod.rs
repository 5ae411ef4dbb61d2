//! Switching a checkout in place (`unfurl checkout STORE REV2 DEST` where DEST holds REV1).
//!
//! Between every pair of the corpus's tags and `side`, in both runtimes, the result equals
//! `git archive REV2`, the report's `written + removed` equals `git diff --name-status
//! --no-renames REV1 REV2`, and `git status` stays clean. Kind and mode changes (a file
//! becoming a directory, a symlink, executable, and back) on a crafted store. Local changes
//! are refused and listed, `--force` overwrites them; the same revision is a no-op;
//! concurrent switches of one checkout never mix trees; a switch killed at random points
//! leaves a checkout that `verify` accepts as REV1 or REV2, or that the next run repairs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::*;

mod safety;

runtime_tests!(
    switching_between_every_pair_equals_a_fresh_checkout,
    kind_and_mode_changes_switch_both_ways,
    local_changes_are_refused_and_listed_and_force_overwrites_them,
    converted_files_touched_but_unchanged_are_not_local_changes,
    line_endings_stay_as_the_checkout_was_made,
    attributes_given_anew_override_the_recorded_ones_even_at_their_defaults,
    files_whose_attributes_change_are_written_anew,
    the_same_revision_is_a_no_op,
    a_20k_file_store_switches_between_adjacent_tags,
    a_sparse_checkout_switches_with_its_selection,
);

fn json(run: &Run, what: &str) -> serde_json::Value {
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{what}: expected one JSON object on stdout ({e}), got {run:?}"))
}

/// Check out (or switch) `dest` to `rev` with `--json`, and return the report.
fn checkout(
    rt: Runtime,
    store: &Path,
    rev: &str,
    dest: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let run = unfurl(&checkout_args(rt, &args, store, rev, dest));
    json(
        &run,
        &format!(
            "unfurl checkout {rev} into {} ({})",
            dest.display(),
            rt.name()
        ),
    )
}

/// `dest` is exactly `rev` of `store`: the tree equals `git archive`, HEAD is the commit,
/// and `git status --porcelain` is empty.
#[track_caller]
fn assert_is(store: &Path, rev: &str, dest: &Path, what: &str) {
    let reference = reference(store, rev);
    assert_same_tree(&snapshot(reference.path()), &snapshot(dest), what);
    let commit = git(store, &["rev-parse", &format!("{rev}^{{commit}}")]);
    assert_eq!(git(dest, &["rev-parse", "HEAD"]), commit, "{what}: HEAD");
    assert_eq!(
        git(dest, &["status", "--porcelain"]),
        "",
        "{what}: git status"
    );
}

fn changed_paths(store: &Path, from: &str, to: &str) -> u64 {
    git(store, &["diff", "--name-status", "--no-renames", from, to])
        .lines()
        .count() as u64
}

fn count(report: &serde_json::Value, key: &str) -> u64 {
    report["switch"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("expected switch.{key} in {report}"))
}

fn switching_between_every_pair_equals_a_fresh_checkout(rt: Runtime) {
    let store = &corpus().store;
    let revs = ["v1", "v2", "v3", "v4", "side"];
    let tmp = TempDir::new("switch-pairs");
    for from in revs {
        let dest = tmp.join(format!("from-{from}"));
        checkout(rt, store, from, &dest, &[]);
        let mut at = from;
        for to in revs.iter().copied().filter(|&to| to != from) {
            // From `from` to `to`, then back, so every ordered pair is crossed.
            for (a, b) in [(at, to), (to, from)] {
                let what = format!("switch {a} -> {b} ({})", rt.name());
                let report = checkout(rt, store, b, &dest, &[]);
                assert_is(store, b, &dest, &what);
                assert_eq!(report["unchanged"], false, "{what}: {report}");
                let diff = changed_paths(store, a, b);
                assert_eq!(
                    count(&report, "written") + count(&report, "removed"),
                    diff,
                    "{what}: expected written + removed to equal the {diff} paths git diff names, got {report}"
                );
                at = b;
            }
        }
    }
}

/// A store of two commits whose entries change kind and mode: returns (store, c1, c2).
fn kinds_store(tmp: &TempDir) -> (std::path::PathBuf, String, String) {
    let store = init_bare(&tmp.join("kinds.git"));
    let blob = |s: &[u8]| write_blob(&store, s);
    let (one, two, target_a, target_d) = (blob(b"one\n"), blob(b"two\n"), blob(b"a"), blob(b"d"));
    let sub = write_tree(&store, &[(FILE, b"f", &one)]);
    let deep = write_tree(&store, &[(FILE, b"g", &two)]);
    let nested = write_tree(&store, &[(DIR, b"deep", &deep)]);
    // c1: `a` a file, `b` a file, `l` a symlink, `x` executable, `d/` a directory,
    // `n/deep/g` nested.
    let t1 = write_tree(
        &store,
        &[
            (FILE, b"a", &one),
            (FILE, b"b", &two),
            (LINK, b"l", &target_a),
            (EXEC, b"x", &one),
            (DIR, b"d", &sub),
            (DIR, b"n", &nested),
            (FILE, b"same", &two),
        ],
    );
    // c2: `a` a directory, `b` a symlink, `l` a file, `x` not executable, `d` a file,
    // `n` gone.
    let t2 = write_tree(
        &store,
        &[
            (DIR, b"a", &sub),
            (LINK, b"b", &target_d),
            (FILE, b"l", &one),
            (FILE, b"x", &one),
            (FILE, b"d", &two),
            (FILE, b"same", &two),
        ],
    );
    let c1 = commit_tree(&store, &t1, "one");
    let c2 = commit_tree(&store, &t2, "two");
    (store, c1, c2)
}

fn kind_and_mode_changes_switch_both_ways(rt: Runtime) {
    let tmp = TempDir::new("switch-kinds");
    let (store, c1, c2) = kinds_store(&tmp);
    let dest = tmp.join("dest");
    checkout(rt, &store, &c1, &dest, &[]);
    assert_is(&store, &c1, &dest, "fresh c1");
    for (a, b) in [(&c1, &c2), (&c2, &c1), (&c1, &c2)] {
        let what = format!("switch {a} -> {b} ({})", rt.name());
        let report = checkout(rt, &store, b, &dest, &[]);
        assert_is(&store, b, &dest, &what);
        assert_eq!(
            count(&report, "written") + count(&report, "removed"),
            changed_paths(&store, a, b),
            "{what}: {report}"
        );
        assert_eq!(
            count(&report, "unchanged"),
            1,
            "{what}: only `same` is untouched: {report}"
        );
    }
}

fn local_changes_are_refused_and_listed_and_force_overwrites_them(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-local");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &[]);
    // A modified byte in a file both revisions have, and a mode change.
    let files = git(store, &["ls-tree", "-r", "--name-only", "v1"]);
    let modified = files
        .lines()
        .find(|p| !fs::symlink_metadata(dest.join(p)).unwrap().is_symlink())
        .unwrap()
        .to_owned();
    let mut data = fs::read(dest.join(&modified)).unwrap();
    data.push(b'!');
    fs::write(dest.join(&modified), &data).unwrap();
    let chmodded = files
        .lines()
        .rev()
        .find(|p| !fs::symlink_metadata(dest.join(p)).unwrap().is_symlink() && *p != modified)
        .unwrap()
        .to_owned();
    let mut perms = fs::metadata(dest.join(&chmodded)).unwrap().permissions();
    perms.set_mode(perms.mode() ^ 0o100);
    fs::set_permissions(dest.join(&chmodded), perms).unwrap();
    // A file the checkout does not know, where v4 adds one.
    let added = git(
        store,
        &["diff", "--name-only", "--diff-filter=A", "v1", "v4"],
    );
    let in_the_way = added.lines().next().expect("v4 adds a file").to_owned();
    fs::create_dir_all(dest.join(&in_the_way).parent().unwrap()).unwrap();
    fs::write(dest.join(&in_the_way), b"mine\n").unwrap();
    // An untracked file elsewhere is no one's business.
    fs::write(dest.join("untracked-elsewhere"), b"keep\n").unwrap();

    let before = snapshot(&dest);
    let run = unfurl(&checkout_args(rt, &["--json"], store, "v4", &dest));
    assert_eq!(
        run.code,
        Some(1),
        "expected the switch refused, got {run:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "local-changes", "{report}");
    let changed: Vec<&str> = report["error"]["changed"]
        .as_array()
        .unwrap_or_else(|| panic!("expected error.changed listed, got {report}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut want = vec![modified.as_str(), chmodded.as_str(), in_the_way.as_str()];
    want.sort();
    assert_eq!(changed, want, "{report}");
    assert!(
        run.stderr.lines().count() == 1 && run.stderr.contains("--force"),
        "expected one line naming --force, got {:?}",
        run.stderr
    );
    assert_same_tree(
        &before,
        &snapshot(&dest),
        "a refused switch changes nothing",
    );
    assert_eq!(
        git(&dest, &["rev-parse", "HEAD"]),
        git(store, &["rev-parse", "v1^{commit}"])
    );

    checkout(rt, store, "v4", &dest, &["--force"]);
    fs::remove_file(dest.join("untracked-elsewhere")).expect("the untracked file stays");
    assert_is(store, "v4", &dest, "forced switch");
}

/// Files the attributes convert (CRLF line endings, `ident`) never hash to their blob:
/// when their `lstat` data changed (touched, copied, restored), the switch must compare
/// them in the form a checkout writes, as git does, and still catch a real edit.
fn converted_files_touched_but_unchanged_are_not_local_changes(rt: Runtime) {
    let tmp = TempDir::new("switch-converted");
    let store = init_bare(&tmp.join("converted.git"));
    let blob = |s: &[u8]| write_blob(&store, s);
    let attributes = blob(b"*.txt text eol=crlf\n*.id ident\n");
    let (text, more, ident) = (
        blob(b"one\ntwo\n"),
        blob(b"three\nfour\n"),
        blob(b"x $Id$ y\n"),
    );
    let (a, b) = (blob(b"a\n"), blob(b"b\n"));
    let tree = |other: &str| {
        write_tree(
            &store,
            &[
                (FILE, b".gitattributes", &attributes),
                (FILE, b"f.txt", &text),
                (FILE, b"g.txt", &more),
                (FILE, b"h.id", &ident),
                (FILE, b"other", other),
            ],
        )
    };
    let c1 = commit_tree(&store, &tree(&a), "one");
    let c2 = commit_tree(&store, &tree(&b), "two");
    let dest = tmp.join("dest");
    checkout(rt, &store, &c1, &dest, &[]);
    assert_eq!(fs::read(dest.join("f.txt")).unwrap(), b"one\r\ntwo\r\n");
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for name in ["f.txt", "g.txt", "h.id"] {
        let file = fs::File::options()
            .write(true)
            .open(dest.join(name))
            .unwrap();
        file.set_modified(day_ago).unwrap();
    }
    // A real edit of a converted file, its line endings kept.
    let written = fs::read(dest.join("g.txt")).unwrap();
    fs::write(dest.join("g.txt"), b"three\r\nFOUR\r\n").unwrap();
    let run = unfurl(&checkout_args(rt, &["--json"], &store, &c2, &dest));
    assert_eq!(run.code, Some(1), "expected the edit refused, got {run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "local-changes", "{report}");
    assert_eq!(
        report["error"]["changed"],
        serde_json::json!(["g.txt"]),
        "only the edited file, not the touched ones: {report}"
    );
    // Undone (still touched): the switch goes through and leaves every converted file.
    fs::write(dest.join("g.txt"), &written).unwrap();
    let report = checkout(rt, &store, &c2, &dest, &[]);
    assert_eq!(count(&report, "written"), 1, "{report}");
    assert_eq!(count(&report, "unchanged"), 4, "{report}");
    assert_eq!(fs::read(dest.join("other")).unwrap(), b"b\n");
    assert_eq!(
        fs::read(dest.join("h.id")).unwrap(),
        format!("x $Id: {ident} $ y\n").into_bytes()
    );
    assert_eq!(git(&dest, &["status", "--porcelain"]), "", "git status");
}

/// A checkout made with `-c core.autocrlf=true` keeps it when switched without `-c`: the
/// files the switch writes get CRLF endings too, so the checkout is still what its
/// `.git/config` says (`verify` converts as it records) and `git status` stays clean.
fn line_endings_stay_as_the_checkout_was_made(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-autocrlf");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &["-c", "core.autocrlf=true"]);
    let report = checkout(rt, store, "v4", &dest, &[]);
    assert!(count(&report, "written") > 0, "{report}");
    let changed = git(
        store,
        &["diff", "--name-only", "--diff-filter=AM", "v1", "v4"],
    );
    assert!(
        any_has_crlf(&dest, &changed),
        "expected the files the switch wrote converted"
    );
    let run = unfurl_verify(&[], store, "v4", &dest);
    assert_eq!(run.code, Some(0), "verify after the switch: {run:?}");
    assert_eq!(git(&dest, &["status", "--porcelain"]), "", "git status");
}

/// `-c core.autocrlf=false` on a switch of a checkout made with `true` is used, though it
/// is the default: the files the switch writes are the blobs' bytes, and the `.git/config`
/// no longer records `autocrlf`. (It used to be taken for "no `-c`" and inherited.) The
/// files the two revisions share are written anew too: the checkout is then what a fresh
/// one of v4 is, every byte (git would keep their CRLF endings).
fn attributes_given_anew_override_the_recorded_ones_even_at_their_defaults(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-autocrlf-false");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &["-c", "core.autocrlf=true"]);
    let config = || fs::read_to_string(dest.join(".git/config")).unwrap();
    assert!(config().contains("autocrlf = true"), "{}", config());
    let report = checkout(rt, store, "v4", &dest, &["-c", "core.autocrlf=false"]);
    assert!(count(&report, "written") > 0, "{report}");
    let blobs = reference(store, "v4");
    let changed = git(
        store,
        &["diff", "--name-only", "--diff-filter=AM", "v1", "v4"],
    );
    let mut compared = 0;
    for path in changed.lines() {
        let expected = blobs.join(path);
        if fs::symlink_metadata(&expected).is_ok_and(|m| m.is_file()) {
            assert!(
                fs::read(dest.join(path)).unwrap() == fs::read(&expected).unwrap(),
                "{path}: expected the blob's bytes, unconverted"
            );
            compared += 1;
        }
    }
    assert!(
        compared > 0,
        "no regular file changed between v1 and v4: {changed}"
    );
    assert!(!config().contains("autocrlf"), "{}", config());
    assert_same_tree(
        &snapshot(blobs.path()),
        &snapshot(&dest),
        "switched with autocrlf=false",
    );
    assert_eq!(git(&dest, &["status", "--porcelain"]), "", "git status");
}

/// A `.gitattributes` that changes between two revisions changes how files the two share
/// are written: a switch writes them anew, so that the checkout is what a fresh checkout of
/// the new revision is (git's own checkout keeps them as they were). Here `a.sh`, the same
/// blob in both, gets CRLF with `core.autocrlf=true`, LF once `*.sh eol=lf` applies, and
/// CRLF again when it goes; `b.txt` stays CRLF and untouched throughout.
fn files_whose_attributes_change_are_written_anew(rt: Runtime) {
    let tmp = TempDir::new("switch-attributes");
    let store = init_bare(&tmp.join("store.git"));
    let a = write_blob(&store, b"echo a\n");
    let b = write_blob(&store, b"b\n");
    let plain = write_blob(&store, b"* text=auto\n");
    let sh_lf = write_blob(&store, b"* text=auto\n*.sh text eol=lf\n");
    let commit = |attributes: &str, message: &str| {
        let tree = write_tree(
            &store,
            &[
                (FILE, b".gitattributes", attributes),
                (FILE, b"a.sh", &a),
                (FILE, b"b.txt", &b),
            ],
        );
        commit_tree(&store, &tree, message)
    };
    let (c1, c2) = (commit(&plain, "crlf"), commit(&sh_lf, "sh lf"));
    let dest = tmp.join("dest");
    let autocrlf = ["-c", "core.autocrlf=true"];
    checkout(rt, &store, &c1, &dest, &autocrlf);
    let read = |name: &str| fs::read(dest.join(name)).unwrap();
    assert_eq!(read("a.sh"), b"echo a\r\n");
    let fresh = |rev: &str, name: &str| {
        let fresh = tmp.join(format!("fresh-{name}"));
        checkout(rt, &store, rev, &fresh, &autocrlf);
        fresh
    };
    for (rev, want, name) in [(&c2, "echo a\n", "c2"), (&c1, "echo a\r\n", "c1")] {
        let report = checkout(rt, &store, rev, &dest, &[]);
        assert_eq!(read("a.sh"), want.as_bytes(), "{name}: {report}");
        assert_eq!(read("b.txt"), b"b\r\n", "{name}");
        // .gitattributes and a.sh written, b.txt left.
        assert_eq!(count(&report, "written"), 2, "{name}: {report}");
        assert_same_tree(&snapshot(&fresh(rev, name)), &snapshot(&dest), name);
        assert_eq!(
            git(&dest, &["status", "--porcelain"]),
            "",
            "{name}: git status"
        );
        let run = unfurl_verify(&[], &store, rev, &dest);
        assert_eq!(run.code, Some(0), "{name}: verify: {run:?}");
    }
}

fn the_same_revision_is_a_no_op(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-same");
    let dest = tmp.join("dest");
    checkout(rt, store, "v2", &dest, &[]);
    let before = snapshot(&dest);
    let index = fs::metadata(dest.join(".git/index"))
        .unwrap()
        .modified()
        .unwrap();
    let report = checkout(rt, store, "v2", &dest, &[]);
    assert_eq!(report["unchanged"], true, "{report}");
    assert_eq!(count(&report, "written"), 0, "{report}");
    assert_eq!(count(&report, "removed"), 0, "{report}");
    assert_eq!(report["files"], 0, "{report}");
    assert_same_tree(&before, &snapshot(&dest), "a no-op");
    assert_eq!(
        fs::metadata(dest.join(".git/index"))
            .unwrap()
            .modified()
            .unwrap(),
        index,
        "a no-op rewrites nothing, not even the index"
    );
    // A branch naming the same commit is the same commit.
    let tags = git(store, &["tag", "--points-at", "main"]);
    if let Some(tag) = tags.lines().next() {
        checkout(rt, store, "main", &tmp.join("main"), &[]);
        let report = checkout(rt, store, tag, &tmp.join("main"), &[]);
        assert_eq!(report["unchanged"], true, "{report}");
    }
}

/// The switch on a store of real size: 20,000 files, adjacent tags, both ways.
fn a_20k_file_store_switches_between_adjacent_tags(rt: Runtime) {
    let store = store_20k();
    let tmp = TempDir::new("switch-20k");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &[]);
    for (a, b) in [("v1", "v2"), ("v2", "side"), ("side", "v1")] {
        let what = format!("20k: switch {a} -> {b} ({})", rt.name());
        let report = checkout(rt, store, b, &dest, &[]);
        assert_is(store, b, &dest, &what);
        assert_eq!(
            count(&report, "written") + count(&report, "removed"),
            changed_paths(store, a, b),
            "{what}: {report}"
        );
    }
}

fn a_sparse_checkout_switches_with_its_selection(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-sparse");
    let dest = tmp.join("dest");
    // A directory both revisions have, and one file.
    let dirs = git(store, &["ls-tree", "-d", "--name-only", "v1"]);
    let dir = dirs.lines().next().expect("v1 has a directory").to_owned();
    let files = git(store, &["ls-tree", "--name-only", "v1"]);
    let file = files
        .lines()
        .find(|f| !dirs.lines().any(|d| d == *f))
        .expect("v1 has a file at its root")
        .to_owned();
    let selected = [dir.as_str(), file.as_str()];
    checkout(rt, store, "v1", &dest, &["--path", &dir, "--path", &file]);
    for rev in ["v4", "side", "v1"] {
        let what = format!("sparse switch to {rev} ({})", rt.name());
        // No --path: the checkout keeps the selection it was made with.
        let report = checkout(rt, store, rev, &dest, &[]);
        let reference = crate::paths::archive_of(store, rev, &selected);
        assert_same_tree(&snapshot(reference.path()), &snapshot(&dest), &what);
        assert_eq!(
            git(&dest, &["status", "--porcelain"]),
            "",
            "{what}: git status"
        );
        assert_eq!(
            git(&dest, &["rev-parse", "HEAD"]),
            git(store, &["rev-parse", &format!("{rev}^{{commit}}")]),
            "{what}: HEAD"
        );
        assert!(report["switch"].is_object(), "{what}: {report}");
    }
}
