//! The messages between the host and the WASI guest: one request as the guest's argument,
//! one reply as JSON on the guest's stdout. Both sides use these types, so they cannot drift.

use crate::write::Stats;

/// What the host asks the guest to do. The store is preopened at [`STORE`], the staging
/// directory at [`DEST`], and each alternate at the path listed in `alternates`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// The revision to check out.
    pub rev: String,
    /// Guest paths of the preopened alternate object directories, in the store's order.
    pub alternates: Vec<String>,
    /// Bytes of delta bases the guest may cache.
    pub delta_cache_bytes: usize,
    /// Write only this shard of the checkout (several guests share one checkout).
    #[serde(default)]
    pub shard: Option<crate::plan::Shard>,
    /// Instead of checking out, try to open each of these guest paths (read, then create a
    /// file) and report what happened. The test suite uses this to show the guest is
    /// confined to its preopens.
    #[serde(default)]
    pub probe: Vec<String>,
}

/// Where the guest finds the store.
pub const STORE: &str = "/store";
/// Where the guest writes the checkout (the host's staging directory).
pub const DEST: &str = "/dest";

/// How long each stage took inside one guest, in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct GuestPhases {
    /// Resolving the revision to a tree.
    pub resolve_us: u64,
    /// Walking and validating the tree.
    pub plan_us: u64,
    /// Writing this guest's part of the checkout.
    pub write_us: u64,
}

/// What the guest answers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// The checkout was written.
    Done {
        /// The commit, hex, if the revision named one.
        commit: Option<String>,
        /// The tree, hex.
        tree: String,
        /// What was written, and what the host must finish.
        stats: Stats,
        /// How long the guest's own stages took.
        #[serde(default)]
        phases: GuestPhases,
    },
    /// The checkout failed; `message` is the engine's error, as natively.
    Failed {
        /// The error chain, one line.
        message: String,
    },
    /// The results of a confinement probe: for each path, `"ok"` or the error.
    Probed {
        /// `(path, read result, create result)` for each probed path.
        results: Vec<(String, String, String)>,
    },
}
