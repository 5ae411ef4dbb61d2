//! Bad stores, revisions and destinations, corrupt objects and a full disk: exit 1, one
//! `error: ` line that says what is wrong, and nothing left behind. Usage errors exit 2.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(
    a_missing_store_is_reported_by_its_path,
    a_directory_that_is_not_a_repository_is_refused,
    an_unknown_revision_is_reported_by_name,
    an_ambiguous_short_id_is_refused,
    a_blob_id_is_refused,
    a_revision_naming_a_blob_path_is_refused,
    a_non_empty_destination_is_refused_and_left_untouched,
    a_destination_that_is_a_regular_file_is_refused,
    a_destination_below_a_regular_file_is_refused,
    a_failure_leaves_an_existing_empty_destination_empty,
    a_corrupt_loose_blob_fails_and_leaves_nothing_behind,
    a_corrupt_loose_blob_leaves_an_existing_empty_destination_empty,
    a_truncated_pack_fails_and_leaves_nothing_behind,
    a_full_disk_fails_with_no_space_left_and_leaves_nothing_behind,
    an_unreadable_store_is_reported,
    malformed_packed_refs_are_reported_once,
    a_revision_longer_than_a_file_name_is_an_unknown_revision,
    a_revision_past_a_shallow_boundary_names_the_boundary,
    an_error_line_never_holds_a_raw_control_character,
    a_store_whose_objects_is_a_symlink_checks_out,
    an_alternate_that_is_not_an_object_directory_is_refused,
    a_delta_cache_larger_than_the_guest_address_space_works,
    a_destination_name_as_long_as_a_name_can_be_checks_out,
);

/// The `error` object of a `--json` run with `args` (which must fail with exit 1).
#[track_caller]
fn json_error(mut args: Vec<std::ffi::OsString>, what: &str) -> serde_json::Value {
    args.insert(1, "--json".into());
    let run = unfurl(&args);
    assert_eq!(run.code, Some(1), "{what}: expected exit 1, got {run:?}");
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("{what}: expected one JSON object on stdout ({e}): {run:?}"));
    json["error"].clone()
}

fn malformed_packed_refs_are_reported_once(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    fs::write(
        store.join("packed-refs"),
        "# pack-refs with: peeled\ngarbage here\n",
    )
    .unwrap();
    // Not a loose ref, so packed-refs is read.
    let run = assert_fails_cleanly(
        &checkout_args(rt, &[], &store, "no-such-tag", &site.dest),
        &site.parent,
        &["packed-refs"],
        "garbage in packed-refs",
    );
    assert_eq!(
        run.stderr.matches("malformed").count(),
        1,
        "expected the packed-refs problem said once, with its line, got {:?}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("garbage here"),
        "expected the message to name line 2 and show it, got {:?}",
        run.stderr
    );
}

fn a_revision_longer_than_a_file_name_is_an_unknown_revision(rt: Runtime) {
    let site = FailureSite::new();
    for rev in ["x".repeat(300), format!("refs/heads/{}", "y".repeat(300))] {
        let what = format!("a {}-byte revision", rev.len());
        let args = checkout_args(rt, &[], &corpus().store, &rev, &site.dest);
        let run = assert_fails_cleanly(&args, &site.parent, &["unknown revision"], &what);
        assert!(
            !run.stderr.to_ascii_lowercase().contains("too long"),
            "{what}: expected no word of file names, got {:?}",
            run.stderr
        );
        let error = json_error(args, &what);
        assert_eq!(
            error["kind"].as_str(),
            Some("revision-not-found"),
            "{what}: expected kind revision-not-found, got {error}"
        );
    }
}

/// `git clone --bare --depth 2` of the corpus: `main` and `main~1` are there, `main~1` is
/// the shallow boundary.
fn shallow_store(tmp: &TempDir) -> PathBuf {
    let store = tmp.join("shallow.git");
    let url = format!("file://{}", corpus().store.display());
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--depth",
            "2",
            "--branch",
            "main",
            &url,
            store.to_str().unwrap(),
        ],
    );
    store
}

