//! Stage 3, write: materialize a [`Plan`](crate::plan::Plan) below a directory handle.
//!
//! Order matters for safety, and is fixed:
//!
//! 1. every regular file, each created exclusively (`O_CREAT|O_EXCL`) in a handle to its
//!    own directory, with its content streamed from the object layer; directories are
//!    created on demand, parents first, by whichever worker needs one first;
//! 2. the directories that hold no file (submodules);
//! 3. every symlink, last.
//!
//! Because no symlink exists until all files and directories are written, and the plan
//! holds no two entries with one name, nothing is ever written through a symlink, even one
//! the tree itself plants (`a -> /etc` plus `a/passwd`: the second is refused by the plan
//! as a duplicate, and it could not be reached through the link anyway).
//!
//! Natively, files are written by a pool of workers, each decoding and writing whole
//! directories with its own object reader; under WASI, one thread runs the same code (and
//! the host runs several guests, one [`Shard`](crate::plan::Shard) each).

mod function;
pub use function::{apply_deferred, write};

use std::io;

use bstr::BString;

use crate::odb;

/// How to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads writing files; `0` means one per available core. Default: `0`.
    /// Runtimes without threads (WASI) always use one.
    pub jobs: usize,
    /// Bytes of decoded delta bases to keep for reuse, shared out among the workers.
    /// Default: 8 MiB.
    pub delta_cache_bytes: usize,
    /// Where writers claim work: each call returns the index of the next group of files
    /// (one directory's) to write, counting up from zero and shared by every writer of the
    /// checkout, in this runtime and in the others writing a
    /// [claimed shard](crate::plan::Shard::claimed) of it. Default: `None`, a counter of
    /// this call's own.
    pub claim: Option<fn() -> usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 0,
            delta_cache_bytes: 8 << 20,
            claim: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Regular files written, executables included.
    pub files: u64,
    /// Directories created, not counting the root.
    pub dirs: u64,
    /// Symlinks created (including those deferred to the caller).
    pub symlinks: u64,
    /// Files marked executable (including those whose mode was deferred to the caller).
    pub executables: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Work the runtime could not do, for the caller to finish with [`apply_deferred()`]
    /// before publishing. Always empty natively on Unix.
    pub deferred: Vec<Deferred>,
}

/// An operation the writing runtime could not perform, left to a caller with more power.
///
/// Under WASI preview 1 there is no chmod, and wasmtime refuses absolute symlink targets:
/// the guest records these, and the host finishes them through its own directory handle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Deferred {
    /// Make the regular file at `path` executable.
    Executable {
        /// `/`-separated path below the checkout root.
        path: String,
    },
    /// Create a symlink at `path` pointing to `target`.
    Symlink {
        /// `/`-separated path below the checkout root.
        path: String,
        /// The target, exactly as stored (bytes: git does not require UTF-8).
        target: Vec<u8>,
    },
    /// Rename the entry at `path` to `name`, in the same directory. The runtime could not
    /// spell `name` (WASI paths are UTF-8; git names are bytes), so it wrote the entry under
    /// a placeholder; the paths of the other operations use placeholders too. Renames come
    /// after every other operation, deepest first, so each path is still valid when used.
    Rename {
        /// `/`-separated path below the checkout root, of the entry as written.
        path: String,
        /// The entry's name in the tree.
        name: Vec<u8>,
    },
}

/// Why writing failed. Filesystem variants name the path and the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A directory could not be created.
    #[error("could not create directory {path:?}")]
    CreateDir {
        /// The directory, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// A file could not be created.
    #[error("could not create file {path:?}")]
    CreateFile {
        /// The file, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// A file's content could not be written.
    #[error("could not write file {path:?}")]
    WriteFile {
        /// The file, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// A file's blob could not be read from the store.
    #[error("could not check out {path:?}")]
    Object {
        /// The file, relative to the checkout root.
        path: BString,
        /// What went wrong in the store.
        source: odb::Error,
    },
    /// A symlink could not be created.
    #[error("could not create symlink {path:?}")]
    Symlink {
        /// The symlink, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// An entry could not be renamed from its placeholder to its real name.
    #[error("could not give {path:?} its name")]
    Rename {
        /// The entry, as it is named in the tree, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// A file could not be made executable.
    #[error("could not make {path:?} executable")]
    SetMode {
        /// The file, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: io::Error,
    },
    /// A deferred operation named something it must not.
    #[error("refusing deferred operation on {path:?}: {reason}")]
    BadDeferred {
        /// The path it named.
        path: BString,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The caller asked to stop.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The path being written when this happened, relative to the checkout root.
    pub fn path(&self) -> Option<&bstr::BStr> {
        match self {
            Error::CreateDir { path, .. }
            | Error::CreateFile { path, .. }
            | Error::WriteFile { path, .. }
            | Error::Object { path, .. }
            | Error::Symlink { path, .. }
            | Error::Rename { path, .. }
            | Error::SetMode { path, .. }
            | Error::BadDeferred { path, .. } => Some(path.as_ref()),
            Error::Interrupted => None,
        }
    }

    /// The I/O error behind this error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::CreateDir { source, .. }
            | Error::CreateFile { source, .. }
            | Error::WriteFile { source, .. }
            | Error::Symlink { source, .. }
            | Error::Rename { source, .. }
            | Error::SetMode { source, .. } => Some(source),
            Error::Object { source, .. } => source.io_error(),
            Error::BadDeferred { .. } | Error::Interrupted => None,
        }
    }
}
