//! `--fsync`: make a checkout durable before it is published.
//!
//! A rename is atomic for every process at once, but not durable: after a power cut the
//! filesystem may show the new name while the files' data, or directory entries below it,
//! never reached the disk. So with [`Options::fsync`](super::Options::fsync) the
//! orchestrator, once everything is written, syncs every regular file, then every
//! directory (deepest first, the staging directory last: a directory's entries are
//! durable only once the directory itself is synced), renames, and syncs the parent so
//! the rename is durable too. Symlinks have no data of their own; their names are
//! entries of their directory.
//!
//! The walk goes through handles, one directory at a time, never through a path longer
//! than one name, so it works at any depth. It never follows a symlink: it opens only
//! what `lstat` calls a file or a directory.

use std::path::{Path, PathBuf};

use super::Error;
use crate::cap::{Dir, Kind};

/// Sync every file and directory below `dir` (named `label` in messages), and `dir` itself.
pub fn sync_tree(dir: &Dir, label: &Path) -> Result<(), Error> {
    let error = |path: PathBuf| move |source| Error::Sync { path, source };
    let names = dir.entries(Path::new(".")).map_err(error(label.into()))?;
    for name in names {
        let path = Path::new(&name);
        match dir.kind(path).map_err(error(label.join(path)))? {
            Some(Kind::Dir) => {
                let sub = dir.open_dir(path).map_err(error(label.join(path)))?;
                sync_tree(&sub, &label.join(path))?;
            }
            Some(Kind::File) => dir
                .open_file(path)
                .and_then(|file| file.sync_all())
                .map_err(error(label.join(path)))?,
            _ => {}
        }
    }
    sync_dir(dir, label)
}

/// Sync the directory `dir` itself (its entries), named `label` in messages.
pub fn sync_dir(dir: &Dir, label: &Path) -> Result<(), Error> {
    dir.sync_self().map_err(|source| Error::Sync {
        path: label.into(),
        source,
    })
}