fn a_revision_past_a_shallow_boundary_names_the_boundary(rt: Runtime) {
    let site = FailureSite::new();
    let store = shallow_store(&site.tmp);
    let boundary = fs::read_to_string(store.join("shallow")).unwrap();
    let boundary = boundary.trim();
    assert_eq!(
        git(&store, &["rev-parse", "main~1"]),
        boundary,
        "expected main~1 to be the shallow boundary"
    );
    let what = "main~3 in a store cloned with --depth 2";
    let args = checkout_args(rt, &[], &store, "main~3", &site.dest);
    let run = assert_fails_cleanly(&args, &site.parent, &["shallow boundary"], what);
    assert!(
        run.stderr.contains(boundary) && !run.stderr.contains("fsck"),
        "{what}: expected the boundary commit {boundary} named, and no word of a damaged \
         store, got {:?}",
        run.stderr
    );
    assert_eq!(
        json_error(args, what)["kind"].as_str(),
        Some("revision-not-found"),
        "{what}: expected kind revision-not-found, as git's `unknown revision`"
    );
    // Up to the boundary, everything is there.
    assert_checkout_matches(rt, &store, "main~1", &site.tmp.join("at-boundary"), &[]);
}

fn an_error_line_never_holds_a_raw_control_character(rt: Runtime) {
    let site = FailureSite::new();
    let rev = "evil\n\u{1b}[31mred\r";
    let run = assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, rev, &site.dest),
        &site.parent,
        &["unknown revision"],
        "a revision with a newline and an escape sequence",
    );
    let file = site.parent.join("dest\n\u{1b}]0;title\u{7}");
    fs::write(&file, "x").unwrap();
    let run2 = output_to_run(run_cmd(&checkout_args(
        rt,
        &[],
        &corpus().store,
        "main",
        &file,
    )));
    for run in [run, run2] {
        let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
        assert!(
            line.starts_with("error: ")
                && !line.contains('\n')
                && !line.contains('\r')
                && !line.contains('\u{1b}')
                && !line.contains('\u{7}'),
            "expected one `error:` line with its control characters escaped, got {:?}",
            run.stderr
        );
    }
}

fn run_cmd(args: &[std::ffi::OsString]) -> std::process::Output {
    run(unfurl_cmd().args(args))
}

fn a_store_whose_objects_is_a_symlink_checks_out(rt: Runtime) {
    let tmp = TempDir::new("objects-link");
    // Absolute, and relative leading out of the git directory: git accepts both.
    for (name, absolute) in [("absolute.git", true), ("relative.git", false)] {
        let store = tmp.join(name);
        copy_tree(&corpus().store, &store);
        let objects = tmp.join(format!("{name}-objects"));
        fs::rename(store.join("objects"), &objects).unwrap();
        let target = if absolute {
            objects.clone()
        } else {
            PathBuf::from("..").join(format!("{name}-objects"))
        };
        std::os::unix::fs::symlink(&target, store.join("objects")).unwrap();
        assert_checkout_matches(rt, &store, "main", &tmp.join(format!("{name}-out")), &[]);
    }
}

