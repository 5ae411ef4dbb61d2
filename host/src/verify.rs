//! `unfurl verify`: comparing a checkout on disk with a revision of the store.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use unfurl_engine::ErrorKind;
use unfurl_engine::verify::Difference;

use crate::submodules::{HostStores, SubmoduleStores, superproject_url};
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
    pub differences: Vec<Difference>,
}

/// With `unfurl verify --recurse-submodules`: where the submodules' stores are.
#[derive(Debug, Clone, Default)]
pub struct Recurse {
    /// The submodules' stores, as for a checkout.
    pub stores: SubmoduleStores,
    /// The URL relative submodule URLs resolve against when the store has no
    /// `remote.origin.url` (`--url`).
    pub url: Option<String>,
}

/// Compare the checkout at `dest` with `rev` of the store at `store`: content, exec bits,
/// symlink targets, missing and extra entries (a top-level `.git` aside). Where the
/// checkout's `.git/config` says the filesystem keeps no exec bits or symlinks
/// (`core.filemode`, `core.symlinks`), those are compared as a checkout there writes them,
/// and files are converted with the `core.autocrlf` and `core.eol` it records (what `-c`
/// gave the checkout).
///
/// A submodule's directory must be there; what lies in it is compared only with `recurse`:
/// then each submodule, to any depth, is compared with its commit from its store (which
/// must have it, or this fails as a checkout would, `submodules-missing`). Without it, a
/// submodule with a `.git` must name the commit its parent records (a difference
/// `submodule` otherwise).
pub fn verify(
    store_path: &Path,
    rev: &str,
    dest: &Path,
    recurse: Option<&Recurse>,
    progress: &dyn unfurl_engine::Progress,
) -> Result<VerifyReport, Error> {
    let located = store::locate(store_path)?;
    let store = store::open_located(store_path, &located)?;
    let root = open_root(dest)?;
    // How the checkout was written, as its `.git` records it (git's defaults without one).
    let recorded = recorded(dest);
    let submodules = unfurl_engine::submodule::Options {
        stores: None,
        url: superproject_url(&located.git_dir, recurse.and_then(|r| r.url.as_deref())),
        gitmodules: recurse.is_some(),
    };
    let options = unfurl_engine::verify::options(&root, &recorded.line_endings, submodules)?;
    let planned = unfurl_engine::verify::plan(&store, rev, &options)?;
    let verified =
        unfurl_engine::verify::compare(&store, &planned, &root, recorded.capabilities, progress)?;
    let mut differences = verified.differences;
    if let Some(recurse) = recurse {
        differences.extend(submodule_differences(
            recurse, &planned, &options, dest, progress,
        )?);
        differences.sort();
    }
    Ok(VerifyReport {
        commit: verified.commit.map(|c| c.to_string()),
        tree: verified.tree.to_string(),
        identical: differences.is_empty(),
        differences,
    })
}

/// The differences within the submodules of the checkout `planned` at `dest`, each
/// compared with its own commit and store; paths from `dest`.
fn submodule_differences(
    recurse: &Recurse,
    planned: &unfurl_engine::Planned,
    options: &unfurl_engine::Options,
    dest: &Path,
    progress: &dyn unfurl_engine::Progress,
) -> Result<Vec<Difference>, Error> {
    let interrupt = AtomicBool::new(false);
    let host = HostStores::native(recurse.stores.clone());
    let found = unfurl_engine::submodule::discover(&host, planned, options, true, &interrupt)?;
    let missing: Vec<_> = found
        .iter()
        .filter_map(|f| {
            f.missing
                .map(|lack| unfurl_engine::submodule::MissingModule {
                    module: f.module.clone(),
                    lack,
                })
        })
        .collect();
    if !missing.is_empty() {
        let err = unfurl_engine::submodule::Error::Missing { modules: missing };
        return Err(unfurl_engine::Error::from(err).into());
    }
    let mut differences = Vec::new();
    for (module, planned) in found
        .iter()
        .filter_map(|f| Some((&f.module, &f.planned.as_ref()?.1)))
    {
        let Some(path) = module_dir(dest, &module.path) else {
            continue;
        };
        if !path.is_dir() {
            // Its parent reports the directory missing (or of another kind).
            continue;
        }
        let store_path = recurse
            .stores
            .find(&module.url)
            .expect("discover found its store");
        let located = store::locate(&store_path)?;
        let store = store::open_located(&store_path, &located)?;
        let root = open_root(&path)?;
        // A submodule's `.git` records how it was written, as its parent's does.
        let caps = recorded(&path).capabilities;
        let verified = unfurl_engine::verify::compare(&store, planned, &root, caps, progress)?;
        let prefix = String::from_utf8_lossy(&module.path);
        differences.extend(verified.differences.into_iter().map(|d| Difference {
            path: format!("{prefix}/{}", d.path),
            change: d.change,
        }));
    }
    Ok(differences)
}

/// Where the submodule at `path` (`/`-separated, from the checkout's root) is: `None` for a
/// name this platform cannot spell (not UTF-8 off Unix; the checkout wrote such a name under
/// a placeholder, and its parent reports it).
fn module_dir(dest: &Path, path: &[u8]) -> Option<std::path::PathBuf> {
    #[cfg(unix)]
    let rel =
        Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path)).to_owned();
    #[cfg(not(unix))]
    let rel = std::path::PathBuf::from(std::str::from_utf8(path).ok()?);
    Some(dest.join(rel))
}

/// The checkout at `dest`, as a directory capability.
fn open_root(dest: &Path) -> Result<unfurl_engine::Dir, Error> {
    cap_std::fs::Dir::open_ambient_dir(dest, cap_std::ambient_authority())
        .map(unfurl_engine::Dir::from)
        .map_err(|e| Error::Dest {
            path: dest.to_owned(),
            message: format!("cannot open it: {e}"),
            kind: ErrorKind::DestinationUnusable,
        })
}

/// What the checkout at `dest` records of how it was written (git's defaults without a
/// `.git`).
fn recorded(dest: &Path) -> unfurl_engine::gitdir::Recorded {
    let config = std::fs::read(dest.join(".git/config")).unwrap_or_default();
    unfurl_engine::gitdir::recorded(&config)
}
