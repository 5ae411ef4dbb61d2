//! The Git LFS objects a checkout needs, for an installer to fetch before checking out.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::{Error, store};

/// One Git LFS object a checkout needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LfsObject {
    /// Its SHA-256, hex.
    pub oid: String,
    /// Its size in bytes.
    pub size: u64,
    /// The path in the tree that needs it (lossily UTF-8).
    pub path: String,
}

/// The Git LFS objects a checkout of `rev` from the store at `store_path` with `options`
/// needs (its attributes decide which files are LFS files), in the checkout's order;
/// whether they are present is not checked. Only pointers are read (in this process: they
/// are small, and parsed, never used as paths).
pub fn lfs_objects(
    store_path: &Path,
    rev: &str,
    options: &unfurl_engine::Options,
) -> Result<Vec<LfsObject>, Error> {
    let located = store::locate(store_path)?;
    let store = store::open_located(store_path, &located)?;
    let needed = unfurl_engine::lfs::needed(&store, rev, options, &AtomicBool::new(false))?;
    Ok(needed
        .into_iter()
        .map(|n| LfsObject {
            oid: n.pointer.oid,
            size: n.pointer.size,
            path: n.path.to_string(),
        })
        .collect())
}
