//! Odd references and repository formats: a symlinked reference (followed inside the store,
//! refused outside it), a reference file of megabytes, and the formats git refuses
//! (`core.repositoryformatversion` above 1, unknown extensions).

use std::fs;

use crate::support::*;

runtime_tests!(
    a_symlinked_reference_resolves_inside_the_store_and_is_refused_outside_it,
    a_repository_format_git_refuses_is_refused,
    a_reference_file_of_megabytes_fails_in_a_short_line,
);

/// A loose reference may be a symlink (git's format before 1.4). One whose target is in the
/// store resolves as git resolves it; one that leads outside the store is not followed (the
/// store's handle reads nothing else), and the checkout fails in one line that names the
/// reference and says what to do, in both runtimes, leaving nothing.
fn a_symlinked_reference_resolves_inside_the_store_and_is_refused_outside_it(rt: Runtime) {
    let tmp = TempDir::new("symlinked-ref");
    let store = tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    let commit = git(&store, &["rev-parse", "main"]);
    fs::write(store.join("kept-ref"), format!("{commit}\n")).unwrap();
    std::os::unix::fs::symlink("../../kept-ref", store.join("refs/heads/inside")).unwrap();
    fs::write(tmp.join("outside-ref"), format!("{commit}\n")).unwrap();
    std::os::unix::fs::symlink("../../../outside-ref", store.join("refs/heads/outside")).unwrap();
    // git follows both.
    assert_eq!(git(&store, &["rev-parse", "inside"]), commit);
    assert_eq!(git(&store, &["rev-parse", "outside"]), commit);
    let dest = tmp.join("inside");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none"],
        &store,
        "inside",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "the symlink inside the store: {run:?}");
    let expected = reference(&corpus().store, &commit);
    assert_same_tree(&snapshot(expected.path()), &snapshot(&dest), "inside");
    let mut cmd = unfurl_cmd();
    cmd.args(checkout_args(
        rt,
        &[],
        &store,
        "outside",
        &tmp.join("refused"),
    ));
    let run = assert_fails_cleanly_with(
        &mut cmd,
        tmp.path(),
        &["symlink that leads outside the store"],
        "a symlink out of the store",
    );
    for needle in ["refs/heads/outside", "replace it with a file"] {
        assert!(run.stderr.contains(needle), "{needle:?} in {run:?}");
    }
}

/// What git refuses as a repository format (`core.repositoryformatversion` above 1, or an
/// extension it does not know in version 1) may hold data unfurl would misread: refused in
/// one line, `store-unusable`, nothing left. An extension git knows (`preciousObjects`,
/// `partialClone`) is read as before.
fn a_repository_format_git_refuses_is_refused(rt: Runtime) {
    let tmp = TempDir::new("repo-format");
    let store = tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    let config = fs::read_to_string(store.join("config")).unwrap();
    let with = |version: &str, extensions: &str| {
        let edited = config.replace(
            "repositoryformatversion = 0",
            &format!("repositoryformatversion = {version}"),
        );
        fs::write(store.join("config"), format!("{edited}{extensions}")).unwrap();
    };
    for (version, extensions, needle) in [
        ("2", "", "repositoryformatversion is 2"),
        ("1", "[extensions]\n\tweirdThing = true\n", "`weirdthing`"),
    ] {
        with(version, extensions);
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&store)
            .args(["rev-parse", "main"])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "git refuses it too ({version}, {extensions:?})"
        );
        let site = FailureSite::new();
        let mut cmd = unfurl_cmd();
        cmd.args(checkout_args(rt, &["--json"], &store, "main", &site.dest));
        let run = output_to_run(run(&mut cmd));
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains(needle), "{needle:?}: {run:?}");
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(json["error"]["kind"], "store-unusable", "{json}");
        assert_eq!(
            fs::read_dir(&site.parent).unwrap().count(),
            0,
            "nothing left"
        );
    }
    with("1", "[extensions]\n\tpreciousObjects = true\n");
    let dest = tmp.join("known");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none"],
        &store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "a known extension: {run:?}");
}

/// `HEAD` holding `ref: refs/heads/` and 50 MiB of name: not a reference. It fails in one
/// short line (it made a 52 MB `error:` line, and `--json` message, before).
fn a_reference_file_of_megabytes_fails_in_a_short_line(rt: Runtime) {
    let tmp = TempDir::new("huge-ref");
    let store = tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    let mut head = b"ref: refs/heads/".to_vec();
    head.resize(head.len() + (50 << 20), b'a');
    head.push(b'\n');
    fs::write(store.join("HEAD"), head).unwrap();
    let site = FailureSite::new();
    let mut cmd = unfurl_cmd();
    cmd.args(checkout_args(rt, &[], &store, "HEAD", &site.dest));
    let run = assert_fails_cleanly_with(
        &mut cmd,
        &site.parent,
        &["not a reference"],
        "a 50 MiB HEAD",
    );
    assert!(
        run.stderr.len() < 1000,
        "a short line: {} bytes",
        run.stderr.len()
    );
}
