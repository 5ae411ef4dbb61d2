//! Pass 1, walk and validate: read every tree of the checkout, check every entry, and
//! collect its directories (in an [`Arena`]), files and symlinks.
//!
//! Every name is checked the way git's `verify_path` checks it with `core.protectNTFS` and
//! `core.protectHFS` on, on every platform: no `.`, `..` or empty names, no `/` inside a
//! name, no `.git` in any case or disguise (`.git.`, `git~1`, `.g\u{200c}it`, …), no symlinked
//! `.gitmodules`. Windows device names (`CON`, `aux.c`) are refused only on Windows, where
//! they mean something; real Linux repositories contain them. Malformed trees (two entries
//! with one name, unknown modes, objects of the wrong kind), symlink targets no filesystem
//! takes and trees nested deeper than [`MAX_TREE_DEPTH`] are refused instead of silently
//! resolved.
//!
//! The walk reads each tree without copying it and allocates per entry only the name the
//! plan keeps; an entry's full path is built only for an error message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bstr::{BStr, BString};
use gix_hash::{ObjectId, oid};
use gix_object::Kind;
use gix_object::tree::EntryKind;

use super::arena::Arena;
use super::select::{Place, Selection, Verdict};
use super::{Error, File, MAX_TREE_DEPTH, MAX_TREE_ENTRIES, Outside, Submodule, Symlink};
use crate::odb;

/// The longest symlink target accepted: Linux's `PATH_MAX`.
const MAX_SYMLINK_TARGET: u64 = 4096;

/// How many missing blobs an error lists by path (it counts them all).
const MAX_MISSING_LISTED: usize = 100_000;

/// How many leading components an error about a too-deep tree shows.
const SHOWN_COMPONENTS: usize = 3;

/// An object's content, shared rather than copied (as the store's reader hands it out).
pub(super) type Data = Arc<Vec<u8>>;

/// Where the walk reads objects: the store, or a handful of objects in a test.
pub(super) trait Objects {
    /// The kind and content of object `id`.
    fn read(&mut self, id: &oid) -> Result<(Kind, Data), odb::Error>;
    /// The kind and size of object `id`.
    fn header(&mut self, id: &oid) -> Result<(Kind, u64), odb::Error>;
    /// Where blob `id` is, for writers that read it without the pack indexes; `None` where
    /// objects have no location (in a test).
    fn locate(&mut self, id: &oid) -> Result<Option<odb::ObjectLocation>, odb::Error>;
}

impl Objects for odb::Reader<'_> {
    fn locate(&mut self, id: &oid) -> Result<Option<odb::ObjectLocation>, odb::Error> {
        odb::Reader::locate(self, id).map(Some)
    }

    fn read(&mut self, id: &oid) -> Result<(Kind, Data), odb::Error> {
        self.read_shared(id)
    }

    fn header(&mut self, id: &oid) -> Result<(Kind, u64), odb::Error> {
        odb::Reader::header(self, id)
    }
}

/// What the walk found: every directory, and every file and symlink in walk order.
pub(super) struct Walked {
    /// The directories, in the order they were walked (a submodule's when its parent was).
    pub(super) arena: Arena,
    /// Regular files, grouped by directory in the order of the arena.
    pub(super) files: Vec<File>,
    /// Symbolic links with their targets, grouped by directory in the order of the arena.
    pub(super) symlinks: Vec<Symlink>,
    /// Submodules, each with the directory standing for it.
    pub(super) submodules: Vec<Submodule>,
    /// Entries outside the selection, when it keeps them.
    pub(super) outside: Vec<Outside>,
}

/// A tree still to walk.
struct Pending {
    id: ObjectId,
    /// Its directory's parent, in the arena.
    parent: usize,
    /// Its name in the parent; empty for the root.
    name: BString,
    /// The root is at depth 1.
    depth: usize,
    /// Where it stands in the selection.
    place: Place,
}

/// Walk the tree `root`, validating every entry, in depth-first order: each directory is
/// added to the arena when its tree is read, so its files come after those of every
/// directory before it.
#[cfg(test)]
pub(super) fn walk(
    objects: &mut impl Objects,
    root: ObjectId,
    interrupt: &AtomicBool,
) -> Result<Walked, Error> {
    walk_selected(objects, root, &Selection::all(), interrupt)
}

