//! Copying the store's objects into a self-contained `.git`: every pack with its index, and
//! every loose object, from the store's object directory and its alternates.
//!
//! Natively each file goes through `std::io::copy` between two files, which on Linux is
//! `copy_file_range` (a reflink on filesystems that share extents, such as Btrfs and XFS,
//! an in-kernel copy elsewhere) and falls back to streaming; nothing is ever linked.

use std::io;
use std::path::{Path, PathBuf};

use super::Error;
use crate::cap::{self, Dir};

/// Copy the objects of `sources` (object directories, the store's first) into
/// `root/.git/objects`. The same pack or loose object in two sources is copied once, and
/// one already there is left as it is.
///
/// With `scratch` (a directory on the same filesystem), each file is copied there first and
/// renamed into place, so that `root`, a published checkout, never shows a half-copied
/// object file, even to a process that crashes midway.
pub(super) fn copy(sources: &[Dir], root: &Dir, scratch: Option<&Dir>) -> Result<(), Error> {
    let dest = Path::new(".git/objects");
    for source in sources {
        // Packs: the `.pack` and its `.idx` (and the reverse index, if any).
        if let Some(names) = list(source, Path::new("pack"))? {
            for name in names {
                let Some(text) = name.to_str() else { continue };
                let wanted = text.starts_with("pack-")
                    && [".pack", ".idx", ".rev"].iter().any(|e| text.ends_with(e));
                if wanted {
                    let rel = Path::new("pack").join(&name);
                    copy_file(source, &rel, root, &dest.join(&rel), scratch)?;
                }
            }
        }
        // Loose objects: `xx/yyyy…` for each two-hex-digit fan-out directory.
        for fan in (0..=255u8).map(|b| format!("{b:02x}")) {
            let Some(names) = list(source, Path::new(&fan))? else {
                continue;
            };
            let fan_dest = dest.join(&fan);
            match root.create_dir(&fan_dest) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(io_error(&fan_dest)(e));
                }
                _ => {}
            }
            for name in names {
                let is_object = name
                    .to_str()
                    .is_some_and(|n| n.len() == 38 && n.bytes().all(|b| b.is_ascii_hexdigit()));
                if is_object {
                    let rel = Path::new(&fan).join(&name);
                    copy_file(source, &rel, root, &dest.join(&rel), scratch)?;
                }
            }
        }
    }
    Ok(())
}

/// The names in `dir` below `source`, or `None` if there is no such directory.
fn list(source: &Dir, dir: &Path) -> Result<Option<Vec<std::ffi::OsString>>, Error> {
    match source.kind(dir) {
        Ok(Some(cap::Kind::Dir)) => source.entries(dir).map(Some).map_err(io_error(dir)),
        Ok(_) => Ok(None),
        Err(e) => Err(io_error(dir)(e)),
    }
}

/// Copy the file `from` below `source` to the new file `to` below `root`; one already there
/// (the same object from another source) is left as it is.
fn copy_file(
    source: &Dir,
    from: &Path,
    root: &Dir,
    to: &Path,
    scratch: Option<&Dir>,
) -> Result<(), Error> {
    let Some(scratch) = scratch else {
        return stream(source, from, root, to);
    };
    if root.kind(to).map_err(io_error(to))?.is_some() {
        return Ok(());
    }
    let temporary = Path::new(".unfurl-object");
    let _ = scratch.remove_file(temporary.as_os_str());
    stream(source, from, scratch, temporary)?;
    scratch.rename_to(temporary, root, to).map_err(io_error(to))
}

/// Stream the file `from` below `source` into the new file `to` below `root`; one already
/// there is left as it is.
fn stream(source: &Dir, from: &Path, root: &Dir, to: &Path) -> Result<(), Error> {
    let mut input = source.open_file(from).map_err(io_error(from))?;
    let parent = root
        .open_dir(to.parent().unwrap_or(Path::new(".")))
        .map_err(io_error(to))?;
    let name = to.file_name().unwrap_or_default();
    let mut output = match parent.create_file(name, false) {
        Ok((file, _)) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io_error(to)(e)),
    };
    io::copy(&mut input, &mut output).map_err(io_error(to))?;
    Ok(())
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: PathBuf::from(path),
        source,
    }
}
