//! Corrupt stores, one table, both runtimes: a flipped byte in a pack entry, a bad `.idx`
//! (garbage, truncated), a missing tree, loose objects with a wrong header, garbage in
//! `packed-refs`, a ref to a missing commit. Each fails with one line saying what is
//! damaged, a stable `--json` kind, and leaves no DEST and no staging directory.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

runtime_tests!(
    every_corrupt_store_fails_cleanly_with_a_clear_error,
    a_fifo_where_a_store_file_belongs_fails_at_once,
);

struct Case {
    what: &'static str,
    store: PathBuf,
    rev: String,
    /// What the error must mention (any one).
    needles: Vec<String>,
    /// The `--json` kind.
    kind: &'static str,
}

/// A copy of the corpus (one pack) and its pack and index.
fn packed_copy(tmp: &TempDir, label: &str) -> (PathBuf, PathBuf, PathBuf) {
    let store = tmp.join(label);
    copy_tree(&corpus().store, &store);
    let pack_dir = store.join("objects/pack");
    let pack = fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("the corpus has a pack");
    let idx = pack.with_extension("idx");
    (store, pack, idx)
}

/// The offset and size in the pack of the biggest undeltified blob (`git verify-pack -v`).
fn biggest_whole_blob(idx: &Path) -> (u64, u64) {
    let out = git(
        idx.parent().unwrap(),
        &["verify-pack", "-v", idx.to_str().unwrap()],
    );
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // sha type size size-in-pack offset (no depth/base: undeltified)
            (f.len() == 5 && f[1] == "blob").then(|| (f[4].parse().unwrap(), f[3].parse().unwrap()))
        })
        .max_by_key(|&(_, in_pack): &(u64, u64)| in_pack)
        .expect("an undeltified blob in the corpus's pack")
}

/// A small loose store: one commit of one file; returns it, the commit, tree and blob ids.
fn loose_store(tmp: &TempDir, label: &str) -> (PathBuf, String, String, String) {
    let store = init_bare(&tmp.join(label));
    let blob = write_blob(&store, b"hello world\n");
    let tree = write_tree(&store, &[(FILE, b"f.txt", &blob)]);
    let commit = commit_tree(&store, &tree, "loose");
    git(&store, &["update-ref", "refs/heads/main", &commit]);
    (store, commit, tree, blob)
}

fn loose_path(store: &Path, id: &str) -> PathBuf {
    store.join("objects").join(&id[..2]).join(&id[2..])
}

/// Rewrites the loose object `id` as `raw` (header and content), zlib-compressed.
fn rewrite_loose(store: &Path, id: &str, raw: &[u8]) {
    fs::remove_file(loose_path(store, id)).unwrap();
    write_loose_at(store, id, raw);
}

/// Writes `raw` (header and content), zlib-compressed, as the loose object `id`, whatever
/// it hashes to: how a damaged or hand-made store names objects that cannot exist.
fn write_loose_at(store: &Path, id: &str, raw: &[u8]) {
    let path = loose_path(store, id);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let script =
        "import sys, zlib; open(sys.argv[1], 'wb').write(zlib.compress(sys.stdin.buffer.read()))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(raw).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "expected python to rewrite {id}"
    );
}

/// `content` with git's loose-object header for `kind`.
fn object(kind: &str, content: &str) -> Vec<u8> {
    format!("{kind} {}\0{content}", content.len()).into_bytes()
}

