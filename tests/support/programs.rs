//! Running programs: git plumbing, tools a test requires, runs as an unprivileged user.

use super::*;

/// Runs a prepared command and returns its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"))
}

/// `git` with a deterministic, config-free environment, run in `dir`.
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.invalid")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.invalid")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    cmd
}

/// Runs git in `dir` and returns its trimmed stdout; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(git_cmd(dir).args(args));
    git_output(out, dir, args)
}

/// The trimmed stdout of a `git` run that must have succeeded.
#[track_caller]
fn git_output(out: Output, dir: &Path, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "expected `git {}` in {} to succeed, got {}: {}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("git printed UTF-8")
        .trim_end()
        .to_owned()
}

/// Runs git in `dir` with `input` on stdin and returns its trimmed stdout.
pub fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = git_cmd(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start git");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for git");
    writer.join().unwrap().expect("write git's stdin");
    git_output(out, dir, args)
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fails the test, saying why and how to get it, unless `program` is on `PATH`. A test never
/// passes by skipping: `.ci/run` installs every program the suite requires.
#[track_caller]
pub fn require(program: &str, why: &str) {
    assert!(
        have(program),
        "this test needs `{program}` on PATH ({why}); install it (`.ci/run` does: see the \
         packages it installs) and run the test again"
    );
}

/// The user id unprivileged runs use when the suite runs as root: `nobody`.
pub const UNPRIVILEGED_UID: u32 = 65534;

/// `cmd` as an unprivileged user: unchanged when the suite already runs as one, otherwise
/// run through `setpriv` as uid/gid 65534 with no supplementary groups and no capabilities,
/// so that file permissions apply to it as they would to an installer's user. Its compiled-
/// guest cache is a fresh directory of its own (`nobody` cannot write root's).
pub fn unprivileged(cmd: Command) -> Command {
    if !is_root() {
        return cmd;
    }
    require(
        "setpriv",
        "it drops root's privileges for tests of permission errors",
    );
    let cache = scratch_root().join(format!(
        "cache-uid-{UNPRIVILEGED_UID}-{}",
        NEXT_UNPRIVILEGED.fetch_add(1, Ordering::Relaxed)
    ));
    let mut wrapped = Command::new("setpriv");
    wrapped
        .arg(format!("--reuid={UNPRIVILEGED_UID}"))
        .arg(format!("--regid={UNPRIVILEGED_UID}"))
        .args(["--clear-groups", "--inh-caps=-all", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("UNFURL_CACHE_DIR", cache);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    // The scratch root and the binary must be reachable by that user.
    for path in [scratch_root(), unfurl_bin()] {
        let mut dir = Some(path);
        while let Some(d) = dir {
            let mode = fs::metadata(d).map(|m| m.mode()).unwrap_or(0);
            assert!(
                mode & 0o001 != 0,
                "an unprivileged run needs {} to be searchable (executable) by others, \
                 to reach {}; it is mode {:o}",
                d.display(),
                path.display(),
                mode & 0o7777
            );
            dir = d.parent();
        }
    }
    wrapped
}

static NEXT_UNPRIVILEGED: AtomicUsize = AtomicUsize::new(0);

/// Whether the suite runs as root (effective user id 0).
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
