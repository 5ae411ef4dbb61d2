//! Native directory capabilities, on cap-std.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;

use cap_std::fs::OpenOptions;

use super::{Chmod, Kind, Stat, SymlinkOutcome};

pub(super) struct Dir(cap_std::fs::Dir);

impl Dir {
    pub(super) fn new(dir: cap_std::fs::Dir) -> Dir {
        Dir(dir)
    }

    pub(super) fn open_dir(&self, path: &Path) -> io::Result<Dir> {
        self.0.open_dir(path).map(Dir)
    }

    pub(super) fn sync_self(&self) -> io::Result<()> {
        // The handle may be `O_PATH` (cap-std opens directories so where it can), which
        // cannot be synced: open the directory itself for reading.
        self.0.open(".")?.sync_all()
    }

    pub(super) fn open_file(&self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true);
        // Without blocking: opening a FIFO for reading waits for a writer, forever in a
        // store or checkout whose owner left one where a file belongs. (Reads of a regular
        // file ignore the flag.)
        set_nonblocking(&mut options);
        let file = self.0.open_with(path, &options)?.into_std();
        super::read::regular_file(file)
    }

    pub(super) fn entries(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.0
            .read_dir(path)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    pub(super) fn kind(&self, path: &Path) -> io::Result<Kind> {
        Ok(kind_of(self.0.symlink_metadata(path)?.file_type()))
    }

    pub(super) fn set_mtime_nofollow(
        &self,
        path: &Path,
        mtime: std::time::SystemTime,
    ) -> io::Result<()> {
        set_mtime_nofollow(&self.0, path, mtime)
    }

    pub(super) fn read_link(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(self
            .0
            .read_link_contents(path)?
            .into_os_string()
            .into_encoded_bytes())
    }

    pub(super) fn stat(&self, path: &Path) -> io::Result<Stat> {
        let meta = self.0.symlink_metadata(path)?;
        Ok(Stat {
            kind: kind_of(meta.file_type()),
            ..stat(&meta)?
        })
    }

    pub(super) fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.0.create_dir(path)
    }

    pub(super) fn create_file(&self, name: &OsStr, executable: bool) -> io::Result<(File, bool)> {
        let mut options = OpenOptions::new();
        // `create_new` is O_CREAT|O_EXCL: it fails on any existing name, and in particular
        // never follows a symlink planted under that name.
        options.write(true).create_new(true);
        let mode_set = set_create_mode(&mut options, executable);
        let file = self.0.open_with(name, &options)?;
        Ok((file.into_std(), mode_set))
    }

    pub(super) fn symlink(&self, target: &[u8], name: &OsStr) -> io::Result<SymlinkOutcome> {
        symlink(&self.0, target, name)
    }

    pub(super) fn set_executable(&self, path: &Path) -> io::Result<Chmod> {
        set_executable(&self.0, path)
    }

    pub(super) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        rename(&self.0, from, to)
    }

    pub(super) fn remove_dir_all(&self, name: &OsStr) -> io::Result<()> {
        self.0.remove_dir_all(name)
    }

    pub(super) fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        self.0.remove_file(name)
    }

    pub(super) fn exec_bits_stick(&self, path: &Path) -> io::Result<bool> {
        exec_bits_stick(&self.0, path)
    }

    pub(super) fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.0.remove_dir(path)
    }

    pub(super) fn rename_to(&self, from: &Path, to_dir: &Dir, to: &Path) -> io::Result<()> {
        self.0.rename(from, &to_dir.0, to)
    }

    pub(super) fn lock(&self, path: &Path) -> io::Result<Option<File>> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        let file = match self.0.open_with(path, &options) {
            Ok(file) => file.into_std(),
            // A lock taken through a read-only descriptor excludes as well: a process
            // switching the checkout through a writable mount of the same filesystem
            // still waits for it. With no lock file to open, none has ever switched it.
            Err(err) if err.kind() == io::ErrorKind::ReadOnlyFilesystem => {
                match self.0.open(path) {
                    Ok(file) => file.into_std(),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        };
        file.lock()?;
        Ok(Some(file))
    }
}

#[cfg(unix)]
fn set_nonblocking(options: &mut OpenOptions) {
    use cap_std::fs::OpenOptionsExt;
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
}

#[cfg(not(unix))]
fn set_nonblocking(_options: &mut OpenOptions) {}

#[cfg(unix)]
fn set_create_mode(options: &mut OpenOptions, executable: bool) -> bool {
    use cap_std::fs::OpenOptionsExt;
    // The process umask still applies, as it does for git.
    options.mode(if executable { 0o777 } else { 0o666 });
    true
}

