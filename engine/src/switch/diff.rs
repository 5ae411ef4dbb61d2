//! Comparing a checkout on disk with what it records and with the tree it should become:
//! which paths to write, which to remove, which are already right, and which hold local
//! changes that a switch would lose.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::Error;
use super::state::{Entry, Recorded};
use crate::attr::Conversion;
use crate::cap::{self, Dir, Filesystem, Kind, Lstat, Stat};
use crate::gitdir::{IndexEntry, IndexEntryKind};

/// What a switch has to do.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Entries of the new tree to write: new, different, or not as they should be on disk.
    pub(crate) write: BTreeSet<BString>,
    /// Paths to remove: entries the new tree lacks, and whatever stands where the new tree
    /// needs a directory or a file.
    pub(crate) remove: BTreeSet<BString>,
    /// Entries of the new tree already on disk as they should be.
    pub(crate) unchanged: u64,
    /// Local changes the switch would lose: recorded entries that differ from the index,
    /// and entries the index does not know that stand in the new tree's way.
    pub(crate) local: BTreeSet<BString>,
    /// Submodules the new tree drops whose directories hold something (a checkout of the
    /// submodule, and whatever the user made there): kept, as git's checkout keeps them.
    pub(crate) kept: BTreeSet<BString>,
}

/// An entry on disk, found without following a symlink anywhere on its path.
#[derive(Debug)]
enum Disk {
    Absent,
    /// Something other than a directory stands at this ancestor of the path.
    Blocked(BString),
    Dir,
    File(Stat),
    Symlink(Stat),
    Other,
}

/// Looks entries up below a root, checking each ancestor once.
struct Lookup<'a> {
    root: &'a Dir,
    stats: Lstat<'a>,
    /// Ancestors seen: `Some(true)` a real directory, `Some(false)` something else,
    /// `None` nothing.
    ancestors: HashMap<BString, Option<bool>>,
}

impl Lookup<'_> {
    fn get(&mut self, path: &BStr) -> io::Result<Disk> {
        // Ancestors first, shortest first: cap-std resolves symlinks that stay inside the
        // root, so a directory replaced by a link must be caught here, or an entry would be
        // read (or later removed) through the link.
        for i in path.find_iter(b"/") {
            let prefix = &path[..i];
            let state = match self.ancestors.get(prefix) {
                Some(state) => *state,
                None => {
                    let state = self.root.kind(rel(prefix)?)?.map(|kind| kind == Kind::Dir);
                    self.ancestors.insert(prefix.to_owned(), state);
                    state
                }
            };
            match state {
                Some(true) => {}
                Some(false) => return Ok(Disk::Blocked(prefix.to_owned())),
                None => return Ok(Disk::Absent),
            }
        }
        Ok(match self.stats.stat(path)? {
            None => Disk::Absent,
            Some(stat) => match stat.kind {
                Kind::Dir => Disk::Dir,
                Kind::File => Disk::File(stat),
                Kind::Symlink => Disk::Symlink(stat),
                Kind::Other => Disk::Other,
            },
        })
    }
}

fn read(path: &BStr) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_str_lossy().into_owned().into(),
        source,
    }
}

fn rel(path: &[u8]) -> io::Result<&Path> {
    cap::os_str(path).map(Path::new)
}

/// The kind an index mode stands for; `None` for what is never on disk as an entry.
pub(crate) fn kind_of(mode: gix_index::entry::Mode) -> Option<IndexEntryKind> {
    use gix_index::entry::Mode;
    if mode == Mode::FILE {
        Some(IndexEntryKind::File)
    } else if mode == Mode::FILE_EXECUTABLE {
        Some(IndexEntryKind::Executable)
    } else if mode == Mode::SYMLINK {
        Some(IndexEntryKind::Symlink)
    } else if mode == Mode::COMMIT {
        Some(IndexEntryKind::Submodule)
    } else {
        None
    }
}

