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
    // How the checkout was written, as its `.git` records it (git's defaults without one).
    let config = std::fs::read(dest.join(".git/config")).unwrap_or_default();
    let recorded = unfurl_engine::gitdir::recorded(&config);
    let verified = unfurl_engine::verify::verify(
        &store,
        rev,
        &root,
        recorded.capabilities.filemode,
        recorded.capabilities.symlinks,
        &recorded.line_endings,
    )?;
    Ok(VerifyReport {
        commit: verified.commit.map(|c| c.to_string()),
        tree: verified.tree.to_string(),
        identical: verified.differences.is_empty(),
        differences: verified.differences,
    })
}
