//! The hostile-tree corpus of issue 14, every case in one table, each run in both runtimes
//! inside a sentinel directory: DEST is `sentinel/dest`, beside files, a directory and a
//! symlink the cases aim at. Each case is either refused (exit 1, one line naming the
//! entry, no raw control character, no DEST, no staging) or checked out exactly as `git
//! archive | tar -x` writes it; either way the sentinel's recursive listing (names, types,
//! sizes, modification times) outside DEST does not change.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(every_hostile_tree_is_refused_or_exact_and_the_sentinel_never_changes);

/// What a case must do.
enum Expect {
    /// Fail, the error mentioning one of these.
    Refused(Vec<String>),
    /// Check out exactly as git archive does.
    Exact,
}

struct Case {
    what: String,
    tree: String,
    expect: Expect,
}

/// A directory around DEST: files, a directory and a symlink, with times in the past.
fn sentinel(root: &Path) -> PathBuf {
    let dir = root.join("sentinel");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("secret.txt"), "secret\n").unwrap();
    std::fs::write(dir.join("sub").join("passwd"), "root:x:0:0\n").unwrap();
    std::os::unix::fs::symlink("sub", dir.join("link")).unwrap();
    let out = run(Command::new("touch")
        .args(["-h", "-d", "2001-02-03 04:05:06"])
        .arg(dir.join("secret.txt"))
        .arg(dir.join("sub").join("passwd"))
        .arg(dir.join("sub"))
        .arg(dir.join("link")));
    assert!(
        out.status.success(),
        "expected touch to succeed, got {out:?}"
    );
    dir
}