fn an_alternate_that_is_not_an_object_directory_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("borrowing.git");
    git(
        site.tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--shared",
            corpus().store.to_str().unwrap(),
            store.to_str().unwrap(),
        ],
    );
    let listed = fs::read_to_string(store.join("objects/info/alternates")).unwrap();
    // `../../../../../../../../..` from objects/ is `/`.
    for hostile in ["/", "/etc", "../../../../../../../../../../.."] {
        fs::write(
            store.join("objects/info/alternates"),
            format!("{listed}{hostile}\n"),
        )
        .unwrap();
        let what = format!("an alternate {hostile}");
        let args = checkout_args(rt, &[], &store, "main", &site.dest);
        assert_fails_cleanly(&args, &site.parent, &["not one", "object directory"], &what);
        assert_eq!(
            json_error(args, &what)["kind"].as_str(),
            Some("store-unusable"),
            "{what}: expected kind store-unusable"
        );
    }
    // The legitimate alternate alone still works, and under wasm the report lists what the
    // guests could reach.
    fs::write(store.join("objects/info/alternates"), &listed).unwrap();
    let json = assert_checkout_matches(rt, &store, "main", &site.tmp.join("ok"), &[]);
    let preopens = json["preopens"]
        .as_array()
        .unwrap_or_else(|| panic!("expected `preopens` to be an array, got {json}"));
    match rt {
        Runtime::Native => assert!(
            preopens.is_empty(),
            "expected no preopens natively, got {json}"
        ),
        Runtime::Wasm => {
            let corpus_objects = corpus().store.join("objects").canonicalize().unwrap();
            let shown: Vec<(String, String, String)> = preopens
                .iter()
                .map(|p| {
                    let field = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    (field("guest"), field("host"), field("access"))
                })
                .collect();
            assert_eq!(
                shown,
                [
                    (
                        "/store".to_owned(),
                        store.display().to_string(),
                        "read-only".to_owned()
                    ),
                    (
                        "/alt/0".to_owned(),
                        corpus_objects.display().to_string(),
                        "read-only".to_owned()
                    ),
                    (
                        "/dest".to_owned(),
                        site.tmp.join("ok").display().to_string(),
                        "read-write".to_owned()
                    ),
                ],
                "expected the report to list exactly the store, its one alternate and the \
                 destination, got {json}"
            );
        }
    }
}

fn a_delta_cache_larger_than_the_guest_address_space_works(rt: Runtime) {
    let tmp = TempDir::new("delta-cache");
    assert_checkout_matches(
        rt,
        &corpus().store,
        "main",
        &tmp.join("out"),
        &["--delta-cache", "8G"],
    );
}

fn a_missing_store_is_reported_by_its_path(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("no-such-store");
    assert_fails_cleanly(
        &checkout_args(rt, &[], &store, "main", &site.dest),
        &site.parent,
        &[store.to_str().unwrap()],
        "a missing store",
    );
}

fn a_directory_that_is_not_a_repository_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("plain-dir");
    fs::create_dir_all(store.join("objects")).unwrap();
    fs::write(store.join("README"), "just files\n").unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &store, "main", &site.dest),
        &site.parent,
        &["not a git repository"],
        "a directory that is not a repository",
    );
}

fn an_unknown_revision_is_reported_by_name(rt: Runtime) {
    let site = FailureSite::new();
    let cases: [(&str, &[&str]); 3] = [
        ("no-such-branch", &["no-such-branch"]),
        ("main~99", &["main~99"]),
        (
            "v1^{tree}:no/such/dir",
            &["v1^{tree}:no/such/dir", "no/such/dir"],
        ),
    ];
    for (rev, needles) in cases {
        assert_fails_cleanly(
            &checkout_args(rt, &[], &corpus().store, rev, &site.dest),
            &site.parent,
            needles,
            &format!("the unknown revision {rev}"),
        );
    }
}

/// A store of 2000 chained commits (one tree), in which two commits share a 4-digit prefix.
fn store_with_ambiguous_commits(tmp: &TempDir) -> (PathBuf, String) {
    let store = init_bare(&tmp.join("ambiguous.git"));
    let mut stream = String::from("blob\nmark :1\ndata 3\nhi\n\n");
    for i in 0..2000 {
        let msg = format!("commit {i}");
        stream += &format!(
            "commit refs/heads/main\ncommitter T <t@example.invalid> 1700000000 +0000\ndata {}\n{msg}\n",
            msg.len()
        );
        if i == 0 {
            stream += "M 100644 :1 f.txt\n";
        }
        stream += "\n";
    }
    git_stdin(&store, &["fast-import", "--quiet"], stream.as_bytes());
    let ids = git(&store, &["rev-list", "main"]);
    let mut seen = std::collections::HashSet::new();
    let prefix = ids
        .lines()
        .map(|id| id[..4].to_owned())
        .find(|p| !seen.insert(p.clone()))
        .expect("two of 2000 commits share a 4-digit prefix");
    (store, prefix)
}

