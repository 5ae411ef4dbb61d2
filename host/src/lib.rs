//! unfurl's host: turns paths into directory capabilities and runs the checkout engine,
//! natively or (see [`Runtime::Wasm`]) confined under WASI.
//!
//! This crate is the only place with ambient authority: it opens the store, its alternates
//! and the destination's parent as [`cap_std::fs::Dir`] handles and hands those to
//! [`unfurl_engine`], which can reach nothing else.
//!
//! ```no_run
//! # fn main() -> Result<(), unfurl::Error> {
//! use std::sync::atomic::AtomicBool;
//! let request = unfurl::Request::new("store.git", "main", "checkout");
//! let report = unfurl::checkout(&request, &(), &AtomicBool::new(false))?;
//! println!("{} files in {} ms", report.files, report.elapsed_ms);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod dest;
mod lfs;
mod report;
mod store;
mod submodules;
mod verify;
pub mod wasm;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use unfurl_engine::{ErrorKind, Failure};

use report::{fallbacks, report_preopens};

pub use lfs::{LfsObject, lfs_objects};
pub use report::{CaseCollision, Fallback, Preopen, Report, ReportModule, Switch};
pub use store::open_store;
pub use submodules::{ListedModule, SubmoduleStores, list as list_submodules};
pub use verify::{Recurse, VerifyReport, verify};

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// In this process, with cap-std handles. The default.
    #[default]
    Native,
    /// In an embedded wasmtime, as a WASI guest that can reach only the store (read-only)
    /// and the staging directory; see [`wasm`].
    Wasm,
}

impl Runtime {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Wasm => "wasm",
        }
    }
}

/// One checkout to perform.
#[derive(Debug, Clone)]
pub struct Request {
    /// The store: a bare repository, a `.git` directory, or a work tree containing `.git`.
    pub store: PathBuf,
    /// The revision to check out (`main`, `v1`, `HEAD~2`, an object id, `main:dir`, …).
    pub rev: String,
    /// The destination: must not exist, be an empty directory, or hold an unfurl checkout
    /// with a `.git` (switched in place). Missing parents are created.
    pub dest: PathBuf,
    /// Where the engine runs. Default: [`Runtime::Native`].
    pub runtime: Runtime,
    /// Engine options (workers, delta cache). Default: one worker per core.
    pub options: unfurl_engine::Options,
    /// Limits for [`Runtime::Wasm`]: memory cap, deadline, compiled-module cache.
    pub wasm: wasm::Limits,
    /// Check out submodules, recursively, from these stores (`--recurse-submodules`).
    /// Default: `None`, gitlinks stay empty directories.
    pub submodules: Option<SubmoduleStores>,
    /// The URL the store was fetched from (`--url`): relative submodule URLs resolve
    /// against it when the store has no `remote.origin.url`. Default: `None`.
    pub url: Option<String>,
    /// Where Git LFS objects are (laid out as `.git/lfs/objects`); under wasm it is
    /// preopened read-only. Default: `None`, the store's own `lfs/objects`.
    pub lfs_objects: Option<PathBuf>,
}

impl Request {
    /// Check out `rev` from `store` into `dest`, natively, with default options.
    pub fn new(
        store: impl Into<PathBuf>,
        rev: impl Into<String>,
        dest: impl Into<PathBuf>,
    ) -> Request {
        Request {
            store: store.into(),
            rev: rev.into(),
            dest: dest.into(),
            runtime: Runtime::Native,
            options: unfurl_engine::Options::default(),
            wasm: wasm::Limits::default(),
            submodules: None,
            url: None,
            lfs_objects: None,
        }
    }
}

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store path does not lead to a usable git directory.
    #[error("{message}")]
    Store {
        /// The store path as given.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The destination cannot be used.
    #[error("destination {path}: {message}")]
    Dest {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
        /// How to classify it.
        kind: ErrorKind,
    },
    /// The engine failed, in whichever runtime it ran (the sandbox's own failures, such as
    /// running out of memory, included: see [`wasm::Error`]).
    #[error(transparent)]
    Engine(#[from] unfurl_engine::Error),
}

impl Error {
    /// The stable classification of this error, as `--json` reports it; the same input gives
    /// the same kind in both runtimes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store { .. } => ErrorKind::StoreUnusable,
            Error::Dest { kind, .. } => *kind,
            Error::Engine(e) => e.kind(),
        }
    }

    /// This error as data: kind, one-line message, and the path or object it concerns.
    pub fn failure(&self) -> Failure {
        match self {
            Error::Engine(e) => e.failure(),
            Error::Store { path, .. } | Error::Dest { path, .. } => Failure {
                kind: self.kind(),
                message: unfurl_engine::one_line(self),
                path: Some(path.display().to_string()),
                object: None,
                missing: Vec::new(),
                changed: Vec::new(),
            },
        }
    }
}

impl From<wasm::Error> for Error {
    fn from(err: wasm::Error) -> Self {
        Error::Engine(err.into())
    }
}

