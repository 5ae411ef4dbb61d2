//! Trees crafted with `git hash-object -t tree --literally` whose entries are malformed or
//! dangerous (`..`, `.git` in any spelling, `/` in a name, duplicates, a symlinked
//! `.gitmodules`, a symlink and a directory of one name) are refused before anything is
//! written.

use std::fs;
use std::path::Path;

use crate::support::*;

runtime_tests!(
    dot_and_dot_dot_entries_are_refused,
    git_directory_in_every_spelling_is_refused,
    names_with_a_slash_and_empty_names_are_refused,
    a_symlinked_gitmodules_is_refused,
    duplicate_names_in_one_tree_are_refused,
    a_blob_and_a_tree_with_one_name_are_refused,
    a_symlink_and_a_directory_with_one_name_never_write_through_the_link,
);
/// One hostile tree: a description, the root tree id, and what the error must mention (any one).
struct Case {
    what: String,
    tree: String,
    needles: Vec<String>,
}

/// Forms a name may take in an error message: as is, and escaped like Rust's `{:?}`.
fn name_needles(name: &[u8]) -> Vec<String> {
    let lossy = String::from_utf8_lossy(name).into_owned();
    let escaped = lossy.escape_debug().to_string();
    let mut v = vec![lossy, escaped];
    v.dedup();
    v
}

/// Every case must fail with exit 1, a one-line error naming the entry, and nothing written.
fn assert_all_refused(rt: Runtime, c: &Crafted, cases: &[Case]) {
    check_each(
        "hostile trees",
        cases,
        |case| case.what.clone(),
        |case| {
            let commit = c.commit(&case.tree);
            let site = FailureSite::new();
            let needles: Vec<&str> = case.needles.iter().map(String::as_str).collect();
            assert_fails_cleanly(
                &checkout_args(rt, &[], &c.store, &commit, &site.dest),
                &site.parent,
                &needles,
                &case.what,
            );
        },
    );
}

fn dot_and_dot_dot_entries_are_refused(rt: Runtime) {
    let c = Crafted::new();
    let escape = c.blob(b"escaped\n");
    let mut cases = Vec::new();
    for name in [&b".."[..], b"."] {
        let shown = String::from_utf8_lossy(name);
        cases.push(Case {
            what: format!("a tree named {shown:?}"),
            tree: c.root_with(&[(DIR, name, &c.subtree)]),
            needles: name_needles(name),
        });
        cases.push(Case {
            what: format!("a file named {shown:?}"),
            tree: c.root_with(&[(FILE, name, &escape)]),
            needles: name_needles(name),
        });
    }
    let sub = write_raw_tree(
        &c.store,
        &[(FILE, b"ok.txt", &c.blob), (DIR, b"..", &c.subtree)],
    );
    cases.push(Case {
        what: "a nested sub/..".into(),
        tree: c.root_with(&[(DIR, b"sub", &sub)]),
        needles: vec!["sub".into()],
    });
    let sub = write_raw_tree(
        &c.store,
        &[(FILE, b"..", &escape), (FILE, b"ok.txt", &c.blob)],
    );
    cases.push(Case {
        what: "a nested file sub/..".into(),
        tree: c.root_with(&[(DIR, b"sub", &sub)]),
        needles: vec!["sub".into()],
    });
    assert_all_refused(rt, &c, &cases);
}

fn git_directory_in_every_spelling_is_refused(rt: Runtime) {
    let c = Crafted::new();
    let hook = c.blob(b"#!/bin/sh\necho pwned\n");
    let hooks = write_tree(&c.store, &[(EXEC, b"post-checkout", &hook)]);
    let dotgit = write_tree(
        &c.store,
        &[(FILE, b"config", &c.blob), (DIR, b"hooks", &hooks)],
    );
    let names: [&[u8]; 10] = [
        b".git",
        b".GIT",
        b".Git",
        b".git.",
        b".git ",
        b".git . .",
        b"git~1",
        b"GIT~1",
        b".git::$INDEX_ALLOCATION",
        ".g\u{200c}it".as_bytes(),
    ];
    let mut cases = Vec::new();
    for name in names {
        let shown = String::from_utf8_lossy(name);
        cases.push(Case {
            what: format!("a directory named {shown:?}"),
            tree: c.root_with(&[(DIR, name, &dotgit)]),
            needles: name_needles(name),
        });
    }
    cases.push(Case {
        what: "a file named .git".into(),
        tree: c.root_with(&[(FILE, b".git", &c.blob)]),
        needles: vec![".git".into()],
    });
    let gitdir_file = c.blob(b"gitdir: /tmp\n");
    cases.push(Case {
        what: "a symlink named .git".into(),
        tree: c.root_with(&[(LINK, b".git", &gitdir_file)]),
        needles: vec![".git".into()],
    });
    for name in [&b".git"[..], b".GIT"] {
        let sub = write_raw_tree(
            &c.store,
            &[(DIR, name, &dotgit), (FILE, b"ok.txt", &c.blob)],
        );
        cases.push(Case {
            what: format!("a nested sub/{}", String::from_utf8_lossy(name)),
            tree: c.root_with(&[(DIR, b"sub", &sub)]),
            needles: name_needles(name),
        });
    }
    assert_all_refused(rt, &c, &cases);
}