fn an_ambiguous_short_id_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let (store, prefix) = store_with_ambiguous_commits(&site.tmp);
    let out = run(git_cmd(&store).args(["rev-parse", "--verify", &prefix]));
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("ambiguous"),
        "reference: expected git to call {prefix} ambiguous, got {} {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_fails_cleanly(
        &checkout_args(rt, &[], &store, &prefix, &site.dest),
        &site.parent,
        &["ambiguous"],
        &format!("the ambiguous short id {prefix}"),
    );
}

fn a_blob_id_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let blob = git(&corpus().store, &["rev-parse", "main:README.md"]);
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, &blob, &site.dest),
        &site.parent,
        &["blob"],
        "a blob id",
    );
}

fn a_revision_naming_a_blob_path_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, "main:README.md", &site.dest),
        &site.parent,
        &["blob"],
        "main:README.md",
    );
}

fn a_non_empty_destination_is_refused_and_left_untouched(rt: Runtime) {
    let site = FailureSite::new();
    let dest = site.parent.join("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep.txt"), "mine\n").unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, "main", &dest),
        &site.parent,
        &["not empty"],
        "a non-empty destination",
    );
}

fn a_destination_that_is_a_regular_file_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let dest = site.parent.join("dest");
    fs::write(&dest, "a file\n").unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, "main", &dest),
        &site.parent,
        &[dest.to_str().unwrap(), "not a directory"],
        "a destination that is a regular file",
    );
}

fn a_destination_below_a_regular_file_is_refused(rt: Runtime) {
    let site = FailureSite::new();
    let file = site.parent.join("file");
    fs::write(&file, "a file\n").unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, "main", &file.join("sub/dest")),
        &site.parent,
        &[file.to_str().unwrap(), "not a directory"],
        "a destination below a regular file",
    );
}

fn a_failure_leaves_an_existing_empty_destination_empty(rt: Runtime) {
    let site = FailureSite::new();
    let dest = site.parent.join("dest");
    fs::create_dir(&dest).unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &[], &corpus().store, "no-such-branch", &dest),
        &site.parent,
        &["no-such-branch"],
        "an unknown revision into an existing empty destination",
    );
    assert!(
        dest.is_dir(),
        "expected the existing empty destination to still be there"
    );
}

/// A loose-only store whose commit has 41 files; the loose object of `m-corrupt.txt`, in the
/// middle, has bytes overwritten in the middle of its zlib stream. Returns the blob's id.
pub(crate) fn store_with_corrupt_loose_blob(tmp: &TempDir) -> (PathBuf, String) {
    let store = init_bare(&tmp.join("corrupt.git"));
    let text = |i: usize| -> Vec<u8> {
        (0..800)
            .map(|n| format!("line {n} of file {i}: alpha beta gamma delta\n"))
            .collect::<String>()
            .into_bytes()
    };
    let mut blobs = Vec::new();
    for i in 0..40 {
        blobs.push((format!("f{i:02}.txt"), write_blob(&store, &text(i))));
    }
    let bad = write_blob(&store, &text(99));
    blobs.push(("m-corrupt.txt".to_owned(), bad.clone()));
    let entries: Vec<(&str, &[u8], &str)> = blobs
        .iter()
        .map(|(n, id)| (FILE, n.as_bytes(), id.as_str()))
        .collect();
    let tree = write_tree(&store, &entries);
    let commit = commit_tree(&store, &tree, "corrupt");
    git(&store, &["update-ref", "refs/heads/main", &commit]);

    let path = store.join("objects").join(&bad[..2]).join(&bad[2..]);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let len = fs::metadata(&path).unwrap().len();
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut middle = vec![0u8; 16];
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    std::io::Read::read_exact(&mut file, &mut middle).unwrap();
    for b in &mut middle {
        *b ^= 0xff;
    }
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    file.write_all(&middle).unwrap();
    drop(file);

    let out = run(git_cmd(&store).args(["cat-file", "blob", &bad]));
    assert!(
        !out.status.success(),
        "reference: expected git to fail reading the corrupted blob {bad}, got {}",
        out.status
    );
    (store, bad)
}