/// `walk()` the parts of `root` that `selection` selects: a tree outside it is read only
/// when the selection keeps the entries outside (for an index), and a blob outside it never.
/// Entries of every tree read are validated, inside the selection or not.
pub(super) fn walk_selected(
    objects: &mut impl Objects,
    root: ObjectId,
    selection: &Selection,
    interrupt: &AtomicBool,
) -> Result<Walked, Error> {
    let mut arena = Arena::new();
    let mut files = Vec::new();
    let mut symlinks = Vec::new();
    let mut submodules = Vec::new();
    let mut outside = Vec::new();
    let mut matched = vec![false; selection.slots()];
    let mut missing = Vec::new();
    let mut missing_count = 0usize;
    // Every entry of every tree read, so that a tree bomb stops in bounded memory.
    let mut entries = 0usize;
    let mut stack = vec![Pending {
        id: root,
        parent: 0,
        name: BString::default(),
        depth: 1,
        place: selection.root(),
    }];
    while let Some(tree) = stack.pop() {
        if interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let dir = if tree.depth == 1 {
            0
        } else {
            arena.add(tree.parent, tree.name)
        };
        let (kind, data) = objects.read(&tree.id)?;
        if kind != Kind::Tree {
            return Err(Error::KindMismatch {
                path: arena.display_path(dir),
                id: tree.id,
                expected: Kind::Tree,
                actual: kind,
            });
        }
        // Every name with whether it is a directory, to find duplicates once all are seen.
        let mut names: Vec<(&BStr, bool)> = Vec::new();
        let subtrees_start = stack.len();
        for entry in gix_object::TreeRefIter::from_bytes(&data, gix_hash::Kind::Sha1) {
            let entry = entry.map_err(|e| Error::BadTree {
                id: tree.id,
                path: arena.display_path(dir),
                message: e.to_string(),
            })?;
            entries += 1;
            if entries > MAX_TREE_ENTRIES {
                return Err(Error::TooMany {
                    limit: MAX_TREE_ENTRIES,
                });
            }
            // The entry's path, for messages only.
            let path = || arena.entry_path(dir, entry.filename);
            let mode = u32::from(entry.mode.value());
            let kind = entry_kind(mode).ok_or_else(|| Error::BadMode { path: path(), mode })?;
            validate_name(entry.filename, kind, &path)?;
            names.push((
                entry.filename,
                matches!(kind, EntryKind::Tree | EntryKind::Commit),
            ));
            let id = entry.oid.to_owned();
            let is_tree = kind == EntryKind::Tree;
            let place = match selection.judge(tree.place, entry.filename, is_tree, &mut matched) {
                Verdict::Take(place) | Verdict::Through(place) => place,
                // Outside the selection: a tree is walked only to list its entries for the
                // index, and no blob is read (a symlink's target neither).
                Verdict::Outside if !selection.keep_outside() => continue,
                Verdict::Outside if is_tree => Selection::outside(),
                Verdict::Outside => {
                    outside.push(Outside {
                        path: path(),
                        id,
                        mode: u32::from(gix_object::tree::EntryMode::from(kind).value()),
                    });
                    continue;
                }
            };
            // Within a tree that is only walked through or outside, only trees (and what
            // the selection completes, which is taken) are checked out.
            match kind {
                EntryKind::Tree => {
                    // Refused before it is read: however deep the store nests its trees,
                    // the walk stops here.
                    if tree.depth >= MAX_TREE_DEPTH {
                        return Err(Error::TooDeep {
                            path: arena.short_entry_path(dir, entry.filename, SHOWN_COMPONENTS),
                            depth: tree.depth + 1,
                            limit: MAX_TREE_DEPTH,
                        });
                    }
                    stack.push(Pending {
                        id,
                        parent: dir,
                        name: entry.filename.to_owned(),
                        depth: tree.depth + 1,
                        place,
                    });
                }
                EntryKind::Commit => {
                    // A submodule: git archive writes an empty directory, and so do we.
                    let index = arena.add(dir, entry.filename.to_owned());
                    arena.mark(index);
                    submodules.push(Submodule { dir: index, id });
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    // Located now, so that writers need no pack index, and so that every
                    // blob the store lacks is found before anything is written and reported
                    // at once (a partial clone lacks many; an installer fetches them in one
                    // round).
                    let at = match objects.locate(&id) {
                        Ok(at) => at,
                        Err(odb::Error::NotFound { .. }) => {
                            if missing.len() < MAX_MISSING_LISTED {
                                missing.push((path(), id));
                            }
                            missing_count += 1;
                            None
                        }
                        Err(err) => return Err(err.into()),
                    };
                    arena.mark(dir);
                    files.push(File {
                        dir,
                        name: entry.filename.to_owned(),
                        id,
                        executable: kind == EntryKind::BlobExecutable,
                        at,
                        conversion: None,
                    });
                }
                EntryKind::Link => {
                    let target = match read_symlink_target(objects, &id, &path) {
                        Err(Error::Object(odb::Error::NotFound { .. })) => {
                            if missing.len() < MAX_MISSING_LISTED {
                                missing.push((path(), id));
                            }
                            missing_count += 1;
                            continue;
                        }
                        result => result?,
                    };
                    arena.mark(dir);
                    symlinks.push(Symlink {
                        dir,
                        name: entry.filename.to_owned(),
                        target,
                        id,
                    });
                }
            }
        }
        // Two entries with one name: git's tree order puts a directory `a` after a file
        // `a.c`, so a file `a` and a directory `a` need not be neighbours; sorted by bytes,
        // equal names are.
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(Error::DuplicateName {
                path: arena.entry_path(dir, pair[0].0),
                file_and_dir: pair[0].1 != pair[1].1,
            });
        }
        // So that the stack pops the subtrees in tree order.
        stack[subtrees_start..].reverse();
    }
    selection.unmatched(&matched)?;
    if missing_count > 0 {
        return Err(Error::MissingObjects {
            objects: missing,
            count: missing_count,
        });
    }
    Ok(Walked {
        arena,
        files,
        symlinks,
        submodules,
        outside,
    })
}

