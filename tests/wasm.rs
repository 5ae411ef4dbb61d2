//! What only the sandboxed runtime has: confinement to its preopens, a memory cap, a
//! deadline, and a cache of the compiled guest.

use std::fs;
use std::path::Path;

use crate::support::*;

/// The guest can read its store but not write it, write its destination, and reach
/// nothing else: not `/etc/passwd`, not `..` out of a preopen.
#[test]
fn a_guest_reaches_only_its_two_preopens_and_cannot_write_the_store() {
    let corpus = corpus();
    let tmp = TempDir::new("probe");
    let dest = tmp.join("dest");
    fs::create_dir(&dest).unwrap();
    let paths: Vec<String> = [
        "/etc/passwd",
        "/store/../../../../etc/passwd",
        "/dest/../escape",
        "/store/HEAD",
        "/dest/inside",
        "/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The probe is a test-only guest, built beside the real one and not shipped in it.
    let probe = Path::new(unfurl::wasm::PROBE_WASM);
    let results = unfurl::wasm::probe_confinement(probe, &corpus.store, &dest, &paths)
        .expect("the probe runs");
    let find = |p: &str| {
        results
            .iter()
            .find(|(path, _, _)| path == p)
            .unwrap_or_else(|| panic!("expected a result for {p}, got {results:?}"))
            .clone()
    };
    for outside in ["/etc/passwd", "/store/../../../../etc/passwd"] {
        let (_, read, create) = find(outside);
        assert_ne!(
            read, "ok",
            "expected reading {outside} to fail in the guest, it succeeded"
        );
        assert_ne!(
            create, "ok",
            "expected creating next to {outside} to fail in the guest, it succeeded"
        );
    }
    let (_, _, create) = find("/dest/../escape");
    assert_ne!(
        create, "ok",
        "expected creating /dest/../escape.unfurl-probe to fail, it succeeded"
    );
    assert!(
        !tmp.join("escape.unfurl-probe").exists(),
        "expected nothing to appear beside the destination, found escape.unfurl-probe"
    );
    let (_, read, create) = find("/store/HEAD");
    assert_eq!(
        read, "ok",
        "expected the guest to read /store/HEAD, got {read}"
    );
    assert_ne!(
        create, "ok",
        "expected the store preopen to be read-only, but creating a file in it succeeded"
    );
    assert!(
        !corpus.store.join("HEAD.unfurl-probe").exists(),
        "expected the store to be unchanged, found HEAD.unfurl-probe in it"
    );
    let (_, _, create) = find("/dest/inside");
    assert_eq!(
        create, "ok",
        "expected the guest to create files in /dest, got {create}"
    );
    assert!(
        dest.join("inside.unfurl-probe").is_file(),
        "expected /dest/inside.unfurl-probe to land in the destination directory"
    );
}

/// A store whose newest commit holds a large file and whose previous commit holds it
/// slightly changed, packed so that the old version is a delta: rebuilding it needs the
/// whole base and result in memory.
pub(crate) fn store_with_a_big_delta(dir: &Path) -> std::path::PathBuf {
    let store = init_bare(&dir.join("big.git"));
    let mut content = Vec::with_capacity(24 << 20);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut line = 0u64;
    while content.len() < 24 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        content.extend_from_slice(format!("line {line} {x:016x} {:08x}\n", x >> 32).as_bytes());
        line += 1;
    }
    let old = write_blob(&store, &content);
    content[100..110].copy_from_slice(b"CHANGED!!!");
    let new = write_blob(&store, &content);
    let t1 = write_tree(&store, &[(FILE, b"big.txt", &old)]);
    let c1 = commit_tree(&store, &t1, "old");
    let t2 = write_tree(&store, &[(FILE, b"big.txt", &new)]);
    let c2 = git(&store, &["commit-tree", &t2, "-p", &c1, "-m", "new"]);
    git(&store, &["update-ref", "refs/heads/main", &c2]);
    git(&store, &["update-ref", "refs/heads/old", &c1]);
    git(&store, &["repack", "-adq", "--window=10", "--depth=50"]);
    git(&store, &["prune-packed"]);
    store
}

#[test]
fn a_guest_over_its_memory_cap_fails_cleanly_and_leaves_nothing() {
    let tmp = TempDir::new("memcap");
    let store = store_with_a_big_delta(tmp.path());
    let site = FailureSite::new();
    let args = checkout_args(
        Runtime::Wasm,
        &["--wasm-max-memory", "16M"],
        &store,
        "old",
        &site.dest,
    );
    assert_fails_cleanly(
        &args,
        &site.parent,
        &["memory cap"],
        "wasm checkout over a 16M cap",
    );
    // The same checkout with room to work succeeds: the cap, not the store, made it fail.
    assert_checkout_matches(Runtime::Wasm, &store, "old", &tmp.join("ok"), &[]);
}