fn cases(tmp: &TempDir) -> Vec<Case> {
    let mut cases = Vec::new();
    let main = || "main".to_owned();

    // Objects at ids they do not hash to, as a damaged or hand-made store holds them (git
    // refuses to point a ref at them, so the refs are written as files).
    // A tag that names itself: peeling it would never end.
    let (store, _, _, _) = loose_store(tmp, "tag-cycle.git");
    let tag = "34".repeat(20);
    let content = format!("object {tag}\ntype tag\ntag t\ntagger A <a@x> 1 +0000\n\nm\n");
    write_loose_at(&store, &tag, &object("tag", &content));
    fs::write(store.join("refs/tags/t"), format!("{tag}\n")).unwrap();
    cases.push(Case {
        what: "a tag that names itself",
        store,
        rev: "t".to_owned(),
        // With --verify-objects, the made-up id is caught first.
        needles: vec![
            "tags name one another".to_owned(),
            "not to its id".to_owned(),
        ],
        kind: "store-corrupt",
    });

    // Two commits that are each other's parent: `main~N` would go round N times.
    let (store, _, tree, _) = loose_store(tmp, "parent-cycle.git");
    let (a, b) = ("ab".repeat(20), "cd".repeat(20));
    for (id, parent) in [(&a, &b), (&b, &a)] {
        let content = format!(
            "tree {tree}\nparent {parent}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nc\n"
        );
        write_loose_at(&store, id, &object("commit", &content));
    }
    fs::write(store.join("refs/heads/cycle"), format!("{a}\n")).unwrap();
    cases.push(Case {
        what: "commits that are each other's parent",
        store,
        rev: "cycle~1000".to_owned(),
        needles: vec!["comes back to it".to_owned(), "not to its id".to_owned()],
        kind: "store-corrupt",
    });

    // A commit without its tree line.
    let (store, _, _, _) = loose_store(tmp, "no-tree-line.git");
    let commit = "ef".repeat(20);
    let content = "author A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nc\n";
    write_loose_at(&store, &commit, &object("commit", content));
    fs::write(store.join("refs/heads/treeless"), format!("{commit}\n")).unwrap();
    cases.push(Case {
        what: "a commit without a tree",
        store,
        rev: "treeless".to_owned(),
        needles: vec![
            format!("commit {commit} is corrupt"),
            "not to its id".to_owned(),
        ],
        kind: "store-corrupt",
    });

    let (store, pack, idx) = packed_copy(tmp, "flipped.git");
    let (offset, in_pack) = biggest_whole_blob(&idx);
    let mut bytes = fs::read(&pack).unwrap();
    bytes[(offset + in_pack / 2) as usize] ^= 0x55;
    fs::write(&pack, bytes).unwrap();
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    cases.push(Case {
        what: "a flipped byte in a pack entry",
        store,
        rev: main(),
        needles: vec![format!("{name} is corrupt")],
        kind: "store-corrupt",
    });

    let (store, _, idx) = packed_copy(tmp, "garbage-idx.git");
    let mut bytes = fs::read(&idx).unwrap();
    bytes[..8].copy_from_slice(b"garbage!");
    fs::write(&idx, bytes).unwrap();
    let name = idx.file_name().unwrap().to_string_lossy().into_owned();
    cases.push(Case {
        what: "an .idx with garbage for a header",
        store,
        rev: main(),
        needles: vec![name.clone()],
        kind: "store-corrupt",
    });

    let (store, _, idx) = packed_copy(tmp, "truncated-idx.git");
    let len = fs::metadata(&idx).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let name = idx.file_name().unwrap().to_string_lossy().into_owned();
    cases.push(Case {
        what: "a truncated .idx",
        store,
        rev: main(),
        needles: vec![name],
        kind: "store-corrupt",
    });

    let (store, _, tree, _) = loose_store(tmp, "missing-tree.git");
    fs::remove_file(loose_path(&store, &tree)).unwrap();
    cases.push(Case {
        what: "a missing tree",
        store,
        rev: main(),
        needles: vec![format!("{tree} is missing")],
        kind: "store-corrupt",
    });

    let (store, _, _, blob) = loose_store(tmp, "bad-header.git");
    rewrite_loose(&store, &blob, b"blub 12\0hello world\n");
    cases.push(Case {
        what: "a loose object whose header names no kind",
        store,
        rev: main(),
        needles: vec![format!("{blob} in objects/")],
        kind: "store-corrupt",
    });

    let (store, _, _, blob) = loose_store(tmp, "bad-size.git");
    rewrite_loose(&store, &blob, b"blob 99\0hello world\n");
    cases.push(Case {
        what: "a loose object whose header announces another size",
        store,
        rev: main(),
        needles: vec![format!("{blob} in objects/")],
        kind: "store-corrupt",
    });

    let (store, commit, _, _) = loose_store(tmp, "garbage-packed-refs.git");
    fs::write(
        store.join("packed-refs"),
        format!("{commit} refs/tags/v1\n\x01garbage\n"),
    )
    .unwrap();
    cases.push(Case {
        what: "garbage in packed-refs",
        store,
        rev: "v1".into(),
        needles: vec!["packed-refs".into()],
        kind: "store-corrupt",
    });

    let (store, _, _, _) = loose_store(tmp, "dangling-ref.git");
    let missing = "0123456789abcdef0123456789abcdef01234567";
    fs::write(store.join("refs/heads/main"), format!("{missing}\n")).unwrap();
    cases.push(Case {
        what: "a ref to a missing commit",
        store,
        rev: main(),
        needles: vec![format!("{missing} is missing")],
        kind: "store-corrupt",
    });
    cases
}

