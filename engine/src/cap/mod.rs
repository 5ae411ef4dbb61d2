//! Directory capabilities: the only way the engine touches the filesystem.
//!
//! [`Dir`] is a handle to one directory. Everything the engine reads or writes is named
//! relative to such a handle, so the engine can reach nothing its caller did not hand it.
//!
//! Natively a `Dir` wraps a [`cap_std::fs::Dir`]: every path is resolved beneath the
//! handle by cap-std, which refuses `..` escapes, absolute paths and symlinks that lead out.
//!
//! Under WASI (`wasm32-wasip1`) cap-std does not build on stable Rust, so a `Dir` is a path
//! below one of the guest's preopened directories, used through `std::fs`. wasi-libc
//! resolves such paths against the preopen handles and the runtime (wasmtime, itself built
//! on cap-std) enforces the same confinement on the host side. Either way, the engine's
//! logic above this module is identical.
//!
//! This module is the only place where the two runtimes differ; everything platform
//! specific lives in the private `imp` module selected below.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::Path;

#[cfg(not(target_os = "wasi"))]
#[path = "native.rs"]
mod imp;
#[cfg(target_os = "wasi")]
#[path = "wasi.rs"]
mod imp;
mod map;
mod read;

pub(crate) use map::Bytes;
pub(crate) use read::ReadAt;

/// A capability to one directory: the engine can read and write below it, and nowhere else.
///
/// Natively, make one from a [`cap_std::fs::Dir`] (`Dir::from(cap_dir)`); only the caller
/// decides which directories the engine may see.
pub struct Dir {
    inner: imp::Dir,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dir").finish_non_exhaustive()
    }
}

/// What a name below a [`Dir`] refers to, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else: a socket, a device, a fifo.
    #[default]
    Other,
}

impl Kind {
    /// What a file type, read without following a symlink, says an entry is.
    fn of(is_symlink: bool, is_dir: bool, is_file: bool) -> Kind {
        if is_symlink {
            Kind::Symlink
        } else if is_dir {
            Kind::Dir
        } else if is_file {
            Kind::File
        } else {
            Kind::Other
        }
    }
}

/// What [`Dir::set_executable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chmod {
    /// The file's mode is now 0o755.
    #[cfg_attr(not(all(unix, not(target_os = "wasi"))), allow(dead_code))]
    Done,
    /// The runtime has no way to change a mode (WASI preview 1, Windows).
    #[cfg_attr(all(unix, not(target_os = "wasi")), allow(dead_code))]
    Unsupported,
    /// What is there is not a regular file (a symlink, a directory, a FIFO): unchanged.
    #[cfg_attr(not(all(unix, not(target_os = "wasi"))), allow(dead_code))]
    NotRegular,
}

/// The `lstat` fields git's index keeps for an entry, to tell later whether it changed
/// without reading it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(target_os = "wasi", allow(dead_code))]
pub(crate) struct Stat {
    /// The device holding it.
    pub(crate) dev: u64,
    /// Its inode number.
    pub(crate) ino: u64,
    /// Its owner.
    pub(crate) uid: u32,
    /// Its group.
    pub(crate) gid: u32,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Last modification: seconds and nanoseconds since the epoch.
    pub(crate) mtime: (i64, u32),
    /// Last status change: seconds and nanoseconds since the epoch.
    pub(crate) ctime: (i64, u32),
    /// The permission bits (`0o7777`); `0` where there are none (Windows).
    pub(crate) mode: u32,
    /// What it is.
    pub(crate) kind: Kind,
}

/// `lstat` of many paths below one root, in an order that keeps a directory's entries
/// together (an index's order): each directory is opened once, and each entry is then one
/// `fstatat` relative to it, where a lookup by path from the root would open every parent
/// again. Natively only, where the orchestrator runs.
#[cfg_attr(target_os = "wasi", allow(dead_code))]
pub(crate) struct Lstat<'a> {
    root: &'a Dir,
    /// Recently used directories, by path, most recent first.
    open: Vec<(Vec<u8>, Dir)>,
}

