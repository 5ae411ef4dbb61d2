//! Trees crafted with `git hash-object -t tree --literally`: malformed or dangerous entries are
//! refused before anything is written; odd but legal names, symlinks, gitlinks and legacy modes
//! come out exactly as `git archive | tar -x` writes them. Deeply nested trees check out while
//! their paths fit, and trees nested past the depth limit are refused in little memory.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(
    dot_and_dot_dot_entries_are_refused,
    git_directory_in_every_spelling_is_refused,
    names_with_a_slash_and_empty_names_are_refused,
    a_symlinked_gitmodules_is_refused,
    duplicate_names_in_one_tree_are_refused,
    a_blob_and_a_tree_with_one_name_are_refused,
    a_symlink_and_a_directory_with_one_name_never_write_through_the_link,
    odd_but_legal_names_match_git_archive,
    windows_reserved_spellings_are_ordinary_names_on_linux,
    names_and_symlink_targets_that_are_not_utf8_match_git_archive,
    symlinks_are_written_exactly_as_stored_and_never_followed,
    gitlinks_become_empty_directories,
    legacy_mode_100664_is_a_non_executable_file,
    empty_subtrees_match_git_archive,
    a_tree_600_levels_deep_matches_git_archive,
    a_tree_as_deep_as_linux_paths_allow_matches_git_archive,
    a_tree_whose_paths_exceed_path_max_checks_out_natively_and_fails_clearly_under_wasm,
    trees_nested_past_the_depth_limit_are_refused_in_little_memory,
);

/// A crafted bare store with a few blobs to build trees from.
struct Crafted {
    tmp: TempDir,
    store: PathBuf,
    /// A small text blob.
    blob: String,
    /// A tree holding one file, `inner.txt`.
    subtree: String,
}

impl Crafted {
    fn new() -> Crafted {
        let tmp = TempDir::new("crafted");
        let store = init_bare(&tmp.join("store.git"));
        let blob = write_blob(&store, b"content\n");
        let subtree = write_tree(&store, &[(FILE, b"inner.txt", &blob)]);
        Crafted {
            tmp,
            store,
            blob,
            subtree,
        }
    }

    fn blob(&self, content: &[u8]) -> String {
        write_blob(&self.store, content)
    }

    /// A root tree: two normal files around `entries`, in exactly this order (so that some
    /// files could be written before the bad entry is reached).
    fn root_with(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let mut all: Vec<(&str, &[u8], &str)> = vec![(FILE, b"a-normal.txt", &self.blob)];
        all.extend_from_slice(entries);
        all.push((FILE, b"z-normal.txt", &self.blob));
        write_raw_tree(&self.store, &all)
    }

    fn commit(&self, tree: &str) -> String {
        commit_tree(&self.store, tree, "crafted")
    }
}

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

/// Checks out `tree` of the crafted store (via a commit), compares with git archive, and
/// returns the JSON summary and DEST.
fn assert_matches_archive(rt: Runtime, c: &Crafted, tree: &str) -> (serde_json::Value, PathBuf) {
    let commit = c.commit(tree);
    let dest = c.tmp.join(format!("dest-{}", &commit[..12]));
    let json = assert_checkout_matches(rt, &c.store, &commit, &dest, &[]);
    (json, dest)
}