#[test]
fn a_guest_past_its_deadline_is_stopped_and_leaves_nothing() {
    let corpus = corpus();
    let site = FailureSite::new();
    let args = checkout_args(
        Runtime::Wasm,
        &["--wasm-timeout", "1ms"],
        &corpus.store,
        "main",
        &site.dest,
    );
    assert_fails_cleanly(
        &args,
        &site.parent,
        &["deadline"],
        "wasm checkout with a 1ms deadline",
    );
}

/// Check out `main` of `store` into `dest` under wasm with `cache` as the compiled-guest
/// cache, and expect success.
fn wasm_checkout_with_cache(store: &Path, cache: &Path, dest: &Path) {
    let out = run(unfurl_cmd()
        .env("UNFURL_CACHE_DIR", cache)
        .args(checkout_args(Runtime::Wasm, &["-q"], store, "main", dest)));
    assert!(
        out.status.success(),
        "expected the checkout into {} to succeed: {out:?}",
        dest.display()
    );
}

#[test]
fn the_compiled_guest_is_cached_and_a_bad_cache_entry_is_replaced() {
    let corpus = corpus();
    let tmp = TempDir::new("cache");
    let cache = tmp.join("cache");
    let checkout = |dest: &str| wasm_checkout_with_cache(&corpus.store, &cache, &tmp.join(dest));
    checkout("first");
    let entries: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "expected one compiled guest in the cache, found {entries:?}"
    );
    assert!(
        entries[0].extension().is_some_and(|e| e == "cwasm"),
        "expected a .cwasm file, found {entries:?}"
    );
    // A corrupt cache entry must cost a recompile, not the checkout.
    fs::write(&entries[0], b"not a module").unwrap();
    checkout("second");
    let size = fs::metadata(&entries[0]).unwrap().len();
    assert!(
        size > 1000,
        "expected the corrupt entry to be replaced by a compiled guest, it is {size} bytes"
    );
    let first = snapshot(&tmp.join("first"));
    let second = snapshot(&tmp.join("second"));
    assert_same_tree(
        &first,
        &second,
        "checkouts before and after the cache was repaired",
    );
}

/// Loading a compiled guest runs its native code, so the cache must be ours alone: it is
/// created private, ignored (never read, never written) when others can write it, and
/// cleared of guests no version wrote for a month.
#[test]
fn the_guest_cache_is_private_ignored_when_others_can_write_it_and_pruned_of_stale_guests() {
    use std::os::unix::fs::PermissionsExt;
    let corpus = corpus();
    let tmp = TempDir::new("cache-trust");
    let checkout =
        |cache: &Path, dest: &str| wasm_checkout_with_cache(&corpus.store, cache, &tmp.join(dest));
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let guests = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    // Created private, whatever the umask.
    let private = tmp.join("private/cache");
    checkout(&private, "a");
    let entries = guests(&private);
    assert_eq!(entries.len(), 1, "expected one cached guest: {entries:?}");
    assert_eq!(mode(&private), 0o700, "the cache directory's mode");
    assert_eq!(
        mode(&private.join(&entries[0])),
        0o600,
        "the cached guest's mode"
    );

    // Stale guests go when this version writes its own; recent ones of others stay.
    let shared = tmp.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o700)).unwrap();
    for name in [
        "guest-0.0.1-stale-x86_64.cwasm",
        "guest-0.0.2-recent-x86_64.cwasm",
    ] {
        fs::write(shared.join(name), b"another version's guest").unwrap();
    }
    let touched = std::process::Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(shared.join("guest-0.0.1-stale-x86_64.cwasm"))
        .status()
        .unwrap();
    assert!(touched.success());
    checkout(&shared, "b");
    let entries = guests(&shared);
    assert!(
        !entries.iter().any(|n| n.contains("stale")),
        "expected the 40-day-old guest to be pruned: {entries:?}"
    );
    assert!(
        entries.iter().any(|n| n.contains("recent")),
        "expected another version's recent guest to stay: {entries:?}"
    );
    assert_eq!(
        entries.len(),
        2,
        "expected ours and the recent one: {entries:?}"
    );

    // Writable by others: someone else could have planted a guest there. Not read, not written.
    let open = tmp.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let ours = &guests(&private)[0];
    fs::write(open.join(ours), b"planted: must never be loaded").unwrap();
    checkout(&open, "c");
    assert_eq!(
        fs::read(open.join(ours)).unwrap(),
        b"planted: must never be loaded",
        "an untrusted cache must be left alone"
    );
    assert_eq!(
        guests(&open).len(),
        1,
        "nothing may be added to an untrusted cache"
    );
    assert_same_tree(
        &snapshot(&tmp.join("a")),
        &snapshot(&tmp.join("c")),
        "checkouts with a private and an untrusted cache",
    );
}