#[cfg_attr(target_os = "wasi", allow(dead_code))]
impl<'a> Lstat<'a> {
    /// How many directory handles it keeps open.
    const OPEN: usize = 8;

    pub(crate) fn new(root: &'a Dir) -> Lstat<'a> {
        Lstat {
            root,
            open: Vec::with_capacity(Self::OPEN),
        }
    }

    /// What is at `path` (`/`-separated, relative to the root), without following a final
    /// symlink; `None` if nothing is there. The directories on the way are resolved as
    /// [`Dir::open_dir`] resolves them: callers check first that none is a link where that
    /// matters.
    pub(crate) fn stat(&mut self, path: &[u8]) -> io::Result<Option<Stat>> {
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(at) => (&path[..at], &path[at + 1..]),
            None => (&path[..0], path),
        };
        let name = Path::new(os_str(name)?);
        let result = if parent.is_empty() {
            self.root.stat(name)
        } else {
            match self.open.iter().position(|(p, _)| p == parent) {
                Some(at) => {
                    let entry = self.open.remove(at);
                    self.open.insert(0, entry);
                }
                None => match self.root.open_dir(Path::new(os_str(parent)?)) {
                    Ok(dir) => {
                        self.open.truncate(Self::OPEN - 1);
                        self.open.insert(0, (parent.to_vec(), dir));
                    }
                    Err(e) if absent(&e) => return Ok(None),
                    Err(e) => return Err(e),
                },
            }
            self.open[0].1.stat(name)
        };
        match result {
            Ok(stat) => Ok(Some(stat)),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether `err` says there is nothing at a path (or a file stands where a directory on
/// the way should be).
fn absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// What the filesystem below a directory can hold, as a checkout ([`run()`](crate::run))
/// probes it in its staging directory before writing.
///
/// git asks the same questions of a new work tree and records the answers as
/// `core.symlinks`, `core.filemode` and `core.ignorecase`; a `.git` written beside a checkout
/// should say the same. The default is a POSIX filesystem: symlinks, exec bits, case matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Filesystem {
    /// Symbolic links can be created (git's `core.symlinks`). Where not, each symlink of the
    /// tree is written as a regular file holding its target, as git does.
    pub symlinks: bool,
    /// Exec bits stick (git's `core.filemode`): a file made executable reads back executable
    /// and one created without reads back without. Where not, executables are written
    /// without setting a mode (FAT and exFAT show every file as executable).
    pub exec_bits: bool,
    /// Names that differ only in case name the same entry (git's `core.ignorecase`), so two
    /// such entries of one tree cannot both be written.
    pub case_insensitive: bool,
}

impl Default for Filesystem {
    fn default() -> Self {
        Filesystem {
            symlinks: true,
            exec_bits: true,
            case_insensitive: false,
        }
    }
}

/// Names the probe uses, in a directory it was handed empty, and removes again.
const PROBE_FILE: &str = ".unfurl-probe";
const PROBE_FILE_UPPER: &str = ".UNFURL-PROBE";
const PROBE_LINK: &str = ".unfurl-probe-link";

/// The outcome of [`Dir::symlink()`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SymlinkOutcome {
    /// The link exists now.
    Created,
    /// The runtime cannot create this link (WASI refuses absolute targets); the caller
    /// must have it created on its behalf. Never the answer natively.
    #[cfg_attr(
        not(target_os = "wasi"),
        expect(dead_code, reason = "natively every platform creates a link or fails")
    )]
    Unsupported,
}

impl Dir {
    /// Open the directory at `path` below this one.
    pub(crate) fn open_dir(&self, path: &Path) -> io::Result<Dir> {
        Ok(Dir {
            inner: self.inner.open_dir(path)?,
        })
    }

    /// Sync this directory's entries to disk (`fsync` on the directory).
    pub(crate) fn sync_self(&self) -> io::Result<()> {
        self.inner.sync_self()
    }

