//! Applying a switch: removing what the new tree lacks, then renaming what it needs from
//! the staging directory into the checkout, one entry at a time.
//!
//! Every step is atomic for its entry (an unlink, or a rename that replaces a file or link
//! whole), so each path is at any moment either as it was or as it will be; the journal
//! written before the first step lets the next run finish or redo the rest.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};

use super::Error;
use super::diff::Changes;
use crate::cap::{self, Dir, Kind};
use crate::gitdir::{IndexEntry, IndexEntryKind};

fn rel(path: &[u8]) -> io::Result<&Path> {
    cap::os_str(path).map(Path::new)
}

fn write_error(path: &BStr) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_str_lossy().into_owned().into(),
        source,
    }
}

/// Apply `changes` to the checkout below `root`, taking what is written from `staging`,
/// where the same paths were written. `new` is the new tree's entries.
pub(crate) fn apply(
    root: &Dir,
    staging: &Dir,
    changes: &Changes,
    new: &[IndexEntry],
) -> Result<(), Error> {
    // Directories the new tree has: every ancestor of its entries.
    let mut wanted: HashSet<&BStr> = HashSet::new();
    for entry in new {
        for i in entry.path.find_iter(b"/") {
            wanted.insert(entry.path[..i].as_bstr());
        }
    }

    // 1. Removals, deepest first. Ancestors were checked to be real directories when the
    // changes were computed, and the checkout is locked: nothing is removed through a link.
    let mut emptied: BTreeSet<BString> = BTreeSet::new();
    for path in changes.remove.iter().rev() {
        let at = rel(path).map_err(write_error(path.as_bstr()))?;
        let removed = match root.kind(at) {
            Ok(Some(Kind::Dir)) => root.remove_dir_all(at.as_os_str()),
            Ok(Some(_)) => root.remove_file(at.as_os_str()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        removed.map_err(write_error(path.as_bstr()))?;
        for i in path.find_iter(b"/") {
            emptied.insert(path[..i].into());
        }
    }
    // Directories the removals emptied and the new tree lacks; one still holding something
    // (a file the index never knew) stays.
    for dir in emptied.iter().rev() {
        if !wanted.contains(dir.as_bstr())
            && let Ok(at) = rel(dir)
        {
            let _ = root.remove_dir(at);
        }
    }

    // 2. Writes, parents before children (sorted order puts `a` before `a/b`).
    let kinds: std::collections::HashMap<&BStr, IndexEntryKind> =
        new.iter().map(|e| (e.path.as_bstr(), e.kind)).collect();
    let mut made: HashSet<BString> = HashSet::new();
    for path in &changes.write {
        let error = write_error(path.as_bstr());
        make_parents(root, path.as_bstr(), &mut made).map_err(&error)?;
        let at = rel(path).map_err(&error)?;
        if kinds.get(path.as_bstr()) == Some(&IndexEntryKind::Submodule) {
            // A gitlink is an empty directory; its commit lives in the index only.
            match root.kind(at).map_err(&error)? {
                Some(Kind::Dir) => {}
                Some(_) => {
                    root.remove_file(at.as_os_str()).map_err(&error)?;
                    root.create_dir(at).map_err(&error)?;
                }
                None => root.create_dir(at).map_err(&error)?,
            }
            continue;
        }
        // Replaces a file or link atomically.
        staging.rename_to(at, root, at).map_err(&error)?;
    }
    Ok(())
}

/// With `--fsync`, after [`apply`]: sync every directory of the checkout whose entries the
/// switch changed (the parents of what it wrote and removed, and the directories it made),
/// deepest first, the checkout's root last, so that the renames and unlinks are durable.
/// The files' data were synced in the staging directory before the first rename.
pub(crate) fn sync_changed(root: &Dir, changes: &Changes) -> Result<(), Error> {
    let mut dirs: BTreeSet<&BStr> = BTreeSet::new();
    for path in changes.write.iter().chain(changes.remove.iter()) {
        for i in path.find_iter(b"/") {
            dirs.insert(path[..i].as_bstr());
        }
    }
    for dir in dirs.iter().rev() {
        let error = write_error(dir);
        let at = rel(dir).map_err(&error)?;
        match root.open_dir(at) {
            Ok(handle) => handle.sync_self().map_err(&error)?,
            // Removed with what it held: nothing of it is left to make durable.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e)),
        }
    }
    root.sync_self().map_err(write_error(b"".as_bstr()))
}

/// Create the missing directories on the way to `path` below `root`.
fn make_parents(root: &Dir, path: &BStr, made: &mut HashSet<BString>) -> io::Result<()> {
    for i in path.find_iter(b"/") {
        let prefix = &path[..i];
        if made.contains(prefix) {
            continue;
        }
        let at = rel(prefix)?;
        match root.kind(at)? {
            Some(Kind::Dir) => {}
            Some(_) => {
                // Removed above, unless the user put it back since: a file where a
                // directory must be is replaced, as the switch was told to.
                root.remove_file(at.as_os_str())?;
                root.create_dir(at)?;
            }
            None => root.create_dir(at)?,
        }
        made.insert(prefix.to_owned());
    }
    Ok(())
}
