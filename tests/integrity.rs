//! `--verify-objects` catches a store altered consistently (valid zlib, the right size,
//! other bytes), loose or packed, which zlib's checksum cannot; `--fsync` syncs every file
//! and directory before the publishing rename and the parent after it; eight processes
//! checking out different revisions from one store at once all get their own tree; a store
//! repacked by `git gc` between a checkout's plan and its writing still checks out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

runtime_tests!(
    a_consistently_altered_store_is_caught_only_with_verify_objects,
    verify_objects_on_a_sound_store_matches_git_archive,
    fsync_syncs_every_file_and_directory_and_the_parent_after_the_rename,
    eight_processes_checking_out_different_revisions_from_one_store_all_succeed,
    a_store_repacked_between_planning_and_writing_checks_out_like_git_archive,
);

/// A store whose one file's blob, `f.txt`, holds other bytes than its id says (same size,
/// valid zlib): loose, or (with `packed`) repacked by git, which copies it as it is.
fn altered_store(tmp: &TempDir, packed: bool) -> (PathBuf, String, String) {
    let store = init_bare(&tmp.join("altered.git"));
    let blob = write_blob(&store, b"hello world\n");
    let tree = write_tree(&store, &[(FILE, b"f.txt", &blob)]);
    let commit = commit_tree(&store, &tree, "altered");
    let path = store.join("objects").join(&blob[..2]).join(&blob[2..]);
    let script = "import sys, zlib; open(sys.argv[1], 'wb').write(zlib.compress(b'blob 12\\0HELLO WORLD\\n'))";
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = run(Command::new("python3").args(["-c", script]).arg(&path));
    assert!(
        out.status.success(),
        "expected the blob to be rewritten, got {out:?}"
    );
    if packed {
        git(&store, &["update-ref", "refs/heads/main", &commit]);
        git(&store, &["repack", "-a", "-d", "-q"]);
        git(&store, &["prune-packed"]);
        assert!(
            !path.exists(),
            "expected git repack to pack the altered blob, it is still loose"
        );
    }
    (store, commit, blob)
}

fn a_consistently_altered_store_is_caught_only_with_verify_objects(rt: Runtime) {
    for packed in [false, true] {
        let tmp = TempDir::new("altered");
        let (store, commit, blob) = altered_store(&tmp, packed);
        let what = format!(
            "a {} blob altered consistently (runtime {})",
            if packed { "packed" } else { "loose" },
            rt.name()
        );
        // Without the option, as for git's checkout, the altered bytes go through.
        let dest = tmp.join("unverified");
        let plain = unfurl(&checkout_args(
            rt,
            &["--git", "none"],
            &store,
            &commit,
            &dest,
        ));
        assert_eq!(
            plain.code,
            Some(0),
            "{what}: expected exit 0, got {plain:?}"
        );
        let content = std::fs::read(dest.join("f.txt")).unwrap();
        assert_eq!(
            content, b"HELLO WORLD\n",
            "{what}: expected the altered content without --verify-objects"
        );
        let site = FailureSite::new();
        let args = checkout_args(rt, &["--verify-objects"], &store, &commit, &site.dest);
        let failed = assert_fails_cleanly(&args, &site.parent, &[&blob], &what);
        let file = if packed {
            "objects/pack/pack-"
        } else {
            "objects/"
        };
        for needle in ["\"f.txt\"", file, "hashes to", "--verify-objects"] {
            assert!(
                failed.stderr.contains(needle),
                "{what}: expected the error to mention {needle:?}, got {:?}",
                failed.stderr
            );
        }
        let run = unfurl(&checkout_args(
            rt,
            &["--verify-objects", "--json"],
            &store,
            &commit,
            &site.dest,
        ));
        let json: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{what}: expected a JSON failure, got {e}: {run:?}"));
        assert_eq!(
            (
                json["error"]["kind"].as_str(),
                json["error"]["object"].as_str()
            ),
            (Some("store-corrupt"), Some(blob.as_str())),
            "{what}: expected kind store-corrupt naming the blob, got {json}"
        );
    }
}

