//! Running the engine confined under WASI, in an embedded wasmtime.
//!
//! A sandboxed checkout is the engine's one orchestrator ([`unfurl_engine::run`]) with
//! [`Backend`] doing stages 1 to 3 in guests (the engine compiled to `wasm32-wasip1`,
//! embedded in this binary):
//!
//! - one **planner** sees the store's git directory (read-only) at `/store` and each
//!   alternate object directory (read-only) at `/alt/N`, and nothing writable. It resolves
//!   the revision, walks and validates the tree, and sends the plan back.
//! - `jobs` **writers** see the same, plus the staging directory (read-write) at `/dest`.
//!   They claim the plan's groups of files from the host one at a time and write them,
//!   checking each group as a tree entry, because the planner is no more trusted than any
//!   guest.
//!
//! Guests get no environment, no network, no stdin; a memory cap each and an epoch deadline.
//! The host reads nothing of the store but where its object directories are (to preopen
//! them): every pack, index, ref and object is parsed inside the sandbox. The orchestrator
//! creates the staging directory, does what WASI cannot (exec bits) and what is left to the
//! end (symlinks), through its own handle, and publishes with the same atomic rename as a
//! native checkout.

mod backend;
mod cache;
mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use unfurl_engine::ErrorKind;

pub use backend::Backend;
pub(crate) use backend::preopens;
pub(crate) use sandbox::Sandbox;

/// Limits for the confined engine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most linear memory each guest may use, in bytes. Default: 2 GiB.
    pub max_memory: usize,
    /// Wall time after which the guests are stopped; `None` for no limit. Default: none.
    pub timeout: Option<Duration>,
    /// Where compiled guests are cached; `None` disables the cache (every run compiles,
    /// about a second). Default: `$UNFURL_CACHE_DIR`, else `$XDG_CACHE_HOME/unfurl`, else
    /// `~/.cache/unfurl`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 2 << 30,
            timeout: None,
            cache_dir: default_cache_dir(),
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UNFURL_CACHE_DIR") {
        return Some(dir.into());
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("unfurl"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/unfurl"))
}

/// Why the sandbox could not run the engine. (What the engine itself reported comes back
/// as [`unfurl_engine::Error::Remote`], its kind kept.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A guest reached its memory cap.
    #[error("the sandboxed engine exceeded its memory cap of {} MiB (raise it with --wasm-max-memory)", .0 >> 20)]
    OutOfMemory(usize),
    /// The guests ran past their deadline.
    #[error("the sandboxed engine ran past its {0:?} deadline (raise it with --wasm-timeout)")]
    Timeout(Duration),
    /// The caller interrupted the run.
    #[error("interrupted")]
    Interrupted,
    /// wasmtime could not set up or run a guest, or a guest broke the protocol.
    #[error("wasm runtime: {0}")]
    Runtime(String),
}

impl unfurl_engine::BackendError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::OutOfMemory(_) => ErrorKind::OutOfMemory,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Runtime(_) => ErrorKind::Sandbox,
        }
    }
}

impl From<Error> for unfurl_engine::Error {
    fn from(err: Error) -> Self {
        unfurl_engine::Error::Backend(Box::new(err))
    }
}

/// Where `build.rs` left the test-only confinement probe guest (a path, for the test suite;
/// the probe itself is not embedded).
#[doc(hidden)]
pub const PROBE_WASM: &str = env!("UNFURL_PROBE_WASM");

/// Run a confinement probe in the sandbox, for the test suite: the test-only guest at
/// `probe` (built beside the real one, at [`PROBE_WASM`]), given the store of `store_path` as a checkout's guests get it and the
/// fresh empty directory `dest` as `/dest`, tries to read each of `paths` and to create a
/// file next to it, and reports `(path, read result, create result)`.
#[doc(hidden)]
pub fn probe_confinement(
    probe: &Path,
    store_path: &Path,
    dest: &Path,
    paths: &[String],
) -> Result<Vec<(String, String, String)>, crate::Error> {
    let located = crate::store::locate(store_path)?;
    let limits = Limits {
        cache_dir: None,
        ..Limits::default()
    };
    let sandbox =
        Sandbox::with_module(&limits, |engine| wasmtime::Module::from_file(engine, probe))
            .map_err(unfurl_engine::Error::from)?;
    let mut preopens = backend::preopens(&located);
    preopens.dest = Some(dest.to_owned());
    let interrupt = AtomicBool::new(false);
    let arg = serde_json::to_string(paths).expect("strings encode");
    let results = sandbox
        .guarded(None, &interrupt, || {
            sandbox.run_raw(&[arg], &preopens, None, &limits, &interrupt, |out| {
                serde_json::from_slice(out)
                    .map_err(|e| Error::Runtime(format!("the probe sent no results: {e}")))
            })
        })
        .map_err(unfurl_engine::Error::from)?;
    Ok(results)
}