/// An exec bit a guest asks the host to set lands on a regular file only: a symlink in its
/// place (to a file inside or outside the checkout), a directory, a FIFO (which must not
/// block the host) or nothing there is refused, and nothing changes; a regular file becomes
/// 0o755.
#[test]
fn the_host_sets_exec_bits_on_regular_files_only() {
    use std::os::unix::fs::PermissionsExt;
    use unfurl_engine::write::{Deferred, apply_deferred};
    let tmp = TempDir::new("deferred-exec");
    let root = tmp.join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("plain"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("plain"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(root.join("target"), b"t").unwrap();
    fs::set_permissions(root.join("target"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(tmp.join("outside"), b"outside").unwrap();
    fs::set_permissions(tmp.join("outside"), fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink("target", root.join("link-in")).unwrap();
    std::os::unix::fs::symlink(tmp.join("outside"), root.join("link-out")).unwrap();
    let fifo = root.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "expected mkfifo to make {}",
        fifo.display()
    );
    let dir = || {
        unfurl_engine::Dir::from(
            cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap(),
        )
    };
    let exec = |path: &str| Deferred::Executable { path: path.into() };
    let before = snapshot(tmp.path());
    for path in ["link-in", "link-out", "d", "fifo", "missing", "d/missing"] {
        let result = apply_deferred(&dir(), &[exec(path)]);
        assert!(
            result.is_err(),
            "expected an exec bit on {path} to be refused"
        );
    }
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "the tree after refused exec bits",
    );
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root.join("target")), 0o644);
    assert_eq!(mode(&tmp.join("outside")), 0o644);
    apply_deferred(&dir(), &[exec("plain")]).expect("a regular file is made executable");
    assert_eq!(mode(&root.join("plain")), 0o755);
}

/// What a guest asks the host to finish is not trusted: a rename must stay one entry moved
/// within its directory, to a valid name that is free, or the whole list is refused.
/// Renames run deepest first whatever the order of the list.
#[test]
fn the_host_renames_only_within_a_directory_to_a_free_valid_name() {
    use unfurl_engine::write::{Deferred, apply_deferred};
    let tmp = TempDir::new("deferred-renames");
    let root = tmp.join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("a.txt"), b"a").unwrap();
    fs::write(root.join("b.txt"), b"b").unwrap();
    fs::write(root.join("d/x"), b"x").unwrap();
    fs::write(tmp.join("outside"), b"outside").unwrap();
    let dir = || {
        unfurl_engine::Dir::from(
            cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap(),
        )
    };
    let rename = |path: &str, name: &[u8]| Deferred::Rename {
        path: path.into(),
        name: name.to_vec(),
    };
    let refused: [(Deferred, &str); 6] = [
        (rename("a.txt", b"../escape"), "a new name with a slash"),
        (rename("a.txt", b".git"), "a new name git refuses"),
        (rename("a.txt", b"b.txt"), "a new name that is taken"),
        (rename("a.txt", b"d"), "a new name taken by a directory"),
        (rename("missing", b"new"), "nothing to rename"),
        (rename("../outside", b"new"), "a path out of the directory"),
    ];
    let before = snapshot(tmp.path());
    for (op, what) in refused {
        let result = apply_deferred(&dir(), std::slice::from_ref(&op));
        assert!(result.is_err(), "expected {what} to be refused: {op:?}");
    }
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "the tree after refused renames",
    );

    // Given shallowest first: applied deepest first, so both paths still hold.
    apply_deferred(
        &dir(),
        &[
            rename("d", b"e-\xfe"),
            rename("d/x", b"y-\xff"),
            rename("a.txt", b"\xffa"),
        ],
    )
    .expect("valid renames are applied");
    use std::os::unix::ffi::OsStrExt;
    let os = |b: &[u8]| root.join(std::ffi::OsStr::from_bytes(b));
    assert_eq!(fs::read(os(b"e-\xfe/y-\xff")).unwrap(), b"x");
    assert_eq!(fs::read(os(b"\xffa")).unwrap(), b"a");
    assert!(!root.join("a.txt").exists() && !root.join("d").exists());
    assert_eq!(fs::read(tmp.join("outside")).unwrap(), b"outside");
}