fn verify_objects_on_a_sound_store_matches_git_archive(rt: Runtime) {
    let corpus = corpus();
    let tmp = TempDir::new("verified");
    for rev in ["main", "side"] {
        assert_checkout_matches(
            rt,
            &corpus.store,
            rev,
            &tmp.join(rev),
            &["--verify-objects", "--git", "none"],
        );
    }
}

/// Under strace: every regular file and directory of the checkout is opened and synced
/// before the rename that publishes it, and the parent is synced after that rename.
fn fsync_syncs_every_file_and_directory_and_the_parent_after_the_rename(rt: Runtime) {
    require(
        "strace",
        "it records the fsync calls of a checkout with --fsync",
    );
    let corpus = corpus();
    let tmp = TempDir::new("fsync");
    let dest = tmp.join("dest");
    let log = tmp.join("strace.log");
    let mut args = vec![
        "-f".into(),
        "-qq".into(),
        "-o".into(),
        log.clone().into_os_string(),
    ];
    args.extend(["-e", "trace=fsync,rename,renameat,renameat2"].map(Into::into));
    args.push(unfurl_bin().as_os_str().to_owned());
    args.extend(checkout_args(
        rt,
        &["--fsync", "--git", "none", "--json"],
        &corpus.store,
        "main",
        &dest,
    ));
    let out = run(Command::new("strace").args(&args));
    let what = format!("--fsync (runtime {})", rt.name());
    assert!(out.status.success(), "{what}: expected exit 0, got {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reference = reference(&corpus.store, "main");
    assert_same_tree(&snapshot(reference.path()), &snapshot(&dest), &what);
    let trace = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let publish = lines
        .iter()
        .rposition(|l| l.contains("rename") && l.contains(".unfurl-") && l.ends_with("= 0"))
        .unwrap_or_else(|| panic!("{what}: expected the publishing rename in the trace"));
    let syncs_before = lines[..publish]
        .iter()
        .filter(|l| l.contains("fsync(") && l.ends_with("= 0"))
        .count();
    let syncs_after = lines[publish..]
        .iter()
        .filter(|l| l.contains("fsync(") && l.ends_with("= 0"))
        .count();
    let files = json["files"].as_u64().unwrap();
    let dirs = json["dirs"].as_u64().unwrap() + 1;
    assert!(
        syncs_before as u64 >= files + dirs,
        "{what}: expected at least {files} files and {dirs} directories synced before the rename, got {syncs_before} fsync calls"
    );
    assert_eq!(
        syncs_after, 1,
        "{what}: expected the parent synced once after the rename"
    );
    // Without the option: no fsync at all.
    let plain = tmp.join("plain");
    let log2 = tmp.join("strace2.log");
    let mut args = vec![
        "-f".into(),
        "-qq".into(),
        "-o".into(),
        log2.clone().into_os_string(),
    ];
    args.extend(["-e", "trace=fsync,fdatasync"].map(Into::into));
    args.push(unfurl_bin().as_os_str().to_owned());
    args.extend(checkout_args(
        rt,
        &["--git", "none"],
        &corpus.store,
        "main",
        &plain,
    ));
    let out = run(Command::new("strace").args(&args));
    assert!(
        out.status.success(),
        "{what}: expected exit 0 without --fsync, got {out:?}"
    );
    let calls = std::fs::read_to_string(&log2)
        .unwrap()
        .lines()
        .filter(|l| l.contains("sync("))
        .count();
    assert_eq!(calls, 0, "{what}: expected no sync call without --fsync");
}

/// Eight processes, one store, eight revisions (some repeated) into eight destinations,
/// started together: each destination is exactly its revision.
fn eight_processes_checking_out_different_revisions_from_one_store_all_succeed(rt: Runtime) {
    let corpus = corpus();
    let revs: Vec<&String> = corpus.refs.keys().collect();
    let tmp = TempDir::new("concurrent");
    let jobs: Vec<(String, PathBuf)> = (0..8)
        .map(|i| {
            let rev = revs[i % revs.len()].clone();
            (rev.clone(), tmp.join(format!("dest-{i}-{rev}")))
        })
        .collect();
    let children: Vec<_> = jobs
        .iter()
        .map(|(rev, dest)| {
            unfurl_cmd()
                .args(checkout_args(
                    rt,
                    &["--git", "none", "-q", "-j", "2"],
                    &corpus.store,
                    rev,
                    dest,
                ))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn unfurl")
        })
        .collect();
    for ((rev, dest), child) in jobs.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        let what = format!(
            "concurrent checkout of {rev} into {} (runtime {})",
            dest.display(),
            rt.name()
        );
        assert!(out.status.success(), "{what}: expected exit 0, got {out:?}");
        let reference = reference(&corpus.store, rev);
        assert_same_tree(&snapshot(reference.path()), &snapshot(dest), &what);
    }
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".unfurl-"))
        .collect();
    assert!(
        left.is_empty(),
        "expected no staging directory left, got {left:?}"
    );
}