fn odd_but_legal_names_match_git_archive(rt: Runtime) {
    let c = Crafted::new();
    let names: Vec<&[u8]> = vec![
        b"with space.txt",
        b" leading space",
        "ü-nfc.txt".as_bytes(),
        "u\u{308}-nfd.txt".as_bytes(),
        "日本.txt".as_bytes(),
        "emoji-🦀.rs".as_bytes(),
        b"tab\there",
        b"ctrl\x01char",
        b"new\nline",
        b"carriage\rreturn",
        b"back\\slash",
        b"-leading-dash",
        b"*star?question[bracket]",
        b"\"quoted\"",
        b"..double-dot-prefix",
        b"...",
        b".gitignore",
        b".gitattributes-not",
        b".github",
        b"git",
        b".unfurl",
        b".unfurl-staging",
        b".unfurl-staging-0",
        b".unfurl.lock",
        b".unfurl-complete",
        b"dest",
    ];
    let mut entries: Vec<(&str, &[u8], String)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        entries.push((FILE, name, c.blob(format!("file {i}\n").as_bytes())));
    }
    let marker_target = c.blob(b"with space.txt");
    entries.push((LINK, b".unfurl-marker", marker_target.clone()));
    entries.push((LINK, b".unfurl-done", marker_target.clone()));
    let nested = write_tree(
        &c.store,
        &[
            (FILE, b"tab\tinside", &c.blob),
            (FILE, "日本".as_bytes(), &c.blob),
        ],
    );
    entries.push((DIR, "日本".as_bytes(), nested.clone()));
    entries.push((DIR, b"dir with\nnewline", nested.clone()));
    entries.push((DIR, b".unfurl-staging-dir", nested));
    let borrowed: Vec<(&str, &[u8], &str)> = entries
        .iter()
        .map(|(m, n, id)| (*m, *n, id.as_str()))
        .collect();
    let tree = write_tree(&c.store, &borrowed);
    assert_matches_archive(rt, &c, &tree);
}

fn windows_reserved_spellings_are_ordinary_names_on_linux(rt: Runtime) {
    let c = Crafted::new();
    let names: [&[u8]; 9] = [
        b"CON",
        b"aux.c",
        b"nul",
        b"COM1.txt",
        b"lpt1",
        b"trailing dot.",
        b"trailing space ",
        b"colon:name",
        b"pipe|name",
    ];
    let blobs: Vec<String> = (0..names.len())
        .map(|i| c.blob(format!("windows {i}\n").as_bytes()))
        .collect();
    let entries: Vec<(&str, &[u8], &str)> = names
        .iter()
        .zip(&blobs)
        .map(|(n, b)| (FILE, *n, b.as_str()))
        .collect();
    let tree = write_tree(&c.store, &entries);
    assert_matches_archive(rt, &c, &tree);
}

