use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use bstr::{BStr, BString, ByteVec};
use gix_hash::ObjectId;
use gix_object::Kind;
use gix_object::tree::EntryKind;

use super::{Directory, Error, File, Plan, Rename, Symlink};
use crate::cap;
use crate::odb::Reader;
use crate::store::Store;

/// The longest symlink target accepted: Linux's `PATH_MAX`.
const MAX_SYMLINK_TARGET: u64 = 4096;

/// Walk `tree` in `store` and validate every entry, producing the plan of the checkout.
///
/// Every name is checked the way git's `verify_path` checks it with `core.protectNTFS` and
/// `core.protectHFS` on, on every platform: no `.`, `..` or empty names, no `/` inside a
/// name, no `.git` in any case or disguise (`.git.`, `git~1`, `.g\u{200c}it`, …), no symlinked
/// `.gitmodules`. Windows device names (`CON`, `aux.c`) are refused only on Windows, where
/// they mean something; real Linux repositories contain them. Malformed trees (two entries
/// with one name) are refused instead of silently resolved.
pub fn plan(store: &Store, tree: ObjectId, interrupt: &AtomicBool) -> Result<Plan, Error> {
    plan_with_cache(store, tree, 8 << 20, interrupt)
}

/// [`plan()`], caching up to `cache_bytes` of decoded delta bases (trees are often
/// deltified) while walking.
pub(crate) fn plan_with_cache(
    store: &Store,
    tree: ObjectId,
    cache_bytes: usize,
    interrupt: &AtomicBool,
) -> Result<Plan, Error> {
    let mut reader = store.odb().reader(cache_bytes);
    let mut plan = Plan::default();
    plan.dirs.push(Directory {
        path: BString::default(),
        parent: 0,
    });
    // Directories holding something (a file, a link, a submodule), so empty trees are
    // left out as `git archive` and `git checkout` leave them out.
    let mut has_content = vec![false];
    let mut parents = vec![0usize];
    let mut stack = vec![(tree, 0usize)];
    while let Some((tree_id, dir)) = stack.pop() {
        if interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let dir_path = plan.dirs[dir].path.clone();
        let (kind, buf) = reader.read_shared(&tree_id)?;
        if kind != Kind::Tree {
            return Err(Error::KindMismatch {
                path: display_path(dir_path.as_ref()),
                id: tree_id,
                expected: Kind::Tree,
                actual: kind,
            });
        }
        // Every name with whether it is a directory, to find duplicates once all are seen.
        let mut names: Vec<(&BStr, bool)> = Vec::new();
        // Computed for the whole tree when the first name this runtime cannot spell turns
        // up: never, on Unix and for almost every tree elsewhere.
        let mut placeholders: Option<HashMap<BString, BString>> = None;
        let mut subtrees = Vec::new();
        for entry in gix_object::TreeRefIter::from_bytes(&buf, gix_hash::Kind::Sha1) {
            let entry = entry.map_err(|e| Error::BadTree {
                id: tree_id,
                path: display_path(dir_path.as_ref()),
                message: e.to_string(),
            })?;
            // The entry's path, for messages only.
            let path = || join(dir_path.as_ref(), entry.filename);
            let mode = u32::from(entry.mode.value());
            let kind = entry_kind(mode).ok_or_else(|| Error::BadMode { path: path(), mode })?;
            validate_name(entry.filename, kind, &path)?;
            names.push((
                entry.filename,
                matches!(kind, EntryKind::Tree | EntryKind::Commit),
            ));
            let id = entry.oid.to_owned();
            // The name as written: the tree's, or a placeholder this runtime can spell.
            let placeholder = if cap::representable(entry.filename) {
                None
            } else {
                placeholders
                    .get_or_insert_with(|| placeholders_for(&buf))
                    .get(entry.filename)
                    .cloned()
            };
            let rename = |of_dir| {
                placeholder.clone().map(|placeholder| Rename {
                    dir,
                    placeholder,
                    name: entry.filename.to_owned(),
                    of_dir,
                })
            };
            let disk_name = || {
                placeholder
                    .clone()
                    .unwrap_or_else(|| entry.filename.to_owned())
            };
            let disk_path = || {
                join(
                    dir_path.as_ref(),
                    placeholder.as_ref().map_or(entry.filename, |p| p.as_ref()),
                )
            };
            match kind {
                EntryKind::Tree => subtrees.push((disk_path(), id, rename(None))),
                EntryKind::Commit => {
                    // A submodule: git archive writes an empty directory, and so do we.
                    let index =
                        add_dir(&mut plan, &mut has_content, &mut parents, dir, disk_path());
                    mark(&mut has_content, &parents, index);
                    plan.renames.extend(rename(Some(index)));
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    mark(&mut has_content, &parents, dir);
                    plan.files.push(File {
                        dir,
                        name: disk_name(),
                        id,
                        executable: kind == EntryKind::BlobExecutable,
                    });
                    plan.renames.extend(rename(None));
                }
                EntryKind::Link => {
                    mark(&mut has_content, &parents, dir);
                    let target = read_symlink_target(&mut reader, &id, path().as_ref())?;
                    plan.symlinks.push(Symlink {
                        dir,
                        name: disk_name(),
                        target,
                    });
                    plan.renames.extend(rename(None));
                }
            }
        }
        // Two entries with one name: git's tree order puts a directory `a` after a file
        // `a.c`, so a file `a` and a directory `a` need not be neighbours; sorted by bytes,
        // equal names are.
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(Error::DuplicateName {
                path: join(dir_path.as_ref(), pair[0].0),
                file_and_dir: pair[0].1 != pair[1].1,
            });
        }
        // Reverse, so the stack pops subtrees in tree order.
        for (path, id, rename) in subtrees.into_iter().rev() {
            let index = add_dir(&mut plan, &mut has_content, &mut parents, dir, path);
            plan.renames.extend(rename.map(|r| Rename {
                of_dir: Some(index),
                ..r
            }));
            stack.push((id, index));
        }
    }
    prune_empty_dirs(&mut plan, &has_content);
    Ok(plan)
}

