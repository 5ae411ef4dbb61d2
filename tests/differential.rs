//! unfurl's checkout against `git archive REV | tar -x` on a make-store store, for every form of
//! revision, plus the summary it prints and where it puts DEST.

use std::fs;

use crate::support::*;

runtime_tests!(
    every_revision_form_checks_out_what_git_archive_extracts,
    one_job_and_the_default_jobs_write_identical_trees,
    an_existing_empty_destination_is_filled,
    missing_parents_of_the_destination_are_created,
    success_prints_a_one_line_summary_on_stderr_and_nothing_on_stdout,
    quiet_success_prints_nothing,
    progress_into_a_pipe_logs_the_count_of_files_written,
    relative_store_and_destination_are_resolved_from_the_working_directory,
    a_destination_with_a_trailing_slash_is_that_destination,
    racing_checkouts_into_one_destination_leave_exactly_one_complete_tree,
    a_checkout_leaves_the_store_unchanged,
);

/// A directory of main's tree that holds a subdirectory, so `main:<dir>` checks out nesting.
fn nested_dir_of_main() -> String {
    let store = &corpus().store;
    let dirs = git(store, &["ls-tree", "-r", "-d", "--name-only", "main"]);
    dirs.lines()
        .find(|d| !d.contains('/') && dirs.lines().any(|e| e.starts_with(&format!("{d}/"))))
        .expect("main has a directory with a subdirectory")
        .to_owned()
}

fn every_revision_form_checks_out_what_git_archive_extracts(rt: Runtime) {
    let c = corpus();
    let main = &c.refs["main"];
    let main_tree = git(&c.store, &["rev-parse", "main^{tree}"]);
    let revs = [
        main.clone(),
        main[..7].to_owned(),
        "HEAD".to_owned(),
        "main".to_owned(),
        "refs/heads/main".to_owned(),
        "v1".to_owned(),
        "v2".to_owned(),
        "release".to_owned(),
        "main~2".to_owned(),
        "v1^{commit}".to_owned(),
        "side^".to_owned(),
        "side".to_owned(),
        "release^{tree}".to_owned(),
        main_tree,
        format!("main:{}", nested_dir_of_main()),
    ];
    let tmp = TempDir::new("revs");
    let cases: Vec<(usize, String)> = revs.into_iter().enumerate().collect();
    check_each(
        "every revision form",
        &cases,
        |(_, rev)| rev.clone(),
        |(i, rev)| {
            let dest = tmp.join(format!("dest-{i}"));
            let json = assert_checkout_matches(rt, &c.store, rev, &dest, &[]);
            // Spot-check the forms whose peeling is easy to get wrong.
            if rev == "release" {
                assert_eq!(
                    json["commit"].as_str(),
                    Some(main.as_str()),
                    "expected the annotated tag `release` to peel to main's commit {main}, got {json}"
                );
            }
            if rev.starts_with("main:") || rev.ends_with("^{tree}") {
                assert!(
                    json["commit"].is_null(),
                    "expected `commit` null for the tree {rev}, got {json}"
                );
            }
        },
    );
}

fn one_job_and_the_default_jobs_write_identical_trees(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("jobs");
    let one = tmp.join("one");
    let default = tmp.join("default");
    assert_checkout_matches(rt, &c.store, "main", &one, &["--jobs", "1"]);
    assert_checkout_matches(rt, &c.store, "main", &default, &[]);
    assert_same_tree(
        &snapshot(&one),
        &snapshot(&default),
        "--jobs 1 against the default jobs",
    );
    let four = tmp.join("four");
    assert_checkout_matches(rt, &c.store, "main", &four, &["--jobs", "4"]);
}

fn an_existing_empty_destination_is_filled(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("empty-dest");
    let dest = tmp.join("dest");
    fs::create_dir(&dest).unwrap();
    assert_checkout_matches(rt, &c.store, "main", &dest, &[]);
}

fn missing_parents_of_the_destination_are_created(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("parents");
    let dest = tmp.join("a/b/c/dest");
    assert_checkout_matches(rt, &c.store, "v2", &dest, &[]);
    for dir in ["a", "a/b", "a/b/c"] {
        let meta = fs::symlink_metadata(tmp.join(dir));
        assert!(
            meta.as_ref().is_ok_and(|m| m.is_dir()),
            "expected the missing parent {dir} to be created as a directory, got {meta:?}"
        );
    }
}

