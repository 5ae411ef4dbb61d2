//! Helpers shared by every test area: temporary directories, git plumbing, running the
//! CLI, the `git archive | tar -x` reference, tree snapshots and their comparison.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The CLI under test: the binary cargo built, unless `UNFURL_BIN` names another build (a
/// release binary, say) to run the same suite against.
pub fn unfurl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("UNFURL_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_unfurl")),
            PathBuf::from,
        )
    })
}

/// The deterministic store generator shared by the whole project.
pub const MAKE_STORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/make-store"
);

// ---------------------------------------------------------------------------------------------
// Runtimes

/// A runtime unfurl can materialize a checkout with (`--runtime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Native,
    Wasm,
}

impl Runtime {
    /// The value of `--runtime`, which is also what `--json` reports as `runtime`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Wasm => "wasm",
        }
    }
}

/// Instantiates every listed scenario `fn scenario(rt: Runtime)` once per runtime, as the tests
/// `scenario::native` and `scenario::wasm` (a module named after the scenario, since
/// `macro_rules!` cannot paste identifiers together and the suite uses std only).
///
/// The list of runtimes is here, and only here.
macro_rules! runtime_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn native() {
                super::$scenario($crate::support::Runtime::Native)
            }
            #[test]
            fn wasm() {
                super::$scenario($crate::support::Runtime::Wasm)
            }
        }
    )*};
}
pub(crate) use runtime_tests;

// ---------------------------------------------------------------------------------------------
// Temporary directories

/// This test process's scratch root: `$TMPDIR/unfurl-it-<pid>`. Shared fixtures live here for
/// the life of the process (statics are never dropped); roots left by earlier runs whose
/// process is gone are deleted when the next run starts.
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("unfurl-it-")) else {
                    continue;
                };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let root = tmp.join(format!("unfurl-it-{}", std::process::id()));
        fs::create_dir_all(&root).expect("create the scratch root");
        root
    })
}

/// A directory with a unique name, deleted with everything in it when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = scratch_root().join(format!("{label}-{n}"));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A test may have made something unreadable; make it deletable again.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(&self.path)
            .status();
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Running programs

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

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The shared make-store store: small, built once per test binary, read-only for tests.
pub struct Corpus {
    pub store: PathBuf,
    /// `name sha` lines make-store printed, as a map.
    pub refs: BTreeMap<String, String>,
}

pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let store = scratch_root().join("corpus.git");
        let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
            "--files",
            "300",
            "--commits",
            "4",
            "--seed",
            "7",
        ]));
        assert!(
            out.status.success(),
            "expected make-store to succeed, got {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let refs = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, s)| (n.to_owned(), s.to_owned())))
            .collect::<BTreeMap<_, _>>();
        assert!(
            refs.contains_key("main") && refs.contains_key("side") && refs.contains_key("release"),
            "expected make-store to print main, side and release, got {refs:?}"
        );
        Corpus { store, refs }
    })
}

/// A make-store store of 20 000 files (4 tags, `main`, `side`), built once per test binary,
/// read-only for tests: what issue-sized claims ("on a 20k-file store") are checked on.
pub fn store_20k() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = scratch_root().join("store-20k.git");
        let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
            "--files",
            "20000",
            "--commits",
            "4",
            "--seed",
            "5",
        ]));
        assert!(
            out.status.success(),
            "expected make-store --files 20000 to succeed, got {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        store
    })
}

