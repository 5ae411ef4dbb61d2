//! Trees crafted with `git hash-object -t tree --literally` whose entries are odd but legal
//! (names git accepts, Windows' reserved spellings, names and symlink targets that are not
//! UTF-8, symlinks, gitlinks, legacy mode 100664, empty subtrees) come out exactly as
//! `git archive | tar -x` writes them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

runtime_tests!(
    odd_but_legal_names_match_git_archive,
    windows_reserved_spellings_are_ordinary_names_on_linux,
    names_and_symlink_targets_that_are_not_utf8_match_git_archive,
    symlinks_are_written_exactly_as_stored_and_never_followed,
    gitlinks_become_empty_directories,
    legacy_mode_100664_is_a_non_executable_file,
    empty_subtrees_match_git_archive,
);
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