/// Compare the checkout below `root` with what it `recorded` and with `new`, the entries of
/// the tree it should become (sorted, as [`crate::gitdir::index_entries`] gives them).
///
/// Recorded `lstat` data is trusted only when `trust_stat`; otherwise (repairing after an
/// interrupted switch) every entry is hashed. `filesystem` says how the checkout was
/// written (symlinks as files, exec bits ignored). `conversions` holds what the new tree's
/// attributes do to each converted file: a file whose `lstat` data changed is then also
/// accepted as unchanged if it is exactly what a checkout writes for its recorded blob
/// through that conversion (see [`crate::attr::is_written_form`]; the attributes of a path
/// rarely change between revisions, and when they do the file counts as changed).
///
/// With `recheck` (the attributes or line-ending settings changed since the checkout was
/// written), a file whose blob is the same in both trees is kept only if it is already in
/// the form the new tree's attributes write (read and compared); otherwise it is written
/// anew, like a changed one.
pub(crate) fn compare(
    root: &Dir,
    recorded: &Recorded,
    new: &[IndexEntry],
    filesystem: Filesystem,
    conversions: &HashMap<BString, &Conversion>,
    recheck: bool,
) -> Result<Changes, Error> {
    let repair = recorded.journal.is_some();
    let journal: BTreeSet<&BStr> = recorded
        .journal
        .iter()
        .flatten()
        .map(|p| p.as_bstr())
        .collect();
    let old: BTreeMap<&BStr, &Entry> = recorded
        .entries
        .iter()
        .map(|e| (e.path.as_bstr(), e))
        .collect();
    let wanted: BTreeMap<&BStr, &IndexEntry> = new.iter().map(|e| (e.path.as_bstr(), e)).collect();
    let mut lookup = Lookup {
        root,
        stats: Lstat::new(root),
        ancestors: HashMap::new(),
    };
    let mut changes = Changes::default();
    // On a filesystem that ignores case, a new entry spelled otherwise than a recorded one
    // the new tree lacks (`Docs/x` becoming `docs/x`) is found on disk as that recorded
    // one, which the removals then delete. Such an entry is written, after the removals,
    // whatever the disk holds now.
    let respelled: HashSet<&BStr> = if filesystem.case_insensitive {
        let fold = |path: &BStr| crate::checkout::case::fold(path);
        let gone: HashSet<BString> = recorded
            .entries
            .iter()
            .map(|e| e.path.as_bstr())
            .filter(|path| !wanted.contains_key(path))
            .map(fold)
            .collect();
        new.iter()
            .map(|e| e.path.as_bstr())
            .filter(|path| !old.contains_key(path) && gone.contains(&fold(path)))
            .collect()
    } else {
        HashSet::new()
    };

    // Is each recorded entry still what the index says?
    let mut clean: HashSet<&BStr> = HashSet::new();
    for entry in &recorded.entries {
        let path = entry.path.as_bstr();
        let Some(kind) = kind_of(entry.mode) else {
            continue;
        };
        let disk = lookup.get(path).map_err(read(path))?;
        let stat = (!repair).then_some(&entry.stat);
        let conversion = conversions.get(path).copied();
        if matches(
            root, path, &disk, kind, entry.id, filesystem, stat, conversion,
        )
        .map_err(read(path))?
        {
            clean.insert(path);
        } else if !repair {
            changes.local.insert(entry.path.clone());
        }
    }

    // What the new tree needs.
    for entry in new {
        let path = entry.path.as_bstr();
        let before = old.get(path);
        if let Some(before) = before
            && clean.contains(path)
            && before.id == entry.id
            && kind_of(before.mode) == Some(entry.kind)
            && (!recheck
                || written_as(
                    root,
                    path,
                    entry.kind,
                    entry.id,
                    conversions.get(path).copied(),
                )
                .map_err(read(path))?)
        {
            changes.unchanged += 1;
            continue;
        }
        if respelled.contains(path) {
            changes.write.insert(entry.path.clone());
            continue;
        }
        // Ours to overwrite: a recorded entry (its local changes are listed above), or
        // one an interrupted switch was writing. Anything else is the user's.
        let ours = before.is_some() || repair || journal.contains(path);
        match lookup.get(path).map_err(read(path))? {
            Disk::Absent => {}
            Disk::Blocked(prefix) => {
                // A file or link where the new tree has a directory: removed, unless it is
                // not ours and not forced.
                if !old.contains_key(prefix.as_bstr()) && !repair {
                    changes.local.insert(prefix.clone());
                }
                changes.remove.insert(prefix);
            }
            Disk::Dir if entry.kind != IndexEntryKind::Submodule => {
                // A directory where the new tree has a file: whatever in it is not a
                // recorded entry would be lost.
                if !repair {
                    untracked_below(root, path, &old, &mut changes.local).map_err(read(path))?;
                }
                changes.remove.insert(entry.path.clone());
            }
            disk => {
                let conversion = conversions.get(path).copied();
                let right = matches(
                    root, path, &disk, entry.kind, entry.id, filesystem, None, conversion,
                )
                .map_err(read(path))?;
                if right && (before.is_none() || repair) {
                    changes.unchanged += 1;
                    continue;
                }
                if !right && !ours && !matches!(disk, Disk::Dir) {
                    changes.local.insert(entry.path.clone());
                }
            }
        }
        changes.write.insert(entry.path.clone());
    }

    // What the new tree lacks.
    let gone = recorded
        .entries
        .iter()
        .map(|e| e.path.as_bstr())
        .chain(journal.iter().copied())
        .filter(|p| !wanted.contains_key(p));
    for path in gone {
        if is_ancestor(path, &wanted) {
            // A directory the new tree fills (a journaled submodule, say): not removed.
            continue;
        }
        let gitlink = old
            .get(path)
            .is_some_and(|e| kind_of(e.mode) == Some(IndexEntryKind::Submodule));
        match lookup.get(path).map_err(read(path))? {
            Disk::Absent | Disk::Blocked(_) => {}
            // A submodule's directory is its own checkout (with `--recurse-submodules`, a
            // whole repository and work tree): what is in it is not this checkout's to
            // delete. Like git, which cannot `rmdir` it, leave it; an empty one goes.
            Disk::Dir if gitlink && !is_empty_dir(root, path).map_err(read(path))? => {
                changes.kept.insert(path.to_owned());
            }
            _ => {
                changes.remove.insert(path.to_owned());
            }
        }
    }
    Ok(changes)
}