fn add_dir(
    plan: &mut Plan,
    has_content: &mut Vec<bool>,
    parents: &mut Vec<usize>,
    parent: usize,
    path: BString,
) -> usize {
    plan.dirs.push(Directory { path, parent });
    has_content.push(false);
    parents.push(parent);
    plan.dirs.len() - 1
}

/// Mark `dir` and its ancestors as holding something.
fn mark(has_content: &mut [bool], parents: &[usize], mut dir: usize) {
    while !has_content[dir] {
        has_content[dir] = true;
        if dir == 0 {
            break;
        }
        dir = parents[dir];
    }
}

/// Drop directories with nothing in them, renumbering the references to the others.
fn prune_empty_dirs(plan: &mut Plan, has_content: &[bool]) {
    if has_content.iter().skip(1).all(|&c| c) {
        return;
    }
    let mut new_index = vec![usize::MAX; plan.dirs.len()];
    let mut kept = 0;
    for (i, &keep) in has_content.iter().enumerate() {
        if keep || i == 0 {
            new_index[i] = kept;
            kept += 1;
        }
    }
    let mut i = 0;
    plan.dirs.retain(|_| {
        let keep = i == 0 || has_content[i];
        i += 1;
        keep
    });
    for dir in &mut plan.dirs {
        // A kept directory's parent holds it, so it is kept too.
        dir.parent = new_index[dir.parent];
    }
    for file in &mut plan.files {
        file.dir = new_index[file.dir];
    }
    for link in &mut plan.symlinks {
        link.dir = new_index[link.dir];
    }
    // A renamed directory that was pruned is not written, so not renamed either.
    plan.renames
        .retain(|r| r.of_dir.is_none_or(|d| has_content[d]));
    for rename in &mut plan.renames {
        rename.dir = new_index[rename.dir];
        rename.of_dir = rename.of_dir.map(|d| new_index[d]);
    }
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
    reader: &mut Reader<'_>,
    id: &ObjectId,
    path: &BStr,
) -> Result<BString, Error> {
    let (kind, size) = reader.header(id)?;
    if kind != Kind::Blob {
        return Err(Error::KindMismatch {
            path: path.to_owned(),
            id: *id,
            expected: Kind::Blob,
            actual: kind,
        });
    }
    if size > MAX_SYMLINK_TARGET {
        return Err(Error::BadSymlink {
            path: path.to_owned(),
            reason: "its target is longer than any filesystem allows",
        });
    }
    let mut target = Vec::new();
    reader.read(id, &mut target)?;
    if target.is_empty() {
        return Err(Error::BadSymlink {
            path: path.to_owned(),
            reason: "its target is empty",
        });
    }
    if target.contains(&0) {
        return Err(Error::BadSymlink {
            path: path.to_owned(),
            reason: "its target contains a NUL byte",
        });
    }
    Ok(target.into())
}

/// For each entry of the tree `data` whose name this runtime cannot spell, the name to
/// write it under instead.
///
/// A placeholder is `.unfurl-` and a hash of the real name, so every run
/// picks the same one, and differs from the name of every other entry of the tree (a
/// suffix is added on a clash): a placeholder must never meet an entry of the tree, or a
/// file could land in the wrong directory. Being UTF-8, it is also a valid name here.
fn placeholders_for(data: &[u8]) -> HashMap<BString, BString> {
    let entries =
        || gix_object::TreeRefIter::from_bytes(data, gix_hash::Kind::Sha1).filter_map(Result::ok);
    let mut taken: std::collections::HashSet<BString> =
        entries().map(|e| e.filename.to_owned()).collect();
    let mut out = HashMap::new();
    for entry in entries().filter(|e| !cap::representable(e.filename)) {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let hash = entry
            .filename
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let mut placeholder = BString::from(format!(".unfurl-{hash:016x}"));
        let mut n = 1;
        while taken.contains(&placeholder) {
            placeholder = format!(".unfurl-{hash:016x}-{n}").into();
            n += 1;
        }
        taken.insert(placeholder.clone());
        out.insert(entry.filename.to_owned(), placeholder);
    }
    out
}

fn join(dir: &BStr, name: &BStr) -> BString {
    let mut path = BString::from(dir);
    if !path.is_empty() {
        path.push_byte(b'/');
    }
    path.push_str(name);
    path
}

fn display_path(path: &BStr) -> BString {
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}
