//! Errors as data: what failed, by a stable kind, with the path or object involved.
//!
//! A [`Failure`] is what crosses a boundary that a Rust error type cannot: from a sandboxed
//! guest to its host, and from the CLI to an installer reading `--json`. Its [`ErrorKind`]
//! is the part a program branches on; the kinds are documented and stable, and the same
//! input gives the same kind in every runtime.

/// What kind of failure a checkout met: the stable, documented classification that
/// `--json` reports as `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum ErrorKind {
    /// `revision-not-found`: no branch, tag or object has that name, or navigation from it
    /// (`main~99`, `main:no/such/dir`) leads nowhere.
    RevisionNotFound,
    /// `revision-invalid`: the revision is ambiguous, malformed, unsupported, or names
    /// something without a tree (a blob).
    RevisionInvalid,
    /// `tree-rejected`: the tree is hostile or malformed; `path` names the entry.
    TreeRejected,
    /// `store-corrupt`: the store is damaged or incomplete (a missing or undecodable
    /// object, a malformed reference or pack); `object` or `path` names what.
    StoreCorrupt,
    /// `objects-missing`: the store lacks blobs the checkout needs (a partial clone, an
    /// incomplete fetch); `missing` lists every one with its path.
    ObjectsMissing,
    /// `store-unusable`: the store is missing, not a git repository, or in a format this
    /// version cannot read.
    StoreUnusable,
    /// `destination-not-empty`: the destination exists and holds something.
    DestinationNotEmpty,
    /// `destination-unusable`: the destination is a file, or cannot be named or created.
    DestinationUnusable,
    /// `io`: reading or writing a file failed (permission denied, disk full, …); `path`
    /// names the file.
    Io,
    /// `out-of-memory`: the sandboxed engine reached its memory cap.
    OutOfMemory,
    /// `timeout`: the sandboxed engine ran past its deadline.
    Timeout,
    /// `interrupted`: the caller (a signal) stopped the checkout.
    Interrupted,
    /// `sandbox`: the sandbox could not run the engine (a wasmtime failure, a guest that
    /// broke its protocol).
    Sandbox,
    /// `invalid-options`: the options given cannot work together.
    InvalidOptions,
    /// `case-collision`: two entries of the tree would be one file on the destination,
    /// whose filesystem ignores case (`README` and `readme`); the message names both,
    /// `path` the earlier.
    CaseCollision,
    /// `local-changes`: the destination holds a checkout with local changes that switching
    /// it would lose (see the `force` option); the message lists them, `path` the first.
    LocalChanges,
    /// `path-not-found`: a selected path (`--path`) names nothing in the tree; the message
    /// names every such path, `path` the first.
    PathNotFound,
    /// `submodules-missing`: stores or commits of submodules are missing; `missing` lists
    /// every such submodule with its path, URL, commit and what is missing.
    SubmodulesMissing,
    /// `lfs-objects-missing`: Git LFS objects the checkout needs are not in the LFS objects
    /// directory; `missing` lists every one (`object` is its SHA-256) with its path.
    LfsObjectsMissing,
}

impl ErrorKind {
    /// The kind's stable name, as `--json` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::RevisionNotFound => "revision-not-found",
            ErrorKind::RevisionInvalid => "revision-invalid",
            ErrorKind::TreeRejected => "tree-rejected",
            ErrorKind::StoreCorrupt => "store-corrupt",
            ErrorKind::ObjectsMissing => "objects-missing",
            ErrorKind::StoreUnusable => "store-unusable",
            ErrorKind::DestinationNotEmpty => "destination-not-empty",
            ErrorKind::DestinationUnusable => "destination-unusable",
            ErrorKind::Io => "io",
            ErrorKind::OutOfMemory => "out-of-memory",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Sandbox => "sandbox",
            ErrorKind::InvalidOptions => "invalid-options",
            ErrorKind::CaseCollision => "case-collision",
            ErrorKind::LocalChanges => "local-changes",
            ErrorKind::PathNotFound => "path-not-found",
            ErrorKind::SubmodulesMissing => "submodules-missing",
            ErrorKind::LfsObjectsMissing => "lfs-objects-missing",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure as data: its kind, its one-line message, and what it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[error("{message}")]
pub struct Failure {
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// The whole error chain on one line, as the CLI prints it after `error: `.
    pub message: String,
    /// The path involved (a tree entry, a store file, a destination), if any; lossily
    /// UTF-8.
    #[cfg_attr(feature = "serde", serde(default))]
    pub path: Option<String>,
    /// The object involved (a missing or corrupt object's id, hex), if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub object: Option<String>,
    /// For `objects-missing`: every blob the store lacks, with the path that needs it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub missing: Vec<MissingObject>,
    /// For `local-changes`: every path of the checkout with changes a switch would lose.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub changed: Vec<String>,
}

/// A blob the checkout needs and the store lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MissingObject {
    /// The path in the tree that needs it (lossily UTF-8).
    pub path: String,
    /// Its id, hex.
    pub object: String,
    /// For a submodule: its resolved URL.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub url: Option<String>,
    /// For a submodule: what is missing, `store` or `commit`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub lack: Option<String>,
}

/// `err` and its causes on one line: `a: b: c`, skipping a cause whose text the message
/// already holds (a wrapper that repeats its source, or a context that says it all).
pub fn one_line(err: &dyn std::error::Error) -> String {
    // An I/O error is worded as natively in every runtime (see `errno`).
    let text = |err: &(dyn std::error::Error + 'static)| {
        err.downcast_ref::<std::io::Error>()
            .and_then(crate::errno::io_text)
            .unwrap_or_else(|| err.to_string())
    };
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = text(cause);
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    // Control characters (a newline or an escape sequence in a revision or a name) would
    // break the one-line promise or drive the user's terminal: show them escaped.
    if message.chars().any(char::is_control) {
        message = message
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
    message
}