/// A store as `git fetch` leaves it before `git gc --auto` runs: `main`'s objects loose (a
/// fetch of fewer objects than `fetch.unpackLimit` unpacks them), `side`'s own in a pack.
fn fetched_store(tmp: &TempDir) -> PathBuf {
    let store = init_bare(&tmp.join("fetched.git"));
    let source = corpus().store.to_str().unwrap().to_owned();
    for (limit, branch) in [("1000000", "main"), ("1", "side")] {
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let unpack = format!("fetch.unpackLimit={limit}");
        git(&store, &["-c", &unpack, "fetch", "-q", &source, &refspec]);
    }
    store
}

/// The names of the store's packs, and how many loose objects it holds.
fn objects_of(store: &Path) -> (Vec<String>, usize) {
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir).map_or_else(
            |_| Vec::new(),
            |d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            },
        )
    };
    let objects = store.join("objects");
    let mut packs: Vec<String> = names(&objects.join("pack"))
        .into_iter()
        .filter(|n| n.ends_with(".pack"))
        .collect();
    packs.sort();
    let loose = names(&objects)
        .iter()
        .filter(|d| d.len() == 2 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|d| names(&objects.join(d)).len())
        .sum();
    (packs, loose)
}

/// `git gc` beside a checkout (`git fetch` starts it in the background): between the plan
/// and the writing, the store's loose objects are packed and deleted and its pack is
/// replaced by one with another name. The checkout is held at its first `mkdirat`, the
/// staging directory's, made after the plan (strace delays each thread's first one), while
/// the repack runs. Every blob is read from where it is now: the loose files the plan
/// located are gone, and under wasm the writers list the store after the repack, so the
/// planner's pack numbers name packs they do not have.
fn a_store_repacked_between_planning_and_writing_checks_out_like_git_archive(rt: Runtime) {
    require(
        "strace",
        "it holds a checkout between its plan and its writing while the store is repacked",
    );
    let tmp = TempDir::new("repacked");
    let store = fetched_store(&tmp);
    let (packs_before, loose_before) = objects_of(&store);
    assert!(
        packs_before.len() == 1 && loose_before > 100,
        "expected one pack and many loose objects, got {packs_before:?} and {loose_before}"
    );
    let reference = reference(&store, "side");
    let dest = tmp.join("dest");
    let what = format!(
        "a checkout of a store repacked under it (runtime {})",
        rt.name()
    );
    let mut held = Command::new("strace");
    held.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=mkdirat"])
        .args(["-e", "inject=mkdirat:delay_enter=4000000:when=1"])
        .arg(unfurl_bin())
        .args(checkout_args(rt, &["--git", "none"], &store, "side", &dest))
        .env_remove("GIT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = held.spawn().expect("strace starts");
    // Planning 300 files takes milliseconds (the sandbox's compiled module is cached by
    // earlier tests; a cold compile takes about a second).
    std::thread::sleep(Duration::from_millis(1500));
    git(&store, &["repack", "-a", "-d", "-f", "-q"]);
    git(&store, &["prune-packed"]);
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what}: expected the checkout to be still held when the repack ended"
    );
    let (packs_after, loose_after) = objects_of(&store);
    assert!(
        loose_after == 0 && packs_after.len() == 1 && packs_after != packs_before,
        "{what}: expected the repack to replace the pack and delete the loose objects, got {packs_after:?} and {loose_after}"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: expected exit 0, got {out:?}");
    assert_same_tree(&snapshot(reference.path()), &snapshot(&dest), &what);
}
