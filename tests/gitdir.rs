//! The checkout's `.git`: git and a real build tool accept it as they accept a clone.
//!
//! For each `--git` mode, in both runtimes, for a tag, a branch and a side branch: `git
//! status` is clean, and cheap (it opens no work-tree file); `HEAD` is the commit; `git
//! describe --tags` and setuptools-scm's version equal a `git clone` checkout's; `git log`
//! and `git diff HEAD~1` work; a copied `.git` survives deleting the store.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

runtime_tests!(
    on_a_20k_file_store_a_git_is_accepted_like_a_clone,
    an_alternates_git_is_accepted_like_a_clone,
    a_copied_git_is_accepted_like_a_clone_and_survives_the_store,
    git_status_opens_no_work_tree_file,
);

const REVS: [&str; 3] = ["v2", "main", "side"];

/// What git and setuptools-scm say of a checkout of `rev`: a real `git clone`'s answers.
struct Expected {
    commit: String,
    describe: String,
    version: String,
}

/// What a real `git clone` of `store` says of `rev`, once per store and revision.
fn expected_of(store: &Path, rev: &str) -> &'static Expected {
    type Cache = Vec<((PathBuf, String), &'static Expected)>;
    static CACHE: OnceLock<std::sync::Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (store.to_path_buf(), rev.to_owned());
    if let Some((_, e)) = cache.iter().find(|(k, _)| *k == key) {
        return e;
    }
    let tmp = Box::leak(Box::new(TempDir::new("reference-clone")));
    let clone = tmp.join("clone");
    let out = run(Command::new("git")
        .args(["clone", "-q", "--no-checkout"])
        .arg(store)
        .arg(&clone));
    assert!(out.status.success(), "git clone: {out:?}");
    let commit = git(store, &["rev-parse", &format!("{rev}^{{commit}}")]);
    git(&clone, &["checkout", "-q", "--detach", &commit]);
    let e: &'static Expected = Box::leak(Box::new(Expected {
        commit: git(&clone, &["rev-parse", "HEAD"]),
        describe: git(&clone, &["describe", "--tags"]),
        version: scm_version(&clone),
    }));
    cache.push((key, e));
    e
}

/// A virtual environment with setuptools-scm from PyPI, made once per target directory.
pub(crate) fn scm_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("venv-setuptools-scm");
        let python = venv.join("bin/python");
        let ready = venv.join(".ready");
        if !ready.exists() {
            let _ = fs::remove_dir_all(&venv);
            let out = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
            assert!(
                out.status.success(),
                "this test needs `python3 -m venv` (Debian: python3-venv) to install \
                 setuptools-scm, and it failed: {out:?}"
            );
            let out = run(Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "setuptools-scm",
            ]));
            assert!(
                out.status.success(),
                "this test installs setuptools-scm from PyPI into {}, and pip failed: {out:?}",
                venv.display()
            );
            fs::write(&ready, b"").unwrap();
        }
        python
    })
}

