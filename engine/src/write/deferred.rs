//! What is done through the root handle once every file is written: directories without
//! files, exec bits, symlinks and renames, in that order; adapted to what the filesystem can
//! hold (symlinks written as files, exec bits left unset), as git adapts a work tree.

use std::io::Write;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};

use super::files::{ensure_in, join, open_dir, os_path, reach_from};
use super::{Deferred, Error};
use crate::cap::{self, Dir, Filesystem, SymlinkOutcome};

/// Do `deferred` through `root`: what the plan leaves to the end and what the writing
/// runtime could not do (see [`Deferred`]).
///
/// The list may come from a sandboxed guest, so it is not trusted: every path is validated
/// like a tree entry (no `..`, no absolute paths, no `.git`) and resolved beneath `root`,
/// only regular files are made executable, never the target of a symlink. Whatever order
/// the list came in, directories come first, then every mode, then the symlinks, so that
/// nothing is created or changed once a link exists; renames come last, deepest first, each
/// moving an entry within its directory to a name that is validated like a tree entry's and
/// must be free.
///
/// This is [`apply_deferred_on()`] for a filesystem with symlinks and exec bits.
pub fn apply_deferred(root: &Dir, deferred: &[Deferred]) -> Result<(), Error> {
    apply_deferred_on(root, deferred, &Filesystem::default()).map(drop)
}

/// [`apply_deferred()`] on a filesystem that `filesystem` describes (what
/// [`run()`](crate::run) probed), adapting as git does where the filesystem cannot hold
/// the tree: without symlinks, each link is written as a new regular file holding its
/// target, exactly the bytes stored (git's `core.symlinks=false`); without exec bits,
/// exec bits are not set (git's `core.filemode=false`). Returns how many symlinks it wrote
/// as files.
///
/// The checks are the same either way: a link written as a file is created exclusively
/// (`O_CREAT|O_EXCL`) in its directory, after every mode, like a link.
pub fn apply_deferred_on(
    root: &Dir,
    deferred: &[Deferred],
    filesystem: &Filesystem,
) -> Result<u64, Error> {
    let mut links_as_files = 0;
    let rank = |op: &Deferred| match op {
        Deferred::Dir { path } => (0, path.len()),
        Deferred::Executable { .. } => (1, 0),
        Deferred::Symlink { .. } => (2, 0),
        Deferred::Rename { path, .. } => (3, usize::MAX - path.find_iter("/").count()),
    };
    let mut ops: Vec<&Deferred> = deferred.iter().collect();
    ops.sort_by_key(|op| rank(op));
    // The directory last opened for a symlink: links come grouped by directory.
    let mut open: Option<(BString, Dir)> = None;
    for op in ops {
        match op {
            Deferred::Dir { path } => {
                checked_path(path)?;
                // Parents first: a submodule's parents may hold no file either. One name
                // at a time from the last, so that no long path reaches the system.
                let mut parent: Option<Dir> = None;
                let mut end = 0;
                for name in path.split_str("/") {
                    end += name.len();
                    let at = path[..end].as_bstr();
                    let dir = parent.as_ref().unwrap_or(root);
                    ensure_in(dir, name.as_bstr(), at)?;
                    let next = os_path(name.as_bstr())
                        .and_then(|name| dir.open_dir(name))
                        .map_err(|source| Error::CreateDir {
                            path: at.to_owned(),
                            source,
                        })?;
                    parent = Some(next);
                    end += 1;
                }
            }
            Deferred::Executable { path } => {
                let rel = checked_path(path)?;
                let not_regular = || Error::Refused {
                    path: path.clone(),
                    reason: "it is not a regular file",
                };
                if !filesystem.exec_bits {
                    // Only a regular file is ever made executable, here too.
                    if root.kind(rel).ok().flatten() != Some(cap::Kind::File) {
                        return Err(not_regular());
                    }
                    // Nothing to set: the file reads back however the filesystem shows
                    // every file (FAT: executable; Windows: not).
                    continue;
                }
                let set_mode = |source| Error::SetMode {
                    path: path.clone(),
                    source,
                };
                // Checked and changed in one go (see `cap`): a symlink, a directory or a
                // FIFO a guest left at that name is refused, never followed.
                match root.set_executable(rel) {
                    Ok(cap::Chmod::Done) => {}
                    Ok(cap::Chmod::NotRegular) => return Err(not_regular()),
                    Ok(cap::Chmod::Unsupported) => {
                        return Err(set_mode(std::io::Error::new(
                            std::io::ErrorKind::Unsupported,
                            "no file modes here",
                        )));
                    }
                    // Nothing by that name: as refused as anything else that is no file.
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                        ) =>
                    {
                        return Err(not_regular());
                    }
                    Err(err) => return Err(set_mode(err)),
                }
            }
            Deferred::Symlink { path, target } => {
                checked_path(path)?;
                let symlink_error = |source| Error::Symlink {
                    path: path.clone(),
                    source,
                };
                let (parent, name) = match path.rfind_byte(b'/') {
                    Some(slash) => (path[..slash].as_bstr(), path[slash + 1..].as_bstr()),
                    None => (b"".as_bstr(), path.as_bstr()),
                };
                let dir = match &open {
                    Some((p, dir)) if p == parent => dir,
                    _ => {
                        // One name at a time, from the last directory when it is an
                        // ancestor (links come in tree order): never a long path, and
                        // linear in the depth of a deep tree.
                        let (from, rest) = match &open {
                            Some((p, dir))
                                if !p.is_empty()
                                    && parent.starts_with(p)
                                    && parent.get(p.len()) == Some(&b'/') =>
                            {
                                (dir, parent[p.len() + 1..].as_bstr())
                            }
                            _ => (root, parent),
                        };
                        let dir = match reach_from(from, rest).map_err(symlink_error)? {
                            Some(dir) => dir,
                            None => open_dir(root, parent).map_err(symlink_error)?,
                        };
                        &open.insert((parent.to_owned(), dir)).1
                    }
                };
                let name = cap::os_str(name).map_err(symlink_error)?;
                if !filesystem.symlinks {
                    // As git writes a link where there are none: a file holding the
                    // target. Exclusive, like every create, so nothing is followed.
                    let (mut file, _) = dir.create_file(name, false).map_err(symlink_error)?;
                    file.write_all(target).map_err(symlink_error)?;
                    links_as_files += 1;
                    continue;
                }
                match dir.symlink(target, name).map_err(symlink_error)? {
                    SymlinkOutcome::Created => {}
                    SymlinkOutcome::Unsupported => {
                        return Err(symlink_error(std::io::Error::new(
                            std::io::ErrorKind::Unsupported,
                            "symlinks cannot be created here",
                        )));
                    }
                }
            }
            Deferred::Rename { path, name } => {
                open = None;
                rename(root, path, name.as_bstr())?;
            }
        }
    }
    Ok(links_as_files)
}