/// Whether the directory at `path` below `root` holds nothing.
fn is_empty_dir(root: &Dir, path: &BStr) -> io::Result<bool> {
    Ok(root.entries(rel(path)?)?.is_empty())
}

/// Whether `path` is a directory some wanted entry lies below.
fn is_ancestor(path: &BStr, wanted: &BTreeMap<&BStr, &IndexEntry>) -> bool {
    let mut prefix = path.to_owned();
    prefix.push(b'/');
    wanted
        .range(prefix.as_bstr()..)
        .next()
        .is_some_and(|(p, _)| p.starts_with(&prefix))
}

/// Whether `disk` is what an entry of `kind` holding `id` should be. `stat`, when given
/// and equal to what is on disk, is taken as proof without reading (git's rule); otherwise
/// the content is hashed, and a file with a `conversion` is also checked in the form a
/// checkout writes it.
#[allow(clippy::too_many_arguments)] // Each says one thing about the entry compared.
fn matches(
    root: &Dir,
    path: &BStr,
    disk: &Disk,
    kind: IndexEntryKind,
    id: ObjectId,
    filesystem: Filesystem,
    stat: Option<&gix_index::entry::Stat>,
    conversion: Option<&Conversion>,
) -> io::Result<bool> {
    let same_stat = |on_disk: &Stat| stat.is_some_and(|recorded| stat_matches(recorded, on_disk));
    Ok(match (kind, disk) {
        (IndexEntryKind::Submodule, Disk::Dir) => true,
        (IndexEntryKind::File | IndexEntryKind::Executable, Disk::File(on_disk)) => {
            let executable = kind == IndexEntryKind::Executable;
            if filesystem.exec_bits && (on_disk.mode & 0o100 != 0) != executable {
                false
            } else {
                same_stat(on_disk)
                    || crate::verify::blob_id(root, rel(path)?)? == id
                    || match conversion {
                        Some(conversion) => crate::attr::is_written_form(
                            conversion,
                            &id,
                            &mut root.open_file(rel(path)?)?,
                        )?,
                        None => false,
                    }
            }
        }
        (IndexEntryKind::Symlink, Disk::Symlink(on_disk)) if filesystem.symlinks => {
            same_stat(on_disk) || crate::verify::blob_of(&root.read_link(rel(path)?)?) == id
        }
        (IndexEntryKind::Symlink, Disk::File(on_disk)) if !filesystem.symlinks => {
            same_stat(on_disk) || crate::verify::blob_id(root, rel(path)?)? == id
        }
        _ => false,
    })
}

/// Whether the entry at `path`, a clean one holding `id`, is in the form a checkout of the
/// new tree writes: a file read and compared with its blob through `conversion` (or with
/// the blob itself, without one); other kinds are not converted.
fn written_as(
    root: &Dir,
    path: &BStr,
    kind: IndexEntryKind,
    id: ObjectId,
    conversion: Option<&Conversion>,
) -> io::Result<bool> {
    match kind {
        IndexEntryKind::File | IndexEntryKind::Executable => match conversion {
            Some(conversion) => {
                crate::attr::is_written_form(conversion, &id, &mut root.open_file(rel(path)?)?)
            }
            None => Ok(crate::verify::blob_id(root, rel(path)?)? == id),
        },
        IndexEntryKind::Symlink | IndexEntryKind::Submodule => Ok(true),
    }
}

/// git's test: times, size and inode as the index recorded them (truncated to 32 bits,
/// as the index stores them).
fn stat_matches(recorded: &gix_index::entry::Stat, on_disk: &Stat) -> bool {
    recorded.size == on_disk.size as u32
        && recorded.mtime.secs == on_disk.mtime.0 as u32
        && recorded.mtime.nsecs == on_disk.mtime.1
        && recorded.ctime.secs == on_disk.ctime.0 as u32
        && recorded.ctime.nsecs == on_disk.ctime.1
        && recorded.ino == on_disk.ino as u32
}

/// Add to `out` every entry below the directory `dir` that the index does not record.
fn untracked_below(
    root: &Dir,
    dir: &BStr,
    old: &BTreeMap<&BStr, &Entry>,
    out: &mut BTreeSet<BString>,
) -> io::Result<()> {
    for name in root.entries(rel(dir)?)? {
        let path = crate::write::join(dir, name.as_encoded_bytes().as_bstr());
        match root.kind(rel(&path)?)? {
            Some(Kind::Dir) => untracked_below(root, path.as_bstr(), old, out)?,
            Some(_) if !old.contains_key(path.as_bstr()) => {
                out.insert(path);
            }
            _ => {}
        }
    }
    Ok(())
}
