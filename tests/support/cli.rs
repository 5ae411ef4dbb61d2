//! Running unfurl: commands, their results, and the checks every checkout run makes.

use super::*;

/// The result of one `unfurl` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}, stdout {:?}, stderr {:?}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn unfurl_cmd() -> Command {
    let mut cmd = Command::new(unfurl_bin());
    cmd.env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("RUST_LOG");
    cmd
}

pub fn output_to_run(out: Output) -> Run {
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `unfurl` with exactly these arguments.
pub fn unfurl<S: AsRef<OsStr>>(args: &[S]) -> Run {
    output_to_run(run(unfurl_cmd().args(args)))
}

/// `unfurl checkout --runtime RT [extra...] STORE REV DEST`.
/// `unfurl verify EXTRA… STORE REV DEST`.
pub fn unfurl_verify(extra: &[&str], store: &Path, rev: &str, dest: &Path) -> Run {
    let mut args: Vec<&OsStr> = vec!["verify".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    args.extend([store.as_os_str(), rev.as_ref(), dest.as_os_str()]);
    unfurl(&args)
}

pub fn checkout_args(
    rt: Runtime,
    extra: &[&str],
    store: &Path,
    rev: &str,
    dest: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["checkout".into(), "--runtime".into(), rt.name().into()];
    args.extend(extra.iter().map(OsString::from));
    args.push(store.into());
    args.push(rev.into());
    args.push(dest.into());
    args
}

/// The nearest ancestor of `path` that exists (the directory whose listing a checkout into
/// `path` may change), and the name of its child on the way to `path`.
fn existing_ancestor(path: &Path) -> (PathBuf, OsString) {
    let mut child = path;
    loop {
        let parent = child.parent().expect("an absolute destination");
        if parent.exists() {
            return (parent.to_path_buf(), child.file_name().unwrap().to_owned());
        }
        child = parent;
    }
}

fn listing(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

/// Checks out `rev` of `store` into `dest` with `--json` and asserts success: exit 0, one JSON
/// object on stdout, the tree equal to `git archive REV | tar -x`, the JSON counts and ids equal
/// to the reference's, no hardlinked files, and nothing but DEST (or its first missing parent)
/// new beside it. Returns the parsed JSON.
#[track_caller]
pub fn assert_checkout_matches(
    rt: Runtime,
    store: &Path,
    rev: &str,
    dest: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let reference = reference(store, rev);
    let expected = snapshot(reference.path());
    let (commit, tree) = expected_ids(store, rev);
    let (ancestor, child) = existing_ancestor(dest);
    let before = listing(&ancestor);

    let mut args = extra.to_vec();
    args.push("--json");
    let run = unfurl(&checkout_args(rt, &args, store, rev, dest));
    let what = format!(
        "unfurl checkout {} {rev} (runtime {})",
        store.display(),
        rt.name()
    );
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");

    assert_same_tree(&expected, &snapshot(dest), &what);
    let linked = hardlinked_files(dest);
    assert!(
        linked.is_empty(),
        "{what}: expected no file with more than one link, got {linked:?}"
    );

    let mut after_expected = before.clone();
    if !after_expected.contains(&child) {
        after_expected.push(child);
        after_expected.sort();
    }
    let after = listing(&ancestor);
    assert_eq!(
        after,
        after_expected,
        "{what}: expected {} to hold only DEST beside what it held before (no staging left)",
        ancestor.display()
    );

    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: expected exactly one JSON object on stdout, got {e}: {:?}",
            run.stdout
        )
    });
    assert!(
        json.is_object(),
        "{what}: expected a JSON object on stdout, got {json}"
    );
    assert_json(&json, &expected, commit.as_deref(), &tree, rt, &what);
    json
}

