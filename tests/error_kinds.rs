//! `--json` on failure: one `{"error": {"kind", "message", "path", "object"}}` object on
//! stdout, the `error:` line still on stderr, and the same kind in both runtimes. The kinds
//! are what an installer branches on, so the tests assert the kind, not a needle in text.

use std::fs;
use std::path::Path;

use crate::support::*;

runtime_tests!(
    an_unknown_revision_is_revision_not_found,
    a_blob_revision_is_revision_invalid,
    a_hostile_tree_is_tree_rejected_with_its_path,
    a_corrupt_object_is_store_corrupt_with_its_id,
    a_non_empty_destination_is_destination_not_empty,
    a_missing_store_is_store_unusable,
    a_directory_that_is_not_a_repository_is_store_unusable,
    an_unborn_head_is_revision_not_found_and_dangling_symbolic_refs_are_ignored,
);

/// Runs a checkout with `--json` that must fail, and returns its `error` object after
/// checking the shape: exit 1, one JSON line on stdout, one `error:` line on stderr whose
/// text is the JSON's `message`, and nothing left beside DEST.
#[track_caller]
fn failure(rt: Runtime, extra: &[&str], store: &Path, rev: &str) -> serde_json::Value {
    let site = FailureSite::new();
    failure_into(rt, extra, store, rev, &site.dest, &site.parent)
}

#[track_caller]
fn failure_into(
    rt: Runtime,
    extra: &[&str],
    store: &Path,
    rev: &str,
    dest: &Path,
    watched: &Path,
) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let before = snapshot(watched);
    let run = unfurl(&checkout_args(rt, &args, store, rev, dest));
    let what = format!("`unfurl checkout --json` of {rev} ({})", rt.name());
    assert_eq!(run.code, Some(1), "{what}: expected exit 1, got {run:?}");
    let stderr = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(
        stderr.starts_with("error: ") && !stderr.contains('\n'),
        "{what}: expected one `error:` line on stderr, got {run:?}"
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one JSON line, got {run:?}"
    );
    let json: serde_json::Value = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {run:?}"));
    let error = json
        .get("error")
        .unwrap_or_else(|| panic!("{what}: expected an `error` object, got {json}"))
        .clone();
    assert_eq!(
        error["message"].as_str(),
        stderr.strip_prefix("error: "),
        "{what}: the JSON message and the stderr line differ"
    );
    let d = diff(&before, &snapshot(watched), 10);
    assert!(d.is_empty(), "{what}: expected nothing left, got {d:?}");
    error
}

#[track_caller]
fn assert_kind(error: &serde_json::Value, kind: &str) {
    assert_eq!(
        error["kind"].as_str(),
        Some(kind),
        "expected error kind {kind}, got {error}"
    );
}

fn an_unknown_revision_is_revision_not_found(rt: Runtime) {
    let error = failure(rt, &[], &corpus().store, "no-such-branch");
    assert_kind(&error, "revision-not-found");
}

fn a_blob_revision_is_revision_invalid(rt: Runtime) {
    let error = failure(rt, &[], &corpus().store, "main:README.md");
    assert_kind(&error, "revision-invalid");
}

fn a_hostile_tree_is_tree_rejected_with_its_path(rt: Runtime) {
    let tmp = TempDir::new("kind-hostile");
    let store = init_bare(&tmp.join("hostile.git"));
    let blob = write_blob(&store, b"payload\n");
    let inner = write_raw_tree(&store, &[(FILE, b".GIT", &blob)]);
    let tree = write_raw_tree(&store, &[(DIR, b"sub", &inner)]);
    let commit = commit_tree(&store, &tree, "hostile");
    let error = failure(rt, &[], &store, &commit);
    assert_kind(&error, "tree-rejected");
    assert_eq!(error["path"].as_str(), Some("sub/.GIT"), "{error}");
}

fn a_corrupt_object_is_store_corrupt_with_its_id(rt: Runtime) {
    let tmp = TempDir::new("kind-corrupt");
    let (store, bad) = crate::bad_input::store_with_corrupt_loose_blob(&tmp);
    let error = failure(rt, &["-j", "1"], &store, "main");
    assert_kind(&error, "store-corrupt");
    assert_eq!(error["object"].as_str(), Some(bad.as_str()), "{error}");
}

fn a_non_empty_destination_is_destination_not_empty(rt: Runtime) {
    let site = FailureSite::new();
    let dest = site.parent.join("full");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep"), b"mine").unwrap();
    let error = failure_into(rt, &[], &corpus().store, "main", &dest, &site.parent);
    assert_kind(&error, "destination-not-empty");
}

fn a_missing_store_is_store_unusable(rt: Runtime) {
    let tmp = TempDir::new("kind-missing");
    let error = failure(rt, &[], &tmp.join("nowhere.git"), "main");
    assert_kind(&error, "store-unusable");
}

