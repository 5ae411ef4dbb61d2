//! WASI directory capabilities: paths below the guest's preopens, used through `std::fs`.
//!
//! cap-std needs nightly-only `wasi_ext` on wasi targets, so this side uses paths. They are
//! resolved by wasi-libc against the preopened directory handles and confined by the
//! runtime: `..` out of a preopen, absolute paths outside every preopen and symlinks that
//! lead out are refused by wasmtime (which implements them with cap-std on the host).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{Chmod, Kind, Stat, SymlinkOutcome};

pub(super) struct Dir(PathBuf);

impl Dir {
    pub(super) fn new(path: PathBuf) -> Dir {
        Dir(path)
    }

    fn at(&self, path: &Path) -> PathBuf {
        self.0.join(path)
    }

    pub(super) fn open_dir(&self, path: &Path) -> io::Result<Dir> {
        let path = self.at(path);
        if std::fs::metadata(&path)?.is_dir() {
            Ok(Dir(path))
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ))
        }
    }

    pub(super) fn sync_self(&self) -> io::Result<()> {
        File::open(&self.0)?.sync_all()
    }

    pub(super) fn open_file(&self, path: &Path) -> io::Result<File> {
        // WASI preview 1 cannot open without blocking: what is not a regular file (a FIFO
        // would block the open) is refused before it is opened.
        if !std::fs::metadata(self.at(path))?.is_file() {
            return Err(super::read::not_a_regular_file());
        }
        super::read::regular_file(File::open(self.at(path))?)
    }

    pub(super) fn entries(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(self.at(path))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    pub(super) fn kind(&self, path: &Path) -> io::Result<Kind> {
        let file_type = std::fs::symlink_metadata(self.at(path))?.file_type();
        Ok(Kind::of(
            file_type.is_symlink(),
            file_type.is_dir(),
            file_type.is_file(),
        ))
    }

    #[allow(dead_code)]
    pub(super) fn set_mtime_nofollow(
        &self,
        _path: &Path,
        _mtime: std::time::SystemTime,
    ) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the index is written by the host, not under WASI",
        ))
    }

    #[allow(dead_code)]
    pub(super) fn read_link(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(std::fs::read_link(self.at(path))?
            .into_os_string()
            .into_encoded_bytes())
    }

    pub(super) fn stat(&self, _path: &Path) -> io::Result<Stat> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the index is written by the host, not under WASI",
        ))
    }

    pub(super) fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(self.at(path))
    }

    pub(super) fn create_file(&self, name: &OsStr, executable: bool) -> io::Result<(File, bool)> {
        // `create_new` is O_CREAT|O_EXCL: it never follows a symlink planted under `name`.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.at(Path::new(name)))?;
        // WASI preview 1 has no file modes: an executable must be finished by the host.
        Ok((file, !executable))
    }

    pub(super) fn symlink(&self, target: &[u8], name: &OsStr) -> io::Result<SymlinkOutcome> {
        // wasmtime refuses absolute targets, and WASI strings must be UTF-8: such links are
        // left to the host, which creates them through its own handle on the directory.
        let Ok(target) = std::str::from_utf8(target) else {
            return Ok(SymlinkOutcome::Unsupported);
        };
        if target.starts_with('/') {
            return Ok(SymlinkOutcome::Unsupported);
        }
        // `soft_link` is the one stable way to reach WASI's `path_symlink` (the `wasi_ext`
        // alternative is nightly-only). Its deprecation is about Windows, not this target.
        #[allow(deprecated)]
        std::fs::soft_link(target, self.at(Path::new(name)))?;
        Ok(SymlinkOutcome::Created)
    }

    pub(super) fn set_executable(&self, _path: &Path) -> io::Result<Chmod> {
        Ok(Chmod::Unsupported)
    }

    pub(super) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        std::fs::rename(self.at(Path::new(from)), self.at(Path::new(to)))
    }

    pub(super) fn remove_dir_all(&self, name: &OsStr) -> io::Result<()> {
        std::fs::remove_dir_all(self.at(Path::new(name)))
    }

    pub(super) fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        std::fs::remove_file(self.at(Path::new(name)))
    }

    pub(super) fn exec_bits_stick(&self, _path: &Path) -> io::Result<bool> {
        // WASI preview 1 has no file modes: none can be set from here.
        Ok(false)
    }

    pub(super) fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(self.at(path))
    }

    pub(super) fn rename_to(&self, from: &Path, to_dir: &Dir, to: &Path) -> io::Result<()> {
        std::fs::rename(self.at(from), to_dir.at(to))
    }

    pub(super) fn lock(&self, _path: &Path) -> io::Result<Option<File>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a checkout is switched by the host, not under WASI",
        ))
    }
}

/// Whether `err`, from creating a symlink, means that the filesystem cannot have them:
/// `ENOSYS` and `ENOTSUP` (std calls them `Unsupported`) or `EPERM` (63 in WASI's numbering).
pub(super) fn means_no_symlinks(err: &io::Error) -> bool {
    const EPERM: i32 = 63;
    err.kind() == io::ErrorKind::Unsupported || err.raw_os_error() == Some(EPERM)
}

pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    // Positioned reads (`FileExt::read_at`) are nightly-only here. wasm32-wasip1 has no
    // threads, so a seek and a read on the shared cursor cannot interleave with another reader.
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

pub(super) fn os_str(bytes: &[u8]) -> io::Result<&OsStr> {
    // WASI paths are UTF-8 strings.
    std::str::from_utf8(bytes).map(OsStr::new).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "name is not valid UTF-8, which WASI cannot represent",
        )
    })
}