#[cfg(not(unix))]
fn set_create_mode(_options: &mut OpenOptions, executable: bool) -> bool {
    // No exec bit to set on this platform: a plain file is the whole answer.
    !executable
}

#[cfg(unix)]
fn symlink(dir: &cap_std::fs::Dir, target: &[u8], name: &OsStr) -> io::Result<SymlinkOutcome> {
    use std::os::unix::ffi::OsStrExt;
    // `symlink_contents` stores the target text verbatim, absolute and `..` targets included,
    // as git does. That is safe because the engine never opens anything through a symlink it
    // wrote: links are created after every file and directory (see `write`), and cap-std
    // itself refuses to resolve a path through a link that leaves the directory.
    dir.symlink_contents(OsStr::from_bytes(target), name)?;
    Ok(SymlinkOutcome::Created)
}

#[cfg(not(windows))]
fn rename(dir: &cap_std::fs::Dir, from: &OsStr, to: &OsStr) -> io::Result<()> {
    // rename(2) replaces a file, a symlink or an empty directory at `to` atomically.
    dir.rename(from, dir, to)
}

/// Windows cannot rename onto a directory, even an empty one (`ERROR_ACCESS_DENIED`), where
/// rename(2) replaces it: an empty directory at `to` is removed first, then the rename is
/// tried again. Not atomic: another process could create `to` in between, and the rename
/// then fails as it would have; a directory that gained content is never removed (removing
/// a non-empty directory fails).
#[cfg(windows)]
fn rename(dir: &cap_std::fs::Dir, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let Err(err) = dir.rename(from, dir, to) else {
        return Ok(());
    };
    let empty_dir = dir.symlink_metadata(to).is_ok_and(|m| m.is_dir())
        && dir
            .read_dir(to)
            .is_ok_and(|mut entries| entries.next().is_none());
    if !empty_dir {
        return Err(err);
    }
    dir.remove_dir(to)?;
    dir.rename(from, dir, to)
}

#[cfg(windows)]
fn symlink(dir: &cap_std::fs::Dir, target: &[u8], name: &OsStr) -> io::Result<SymlinkOutcome> {
    // Windows wants to know whether a link leads to a directory; links are created after
    // everything else, so what the target names is there to ask. Separators become `\`,
    // as git for Windows writes them.
    let target = std::str::from_utf8(target)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "target is not UTF-8"))?
        .replace('/', "\\");
    let parent = Path::new(name).parent().unwrap_or(Path::new(""));
    let to_dir = dir.metadata(parent.join(&target)).is_ok_and(|m| m.is_dir());
    if to_dir {
        dir.symlink_dir(&target, name)?;
    } else {
        dir.symlink_file(&target, name)?;
    }
    Ok(SymlinkOutcome::Created)
}

/// Whether `err`, from creating a symlink, means that this filesystem (or this process)
/// cannot have symlinks at all, rather than that this one failed: `ENOSYS`, `EOPNOTSUPP`
/// and `ENOTSUP` (std calls them `Unsupported`) or `EPERM` (1 on every Unix; FAT refuses
/// with it). `EACCES`, also "permission denied" to std, is a real error.
#[cfg(unix)]
pub(super) fn means_no_symlinks(err: &io::Error) -> bool {
    const EPERM: i32 = 1;
    err.kind() == io::ErrorKind::Unsupported || err.raw_os_error() == Some(EPERM)
}

/// Whether `err`, from creating a symlink, means that this process cannot create symlinks
/// here: `ERROR_PRIVILEGE_NOT_HELD` (neither developer mode nor the privilege), or a
/// filesystem without reparse points (FAT).
#[cfg(windows)]
pub(super) fn means_no_symlinks(err: &io::Error) -> bool {
    const ERROR_PRIVILEGE_NOT_HELD: i32 = 1314;
    const ERROR_INVALID_FUNCTION: i32 = 1;
    err.kind() == io::ErrorKind::Unsupported
        || matches!(
            err.raw_os_error(),
            Some(ERROR_PRIVILEGE_NOT_HELD | ERROR_INVALID_FUNCTION)
        )
}

