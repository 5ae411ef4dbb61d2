//! A switch is safe to interrupt and to run concurrently: `--fsync` orders its syncs
//! around the journal, concurrent switches of one checkout never mix trees, concurrent
//! checkouts of one commit into one destination publish once (and of different commits,
//! switch what the first published), and a switch killed at
//! random points leaves a checkout the next run repairs.

use super::*;

runtime_tests!(
    a_switch_with_fsync_syncs_before_the_journal_and_after_the_renames,
    concurrent_switches_of_one_checkout_never_mix_trees,
    a_switch_killed_at_random_points_is_repaired_by_the_next_run,
    eight_checkouts_of_one_commit_into_one_dest_publish_once,
    checkouts_of_different_commits_into_one_new_dest_all_succeed,
);

/// `--fsync` on a switch: every file written is synced before the journal appears (so a
/// power cut never finds the journal naming entries whose data is not on disk), the
/// journal before the first entry changes, and the changed directories and the `.git`
/// after the renames, with `.git` synced once more after the journal goes. Without the
/// option, no `fsync` at all.
fn a_switch_with_fsync_syncs_before_the_journal_and_after_the_renames(rt: Runtime) {
    require(
        "strace",
        "it records the fsync calls of a switch with --fsync",
    );
    let store = &corpus().store;
    let tmp = TempDir::new("switch-fsync");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &[]);
    let traced = |extra: &[&str], rev: &str, log: &Path| {
        let mut args: Vec<std::ffi::OsString> =
            vec!["-f".into(), "-qq".into(), "-o".into(), log.into()];
        args.extend(
            [
                "-e",
                "trace=fsync,rename,renameat,renameat2,unlink,unlinkat",
            ]
            .map(Into::into),
        );
        args.push(unfurl_bin().as_os_str().to_owned());
        let mut flags = vec!["--json"];
        flags.extend_from_slice(extra);
        args.extend(checkout_args(rt, &flags, store, rev, &dest));
        let out = run(Command::new("strace").args(&args));
        assert!(out.status.success(), "switch to {rev}: {out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let trace = fs::read_to_string(log).unwrap();
        (json, trace)
    };
    let (json, trace) = traced(&["--fsync"], "v4", &tmp.join("fsync.log"));
    assert_is(store, "v4", &dest, "switch with --fsync");
    let lines: Vec<&str> = trace.lines().collect();
    let ok_sync = |l: &&&str| l.contains("fsync(") && l.ends_with("= 0");
    let journal = lines
        .iter()
        .position(|l| l.contains("rename") && l.contains("unfurl-switch.new") && l.ends_with("= 0"))
        .unwrap_or_else(|| panic!("expected the journal's rename in the trace:\n{trace}"));
    let gone = lines
        .iter()
        .rposition(|l| l.contains("unlink") && l.contains("unfurl-switch\"") && l.ends_with("= 0"))
        .unwrap_or_else(|| panic!("expected the journal removed in the trace:\n{trace}"));
    let written = count(&json, "written");
    let before = lines[..journal].iter().filter(ok_sync).count() as u64;
    assert!(
        before > written,
        "expected the {written} written entries and the journal synced before the journal \
         appears, got {before} fsync calls"
    );
    let between = lines[journal..gone].iter().filter(ok_sync).count();
    assert!(
        between >= 3,
        "expected `.git`, the changed directories and the root synced, got {between} fsync calls"
    );
    assert_eq!(
        lines[gone..].iter().filter(ok_sync).count(),
        1,
        "expected `.git` synced once after the journal goes:\n{trace}"
    );
    let (_, trace) = traced(&[], "v1", &tmp.join("plain.log"));
    assert!(
        !trace.contains("fsync("),
        "expected no fsync without the option:\n{trace}"
    );
    assert_is(store, "v1", &dest, "switch back without --fsync");
}