/// Every entry below `dir` but `dest` and what is in it: type, size, mtime (ns), path.
fn listing(dir: &Path) -> Vec<String> {
    let out = run(Command::new("find")
        .arg(dir)
        .args(["-mindepth", "1", "-path"])
        .arg(dir.join("dest"))
        .args(["-prune", "-o", "-printf", "%y %s %T@ %P\\n"]));
    assert!(
        out.status.success(),
        "expected find to succeed, got {out:?}"
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Writes a tree of `count` files sharing one blob, in one directory, with `git mktree`.
fn wide_tree(store: &Path, blob: &str, count: usize) -> String {
    let mut input = String::new();
    for i in 0..count {
        input.push_str(&format!("{FILE} blob {blob}\tf{i:05}\n"));
    }
    git_stdin(store, &["mktree"], input.as_bytes())
}

/// `depth` nested trees, each holding a file and the next as `d`, written with git mktree.
fn deep_tree(store: &Path, blob: &str, depth: usize) -> String {
    let mut tree = write_tree(store, &[(FILE, b"bottom.txt", blob)]);
    for _ in 1..depth {
        tree = write_tree(store, &[(DIR, b"d", &tree), (FILE, b"level.txt", blob)]);
    }
    tree
}

fn cases(store: &Path, sentinel: &Path) -> Vec<Case> {
    let blob = write_blob(store, b"content\n");
    let other = write_blob(store, b"other\n");
    let payload = write_tree(
        store,
        &[(FILE, b"passwd", &other), (FILE, b"new.txt", &other)],
    );
    let hook = write_blob(store, b"#!/bin/sh\necho pwned\n");
    let hooks = write_tree(store, &[(EXEC, b"post-checkout", &hook)]);
    let dotgit = write_tree(store, &[(FILE, b"config", &blob), (DIR, b"hooks", &hooks)]);
    let sub_abs = write_blob(store, sentinel.join("sub").as_os_str().as_encoded_bytes());
    let sub_rel = write_blob(store, b"../sub");
    let modules = write_blob(store, b"[submodule \"x\"]\n\tpath = x\n\turl = /tmp/x\n");
    // Around each bad entry, two good files, so that something could be written first.
    let root = |entries: &[(&str, &[u8], &str)]| {
        let mut all: Vec<(&str, &[u8], &str)> = vec![(FILE, b"a-normal.txt", &blob)];
        all.extend_from_slice(entries);
        all.push((FILE, b"z-normal.txt", &blob));
        write_raw_tree(store, &all)
    };
    let refused = |what: &str, tree: String, needle: &str| Case {
        what: what.into(),
        tree,
        expect: Expect::Refused(vec![needle.into()]),
    };
    let mut cases = vec![
        refused("a directory `..`", root(&[(DIR, b"..", &payload)]), ".."),
        refused("a file `.`", root(&[(FILE, b".", &blob)]), "\".\""),
        refused(
            "a name with a slash",
            root(&[(FILE, b"sub/passwd", &blob)]),
            "sub/passwd",
        ),
        refused("an empty name", root(&[(FILE, b"", &blob)]), "empty"),
        refused(
            "two files `dup`",
            root(&[(FILE, b"dup", &blob), (FILE, b"dup", &other)]),
            "dup",
        ),
        refused(
            "a symlink `link` to the sentinel's sub, then a tree `link` of files",
            root(&[(LINK, b"link", &sub_abs), (DIR, b"link", &payload)]),
            "link",
        ),
        refused(
            "a tree `link`, then a symlink `link` to ../sub",
            root(&[(DIR, b"link", &payload), (LINK, b"link", &sub_rel)]),
            "link",
        ),
        refused(
            "a symlinked .gitmodules",
            root(&[(LINK, b".gitmodules", &modules)]),
            ".gitmodules",
        ),
        refused(
            "a name of 300 bytes",
            root(&[(FILE, "n".repeat(300).as_bytes(), &blob)]),
            "File name too long (os error 36)",
        ),
        refused(
            "two files named with a terminal escape",
            root(&[(FILE, b"\x1b[2Jred", &blob), (FILE, b"\x1b[2Jred", &other)]),
            "\\x1b[2Jred",
        ),
        refused(
            "two files named with a newline",
            root(&[(FILE, b"new\nline", &blob), (FILE, b"new\nline", &other)]),
            "new\\nline",
        ),
    ];
    for name in [
        &b".git"[..],
        b".GIT",
        b".Git",
        b".git.",
        b".git ",
        b".git . .",
        b"git~1",
        b"GIT~1",
        b".git::$INDEX_ALLOCATION",
        // What HFS+ ignores in a name (git's `next_hfs_char`), as found in the wild.
        ".g\u{200c}it".as_bytes(),
        ".\u{200d}git".as_bytes(),
        ".gi\u{feff}t".as_bytes(),
        "\u{202e}.git".as_bytes(),
        ".git\u{206a}".as_bytes(),
    ] {
        let shown = String::from_utf8_lossy(name).into_owned();
        cases.push(Case {
            what: format!("a directory {shown:?}"),
            tree: root(&[(DIR, name, &dotgit)]),
            expect: Expect::Refused(vec![shown.clone(), shown.escape_debug().to_string()]),
        });
    }
    let exact = |what: &str, tree: String| Case {
        what: what.into(),
        tree,
        expect: Expect::Exact,
    };
    cases.push(exact(
        "symlinks out of DEST (absolute, relative, to the sentinel)",
        write_tree(
            store,
            &[
                (LINK, b"to-sub", &sub_abs),
                (LINK, b"up", &sub_rel),
                (LINK, b"passwd", &write_blob(store, b"/etc/passwd")),
                (FILE, b"file.txt", &blob),
            ],
        ),
    ));
    cases.push(exact(
        "names with newlines and terminal escapes",
        write_tree(
            store,
            &[
                (FILE, b"new\nline", &blob),
                (FILE, b"\x1b[31mred\x1b[0m", &blob),
                (FILE, b"bell\x07", &blob),
            ],
        ),
    ));
    cases.push(exact("650 nested trees", deep_tree(store, &blob, 650)));
    cases.push(exact(
        "50 000 files in one directory",
        wide_tree(store, &blob, 50_000),
    ));
    cases
}

fn every_hostile_tree_is_refused_or_exact_and_the_sentinel_never_changes(rt: Runtime) {
    let tmp = TempDir::new("sentinel");
    let store = init_bare(&tmp.join("store.git"));
    let cases = cases(&store, &tmp.join("probe").join("sentinel"));
    check_each(
        "the hostile corpus",
        &cases,
        |c| c.what.clone(),
        |case| {
            let what = format!("{} (runtime {})", case.what, rt.name());
            let scratch = TempDir::new("case");
            let around = sentinel(scratch.path());
            // Links in the corpus name the first sentinel's path: point it at this one.
            std::fs::create_dir_all(tmp.join("probe")).unwrap();
            let _ = std::fs::remove_file(tmp.join("probe").join("sentinel"));
            std::os::unix::fs::symlink(&around, tmp.join("probe").join("sentinel")).unwrap();
            let before = listing(&around);
            let commit = commit_tree(&store, &case.tree, &case.what);
            let dest = around.join("dest");
            let run = unfurl(&checkout_args(
                rt,
                &["--git", "none"],
                &store,
                &commit,
                &dest,
            ));
            match &case.expect {
                Expect::Refused(needles) => {
                    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
                    assert_failed_run(&run, &needles, &what);
                    assert!(
                        !run.stderr.contains('\x1b') && !run.stderr.contains('\x07'),
                        "{what}: expected no raw control character in {:?}",
                        run.stderr
                    );
                    assert!(!dest.exists(), "{what}: expected no DEST");
                }
                Expect::Exact => {
                    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
                    let reference = reference(&store, &commit);
                    assert_same_tree(&snapshot(reference.path()), &snapshot(&dest), &what);
                }
            }
            assert_eq!(
                listing(&around),
                before,
                "{what}: expected the sentinel around DEST unchanged (and no staging left)"
            );
        },
    );
}
