//! Where submodule stores are, on this machine: the one place a submodule's URL becomes a
//! store, and a store a backend in the runtime the checkout runs in.
//!
//! Two ways to name them, which combine (an explicit one wins):
//!
//! - `--submodule-store URL=DIR`: the store for the submodule whose resolved URL is exactly
//!   `URL`;
//! - `--submodule-stores DIR`: a directory of stores, one per URL, named by the SHA-1 of
//!   the resolved URL in hex ([`unfurl_engine::store_key`]; `unfurl submodules --json`
//!   prints it as `store_key`). An installer that keeps one bare store per URL, as uv and
//!   cargo do, fetches each submodule into `DIR/<key>` and passes `DIR`. A digest rather
//!   than the URL itself: any URL gives one plain name that cannot climb out of `DIR`,
//!   and a store found under a wrong key can give only a "commit missing", because every
//!   commit is checked by its id.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use unfurl_engine::plan::Plan;
use unfurl_engine::publish::Staging;
use unfurl_engine::write::Stats;
use unfurl_engine::{Backend, Options, Planned, Progress, Store};

use crate::{Runtime, store, wasm};

/// Where the stores of submodules are (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct SubmoduleStores {
    /// The store for each resolved URL, exactly as given (`--submodule-store URL=DIR`).
    pub by_url: Vec<(String, PathBuf)>,
    /// A directory of stores named by [`unfurl_engine::store_key`] of their URL
    /// (`--submodule-stores DIR`).
    pub dir: Option<PathBuf>,
}

impl SubmoduleStores {
    /// The store for `url`, if one is named and exists.
    pub fn find(&self, url: &str) -> Option<PathBuf> {
        if let Some((_, dir)) = self.by_url.iter().find(|(u, _)| u == url) {
            // A store named but not there is missing, like one never named: it is listed
            // with the others.
            return dir.exists().then(|| dir.clone());
        }
        let dir = self.dir.as_ref()?.join(unfurl_engine::store_key(url));
        dir.exists().then_some(dir)
    }
}

/// The engine's view of [`SubmoduleStores`]: each store opened in the runtime of the
/// checkout. Under wasm, each submodule's guests are given that store (read-only), its
/// alternates and the staging directory, and nothing else.
pub(crate) struct HostStores {
    stores: SubmoduleStores,
    /// Under wasm: the loaded guest, the limits, the destination's parent, and the
    /// checkout's deadline (set when the stores are made, as the checkout starts).
    sandbox: Option<(
        wasm::Sandbox,
        wasm::Limits,
        PathBuf,
        Option<std::time::Instant>,
    )>,
}

impl std::fmt::Debug for HostStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStores")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl HostStores {
    /// Stores for a checkout in `runtime` whose staging directories are made in
    /// `dest_parent`.
    pub(crate) fn new(
        stores: SubmoduleStores,
        runtime: Runtime,
        limits: &wasm::Limits,
        dest_parent: &Path,
    ) -> Result<HostStores, crate::Error> {
        let sandbox = match runtime {
            Runtime::Native => None,
            Runtime::Wasm => Some((
                wasm::Sandbox::load(limits)?,
                limits.clone(),
                dest_parent.to_owned(),
                limits.timeout.map(|t| std::time::Instant::now() + t),
            )),
        };
        Ok(HostStores { stores, sandbox })
    }

    /// Stores for reading natively (listing or verifying submodules, not checking out).
    pub(crate) fn native(stores: SubmoduleStores) -> HostStores {
        HostStores {
            stores,
            sandbox: None,
        }
    }

    fn engine_error(err: crate::Error) -> unfurl_engine::Error {
        match err {
            crate::Error::Engine(e) => e,
            other => unfurl_engine::Error::Remote(Box::new(other.failure())),
        }
    }
}