fn corrupt_blob_needles(id: &str) -> Vec<&str> {
    vec![
        id,
        &id[2..],
        &id[..7],
        "corrupt",
        "decompress",
        "inflate",
        "checksum",
        "hash mismatch",
    ]
}

fn a_corrupt_loose_blob_fails_and_leaves_nothing_behind(rt: Runtime) {
    let site = FailureSite::new();
    let (store, bad) = store_with_corrupt_loose_blob(&site.tmp);
    assert_fails_cleanly(
        &checkout_args(rt, &[], &store, "main", &site.dest),
        &site.parent,
        &corrupt_blob_needles(&bad),
        "a commit with a corrupt loose blob",
    );
}

fn a_corrupt_loose_blob_leaves_an_existing_empty_destination_empty(rt: Runtime) {
    let site = FailureSite::new();
    let (store, bad) = store_with_corrupt_loose_blob(&site.tmp);
    let dest = site.parent.join("dest");
    fs::create_dir(&dest).unwrap();
    assert_fails_cleanly(
        &checkout_args(rt, &["--jobs", "1"], &store, "main", &dest),
        &site.parent,
        &corrupt_blob_needles(&bad),
        "a corrupt loose blob into an existing empty destination",
    );
    assert!(
        dest.is_dir(),
        "expected the existing empty destination to still be there"
    );
}

fn a_truncated_pack_fails_and_leaves_nothing_behind(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("truncated.git");
    copy_tree(&corpus().store, &store);
    let packs: Vec<PathBuf> = fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect();
    assert_eq!(
        packs.len(),
        1,
        "expected make-store to write one pack, got {packs:?}"
    );
    let len = fs::metadata(&packs[0]).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&packs[0])
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = run(git_cmd(&store)
        .args(["archive", "main"])
        .stdout(std::process::Stdio::null()));
    assert!(
        !out.status.success(),
        "reference: expected git archive to fail on the truncated pack, got {}",
        out.status
    );
    assert_fails_cleanly(
        &checkout_args(rt, &[], &store, "main", &site.dest),
        &site.parent,
        &["pack", "corrupt", "truncated", "unexpected end", "eof"],
        "a truncated pack",
    );
}