fn concurrent_switches_of_one_checkout_never_mix_trees(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("switch-concurrent");
    let dest = tmp.join("dest");
    checkout(rt, store, "v1", &dest, &[]);
    for round in 0..3 {
        let revs = ["v4", "side", "v2", "v3"];
        let children: Vec<_> = revs
            .iter()
            .map(|rev| {
                unfurl_cmd()
                    .args(checkout_args(rt, &["-q"], store, rev, &dest))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: expected every switch to wait its turn, got {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let head = git(&dest, &["rev-parse", "HEAD"]);
        let rev = revs
            .iter()
            .find(|r| git(store, &["rev-parse", &format!("{r}^{{commit}}")]) == head)
            .unwrap_or_else(|| panic!("round {round}: HEAD {head} is none of {revs:?}"));
        assert_is(
            store,
            rev,
            &dest,
            &format!("round {round}: the last switch wins whole"),
        );
    }
}

fn a_switch_killed_at_random_points_is_repaired_by_the_next_run(rt: Runtime) {
    let tmp = TempDir::new("switch-kill");
    let store = tmp.join("store.git");
    let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
        "--files",
        "3000",
        "--commits",
        "4",
        "--seed",
        "11",
    ]));
    assert!(out.status.success(), "make-store: {out:?}");
    let (a, b) = ("v1", "v4");
    let dest = tmp.join("dest");
    checkout(rt, &store, a, &dest, &[]);
    // How long one switch takes, to spread the kills over it.
    let start = Instant::now();
    checkout(rt, &store, b, &dest, &[]);
    let took = start.elapsed();
    checkout(rt, &store, a, &dest, &[]);
    let trials = if rt == Runtime::Native { 20 } else { 10 };
    let (ref_a, ref_b) = (reference(&store, a), reference(&store, b));
    let (want_a, want_b) = (snapshot(ref_a.path()), snapshot(ref_b.path()));
    let is = |want: &Snapshot, rev: &str, what: &str| {
        assert_same_tree(want, &snapshot(&dest), what);
        let commit = git(&store, &["rev-parse", &format!("{rev}^{{commit}}")]);
        assert_eq!(git(&dest, &["rev-parse", "HEAD"]), commit, "{what}: HEAD");
        assert_eq!(
            git(&dest, &["status", "--porcelain"]),
            "",
            "{what}: git status"
        );
    };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let (mut killed, mut as_before, mut as_after) = (0, 0, 0);
    for trial in 0..trials {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = took.mul_f64((seed % 1000) as f64 / 1000.0 * 1.2);
        let mut child = unfurl_cmd()
            .args(checkout_args(rt, &["-q"], &store, b, &dest))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        killed += usize::from(!status.success());
        // Whatever the moment: the checkout is REV1 or REV2 as `verify` sees it, or the
        // next checkout repairs it to REV2.
        let verify = |rev: &str| unfurl_verify(&[], &store, rev, &dest).code == Some(0);
        if verify(a) {
            as_before += 1;
        } else if verify(b) {
            as_after += 1;
        }
        checkout(rt, &store, b, &dest, &[]);
        is(
            &want_b,
            b,
            &format!("trial {trial} ({delay:?}): repaired to {b}"),
        );
        checkout(rt, &store, a, &dest, &[]);
        is(&want_a, a, &format!("trial {trial}: back to {a}"));
        let staging: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".unfurl-"))
            .collect();
        assert!(
            staging.is_empty(),
            "trial {trial}: staging left: {staging:?}"
        );
    }
    eprintln!(
        "{trials} trials ({}): {killed} killed, {as_before} left at {a}, {as_after} at {b}, {} mid-switch and repaired",
        rt.name(),
        trials - as_before - as_after
    );
}

fn eight_checkouts_of_one_commit_into_one_dest_publish_once(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("same-dest");
    for round in 0..2 {
        let dest = tmp.join(format!("dest-{round}"));
        let children: Vec<_> = (0..8)
            .map(|_| {
                unfurl_cmd()
                    .args(checkout_args(rt, &["--json", "-q"], store, "v3", &dest))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let (mut published, mut unchanged) = (0, 0);
        for child in children {
            let out = child.wait_with_output().unwrap();
            let run = output_to_run(out);
            let report = json(&run, &format!("round {round}: a concurrent checkout"));
            if report["unchanged"] == true {
                unchanged += 1;
            } else {
                published += 1;
            }
        }
        assert_eq!(
            (published, unchanged),
            (1, 7),
            "round {round}: expected exactly one checkout to publish and seven to find the commit there"
        );
        assert_is(store, "v3", &dest, &format!("round {round}"));
        assert_no_staging(tmp.path(), &format!("round {round}"));
    }
}

/// Six processes check out three different tags into one new DEST at once. One publishes;
/// each other one finds an unfurl checkout there, either while it plans or when its own
/// publishing rename fails, and switches it, as a run after the first would. Every one
/// succeeds, and DEST ends as one clean checkout of one of the tags (whichever switch came
/// last), with no staging directory left.
fn checkouts_of_different_commits_into_one_new_dest_all_succeed(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("racing-revs");
    let revs = ["v1", "v2", "v3", "v1", "v2", "v3"];
    for round in 0..2 {
        let dest = tmp.join(format!("dest-{round}"));
        let children: Vec<_> = revs
            .iter()
            .map(|rev| {
                unfurl_cmd()
                    .args(checkout_args(rt, &["--json", "-q"], store, rev, &dest))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, rev) in children.into_iter().zip(revs) {
            let run = output_to_run(child.wait_with_output().unwrap());
            json(
                &run,
                &format!("round {round}: a concurrent checkout of {rev}"),
            );
        }
        let head = git(&dest, &["rev-parse", "HEAD"]);
        let rev = revs
            .iter()
            .find(|rev| git(store, &["rev-parse", &format!("{rev}^{{commit}}")]) == head)
            .unwrap_or_else(|| panic!("round {round}: HEAD {head} is none of {revs:?}"));
        assert_is(store, rev, &dest, &format!("round {round}"));
        assert_no_staging(tmp.path(), &format!("round {round}"));
    }
}

/// No staging directory (`.NAME.unfurl-…`) is left in `dir`.
#[track_caller]
fn assert_no_staging(dir: &Path, what: &str) {
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".unfurl-"))
        .collect();
    assert!(left.is_empty(), "{what}: staging left: {left:?}");
}
