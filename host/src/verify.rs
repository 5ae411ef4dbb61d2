//! `unfurl verify`: comparing a checkout on disk with a revision of the store.

use std::path::Path;

use unfurl_engine::ErrorKind;

use crate::{Error, store};

/// What `unfurl verify` found: whether the checkout at DEST is exactly REV.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// The commit compared with (hex), or `None` when the revision named a tree.
    pub commit: Option<String>,
    /// The tree compared with (hex).
    pub tree: String,
    /// Whether DEST is exactly the commit: no difference.
    pub identical: bool,
    /// Every difference, sorted by path.
    pub differences: Vec<unfurl_engine::verify::Difference>,
}

/// Compare the checkout at `dest` with `rev` of the store at `store`: content, exec bits,
/// symlink targets, missing and extra entries (a top-level `.git` aside). Where the
/// checkout's `.git/config` says the filesystem keeps no exec bits or symlinks
/// (`core.filemode`, `core.symlinks`), those are compared as a checkout there writes them,
/// and files are converted with the `core.autocrlf` and `core.eol` it records (what `-c`
/// gave the checkout).
pub fn verify(store_path: &Path, rev: &str, dest: &Path) -> Result<VerifyReport, Error> {
    let located = store::locate(store_path)?;
    let store = store::open_located(store_path, &located)?;
    let root = cap_std::fs::Dir::open_ambient_dir(dest, cap_std::ambient_authority())
        .map(unfurl_engine::Dir::from)
        .map_err(|e| Error::Dest {
            path: dest.to_owned(),
            message: format!("cannot open it: {e}"),
            kind: ErrorKind::DestinationUnusable,
        })?;
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap_or_default();
    // The `[core]` lines unfurl writes, as `key=value` without blanks.
    let settings: Vec<String> = config
        .lines()
        .map(|line| line.chars().filter(|c| !c.is_whitespace()).collect())
        .collect();
    let says_false = |key: &str| {
        settings
            .iter()
            .any(|line| line.eq_ignore_ascii_case(&format!("{key}=false")))
    };
    let attributes = unfurl_engine::gitdir::line_endings_of(config.as_bytes());
    let verified = unfurl_engine::verify::verify(
        &store,
        rev,
        &root,
        !says_false("filemode"),
        !says_false("symlinks"),
        &attributes,
    )?;
    Ok(VerifyReport {
        commit: verified.commit.map(|c| c.to_string()),
        tree: verified.tree.to_string(),
        identical: verified.differences.is_empty(),
        differences: verified.differences,
    })
}