/// The version setuptools-scm reads from the checkout at `dir`.
pub(crate) fn scm_version(dir: &Path) -> String {
    let out = run(Command::new(scm_python())
        .args(["-m", "setuptools_scm", "-r"])
        .arg(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null"));
    assert!(
        out.status.success(),
        "setuptools-scm on {}: {out:?}",
        dir.display()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Everything a build tool asks of the checkout at `dest` of `rev` (of the corpus).
#[track_caller]
fn assert_accepted_like_a_clone(dest: &Path, rev: &str, what: &str) {
    assert_accepted_like_a_clone_of(&corpus().store, dest, rev, what)
}

/// Everything a build tool asks of the checkout at `dest` of `rev` of `store`.
#[track_caller]
fn assert_accepted_like_a_clone_of(store: &Path, dest: &Path, rev: &str, what: &str) {
    let e = expected_of(store, rev);
    let status = git(dest, &["status", "--porcelain"]);
    assert!(
        status.is_empty(),
        "{what}: expected a clean `git status`, got:\n{status}"
    );
    assert_eq!(git(dest, &["rev-parse", "HEAD"]), e.commit, "{what}: HEAD");
    assert_eq!(
        git(dest, &["describe", "--tags"]),
        e.describe,
        "{what}: git describe --tags"
    );
    let log = git(dest, &["log", "-1", "--format=%H"]);
    assert_eq!(log, e.commit, "{what}: git log -1");
    git(dest, &["diff", "--stat", "HEAD~1"]);
    assert_eq!(scm_version(dest), e.version, "{what}: setuptools-scm");
}

/// The issue's "on a 20k-file store": alternates for each revision, and a copied `.git`
/// that survives its store.
fn on_a_20k_file_store_a_git_is_accepted_like_a_clone(rt: Runtime) {
    let tmp = TempDir::new("gitdir-20k");
    let store = store_20k();
    for rev in REVS {
        let dest = tmp.join(rev);
        assert_checkout_matches(rt, store, rev, &dest, &["--git", "alternates"]);
        assert_accepted_like_a_clone_of(store, &dest, rev, &format!("20k, alternates, {rev}"));
    }
    let own = tmp.join("store.git");
    copy_tree(store, &own);
    let dest = tmp.join("copy");
    assert_checkout_matches(rt, &own, "main", &dest, &["--git", "copy"]);
    fs::remove_dir_all(&own).unwrap();
    let out = run(git_cmd(&dest).args(["fsck", "--full"]));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "20k, copy: git fsck after the store is gone: {out:?}"
    );
    assert_accepted_like_a_clone_of(store, &dest, "main", "20k, copy without the store");
}

fn an_alternates_git_is_accepted_like_a_clone(rt: Runtime) {
    let tmp = TempDir::new("gitdir-alternates");
    for rev in REVS {
        let dest = tmp.join(rev);
        assert_checkout_matches(rt, &corpus().store, rev, &dest, &["--git", "alternates"]);
        let alternates = fs::read_to_string(dest.join(".git/objects/info/alternates")).unwrap();
        assert!(
            alternates.trim_end().ends_with("objects"),
            "expected the store's objects in alternates, got {alternates:?}"
        );
        assert_accepted_like_a_clone(&dest, rev, &format!("alternates, {rev}"));
    }
}

fn a_copied_git_is_accepted_like_a_clone_and_survives_the_store(rt: Runtime) {
    let tmp = TempDir::new("gitdir-copy");
    let store = tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    for rev in REVS {
        let dest = tmp.join(rev);
        assert_checkout_matches(rt, &store, rev, &dest, &["--git", "copy"]);
        assert!(
            !dest.join(".git/objects/info/alternates").exists(),
            "a copied .git must not lean on the store"
        );
        assert_accepted_like_a_clone(&dest, rev, &format!("copy, {rev}"));
        assert!(
            hardlinked_files(&dest.join(".git")).is_empty(),
            "nothing in the copied .git may be a hardlink"
        );
    }
    fs::remove_dir_all(&store).unwrap();
    for rev in REVS {
        let dest = tmp.join(rev);
        let out = run(git_cmd(&dest).args(["fsck", "--full"]));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "copy, {rev}: git fsck after the store is gone: {out:?}"
        );
        assert_accepted_like_a_clone(&dest, rev, &format!("copy without the store, {rev}"));
    }
}

/// `git status` must trust the index's stat data and read no file of the tree: the index
/// records real stat data, and no entry is as new as the index ("racily clean").
fn git_status_opens_no_work_tree_file(rt: Runtime) {
    require("strace", "it records which files `git status` opens");
    let tmp = TempDir::new("gitdir-strace");
    let dest = tmp.join("checkout");
    assert_checkout_matches(rt, &corpus().store, "main", &dest, &["--git", "alternates"]);
    let log = tmp.join("strace.log");
    let out = run(Command::new("strace")
        .args(["-f", "-e", "trace=openat", "-o"])
        .arg(&log)
        .args(["git", "status", "--porcelain"])
        .current_dir(&dest));
    assert!(out.status.success(), "git status under strace: {out:?}");
    let log = fs::read_to_string(&log).unwrap();
    let opened: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("openat(AT_FDCWD, \"") && !l.contains("O_DIRECTORY"))
        .filter(|l| !l.contains("= -1"))
        .filter(|l| {
            let path = l.split('"').nth(1).unwrap_or_default();
            !path.starts_with('/') && !path.starts_with(".git")
        })
        .collect();
    assert!(
        opened.is_empty(),
        "expected git status to open no work-tree file, it opened:\n{}",
        opened.join("\n")
    );
}

#[test]
fn git_none_writes_no_git_directory() {
    let tmp = TempDir::new("gitdir-none");
    let dest = tmp.join("checkout");
    assert_checkout_matches(
        Runtime::Native,
        &corpus().store,
        "main",
        &dest,
        &["--git", "none"],
    );
    assert!(!dest.join(".git").exists(), "--git none wrote a .git");
}