    /// Open the regular file at `path` below this one for reading. Anything else there (a
    /// FIFO, a socket, a device, a directory) is an error, `InvalidInput`, and a FIFO is
    /// never waited on.
    pub(crate) fn open_file(&self, path: &Path) -> io::Result<File> {
        self.inner.open_file(path)
    }

    /// Read the whole file at `path` below this one.
    pub(crate) fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        map::read_all(self.open_file(path)?)
    }

    /// Hold all of the file at `path` below this one for random access: mapped natively,
    /// read under WASI (see [`Bytes`]).
    pub(crate) fn map(&self, path: &Path) -> io::Result<Bytes> {
        Bytes::of(self.open_file(path)?)
    }

    /// The names in the directory at `path` below this one, in no particular order.
    pub(crate) fn entries(&self, path: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        self.inner.entries(path)
    }

    /// What `path` below this one is, without following a final symlink; `None` if nothing is there.
    pub(crate) fn kind(&self, path: &Path) -> io::Result<Option<Kind>> {
        match self.inner.kind(path) {
            Ok(kind) => Ok(Some(kind)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Create the directory `path` below this one; its parent must exist.
    pub(crate) fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir(path)
    }

    /// Create the new file `name` in this directory, failing if anything already has that
    /// name (a symlink included: the create is exclusive, so it never follows one).
    /// `executable` asks for mode 0o755 instead of 0o644 where the runtime can set modes at
    /// creation; the result says whether it did.
    pub(crate) fn create_file(&self, name: &OsStr, executable: bool) -> io::Result<(File, bool)> {
        self.inner.create_file(name, executable)
    }

    /// Create a symlink `name` in this directory whose target is the bytes `target`, verbatim.
    pub(crate) fn symlink(&self, target: &[u8], name: &OsStr) -> io::Result<SymlinkOutcome> {
        self.inner.symlink(target, name)
    }

    /// Make the regular file at `path` below this one executable (mode 0o755), never
    /// following a symlink there; see [`Chmod`] for what else can come of it.
    pub(crate) fn set_executable(&self, path: &Path) -> io::Result<Chmod> {
        self.inner.set_executable(path)
    }

    /// Rename `from` in this directory to `to` in this directory. An existing empty
    /// directory at `to` is replaced; anything else there makes it fail.
    pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    /// What git's index records of the entry at `path` below this one, without following a
    /// final symlink (`lstat`). Unsupported under WASI, where the orchestrator never runs.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn stat(&self, path: &Path) -> io::Result<Stat> {
        self.inner.stat(path)
    }

    /// Set the modification (and access) time of the entry at `path` below this one,
    /// without following a final symlink: for symlinks, whose times git's index records
    /// too. A no-op where links have no times of their own to set.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn set_mtime_nofollow(
        &self,
        path: &Path,
        mtime: std::time::SystemTime,
    ) -> io::Result<()> {
        self.inner.set_mtime_nofollow(path, mtime)
    }

    /// The target of the symlink at `path` below this one, as bytes.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn read_link(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read_link(path)
    }

    /// Create the new file `path` below this one (its parent must exist) holding `data`.
    pub(crate) fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                (Some(self.open_dir(parent)?), name)
            }
            (_, Some(name)) => (None, name),
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")),
        };
        let dir = parent.as_ref().unwrap_or(self);
        let (mut file, _) = dir.create_file(name, false)?;
        file.write_all(data)
    }

    /// Remove the file (or symlink) `name` in this directory.
    pub(crate) fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        self.inner.remove_file(name)
    }

    /// Find out what the filesystem of this directory can hold: try a symlink, an exec bit
    /// and a lookup in the other case. This directory must be empty and ours (a fresh
    /// staging directory): the probe creates and removes `.unfurl-probe` and
    /// `.unfurl-probe-link` in it.
    ///
    /// Only a refusal that means "not on this filesystem" (`ENOSYS`, `EPERM`, `EOPNOTSUPP`,
    /// `ENOTSUP`; `ERROR_PRIVILEGE_NOT_HELD` on Windows) makes `symlinks` false; any other
    /// error is returned.
    pub(crate) fn probe(&self) -> io::Result<Filesystem> {
        let file = OsStr::new(PROBE_FILE);
        let (handle, _) = self.create_file(file, false)?;
        drop(handle);
        let result = (|| {
            let case_insensitive = self.kind(Path::new(PROBE_FILE_UPPER))?.is_some();
            let exec_bits = self.inner.exec_bits_stick(Path::new(PROBE_FILE))?;
            let link = OsStr::new(PROBE_LINK);
            let symlinks = match self.symlink(PROBE_FILE.as_bytes(), link) {
                Ok(SymlinkOutcome::Created) => {
                    // Only a link that reads back as one counts: a layer that reports links
                    // created and makes none (Wine 8's `CreateSymbolicLinkW`), or makes
                    // something else, gets files holding the target, as git writes them.
                    let made = self.kind(Path::new(PROBE_LINK))?;
                    if made.is_some() {
                        self.remove_file(link)?;
                    }
                    made == Some(Kind::Symlink)
                }
                // This runtime creates no link of its own: whoever holds a native handle
                // probes instead (natively every platform creates or refuses).
                Ok(SymlinkOutcome::Unsupported) => false,
                Err(err) if imp::means_no_symlinks(&err) => false,
                Err(err) => return Err(err),
            };
            Ok(Filesystem {
                symlinks,
                exec_bits,
                case_insensitive,
            })
        })();
        let removed = self.remove_file(file);
        let filesystem = result?;
        removed?;
        Ok(filesystem)
    }

    /// Remove the directory `name` in this directory with everything in it, never following symlinks.
    pub(crate) fn remove_dir_all(&self, name: &OsStr) -> io::Result<()> {
        self.inner.remove_dir_all(name)
    }

    /// Remove the empty directory at `path` below this one.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir(path)
    }

    /// Rename `from` below this directory to `to` below `to_dir` (both on one filesystem).
    /// A file or symlink at `to` is replaced atomically; an empty directory too.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn rename_to(&self, from: &Path, to_dir: &Dir, to: &Path) -> io::Result<()> {
        self.inner.rename_to(from, &to_dir.inner, to)
    }

    /// Open (creating it if need be) the file at `path` below this one and take an
    /// exclusive lock on it, waiting for another holder to let go. The operating system
    /// releases the lock when the returned file is closed, or when its process dies, so a
    /// crashed holder never blocks anyone. On a read-only filesystem the file is opened
    /// read-only, and `None` means it does not exist (and cannot be made): nothing holds
    /// it. Unsupported under WASI, where the orchestrator never runs.
    #[cfg_attr(target_os = "wasi", allow(dead_code))]
    pub(crate) fn lock(&self, path: &Path) -> io::Result<Option<File>> {
        self.inner.lock(path)
    }
}

#[cfg(not(target_os = "wasi"))]
impl From<cap_std::fs::Dir> for Dir {
    fn from(dir: cap_std::fs::Dir) -> Self {
        Dir {
            inner: imp::Dir::new(dir),
        }
    }
}

#[cfg(target_os = "wasi")]
impl Dir {
    /// Use the directory the WASI runtime preopened at `guest_path` (for example `/store`).
    ///
    /// The runtime decides what lies below it; the engine can reach nothing else.
    pub fn preopened(guest_path: impl Into<std::path::PathBuf>) -> Dir {
        Dir {
            inner: imp::Dir::new(guest_path.into()),
        }
    }
}

/// `bytes` as a path component or relative path, for the platform's filesystem API.
///
/// Git names are bytes; Unix takes them as they are, other platforms need UTF-8.
pub(crate) fn os_str(bytes: &[u8]) -> io::Result<&OsStr> {
    imp::os_str(bytes)
}

/// Whether [`os_str`] can spell the name `bytes` here (always on Unix: names are bytes).
pub(crate) fn representable(bytes: &[u8]) -> bool {
    os_str(bytes).is_ok()
}