fn success_prints_a_one_line_summary_on_stderr_and_nothing_on_stdout(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("summary");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(rt, &[], &c.store, "main", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    assert!(
        run.stdout.is_empty(),
        "expected nothing on stdout without --json, got {run:?}"
    );
    let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(
        !line.trim().is_empty() && !line.contains('\n') && !line.starts_with("error"),
        "expected a one-line summary on stderr, got {:?}",
        run.stderr
    );
    let reference = reference(&c.store, "main");
    assert_same_tree(
        &snapshot(reference.path()),
        &snapshot(&dest),
        "checkout without --json",
    );
}

fn quiet_success_prints_nothing(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("quiet");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(rt, &["--quiet"], &c.store, "main", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    assert!(
        run.stdout.is_empty() && run.stderr.is_empty(),
        "expected --quiet to print nothing on success, got {run:?}"
    );
    let reference = reference(&c.store, "main");
    assert_same_tree(
        &snapshot(reference.path()),
        &snapshot(&dest),
        "checkout with --quiet",
    );
}

/// The reference itself: git archive's extraction of main has exactly the paths, types, exec
/// bits and symlink targets that `git ls-tree -r` lists, so differences found elsewhere are
/// unfurl's.
#[test]
fn git_archive_reference_agrees_with_ls_tree() {
    let c = corpus();
    let reference = reference(&c.store, "main");
    let snap = snapshot(reference.path());
    let listing = git(&c.store, &["ls-tree", "-r", "-z", "--full-tree", "main"]);
    let mut files = 0;
    for record in listing.split('\0').filter(|r| !r.is_empty()) {
        let (meta, path) = record.split_once('\t').unwrap();
        let mut meta = meta.split(' ');
        let (mode, _kind, id) = (
            meta.next().unwrap(),
            meta.next().unwrap(),
            meta.next().unwrap(),
        );
        let entry = snap.get(std::path::Path::new(path));
        match mode {
            "100644" | "100755" => {
                files += 1;
                let size: u64 = git(&c.store, &["cat-file", "-s", id]).parse().unwrap();
                assert!(
                    matches!(entry, Some(Entry::File { exec, size: s, .. }) if *exec == (mode == "100755") && *s == size),
                    "expected {path:?} in the reference to be a {mode} file of {size} bytes, got {entry:?}"
                );
            }
            "120000" => {
                let target = git(&c.store, &["cat-file", "blob", id]);
                assert!(
                    matches!(entry, Some(Entry::Symlink { target: t }) if t == target.as_bytes()),
                    "expected {path:?} in the reference to be a symlink to {target:?}, got {entry:?}"
                );
            }
            other => {
                panic!("expected only file and symlink modes in main, got {other} for {path:?}")
            }
        }
    }
    let counted = counts(&snap);
    assert_eq!(
        counted.files + counted.symlinks,
        listing.split('\0').filter(|r| !r.is_empty()).count() as u64,
        "expected the reference to hold exactly ls-tree's {files} files plus symlinks, got {counted:?}"
    );
    assert!(
        counted.executables > 0 && counted.symlinks > 0,
        "expected main to have executables and symlinks, got {counted:?}"
    );
}

/// The comparison can fail: main and side differ (side has SIDE.md), and the diff says where.
#[test]
fn tree_comparison_reports_the_paths_where_two_revisions_differ() {
    let c = corpus();
    let main = snapshot(reference(&c.store, "main").path());
    let side = snapshot(reference(&c.store, "side").path());
    let d = diff(&main, &side, 100);
    assert!(
        d.iter().any(|line| line.contains("SIDE.md")),
        "expected the diff of main against side to name SIDE.md, got {d:?}"
    );
}

fn relative_store_and_destination_are_resolved_from_the_working_directory(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("relative");
    copy_tree(&c.store, &tmp.join("store.git"));
    let out = run(unfurl_cmd().current_dir(tmp.path()).args(checkout_args(
        rt,
        &["--json"],
        "store.git".as_ref(),
        "main",
        "out/dest".as_ref(),
    )));
    let result = output_to_run(out);
    assert_eq!(
        result.code,
        Some(0),
        "expected exit 0 with relative paths, got {result:?}"
    );
    let expected = snapshot(reference(&c.store, "main").path());
    assert_same_tree(
        &expected,
        &snapshot(&tmp.join("out/dest")),
        "relative STORE and DEST",
    );
    let mut top = listing_of(tmp.path());
    top.sort();
    assert_eq!(
        top,
        ["out", "store.git"],
        "expected only out/ to appear beside the store, got {top:?}"
    );
}

fn a_destination_with_a_trailing_slash_is_that_destination(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("slash");
    let expected = snapshot(reference(&c.store, "main").path());
    fs::create_dir(tmp.join("existing")).unwrap();
    for name in ["existing", "new"] {
        let dest = format!("{}/{name}/", tmp.path().display());
        let run = unfurl(&checkout_args(rt, &[], &c.store, "main", dest.as_ref()));
        assert_eq!(
            run.code,
            Some(0),
            "expected exit 0 for DEST {dest:?}, got {run:?}"
        );
        assert_same_tree(
            &expected,
            &snapshot(&tmp.join(name)),
            &format!("DEST {dest:?}"),
        );
    }
    let mut top = listing_of(tmp.path());
    top.sort();
    assert_eq!(
        top,
        ["existing", "new"],
        "expected nothing but the two destinations, got {top:?}"
    );
}

/// Three checkouts of different revisions race for one missing DEST. With a `.git` (the
/// default), one publishes and each other one switches what it finds there, as a run after
/// it would: all succeed, and DEST is one complete tree, the revision its `HEAD` names.
/// With `--git none` there is nothing to switch: exactly one wins, the others fail cleanly.
/// Either way DEST is never a mixture or a partial tree, and no staging directory is left.
fn racing_checkouts_into_one_destination_leave_exactly_one_complete_tree(rt: Runtime) {
    let c = corpus();
    let revs = ["main", "v1", "side"];
    for git_mode in ["alternates", "none"] {
        let tmp = TempDir::new("race");
        let dest = tmp.join("dest");
        let children: Vec<_> = revs
            .iter()
            .map(|rev| {
                let child = unfurl_cmd()
                    .args(checkout_args(
                        rt,
                        &["--git", git_mode],
                        &c.store,
                        rev,
                        &dest,
                    ))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start unfurl");
                (rev, child)
            })
            .collect();
        let results: Vec<(&&str, Run)> = children
            .into_iter()
            .map(|(rev, child)| (rev, output_to_run(child.wait_with_output().unwrap())))
            .collect();
        let winners: Vec<&&str> = results
            .iter()
            .filter(|(_, r)| r.code == Some(0))
            .map(|(rev, _)| *rev)
            .collect();
        let holds = if git_mode == "none" {
            assert_eq!(
                winners.len(),
                1,
                "--git none: expected exactly one racing checkout to succeed, got {results:?}"
            );
            for (rev, r) in &results {
                if r.code != Some(0) {
                    assert_failed_run(r, &["dest"], &format!("the losing checkout of {rev}"));
                }
            }
            *winners[0]
        } else {
            assert_eq!(
                winners.len(),
                revs.len(),
                "expected every racing checkout to succeed, got {results:?}"
            );
            let head = git(&dest, &["rev-parse", "HEAD"]);
            revs.into_iter()
                .find(|rev| git(&c.store, &["rev-parse", &format!("{rev}^{{commit}}")]) == head)
                .unwrap_or_else(|| panic!("HEAD {head} is none of {revs:?}"))
        };
        let expected = snapshot(reference(&c.store, holds).path());
        assert_same_tree(
            &expected,
            &snapshot(&dest),
            &format!("DEST after the race (--git {git_mode}), holding {holds}"),
        );
        let top = listing_of(tmp.path());
        assert_eq!(
            top,
            ["dest"],
            "expected nothing but DEST after the race (no staging left), got {top:?}"
        );
    }
}

fn a_checkout_leaves_the_store_unchanged(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("store-unchanged");
    let store = tmp.join("store.git");
    copy_tree(&c.store, &store);
    let before = snapshot(&store);
    for rev in ["main", "release", "side^"] {
        let dest = tmp.join(format!("dest-{}", rev.replace('^', "_")));
        let run = unfurl(&checkout_args(rt, &[], &store, rev, &dest));
        assert_eq!(run.code, Some(0), "expected exit 0 for {rev}, got {run:?}");
    }
    let d = diff(&before, &snapshot(&store), 20);
    assert!(
        d.is_empty(),
        "expected the store unchanged by checkouts, got:\n{}",
        d.join("\n")
    );
}

fn listing_of(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `--progress` into a pipe (a CI log): a line when writing starts, one a second, and one
/// with the final count, which is the number of files the summary reports.
fn progress_into_a_pipe_logs_the_count_of_files_written(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("progress");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        rt,
        &["--progress", "--json"],
        &c.store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let files = json["files"].as_u64().expect("files");
    let counts: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("unfurl: ")?.strip_suffix(" files"))
        .collect();
    assert_eq!(
        counts.first(),
        Some(&format!("0/{files}").as_str()),
        "{run:?}"
    );
    assert_eq!(
        counts.last(),
        Some(&format!("{files}/{files}").as_str()),
        "{run:?}"
    );
}
