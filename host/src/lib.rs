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
mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use unfurl_engine::write::Deferred;

pub use store::open_store;

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// In this process, with cap-std handles. The default.
    #[default]
    Native,
}

impl Runtime {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
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
    /// The destination: must not exist, or be an empty directory. Missing parents are created.
    pub dest: PathBuf,
    /// Where the engine runs. Default: [`Runtime::Native`].
    pub runtime: Runtime,
    /// Engine options (workers, delta cache). Default: one worker per core.
    pub options: unfurl_engine::Options,
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
        }
    }
}

/// What a checkout did, as reported by `unfurl checkout --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The commit checked out (hex), or `None` when the revision named a tree.
    pub commit: Option<String>,
    /// The tree checked out (hex).
    pub tree: String,
    /// Regular files written, executables included.
    pub files: u64,
    /// Directories created, not counting the destination itself.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Files marked executable.
    pub executables: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Wall time of the whole checkout, in milliseconds.
    pub elapsed_ms: u64,
    /// `"native"` or `"wasm"`.
    pub runtime: &'static str,
    /// Operations the engine's runtime could not perform and the host performed for it
    /// (under WASI: exec bits, absolute symlinks). Empty natively.
    pub fallbacks: Vec<Deferred>,
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
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] unfurl_engine::Error),
}

/// Run `request`: open the store and the destination's parent, check out, publish.
///
/// On failure nothing is left behind: no destination, no staging directory, and none of
/// the destination's parents that this call created.
pub fn checkout(
    request: &Request,
    progress: &dyn unfurl_engine::Progress,
    interrupt: &AtomicBool,
) -> Result<Report, Error> {
    let store = open_store(&request.store)?;
    let dest = dest::Dest::prepare(&request.dest)?;
    let result = match request.runtime {
        Runtime::Native => unfurl_engine::checkout(
            &store,
            &request.rev,
            dest.parent(),
            dest.name(),
            &request.options,
            progress,
            interrupt,
        )
        .map_err(Error::from),
    };
    match result {
        Ok(outcome) => {
            dest.keep();
            Ok(report(&outcome, request.runtime, Vec::new()))
        }
        Err(err) => Err(err),
    }
}

fn report(outcome: &unfurl_engine::Outcome, runtime: Runtime, fallbacks: Vec<Deferred>) -> Report {
    Report {
        commit: outcome.commit.map(|c| c.to_string()),
        tree: outcome.tree.to_string(),
        files: outcome.stats.files,
        dirs: outcome.stats.dirs,
        symlinks: outcome.stats.symlinks,
        executables: outcome.stats.executables,
        bytes: outcome.stats.bytes,
        elapsed_ms: outcome.elapsed.as_millis() as u64,
        runtime: runtime.name(),
        fallbacks,
    }
}

/// `path` for messages: as given.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}