/// Asserts the `--json` summary against the reference snapshot and git's ids.
#[track_caller]
pub fn assert_json(
    json: &serde_json::Value,
    expected: &Snapshot,
    commit: Option<&str>,
    tree: &str,
    rt: Runtime,
    what: &str,
) {
    let want = counts(expected);
    let got = |key: &str| {
        json.get(key).and_then(|v| v.as_u64()).unwrap_or_else(|| {
            panic!("{what}: expected a non-negative integer `{key}` in the JSON, got {json}")
        })
    };
    let actual = Counts {
        files: got("files"),
        dirs: got("dirs"),
        symlinks: got("symlinks"),
        executables: got("executables"),
        bytes: got("bytes"),
    };
    assert_eq!(
        actual, want,
        "{what}: expected JSON counts {want:?}, got {actual:?} in {json}"
    );
    got("elapsed_ms");
    let want_commit = commit.map_or(serde_json::Value::Null, |c| {
        serde_json::Value::String(c.to_owned())
    });
    assert_eq!(
        json.get("commit"),
        Some(&want_commit),
        "{what}: expected `commit` {want_commit}, got {json}"
    );
    assert_eq!(
        json.get("tree").and_then(|v| v.as_str()),
        Some(tree),
        "{what}: expected `tree` {tree}, got {json}"
    );
    assert_eq!(
        json.get("runtime").and_then(|v| v.as_str()),
        Some(rt.name()),
        "{what}: expected `runtime` {:?}, got {json}",
        rt.name()
    );
    let fallbacks = json.get("fallbacks").and_then(|v| v.as_array());
    assert!(
        fallbacks.is_some(),
        "{what}: expected `fallbacks` to be an array, got {json}"
    );
    if rt == Runtime::Native {
        assert!(
            fallbacks.unwrap().is_empty(),
            "{what}: expected no fallbacks natively on Linux, got {json}"
        );
    }
}

/// A destination for a run that must fail: `parent/x/y/dest`, where `parent` exists and is
/// empty, so both DEST and its missing parents must not appear.
pub struct FailureSite {
    pub tmp: TempDir,
    pub parent: PathBuf,
    pub dest: PathBuf,
}

impl FailureSite {
    pub fn new() -> FailureSite {
        let tmp = TempDir::new("fail");
        let parent = tmp.join("parent");
        fs::create_dir(&parent).unwrap();
        let dest = parent.join("x").join("y").join("dest");
        FailureSite { tmp, parent, dest }
    }
}

/// Runs unfurl with `args`, which must fail: exit 1, nothing on stdout, exactly one stderr
/// line starting `error: ` that contains one of `needles` (ASCII-case-insensitively), and
/// `watched` (the directory DEST lives in) exactly as it was before, recursively.
#[track_caller]
pub fn assert_fails_cleanly<S: AsRef<OsStr>>(
    args: &[S],
    watched: &Path,
    needles: &[&str],
    what: &str,
) -> Run {
    assert_fails_cleanly_with(unfurl_cmd().args(args), watched, needles, what)
}

/// [`assert_fails_cleanly`] for a prepared command (another user, say).
#[track_caller]
pub fn assert_fails_cleanly_with(
    cmd: &mut Command,
    watched: &Path,
    needles: &[&str],
    what: &str,
) -> Run {
    let before = snapshot(watched);
    let run = output_to_run(run(cmd));
    assert_failed_run(&run, needles, what);
    let after = snapshot(watched);
    let d = diff(&before, &after, 25);
    assert!(
        d.is_empty(),
        "{what}: expected {} to be left exactly as it was, actual changes:\n{}",
        watched.display(),
        d.join("\n")
    );
    run
}

/// Asserts that `run` is a failure with a one-line `error: ` message containing one of
/// `needles` (ASCII-case-insensitively).
#[track_caller]
pub fn assert_failed_run(run: &Run, needles: &[&str], what: &str) {
    eprintln!("{what}: {run:?}");
    assert_eq!(run.code, Some(1), "{what}: expected exit 1, got {run:?}");
    assert!(
        run.stdout.is_empty(),
        "{what}: expected nothing on stdout, got {run:?}"
    );
    let msg = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(
        msg.starts_with("error: ") && !msg.contains('\n'),
        "{what}: expected stderr to be one line starting with `error: `, got {:?}",
        run.stderr
    );
    let lower = msg.to_ascii_lowercase();
    assert!(
        needles
            .iter()
            .any(|n| lower.contains(&n.to_ascii_lowercase())),
        "{what}: expected the error to mention one of {needles:?}, got {:?}",
        run.stderr
    );
}

/// Runs `check` on every case, even after one fails, then fails naming every case that failed.
/// (Each failure's own message is printed above by the panic hook.)
#[track_caller]
pub fn check_each<C>(what: &str, cases: &[C], name: impl Fn(&C) -> String, check: impl Fn(&C)) {
    let failed: Vec<String> = cases
        .iter()
        .filter(|case| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case))).is_err()
        })
        .map(&name)
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: expected all {} cases to pass, {} failed (messages above): {failed:?}",
        cases.len(),
        failed.len()
    );
}