/// Rename the entry at `path` (as written) to `name` in the same directory.
fn rename(root: &Dir, from_b: &BString, name: &BStr) -> Result<(), Error> {
    let from = checked_path(from_b)?;
    let parent = match from_b.rfind_byte(b'/') {
        Some(slash) => from_b[..slash].as_bstr(),
        None => b"".as_bstr(),
    };
    let to_b = join(parent, name);
    let bad = |reason| Error::Refused {
        path: to_b.clone(),
        reason,
    };
    if name.contains(&b'/') {
        return Err(bad("the new name is not a single path component"));
    }
    let to = checked_path(&to_b)?;
    let rename_error = |source| Error::Rename {
        path: to_b.clone(),
        source,
    };
    if root.kind(from).map_err(rename_error)?.is_none() {
        return Err(bad("there is nothing to rename"));
    }
    // `rename` would replace an empty directory: the new name must be free.
    if root.kind(to).map_err(rename_error)?.is_some() {
        return Err(bad("the new name is taken"));
    }
    root.rename(from.as_os_str(), to.as_os_str())
        .map_err(rename_error)
}

/// Whether `name` is acceptable as one path component, as git's `verify_path` judges a
/// tree entry's name with `core.protectNTFS` and `core.protectHFS` on.
pub(crate) fn valid_component(name: &BStr) -> bool {
    // A tree entry's name cannot hold a NUL (it ends the name), but a group from a guest
    // can, and gix-validate lets it through (found by fuzzing: fuzz/regressions/path).
    if name.contains(&0) {
        return false;
    }
    let options = gix_validate::path::component::Options {
        protect_windows: cfg!(windows),
        protect_hfs: true,
        protect_ntfs: true,
    };
    gix_validate::path::component(name, None, options).is_ok()
}

/// `path` as a relative path, after checking each component as a tree entry name.
pub(crate) fn checked_path(path: &BString) -> Result<&Path, Error> {
    if !path.split_str("/").all(|c| valid_component(c.as_bstr())) {
        return Err(Error::Refused {
            path: path.clone(),
            reason: "it is not a plain relative path inside the checkout",
        });
    }
    os_path(path.as_ref()).map_err(|_| Error::Refused {
        path: path.clone(),
        reason: "it cannot be represented here",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input the `path` fuzz target found (`fuzz/regressions/path`), with the
    /// target's checks.
    #[test]
    fn fuzz_regressions_for_path_validation_hold() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/path");
        let inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("expected {} to be readable, got {e}", dir.display()))
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(!inputs.is_empty(), "expected inputs in {}", dir.display());
        for data in inputs {
            if valid_component(data.as_bstr()) {
                assert!(
                    !data.is_empty() && data != b"." && data != b".." && !data.contains(&0),
                    "expected {data:?} to be refused as a component"
                );
                assert!(!data.contains(&b'/'), "expected {data:?} to be refused");
            }
            if let Ok(path) = checked_path(&BString::from(data.clone())) {
                assert!(
                    data.split(|&b| b == b'/')
                        .all(|c| valid_component(c.as_bstr())),
                    "expected {data:?} to be refused as a path, got {path:?}"
                );
            }
        }
    }

    #[test]
    fn paths_that_leave_the_checkout_or_reach_git_are_refused() {
        for bad in [
            "", "..", "a/../b", "/etc", "a//b", ".git", "a/.GIT/x", "a/git~1",
        ] {
            assert!(
                checked_path(&BString::from(bad)).is_err(),
                "{bad:?} should be refused"
            );
        }
        for good in ["a", "a/b", "ü/.gitignore", "a/.unfurl-0123"] {
            assert!(checked_path(&BString::from(good)).is_ok(), "{good:?}");
        }
    }
}
