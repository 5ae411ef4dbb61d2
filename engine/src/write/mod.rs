//! Stage 3, write: materialize a [`Plan`](crate::plan::Plan) below a directory handle.
//!
//! The unit of work is a [`Group`]: one directory's regular files. Writers claim a few
//! neighbouring groups at a time from a source they share ([`write_files()`] takes it as a
//! function), so the
//! same code serves a pool of native threads claiming from the plan in memory and a set of
//! WASI guests claiming, through their host, from a plan another guest made. Each writer
//! creates the directories it needs, parents first, then each file exclusively
//! (`O_CREAT|O_EXCL`) in a handle to its own directory, streaming the content from the
//! object layer. A writer checks every group it is handed as it would a tree entry (no
//! `..`, no `/` in a name, no `.git`), because the group may come from an untrusted guest.
//!
//! What is left once every file is written, [`apply_deferred()`] does through the root
//! handle, in a fixed order that keeps the write safe:
//!
//! 1. the directories no writer created, having no file below them (submodules,
//!    directories of only symlinks);
//! 2. exec bits the writing runtime could not set (WASI preview 1 has no chmod);
//! 3. every symlink;
//! 4. renames of entries whose names the writing runtime could not spell.
//!
//! Because no symlink exists until all files and directories are written, and the plan
//! holds no two entries with one name, nothing is ever written through a symlink, even one
//! the tree itself plants (`a -> /etc` plus `a/passwd`: the second is refused by the plan
//! as a duplicate, and it could not be reached through the link anyway).

pub(crate) mod deferred;
mod files;
pub use deferred::{apply_deferred, apply_deferred_on};
pub(crate) use files::join;
pub use files::{Group, GroupFile, fan_out, write_files};

use std::io;

use bstr::BString;

use crate::odb;

/// How to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Writers: worker threads natively, guest instances under the sandbox; `0` means one
    /// per available core, and never more than [`MAX_JOBS`]. Default: `0`.
    pub jobs: usize,
    /// Bytes of decoded delta bases to keep for reuse, shared out among the writers.
    /// Default: 8 MiB.
    pub delta_cache_bytes: usize,
    /// Give every file this modification time. The orchestrator sets it, a second or more
    /// in the past, when it writes an index: an entry modified in the same second as the
    /// index is "racily clean" to git, which then reads the file again. Default: `None`
    /// (the time of writing).
    pub mtime: Option<std::time::SystemTime>,
    /// The most files a writer claims at once (a wide directory is shared out in runs of
    /// this many). Default: [`GROUP_FILES`](crate::plan::GROUP_FILES); a knob for
    /// measuring, not for tuning per checkout.
    pub group_files: usize,
    /// Hash every object read (the commit, every tree and blob, whole or deltified) as git
    /// does when it writes one, and fail with a corrupt-store error naming the object and
    /// its file when the content is not its id. zlib's checksum catches random damage, not
    /// a store altered consistently; this does, for one SHA-1 per byte read (see the
    /// README for the measured cost). Default: `false`, as git's checkout.
    pub verify_objects: bool,
}

/// The most writers a checkout uses, whatever is asked: more only adds contention for the
/// same directories and memory for their readers.
pub const MAX_JOBS: usize = 64;

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 0,
            delta_cache_bytes: 8 << 20,
            mtime: None,
            group_files: crate::plan::GROUP_FILES,
            verify_objects: false,
        }
    }
}

impl Options {
    /// How many writers `jobs` means on this machine: at least one, at most [`MAX_JOBS`].
    pub fn writers(&self) -> usize {
        let jobs = match self.jobs {
            0 => available_cores(),
            jobs => jobs,
        };
        jobs.clamp(1, MAX_JOBS)
    }
}

/// The cores this process may use.
#[cfg(not(target_os = "wasi"))]
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// wasm32-wasip1 has no threads.
#[cfg(target_os = "wasi")]
fn available_cores() -> usize {
    1
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
    /// before publishing: exec bits under WASI, and renames of names it cannot spell.
    /// Always empty natively on Unix.
    pub deferred: Vec<Deferred>,
    /// Bytes the writers inflated from the store: the blobs' contents and the delta bases
    /// they needed. What a checkout costs in reading, whatever the bytes written; with a
    /// selection of paths it tracks the selection, as blobs outside it are never read.
    #[cfg_attr(feature = "serde", serde(default))]
    pub inflated: u64,
}

impl Stats {
    /// Add what another writer wrote.
    pub fn add(&mut self, other: Stats) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.executables += other.executables;
        self.bytes += other.bytes;
        self.deferred.extend(other.deferred);
        self.inflated += other.inflated;
    }
}

/// An operation done through the root handle once every file is written: what the plan
/// leaves to the end (directories without files, symlinks) and what the writing runtime
/// could not do (exec bits and names under WASI). See [`apply_deferred()`] for the order.
///
/// Paths are `/`-separated below the checkout root, as bytes (git names are bytes). Between
/// a guest and its host they travel as UTF-8 strings: a guest names everything it cannot
/// spell by a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Deferred {
    /// Create the directory at `path` (and its missing parents).
    Dir {
        /// The directory.
        #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
        path: BString,
    },
    /// Make the regular file at `path` executable.
    Executable {
        /// The file.
        #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
        path: BString,
    },
    /// Create a symlink at `path` pointing to `target`.
    Symlink {
        /// The link.
        #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
        path: BString,
        /// The target, exactly as stored (bytes: git does not require UTF-8).
        target: Vec<u8>,
    },
    /// Rename the entry at `path` to `name`, in the same directory. The runtime could not
    /// spell `name` (WASI paths are UTF-8; git names are bytes), so it wrote the entry under
    /// a placeholder; the paths of the other operations use placeholders too. Renames come
    /// after every other operation, deepest first, so each path is still valid when used.
    Rename {
        /// The entry as written.
        #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
        path: BString,
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
    /// A group or deferred operation named something it must not (it may come from an
    /// untrusted guest).
    #[error("refusing to write {path:?}: {reason}")]
    Refused {
        /// The path it named.
        path: BString,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The caller asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// A Git LFS object could not be written (missing, unreadable, or corrupt).
    #[error("could not check out {path:?}")]
    Lfs {
        /// The file, relative to the checkout root.
        path: BString,
        /// What went wrong.
        source: crate::lfs::Error,
    },
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
            | Error::Refused { path, .. }
            | Error::Lfs { path, .. } => Some(path.as_ref()),
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
            Error::Lfs { source, .. } => source.io_error(),
            Error::Refused { .. } | Error::Interrupted => None,
        }
    }
}