/// Run `request`: open the store and the destination's parent, check out, publish.
///
/// Both runtimes go through the engine's one orchestrator ([`unfurl_engine::run`]); only
/// the backend differs. On failure nothing is left behind: no destination, no staging
/// directory, and none of the destination's parents that this call created.
pub fn checkout(
    request: &Request,
    progress: &dyn unfurl_engine::Progress,
    interrupt: &AtomicBool,
) -> Result<Report, Error> {
    let start = Instant::now();
    let dest = dest::Dest::prepare(&request.dest)?;
    // The staging directory named after this process, orphans of dead ones swept, an
    // existing empty DEST's attributes kept (see `dest.rs`).
    let options = dest.options(&request.options);
    let mut phases = std::collections::BTreeMap::new();
    // Where the git directory and its object directories are: to open them natively, to
    // preopen them for the sandbox, and to name them in the checkout's `.git`.
    let mut located = store::locate(&request.store)?;
    located.lfs_objects.clone_from(&request.lfs_objects);
    if let Some(lfs) = &request.lfs_objects
        && !lfs.is_dir()
    {
        return Err(Error::Store {
            path: request.store.clone(),
            message: format!(
                "the LFS objects directory {} is not a directory (give the directory git-lfs keeps its objects in, e.g. .git/lfs/objects)",
                lfs.display()
            ),
        });
    }
    let mut options = options;
    git_options(&mut options.git, &request.store, &located)?;
    if let Some(stores) = &request.submodules {
        let stores = submodules::HostStores::new(
            stores.clone(),
            request.runtime,
            &request.wasm,
            dest.parent_path(),
        )?;
        options.submodules.stores = Some(std::sync::Arc::new(stores));
        options.submodules.url =
            submodules::superproject_url(&located.git_dir, request.url.as_deref());
    }
    let mut preopens = Vec::new();
    // The one orchestrator runs in both runtimes; only the backend differs.
    let (native_store, native, sandbox, sandboxed);
    let backend: &dyn unfurl_engine::Backend = match request.runtime {
        Runtime::Native => {
            native_store = store::open_located(&request.store, &located)?;
            native = unfurl_engine::Native::new(&native_store);
            &native
        }
        Runtime::Wasm => {
            // The store itself is parsed inside the sandbox.
            preopens = report_preopens(&located, &request.dest);
            let load = Instant::now();
            sandbox = wasm::Sandbox::load(&request.wasm)?;
            phases.insert("load", load.elapsed().as_micros() as u64);
            sandboxed = wasm::Backend::new(
                &sandbox,
                &located,
                dest.parent_path().to_owned(),
                &request.wasm,
            );
            &sandboxed
        }
    };
    let outcome = unfurl_engine::run(
        backend,
        &request.rev,
        dest.parent(),
        dest.name(),
        &options,
        progress,
        interrupt,
    )?;
    dest.keep();
    if request.runtime == Runtime::Wasm
        && let Some(stores) = &request.submodules
    {
        // Each submodule's guests were given its store (and its alternates) read-only,
        // and the staging directory: listed once each.
        for module in outcome.submodules.iter().filter(|m| !m.skipped) {
            if let Some(path) = stores.find(&module.url)
                && let Ok(located) = store::locate(&path)
            {
                for preopen in report_preopens(&located, &request.dest) {
                    if !preopens.contains(&preopen) {
                        preopens.push(preopen);
                    }
                }
            }
        }
    }
    let p = outcome.phases;
    for (name, took) in [
        ("resolve", p.resolve),
        ("plan", p.plan),
        ("write", p.write),
        ("publish", p.publish),
    ] {
        phases.insert(name, took.as_micros() as u64);
    }
    let stats = outcome.stats;
    Ok(Report {
        commit: outcome.commit.map(|c| c.to_string()),
        tree: outcome.tree.to_string(),
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        executables: stats.executables,
        bytes: stats.bytes,
        elapsed_ms: start.elapsed().as_millis() as u64,
        runtime: request.runtime.name(),
        phases_us: phases,
        fallbacks: fallbacks(&stats.deferred, &outcome.fallbacks),
        filesystem: outcome.filesystem,
        case_collisions: outcome
            .fallbacks
            .case_collisions
            .iter()
            .map(|c| CaseCollision {
                lost: c.lost.to_string(),
                kept: c.kept.to_string(),
            })
            .collect(),
        preopens,
        unchanged: outcome.unchanged,
        switch: outcome.switch.map(|s| Switch {
            from: s.from.map(|c| c.to_string()),
            written: s.written,
            removed: s.removed,
            unchanged: s.unchanged,
            repaired: s.repaired,
            kept: s
                .kept
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
        }),
        paths: request
            .options
            .paths
            .iter()
            .map(|p| p.to_string())
            .collect(),
        inflated_bytes: stats.inflated,
        submodules: outcome.submodules.iter().map(ReportModule::from).collect(),
    })
}

/// What the checkout's `.git` needs from the host: the object directories' paths (for
/// alternates), opened (for a copy), and the store's location (as `origin`).
pub(crate) fn git_options(
    git: &mut unfurl_engine::gitdir::Options,
    store: &Path,
    located: &store::Located,
) -> Result<(), Error> {
    use unfurl_engine::gitdir::Mode;
    if git.mode == Mode::None {
        return Ok(());
    }
    let objects = located.git_dir.join("objects");
    let objects = dunce::canonicalize(&objects).unwrap_or(objects);
    let mut dirs = vec![objects];
    dirs.extend(located.alternates.iter().cloned());
    if git.mode == Mode::Copy {
        let opened = dirs
            .iter()
            .map(|dir| {
                cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
                    .map(unfurl_engine::Dir::from)
                    .map_err(|e| Error::Store {
                        path: store.to_owned(),
                        message: format!("cannot open object directory {}: {e}", dir.display()),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        git.object_dirs = std::sync::Arc::new(opened);
    }
    git.object_paths = dirs;
    let origin = dunce::canonicalize(store);
    git.origin = Some(
        origin
            .unwrap_or_else(|_| store.to_owned())
            .display()
            .to_string(),
    );
    Ok(())
}

/// `path` for messages: as given.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}