fn a_directory_that_is_not_a_repository_is_store_unusable(rt: Runtime) {
    let tmp = TempDir::new("kind-not-a-repo");
    let dir = tmp.join("plain");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("file"), b"not git").unwrap();
    let error = failure(rt, &[], &dir, "main");
    assert_kind(&error, "store-unusable");
}

/// A store as installers make it: `git init --bare`, then `git fetch` into
/// `refs/remotes/origin/*`. Its `HEAD` names a branch that was never created: `HEAD` is an
/// unknown revision (git: "ambiguous argument 'HEAD': unknown revision"), not a corrupt
/// store, which an installer would discard and fetch again. Symbolic references whose
/// target does not exist (a remote's `HEAD` after its branch was pruned, a tag pointing
/// nowhere) name nothing, as for `git for-each-ref`: a checkout with a `.git`, which lists
/// the store's tags, still works.
fn an_unborn_head_is_revision_not_found_and_dangling_symbolic_refs_are_ignored(rt: Runtime) {
    let tmp = TempDir::new("kind-unborn");
    let store = init_bare(&tmp.join("db.git"));
    let source = corpus().store.to_str().unwrap().to_owned();
    git(
        &store,
        &[
            "fetch",
            "-q",
            "--tags",
            &source,
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    );
    let error = failure(rt, &[], &store, "HEAD");
    assert_kind(&error, "revision-not-found");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("unborn branch"), "{error}");
    git(
        &store,
        &["symbolic-ref", "refs/tags/dangling", "refs/tags/nowhere"],
    );
    git(
        &store,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/pruned",
        ],
    );
    let dest = tmp.join("checkout");
    let run = unfurl(&checkout_args(rt, &[], &store, "origin/main", &dest));
    assert_eq!(run.code, Some(0), "dangling symbolic refs beside: {run:?}");
    assert_eq!(
        git(&dest, &["describe", "--tags"]),
        git(&store, &["describe", "--tags", "refs/remotes/origin/main"]),
    );
    assert_eq!(git(&dest, &["status", "--porcelain"]), "");
}

#[test]
fn a_guest_over_its_memory_cap_is_out_of_memory() {
    let tmp = TempDir::new("kind-memcap");
    let store = crate::wasm::store_with_a_big_delta(tmp.path());
    let error = failure(Runtime::Wasm, &["--wasm-max-memory", "16M"], &store, "old");
    assert_kind(&error, "out-of-memory");
}

#[test]
fn a_guest_past_its_deadline_is_timeout() {
    let error = failure(
        Runtime::Wasm,
        &["--wasm-timeout", "1ms"],
        &corpus().store,
        "main",
    );
    assert_kind(&error, "timeout");
}

runtime_tests!(a_partial_clone_lists_every_missing_blob_with_its_path);

/// A blobless partial clone (`--filter=blob:none`) has the trees but no blob: one error,
/// kind `objects-missing`, lists every blob the checkout needs with its path, so that an
/// installer can fetch them in one round.
fn a_partial_clone_lists_every_missing_blob_with_its_path(rt: Runtime) {
    let tmp = TempDir::new("kind-partial");
    let partial = tmp.join("partial.git");
    let source = format!("file://{}", corpus().store.display());
    let out = run(std::process::Command::new("git")
        .args(["clone", "-q", "--bare", "--filter=blob:none", "--no-local"])
        .arg("--upload-pack=git -c uploadpack.allowFilter=true upload-pack")
        .arg(&source)
        .arg(&partial)
        .env("GIT_CONFIG_NOSYSTEM", "1"));
    assert!(out.status.success(), "a partial clone: {out:?}");
    let listing = git(&corpus().store, &["ls-tree", "-r", "main"]);
    let mut wanted: Vec<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let (meta, path) = line.split_once('\t')?;
            let mut fields = meta.split(' ');
            let (_, kind, id) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "blob").then(|| (path.to_owned(), id.to_owned()))
        })
        .collect();
    wanted.sort();
    // Only blobs are missing: the checkout would need every one of them.
    let error = failure(rt, &[], &partial, "main");
    assert_kind(&error, "objects-missing");
    let mut listed: Vec<(String, String)> = error["missing"]
        .as_array()
        .unwrap_or_else(|| panic!("expected a `missing` list, got {error}"))
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_owned(),
                m["object"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    // ls-tree quotes unusual names; compare the ids, and the plain paths.
    let ids = |v: &[(String, String)]| {
        let mut ids: Vec<String> = v.iter().map(|(_, id)| id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&listed), ids(&wanted), "every missing blob, by id");
    for (path, id) in &wanted {
        if !path.starts_with('"') {
            assert!(
                listed.contains(&(path.clone(), id.clone())),
                "expected {path} ({id}) in the list"
            );
        }
    }
}