fn symlinks_are_written_exactly_as_stored_and_never_followed(rt: Runtime) {
    let c = Crafted::new();
    // A victim outside DEST that the links point at; it must not change.
    let victim = c.tmp.join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("secret.txt"), "secret\n").unwrap();
    let victim_before = snapshot(&victim);
    let passwd_before = fs::read("/etc/passwd").ok();

    let target = c.blob(b"target content\n");
    let victim_abs = victim.as_os_str().as_encoded_bytes().to_vec();
    let mut victim_file_abs = victim_abs.clone();
    victim_file_abs.extend_from_slice(b"/secret.txt");
    let links: Vec<(&[u8], Vec<u8>)> = vec![
        (b"relative", b"target.txt".to_vec()),
        (b"relative-dir", b"sub".to_vec()),
        (b"escape-up", b"../victim/secret.txt".to_vec()),
        (
            b"escape-far",
            b"../../../../../../../../etc/passwd".to_vec(),
        ),
        (b"absolute", b"/etc/passwd".to_vec()),
        (b"absolute-victim-dir", victim_abs.clone()),
        (b"absolute-victim-file", victim_file_abs),
        (b"dangling", b"does/not/exist".to_vec()),
        (b"dot-dot", b"..".to_vec()),
        (b"dot", b".".to_vec()),
        (b"self-loop", b"self-loop".to_vec()),
        (b"trailing-slash", b"sub/".to_vec()),
        (b"double-slash", b"a//b".to_vec()),
        (
            b"odd-target",
            b"weird \x01\ttarget \\ name \xc3\xbc".to_vec(),
        ),
        (b"long-target", "x/".repeat(500).into_bytes()),
    ];
    let link_blobs: Vec<(Vec<u8>, String)> = links
        .iter()
        .filter(|(name, _)| !name.contains(&b'/'))
        .map(|(name, t)| (name.to_vec(), c.blob(t)))
        .collect();
    let deep_link = c.blob(b"../../victim/secret.txt");
    let deeper = write_tree(
        &c.store,
        &[(LINK, b"up-two", &deep_link), (FILE, b"file.txt", &target)],
    );
    let sub = write_tree(
        &c.store,
        &[
            (DIR, b"deeper", &deeper),
            (LINK, b"up-one", &c.blob(b"../target.txt")),
        ],
    );
    let mut entries: Vec<(&str, &[u8], &str)> =
        vec![(FILE, b"target.txt", &target), (DIR, b"sub", &sub)];
    entries.extend(
        link_blobs
            .iter()
            .map(|(n, id)| (LINK, n.as_slice(), id.as_str())),
    );
    let tree = write_tree(&c.store, &entries);
    let (json, dest) = assert_matches_archive(rt, &c, &tree);
    let got = fs::read_link(dest.join("absolute")).map(|p| p.into_os_string());
    assert_eq!(
        got.as_ref().map(|p| p.as_encoded_bytes()).ok(),
        Some(&b"/etc/passwd"[..]),
        "expected `absolute` to be a symlink to exactly /etc/passwd, got {got:?}"
    );
    let d = diff(&victim_before, &snapshot(&victim), 10);
    assert!(
        d.is_empty(),
        "expected the victim outside DEST unchanged, got:\n{}",
        d.join("\n")
    );
    assert_eq!(
        fs::read("/etc/passwd").ok(),
        passwd_before,
        "expected /etc/passwd unchanged"
    );
    assert_eq!(
        json["symlinks"].as_u64(),
        Some(link_blobs.len() as u64 + 2),
        "expected every symlink counted, got {json}"
    );
}

fn gitlinks_become_empty_directories(rt: Runtime) {
    let c = Crafted::new();
    // Submodule commits that are not in the store, as in any superproject.
    let sub = write_tree(
        &c.store,
        &[(
            GITLINK,
            b"nested-module",
            "0123456789abcdef0123456789abcdef01234567",
        )],
    );
    let tree = write_tree(
        &c.store,
        &[
            (
                GITLINK,
                b"module",
                "1111111111111111111111111111111111111111",
            ),
            (
                GITLINK,
                b"module with space",
                "2222222222222222222222222222222222222222",
            ),
            (DIR, b"vendor", &sub),
            (FILE, b"file.txt", &c.blob),
        ],
    );
    let (json, dest) = assert_matches_archive(rt, &c, &tree);
    for module in ["module", "module with space", "vendor/nested-module"] {
        let entries = fs::read_dir(dest.join(module)).map(|d| d.count());
        assert!(
            matches!(entries, Ok(0)),
            "expected {module} to be an empty directory, got {entries:?} entries"
        );
    }
    assert_eq!(
        json["dirs"].as_u64(),
        Some(4),
        "expected dirs to count vendor and the three gitlink directories, got {json}"
    );
}

fn legacy_mode_100664_is_a_non_executable_file(rt: Runtime) {
    let c = Crafted::new();
    let tree = write_raw_tree(
        &c.store,
        &[
            ("100664", b"group-writable.txt", &c.blob),
            (EXEC, b"run.sh", &c.blob),
            (FILE, b"plain.txt", &c.blob),
        ],
    );
    let (json, dest) = assert_matches_archive(rt, &c, &tree);
    let snap = snapshot(&dest);
    assert!(
        matches!(
            snap.get(Path::new("group-writable.txt")),
            Some(Entry::File { exec: false, .. })
        ),
        "expected group-writable.txt (100664) to be a non-executable file, got {:?}",
        snap.get(Path::new("group-writable.txt"))
    );
    assert_eq!(
        json["executables"].as_u64(),
        Some(1),
        "expected only run.sh to count as executable, got {json}"
    );
}