fn names_with_a_slash_and_empty_names_are_refused(rt: Runtime) {
    let c = Crafted::new();
    let cases = vec![
        Case {
            what: "a file named a/b".into(),
            tree: c.root_with(&[(FILE, b"a/b", &c.blob)]),
            needles: vec!["a/b".into()],
        },
        Case {
            what: "a file named ../escape.txt".into(),
            tree: c.root_with(&[(FILE, b"../escape.txt", &c.blob)]),
            needles: vec!["escape.txt".into()],
        },
        Case {
            what: "a file named /tmp/unfurl-evil".into(),
            tree: c.root_with(&[(FILE, b"/tmp/unfurl-evil", &c.blob)]),
            needles: vec!["/tmp/unfurl-evil".into()],
        },
        Case {
            what: "a tree named d/e".into(),
            tree: c.root_with(&[(DIR, b"d/e", &c.subtree)]),
            needles: vec!["d/e".into()],
        },
        Case {
            what: "a file with an empty name".into(),
            tree: c.root_with(&[(FILE, b"", &c.blob)]),
            needles: vec!["empty".into(), "\"\"".into(), "''".into(), "``".into()],
        },
        Case {
            what: "a tree with an empty name".into(),
            tree: c.root_with(&[(DIR, b"", &c.subtree)]),
            needles: vec!["empty".into(), "\"\"".into(), "''".into(), "``".into()],
        },
    ];
    assert_all_refused(rt, &c, &cases);
    assert!(
        !Path::new("/tmp/unfurl-evil").exists(),
        "expected the absolute name /tmp/unfurl-evil not to be written"
    );
}

fn a_symlinked_gitmodules_is_refused(rt: Runtime) {
    let c = Crafted::new();
    let target = c.blob(b"/etc/passwd");
    let sub = write_raw_tree(
        &c.store,
        &[(LINK, b".gitmodules", &target), (FILE, b"ok.txt", &c.blob)],
    );
    let cases = vec![
        Case {
            what: ".gitmodules as a symlink".into(),
            tree: c.root_with(&[(LINK, b".gitmodules", &target)]),
            needles: vec![".gitmodules".into()],
        },
        Case {
            what: ".GITMODULES as a symlink".into(),
            tree: c.root_with(&[(LINK, b".GITMODULES", &target)]),
            needles: vec![".GITMODULES".into()],
        },
        Case {
            what: "sub/.gitmodules as a symlink".into(),
            tree: c.root_with(&[(DIR, b"sub", &sub)]),
            needles: vec![".gitmodules".into()],
        },
    ];
    assert_all_refused(rt, &c, &cases);
}

fn duplicate_names_in_one_tree_are_refused(rt: Runtime) {
    let c = Crafted::new();
    let other = c.blob(b"other content\n");
    let other_tree = write_tree(&c.store, &[(FILE, b"different.txt", &other)]);
    let sub = write_raw_tree(
        &c.store,
        &[(FILE, b"dup.txt", &c.blob), (FILE, b"dup.txt", &other)],
    );
    let cases = vec![
        Case {
            what: "two files named dup.txt".into(),
            tree: c.root_with(&[(FILE, b"dup.txt", &c.blob), (FILE, b"dup.txt", &other)]),
            needles: vec!["dup.txt".into()],
        },
        Case {
            what: "two identical entries named same.txt".into(),
            tree: c.root_with(&[(FILE, b"same.txt", &c.blob), (FILE, b"same.txt", &c.blob)]),
            needles: vec!["same.txt".into()],
        },
        Case {
            what: "two trees named d".into(),
            tree: c.root_with(&[(DIR, b"d", &c.subtree), (DIR, b"d", &other_tree)]),
            needles: vec!["d".into()],
        },
        Case {
            what: "a nested sub/dup.txt twice".into(),
            tree: c.root_with(&[(DIR, b"sub", &sub)]),
            needles: vec!["dup.txt".into()],
        },
    ];
    assert_all_refused(rt, &c, &cases);
}

fn a_blob_and_a_tree_with_one_name_are_refused(rt: Runtime) {
    let c = Crafted::new();
    let cases = vec![
        Case {
            what: "a file and a tree named twin".into(),
            tree: c.root_with(&[(FILE, b"twin", &c.blob), (DIR, b"twin", &c.subtree)]),
            needles: vec!["twin".into()],
        },
        Case {
            what: "a tree and an executable named twin".into(),
            tree: c.root_with(&[(DIR, b"twin", &c.subtree), (EXEC, b"twin", &c.blob)]),
            needles: vec!["twin".into()],
        },
    ];
    assert_all_refused(rt, &c, &cases);
}

fn a_symlink_and_a_directory_with_one_name_never_write_through_the_link(rt: Runtime) {
    let c = Crafted::new();
    let victim = c.tmp.join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("precious.txt"), "precious\n").unwrap();
    let before = snapshot(&victim);
    let payload = c.blob(b"pwned\n");
    let payload_tree = write_tree(
        &c.store,
        &[
            (FILE, b"precious.txt", &payload),
            (FILE, b"pwned.txt", &payload),
        ],
    );
    let absolute = c.blob(victim.as_os_str().as_encoded_bytes());
    let cases = vec![
        Case {
            what: "a symlink `link` to the victim, then a tree `link`".into(),
            tree: c.root_with(&[(LINK, b"link", &absolute), (DIR, b"link", &payload_tree)]),
            needles: vec!["link".into()],
        },
        Case {
            what: "a tree `link`, then a symlink `link` to the victim".into(),
            tree: c.root_with(&[(DIR, b"link", &payload_tree), (LINK, b"link", &absolute)]),
            needles: vec!["link".into()],
        },
    ];
    assert_all_refused(rt, &c, &cases);
    let d = diff(&before, &snapshot(&victim), 10);
    assert!(
        d.is_empty(),
        "expected nothing written through the symlink into {}, got:\n{}",
        victim.display(),
        d.join("\n")
    );
}