impl unfurl_engine::submodule::Stores for HostStores {
    fn open(&self, url: &str) -> Result<Option<Box<dyn Backend + '_>>, unfurl_engine::Error> {
        let Some(path) = self.stores.find(url) else {
            return Ok(None);
        };
        let located = store::locate(&path).map_err(Self::engine_error)?;
        Ok(Some(match &self.sandbox {
            None => {
                let store = store::open_located(&path, &located).map_err(Self::engine_error)?;
                Box::new(OwnedNative { store })
            }
            Some((sandbox, limits, dest_parent, deadline)) => {
                Box::new(wasm::Backend::with_deadline(
                    sandbox,
                    &located,
                    dest_parent.clone(),
                    limits,
                    *deadline,
                ))
            }
        }))
    }

    fn git(
        &self,
        url: &str,
        mode: unfurl_engine::gitdir::Mode,
    ) -> Result<unfurl_engine::gitdir::Options, unfurl_engine::Error> {
        let mut options = unfurl_engine::gitdir::Options {
            mode,
            ..Default::default()
        };
        if let Some(path) = self.stores.find(url) {
            let located = store::locate(&path).map_err(Self::engine_error)?;
            crate::git_options(&mut options, &path, &located).map_err(Self::engine_error)?;
        }
        Ok(options)
    }
}

/// A native backend that owns its store.
struct OwnedNative {
    store: Store,
}

impl Backend for OwnedNative {
    fn plan(
        &self,
        rev: &str,
        options: &Options,
        interrupt: &AtomicBool,
    ) -> Result<Planned, unfurl_engine::Error> {
        unfurl_engine::Native::new(&self.store).plan(rev, options, interrupt)
    }

    fn write(
        &self,
        plan: &Arc<Plan>,
        staging: &Staging<'_>,
        options: &Options,
        progress: &dyn Progress,
        interrupt: &AtomicBool,
    ) -> Result<Stats, unfurl_engine::Error> {
        unfurl_engine::Native::new(&self.store).write(plan, staging, options, progress, interrupt)
    }
}

/// The URL relative submodule URLs resolve against: the store's `remote.origin.url`, or
/// `fallback` (`--url`) when it has none.
pub(crate) fn superproject_url(git_dir: &Path, fallback: Option<&str>) -> Option<String> {
    std::fs::read(git_dir.join("config"))
        .ok()
        .and_then(|config| unfurl_engine::submodule::origin_url(&config))
        .or_else(|| fallback.map(str::to_owned))
}

/// A submodule as `unfurl submodules` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedModule {
    /// Its path from the superproject's root (lossily UTF-8).
    pub path: String,
    /// Its name in its parent's `.gitmodules` (lossily UTF-8).
    pub name: String,
    /// Its URL, resolved against its parent's.
    pub url: String,
    /// The commit its parent records (hex).
    pub commit: String,
    /// The name its store has in a `--submodule-stores` directory.
    pub store_key: String,
    /// The store found for it, if any.
    pub store: Option<String>,
    /// `ok` (its store has the commit), `skipped` (`update = none`), `missing-store` or
    /// `missing-commit`.
    pub status: &'static str,
}

/// The submodules of `rev` in the store at `store_path` (recursively: those within each
/// submodule whose store has its commit), with relative URLs resolved against the store's
/// `remote.origin.url` or `url`: what a checkout with `--recurse-submodules` needs.
pub fn list(
    store_path: &Path,
    rev: &str,
    stores: &SubmoduleStores,
    url: Option<&str>,
    recursive: bool,
) -> Result<Vec<ListedModule>, crate::Error> {
    let located = store::locate(store_path)?;
    let store = store::open_located(store_path, &located)?;
    let mut options = Options::default();
    options.submodules.gitmodules = true;
    options.submodules.url = superproject_url(&located.git_dir, url);
    let interrupt = AtomicBool::new(false);
    let planned = unfurl_engine::Native::new(&store).plan(rev, &options, &interrupt)?;
    let host = HostStores::native(stores.clone());
    let found =
        unfurl_engine::submodule::discover(&host, &planned, &options, recursive, &interrupt)?;
    Ok(found
        .iter()
        .map(|f| {
            let m = &f.module;
            ListedModule {
                path: m.path.to_string(),
                name: m.name.to_string(),
                url: m.url.clone(),
                commit: m.commit.to_string(),
                store_key: unfurl_engine::store_key(&m.url),
                store: stores.find(&m.url).map(|p| p.display().to_string()),
                status: match (m.skipped, f.missing) {
                    (true, _) => "skipped",
                    (false, Some(unfurl_engine::submodule::Lack::Store)) => "missing-store",
                    (false, Some(unfurl_engine::submodule::Lack::Commit)) => "missing-commit",
                    (false, None) => "ok",
                },
            }
        })
        .collect())
}