fn every_corrupt_store_fails_cleanly_with_a_clear_error(rt: Runtime) {
    let tmp = TempDir::new("corrupt");
    let cases = cases(&tmp);
    check_each(
        "corrupt stores",
        &cases,
        |c| c.what.into(),
        |case| {
            let what = format!("{} (runtime {})", case.what, rt.name());
            let needles: Vec<&str> = case.needles.iter().map(String::as_str).collect();
            for extra in [&[][..], &["--verify-objects"][..]] {
                let site = FailureSite::new();
                let args = checkout_args(rt, extra, &case.store, &case.rev, &site.dest);
                assert_fails_cleanly(&args, &site.parent, &needles, &what);
            }
            let site = FailureSite::new();
            let run = unfurl(&checkout_args(
                rt,
                &["--json"],
                &case.store,
                &case.rev,
                &site.dest,
            ));
            let json: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{what}: expected a JSON failure, got {e}: {run:?}"));
            assert_eq!(
                json["error"]["kind"].as_str(),
                Some(case.kind),
                "{what}: expected the kind {}, got {json}",
                case.kind
            );
        },
    );
}

/// A FIFO where a reference or a loose object belongs: opening it for reading would wait for
/// a writer forever (the checkout hung, and one signal did not end it). It fails at once in
/// one line naming the file, `io`, nothing left, in both runtimes.
fn a_fifo_where_a_store_file_belongs_fails_at_once(rt: Runtime) {
    let tmp = TempDir::new("fifo");
    let (store, _, _, blob) = loose_store(&tmp, "fifo-object.git");
    let (refs, _, _, _) = loose_store(&tmp, "fifo-ref.git");
    let mkfifo = |path: &Path| {
        fs::remove_file(path).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    };
    mkfifo(&loose_path(&store, &blob));
    mkfifo(&refs.join("refs/heads/main"));
    for (store, needle) in [
        (&store, format!("objects/{}", &blob[..2])),
        (&refs, "refs/heads/main".to_owned()),
    ] {
        let site = FailureSite::new();
        let what = format!("a FIFO at {needle} ({})", rt.name());
        let mut child = unfurl_cmd()
            .args(checkout_args(rt, &[], store, "main", &site.dest))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{what}: still running after 60 s (blocked opening the FIFO?)");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let run = output_to_run(child.wait_with_output().unwrap());
        assert_failed_run(&run, &["not a regular file"], &what);
        assert!(
            run.stderr.contains(&needle),
            "{what}: names the file: {run:?}"
        );
        assert_eq!(
            fs::read_dir(&site.parent).unwrap().count(),
            0,
            "{what}: nothing left"
        );
    }
}
