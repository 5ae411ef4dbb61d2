//! Helpers shared by every test area: temporary directories, git plumbing, running the
//! CLI, the `git archive | tar -x` reference, tree snapshots and their comparison.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The CLI under test: the binary cargo built, unless `UNFURL_BIN` names another build (a
/// release binary, say) to run the same suite against.
pub fn unfurl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("UNFURL_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_unfurl")),
            PathBuf::from,
        )
    })
}

/// The deterministic store generator shared by the whole project.
pub const MAKE_STORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/make-store"
);

// ---------------------------------------------------------------------------------------------
// Runtimes

/// A runtime unfurl can materialize a checkout with (`--runtime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Native,
    Wasm,
}

impl Runtime {
    /// The value of `--runtime`, which is also what `--json` reports as `runtime`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Wasm => "wasm",
        }
    }
}

/// Instantiates every listed scenario `fn scenario(rt: Runtime)` once per runtime, as the tests
/// `scenario::native` and `scenario::wasm` (a module named after the scenario, since
/// `macro_rules!` cannot paste identifiers together and the suite uses std only).
///
/// The list of runtimes is here, and only here.
macro_rules! runtime_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn native() {
                super::$scenario($crate::support::Runtime::Native)
            }
            #[test]
            fn wasm() {
                super::$scenario($crate::support::Runtime::Wasm)
            }
        }
    )*};
}
pub(crate) use runtime_tests;

mod cli;
mod fixtures;
mod programs;
mod reference;
mod snapshot;
mod temp;

pub use cli::*;
pub use fixtures::*;
pub use programs::*;
pub use reference::*;
pub use snapshot::*;
use temp::scratch_root;
pub use temp::*;