/// The disk fills up mid-checkout: DEST is on a 256 KiB tmpfs mounted in a private mount
/// namespace (`unshare -m`), far smaller than the checkout (about 300 files). A real ENOSPC
/// reaches every write path (file data, directories, symlinks) while unfurl's stderr, which is
/// not on that filesystem, still works. (Injecting ENOSPC into `write` with strace cannot be
/// restricted to file descriptors in strace 6.1, so it would also swallow the error message.)
fn a_full_disk_fails_with_no_space_left_and_leaves_nothing_behind(rt: Runtime) {
    let tmp = TempDir::new("enospc");
    let mnt = tmp.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let (stdout, stderr) = (tmp.join("stdout"), tmp.join("stderr"));
    let script = r#"
        mount -t tmpfs -o size=256k tmpfs "$1" || exit 97
        "$2" checkout --runtime "$3" "$4" main "$1/x/y/dest" >"$5" 2>"$6"
        rc=$?
        find "$1" -mindepth 1
        exit $rc
    "#;
    let out = run(Command::new("unshare")
        .args(["-m", "--", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(unfurl_bin())
        .arg(rt.name())
        .arg(&corpus().store)
        .arg(&stdout)
        .arg(&stderr));
    assert!(
        out.status.code() != Some(97) && stderr.exists(),
        "a full disk: this test needs to mount a 256 KiB tmpfs in a private mount namespace \
         (`unshare -m` then `mount -t tmpfs`, as root or with user namespaces), and that failed \
         ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let result = Run {
        code: out.status.code(),
        stdout: fs::read_to_string(&stdout).unwrap(),
        stderr: fs::read_to_string(&stderr).unwrap(),
    };
    // In the host's words and numbers in both runtimes (WASI's ENOSPC is 51).
    assert_failed_run(
        &result,
        &["No space left on device (os error 28)"],
        "a checkout onto a full disk",
    );
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(
        left.trim().is_empty(),
        "expected nothing left on the full filesystem, got:\n{left}"
    );
}

/// A store whose `objects/` nobody may read. Root reads anything, so as root (as in CI) unfurl
/// runs as an unprivileged user (`setpriv`, see [`unprivileged`]), which must be able to create
/// DEST: the watched parent is made writable for everyone first.
fn an_unreadable_store_is_reported(rt: Runtime) {
    let site = FailureSite::new();
    let store = site.tmp.join("unreadable.git");
    copy_tree(&corpus().store, &store);
    chmod_recursive(&store.join("objects"), "a-rwx");
    fs::set_permissions(&site.parent, fs::Permissions::from_mode(0o777)).unwrap();
    let args = checkout_args(rt, &[], &store, "main", &site.dest);
    assert_fails_cleanly_with(
        unprivileged(unfurl_cmd()).args(&args),
        &site.parent,
        &["permission denied"],
        "an unreadable store",
    );
    chmod_recursive(&store.join("objects"), "u+rwx");
}

fn chmod_recursive(path: &Path, mode: &str) {
    let out = run(Command::new("chmod").arg("-R").arg(mode).arg(path));
    assert!(
        out.status.success(),
        "expected chmod -R {mode} {} to succeed, got {}",
        path.display(),
        out.status
    );
}

/// Usage errors exit 2 and create nothing, whatever the runtime.
#[test]
fn usage_errors_exit_with_code_2_and_create_nothing() {
    let site = FailureSite::new();
    let store = corpus().store.to_str().unwrap().to_owned();
    let dest = site.dest.to_str().unwrap().to_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate", &store, "main", &dest],
        vec!["checkout"],
        vec!["checkout", &store],
        vec!["checkout", &store, "main"],
        vec!["checkout", &store, "main", &dest, "extra"],
        vec!["checkout", "--no-such-flag", &store, "main", &dest],
        vec!["checkout", "--jobs", "0", &store, "main", &dest],
        vec!["checkout", "--jobs", "abc", &store, "main", &dest],
        vec!["checkout", "--jobs", "-1", &store, "main", &dest],
        vec!["checkout", "--jobs", &store, "main", &dest],
        vec!["checkout", "--runtime", "jvm", &store, "main", &dest],
    ];
    let before = snapshot(&site.parent);
    check_each(
        "usage errors",
        &cases,
        |args| args.join(" "),
        |args| {
            let run = unfurl(args);
            assert_eq!(
                run.code,
                Some(2),
                "`unfurl {}`: expected exit 2, got {run:?}",
                args.join(" ")
            );
            assert!(
                !run.stderr.trim().is_empty(),
                "`unfurl {}`: expected a usage message on stderr, got {run:?}",
                args.join(" ")
            );
            let after = snapshot(&site.parent);
            let d = diff(&before, &after, 10);
            assert!(
                d.is_empty(),
                "`unfurl {}`: expected nothing created, got:\n{}",
                args.join(" "),
                d.join("\n")
            );
        },
    );
}

/// The staging directory's name is longer than DEST's; for a DEST of 255 bytes it is cut and
/// hashed, so the checkout still works.
fn a_destination_name_as_long_as_a_name_can_be_checks_out(rt: Runtime) {
    let tmp = TempDir::new("long-dest");
    assert_checkout_matches(rt, &corpus().store, "main", &tmp.join("d".repeat(255)), &[]);
}
