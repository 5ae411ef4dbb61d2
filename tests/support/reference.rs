//! The reference: `git archive REV | tar -x`, and what git says a revision is.

use super::*;

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