/// The kind of a tree entry, as git's `canon_mode` sees it, or `None` for a mode git
/// would never have written.
fn entry_kind(mode: u32) -> Option<EntryKind> {
    match mode & 0o170000 {
        0o040000 => Some(EntryKind::Tree),
        0o120000 => Some(EntryKind::Link),
        0o160000 => Some(EntryKind::Commit),
        // Regular files: only the owner's exec bit counts, so legacy 100664 is a plain file.
        0o100000 if mode & 0o100 != 0 => Some(EntryKind::BlobExecutable),
        0o100000 => Some(EntryKind::Blob),
        _ => None,
    }
}

fn validate_name(name: &BStr, kind: EntryKind, path: &dyn Fn() -> BString) -> Result<(), Error> {
    let options = gix_validate::path::component::Options {
        protect_windows: cfg!(windows),
        protect_hfs: true,
        protect_ntfs: true,
    };
    let mode = (kind == EntryKind::Link).then_some(gix_validate::path::component::Mode::Symlink);
    gix_validate::path::component(name, mode, options)
        .map(|_| ())
        .map_err(|err| Error::UnsafeName {
            path: path(),
            reason: err.to_string(),
        })
}

/// Read the target of the symlink at `path`; it must be a small blob without NUL bytes.
fn read_symlink_target(
    objects: &mut impl Objects,
    id: &ObjectId,
    path: &dyn Fn() -> BString,
) -> Result<BString, Error> {
    let (kind, size) = objects.header(id)?;
    if kind != Kind::Blob {
        return Err(Error::KindMismatch {
            path: path(),
            id: *id,
            expected: Kind::Blob,
            actual: kind,
        });
    }
    let bad = |reason| Error::BadSymlink {
        path: path(),
        reason,
    };
    if size > MAX_SYMLINK_TARGET {
        return Err(bad("its target is longer than any filesystem allows"));
    }
    let (_, target) = objects.read(id)?;
    if target.is_empty() {
        return Err(bad("its target is empty"));
    }
    if target.contains(&0) {
        return Err(bad("its target contains a NUL byte"));
    }
    Ok(target.to_vec().into())
}

#[cfg(test)]
pub(super) mod tests;