/// Copies a directory tree with `cp -a` (a store a test is going to damage or extend).
pub fn copy_tree(from: &Path, to: &Path) {
    let out = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(
        out.status.success(),
        "expected cp -a {} {} to succeed: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new empty bare store with `main` as HEAD's branch.
pub fn init_bare(path: &Path) -> PathBuf {
    let out = run(git_cmd(Path::new("/"))
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(path));
    assert!(
        out.status.success(),
        "expected git init --bare to succeed, got: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_path_buf()
}

/// Writes a loose blob and returns its id.
pub fn write_blob(store: &Path, content: &[u8]) -> String {
    git_stdin(store, &["hash-object", "-w", "--stdin"], content)
}

/// Tree modes as git writes them.
pub const FILE: &str = "100644";
pub const EXEC: &str = "100755";
pub const LINK: &str = "120000";
pub const DIR: &str = "40000";
pub const GITLINK: &str = "160000";

/// Writes a tree object with exactly these entries, in this order, without any validation
/// (`git hash-object -t tree --literally`): each entry is `<mode> <name>\0<20 raw bytes>`.
pub fn write_raw_tree(store: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut data = Vec::new();
    for (mode, name, id) in entries {
        data.extend_from_slice(mode.as_bytes());
        data.push(b' ');
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(&hex_to_bytes(id));
    }
    git_stdin(
        store,
        &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        &data,
    )
}

/// Writes a well-formed tree: entries sorted the way git sorts them (a tree sorts as if its
/// name ended in `/`).
pub fn write_tree(store: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut sorted = entries.to_vec();
    let key = |mode: &str, name: &[u8]| {
        let mut k = name.to_vec();
        if mode == DIR {
            k.push(b'/');
        }
        k
    };
    sorted.sort_by_key(|a| key(a.0, a.1));
    write_raw_tree(store, &sorted)
}

/// Commits `tree` (no parent) and returns the commit id.
pub fn commit_tree(store: &Path, tree: &str, message: &str) -> String {
    git(store, &["commit-tree", tree, "-m", message])
}

pub fn hex_to_bytes(hex: &str) -> Vec<u8> {
    assert_eq!(hex.len(), 40, "expected a 40-digit object id, got {hex:?}");
    (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// What one path in a checkout is. Only the user-x bit of a file's mode is compared: the rest
/// depends on the umask.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { exec: bool, size: u64, digest: u64 },
    Symlink { target: Vec<u8> },
    Other(String),
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Dir => write!(f, "directory"),
            Entry::File { exec, size, digest } => write!(
                f,
                "{} file of {size} bytes (content #{digest:016x})",
                if *exec {
                    "executable"
                } else {
                    "non-executable"
                }
            ),
            Entry::Symlink { target } => {
                write!(f, "symlink -> {:?}", OsStr::from_bytes(target))
            }
            Entry::Other(kind) => write!(f, "{kind}"),
        }
    }
}

pub type Snapshot = BTreeMap<PathBuf, Entry>;

/// Every path under `dir` (not `dir` itself), described without following symlinks.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut map = BTreeMap::new();
    walk(dir, Path::new(""), &mut map);
    // A checkout's own repository: `git archive` never has one (a tree cannot hold `.git`),
    // so tree comparisons leave it out; the tests of the `.git` look at it directly.
    map.retain(|path, _| !path.starts_with(".git"));
    map
}

fn walk(root: &Path, rel: &Path, map: &mut Snapshot) {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let e = if ft.is_symlink() {
            Entry::Symlink {
                target: fs::read_link(&path).unwrap().into_os_string().into_vec(),
            }
        } else if ft.is_dir() {
            walk(root, &rel, map);
            Entry::Dir
        } else if ft.is_file() {
            let mut hasher = DefaultHasher::new();
            let mut file = fs::File::open(&path).unwrap();
            let mut buf = vec![0; 64 << 10];
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hasher.write(&buf[..n]);
            }
            Entry::File {
                exec: meta.permissions().mode() & 0o100 != 0,
                size: meta.len(),
                digest: hasher.finish(),
            }
        } else {
            Entry::Other(format!("{ft:?}"))
        };
        map.insert(rel, e);
    }
}

/// The differences between two snapshots, one line per differing path (at most `limit`).
pub fn diff(expected: &Snapshot, actual: &Snapshot, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = 0;
    let paths: std::collections::BTreeSet<&PathBuf> =
        expected.keys().chain(actual.keys()).collect();
    for path in paths {
        let (e, a) = (expected.get(path), actual.get(path));
        if e == a {
            continue;
        }
        count += 1;
        if out.len() < limit {
            let show = |x: Option<&Entry>| x.map_or("missing".to_owned(), |x| format!("{x:?}"));
            out.push(format!(
                "  {:?}: expected {}, actual {}",
                path,
                show(e),
                show(a)
            ));
        }
    }
    if count > out.len() {
        out.push(format!(
            "  ... and {} more differing paths",
            count - out.len()
        ));
    }
    out
}