/// Whether a file's exec bit sticks: `path` (a regular file just created without one) must
/// read back without it, and read back with it once set. FAT and exFAT show every file as
/// 0o777 and ignore chmod; some network and FUSE filesystems refuse it.
#[cfg(unix)]
fn exec_bits_stick(dir: &cap_std::fs::Dir, path: &Path) -> io::Result<bool> {
    use cap_std::fs::PermissionsExt;
    let executable = || -> io::Result<bool> {
        Ok(dir.symlink_metadata(path)?.permissions().mode() & 0o100 != 0)
    };
    if executable()? {
        return Ok(false);
    }
    // Through `set_executable` (`fchmod` on the probe file), not cap-std's
    // `set_permissions`: its first use sets up a checked handle to `/proc/self/fd`, a few
    // hundred microseconds on every checkout's critical path.
    match set_executable(dir, path) {
        Ok(Chmod::Done) => executable(),
        Ok(_) => Ok(false),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

#[cfg(not(unix))]
fn exec_bits_stick(_dir: &cap_std::fs::Dir, _path: &Path) -> io::Result<bool> {
    // No exec bits on this platform.
    Ok(false)
}

#[cfg(unix)]
fn set_executable(dir: &cap_std::fs::Dir, path: &Path) -> io::Result<Chmod> {
    use cap_std::fs::{OpenOptionsExt, PermissionsExt};
    use rustix::fs::OFlags;
    // Security: the mode is changed on the file that was opened (`fchmod`), and what was
    // opened is checked to be a regular file first: no window between the check and the
    // change for another name to be swapped in. `O_NOFOLLOW` refuses a symlink in the
    // file's place (`ELOOP`), never changing its target; `O_NONBLOCK` keeps a FIFO planted
    // there from blocking the open. (This replaces cap-std's `set_permissions`, which
    // opened the path `O_PATH` and changed the mode through `/proc/self/fd`, after a
    // separate `lstat`: two opens and a `/proc` lookup per file, for a writer guest's
    // 1,300 executables on git/git.)
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    let file = match dir.open_with(path, &options) {
        Ok(file) => file,
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(Chmod::NotRegular);
        }
        // A file its owner may not read (a umask without `u+r`): check what is there without
        // following a symlink, then change it by name, as cap-std does.
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            if kind_of(dir.symlink_metadata(path)?.file_type()) != Kind::File {
                return Ok(Chmod::NotRegular);
            }
            dir.set_permissions(path, cap_std::fs::Permissions::from_mode(0o755))?;
            return Ok(Chmod::Done);
        }
        Err(err) => return Err(err),
    };
    if !file.metadata()?.is_file() {
        return Ok(Chmod::NotRegular);
    }
    file.set_permissions(cap_std::fs::Permissions::from_mode(0o755))?;
    Ok(Chmod::Done)
}

#[cfg(not(unix))]
fn set_executable(_dir: &cap_std::fs::Dir, _path: &Path) -> io::Result<Chmod> {
    Ok(Chmod::Unsupported)
}

#[cfg(unix)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(unix)]
pub(super) fn os_str(bytes: &[u8]) -> io::Result<&OsStr> {
    use std::os::unix::ffi::OsStrExt;
    Ok(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
pub(super) fn os_str(bytes: &[u8]) -> io::Result<&OsStr> {
    std::str::from_utf8(bytes)
        .map(OsStr::new)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name is not valid UTF-8"))
}

/// What a file type (not followed) is.
fn kind_of(file_type: cap_std::fs::FileType) -> Kind {
    Kind::of(
        file_type.is_symlink(),
        file_type.is_dir(),
        file_type.is_file(),
    )
}

#[cfg(unix)]
fn stat(meta: &cap_std::fs::Metadata) -> io::Result<Stat> {
    use cap_std::fs::MetadataExt;
    Ok(Stat {
        dev: meta.dev(),
        ino: meta.ino(),
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec() as u32),
        ctime: (meta.ctime(), meta.ctime_nsec() as u32),
        mode: meta.mode() & 0o7777,
        kind: Kind::Other,
    })
}

/// Windows has no inode, owner or status-change time: git for Windows records the times
/// and the size, as here.
#[cfg(not(unix))]
fn stat(meta: &cap_std::fs::Metadata) -> io::Result<Stat> {
    let time = |t: io::Result<cap_std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| (d.as_secs() as i64, d.subsec_nanos()))
    };
    Ok(Stat {
        size: meta.len(),
        mtime: time(meta.modified()),
        ctime: time(meta.created()),
        ..Stat::default()
    })
}

#[cfg(unix)]
fn set_mtime_nofollow(
    dir: &cap_std::fs::Dir,
    path: &Path,
    mtime: std::time::SystemTime,
) -> io::Result<()> {
    use rustix::fs::{AtFlags, Timespec, Timestamps, utimensat};
    let since = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = Timespec {
        tv_sec: since.as_secs() as _,
        tv_nsec: since.subsec_nanos() as _,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    // The path is one the orchestrator just created below the staging directory's handle;
    // `utimensat` on that handle, without following the final link, changes nothing else.
    utimensat(dir, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

/// Windows links carry times git for Windows does not rely on.
#[cfg(not(unix))]
fn set_mtime_nofollow(
    _dir: &cap_std::fs::Dir,
    _path: &Path,
    _mtime: std::time::SystemTime,
) -> io::Result<()> {
    Ok(())
}