/// git archive writes no entry at all for an empty tree (it emits a directory only once
/// something inside it is written; gitlinks are the exception), so an empty subtree, and a
/// tree holding only empty trees, leave no directory behind. unfurl must match.
fn empty_subtrees_match_git_archive(rt: Runtime) {
    let c = Crafted::new();
    let empty = write_raw_tree(&c.store, &[]);
    assert_eq!(
        empty, "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "expected git's empty tree id"
    );
    let only_empty = write_tree(&c.store, &[(DIR, b"inner-empty", &empty)]);
    let tree = write_tree(
        &c.store,
        &[
            (DIR, b"empty", &empty),
            (DIR, b"holds-only-empty", &only_empty),
            (FILE, b"file.txt", &c.blob),
        ],
    );
    let reference = reference(&c.store, &tree);
    let snap = snapshot(reference.path());
    assert!(
        !snap.contains_key(Path::new("empty")) && !snap.contains_key(Path::new("holds-only-empty")),
        "reference: expected git archive to omit empty trees, got {:?}",
        snap.keys().collect::<Vec<_>>()
    );
    assert_matches_archive(rt, &c, &tree);
}

/// Names and symlink targets are bytes in git and on Linux, and must come out exactly in
/// both runtimes. WASI paths are UTF-8, so the guest writes such entries under placeholder
/// names and the host renames them: files, executables, links, directories (nested, and
/// holding renamed entries), submodules, and a link target that is not UTF-8. A sibling
/// that happens to carry a placeholder's name must not be disturbed, and an empty tree with
/// such a name is still left out. With one guest and with several.
fn names_and_symlink_targets_that_are_not_utf8_match_git_archive(rt: Runtime) {
    let c = Crafted::new();
    let latin1 = c.blob(b"latin-1 name\n");
    let target = c.blob(b"caf\xe9-\xff.txt");
    let empty = write_raw_tree(&c.store, &[]);
    let deepest = write_tree(&c.store, &[(FILE, b"leaf-\xfa", &c.blob)]);
    let nested = write_tree(
        &c.store,
        &[
            (FILE, b"inner-\xff", &c.blob),
            (DIR, b"deeper-\xfb", &deepest),
            (LINK, b"up-\xfc", &c.blob(b"../caf\xe9-\xff.txt")),
        ],
    );
    // The placeholder unfurl picks for the first name, as a real sibling entry.
    let fnv = b"caf\xe9-\xff.txt"
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let decoy = format!(".unfurl-{fnv:016x}");
    let tree = write_tree(
        &c.store,
        &[
            (FILE, b"caf\xe9-\xff.txt", &latin1),
            (
                FILE,
                decoy.as_bytes(),
                &c.blob(b"a sibling named like a placeholder\n"),
            ),
            (EXEC, b"run-\xf0.sh", &c.blob),
            (LINK, b"link-to-latin1", &target),
            (LINK, b"link-\xf1", &c.blob(b"plain.txt")),
            (DIR, b"dir-\xfe", &nested),
            (DIR, b"empty-\xfd", &empty),
            (
                GITLINK,
                b"module-\xf2",
                "1111111111111111111111111111111111111111",
            ),
            (FILE, b"plain.txt", &c.blob),
        ],
    );
    let commit = c.commit(&tree);
    for (label, extra) in [("default", &[][..]), ("one-job", &["-j1"][..])] {
        let dest = c.tmp.join(format!("dest-{label}"));
        let json = assert_checkout_matches(rt, &c.store, &commit, &dest, extra);
        if rt == Runtime::Wasm {
            let renames = json["fallbacks"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["kind"] == "rename"))
                .and_then(|f| f["count"].as_u64());
            // Every non-UTF-8 name but the pruned empty tree's.
            assert_eq!(renames, Some(9), "{label}: renames reported in {json}");
        }
    }
}

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