/// Asserts that two snapshots are equal, printing only the differing paths.
#[track_caller]
pub fn assert_same_tree(expected: &Snapshot, actual: &Snapshot, what: &str) {
    let d = diff(expected, actual, 25);
    assert!(
        d.is_empty(),
        "{what}: expected the checkout to equal git archive's ({} paths), actual differs ({} paths):\n{}",
        expected.len(),
        actual.len(),
        d.join("\n")
    );
}

/// Regular files under `dir` that have more than one link.
pub fn hardlinked_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for (path, entry) in snapshot(dir) {
        if let Entry::File { .. } = entry {
            let nlink = fs::symlink_metadata(dir.join(&path)).unwrap().nlink();
            if nlink != 1 {
                out.push((path, nlink));
            }
        }
    }
    out
}

/// Counts that `--json` must report for a checkout equal to `snap`.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub executables: u64,
    pub bytes: u64,
}

pub fn counts(snap: &Snapshot) -> Counts {
    let mut c = Counts::default();
    for e in snap.values() {
        match e {
            Entry::Dir => c.dirs += 1,
            Entry::File { exec, size, .. } => {
                c.files += 1;
                c.bytes += size;
                c.executables += u64::from(*exec);
            }
            Entry::Symlink { .. } => c.symlinks += 1,
            Entry::Other(_) => {}
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------
// The reference: git archive REV | tar -x

/// Extracts `git archive REV` of `store` into a new directory and returns it.
pub fn reference(store: &Path, rev: &str) -> TempDir {
    let dir = TempDir::new("reference");
    extract_archive(store, rev, dir.path());
    dir
}

pub fn extract_archive(store: &Path, rev: &str, into: &Path) {
    extract_archive_of(store, rev, &[], into)
}

/// `git archive REV -- PATHS… | tar -x -C into` (paths taken literally, as unfurl's `--path`
/// takes them; none: the whole tree).
pub fn extract_archive_of(store: &Path, rev: &str, paths: &[&str], into: &Path) {
    let mut archive = git_cmd(store)
        .env("GIT_LITERAL_PATHSPECS", "1")
        .args(["archive", "--format=tar", rev, "--"])
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start git archive");
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .stdin(archive.stdout.take().unwrap())
        .output()
        .expect("run tar");
    let archive = archive.wait_with_output().expect("wait for git archive");
    assert!(
        archive.status.success() && tar.status.success(),
        "expected `git archive {rev} {paths:?} | tar -x` to succeed for {}, got git {} ({}) and tar {} ({})",
        store.display(),
        archive.status,
        String::from_utf8_lossy(&archive.stderr),
        tar.status,
        String::from_utf8_lossy(&tar.stderr)
    );
}

/// Whether any of `paths` (one per line, below `dir`) is a regular file with a CRLF line
/// ending: proof that a line-ending conversion wrote it.
pub fn any_has_crlf(dir: &Path, paths: &str) -> bool {
    paths.lines().any(|p| {
        fs::symlink_metadata(dir.join(p)).is_ok_and(|m| m.is_file())
            && fs::read(dir.join(p))
                .unwrap()
                .windows(2)
                .any(|w| w == b"\r\n")
    })
}

/// What git says `rev` is: (the commit it peels to, if any; the tree it peels to).
pub fn expected_ids(store: &Path, rev: &str) -> (Option<String>, String) {
    let id = git(store, &["rev-parse", "--verify", "--end-of-options", rev]);
    let peel = |to: &str| {
        let out =
            run(git_cmd(store).args(["rev-parse", "--verify", "-q", &format!("{id}^{{{to}}}")]));
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    };
    let tree = peel("tree").unwrap_or_else(|| panic!("expected {rev} to name a tree-ish"));
    (peel("commit"), tree)
}

// ---------------------------------------------------------------------------------------------
// Running unfurl

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
