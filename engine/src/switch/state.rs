//! What a checkout on disk says it is: unfurl's marker, HEAD, the index, and the journal of
//! a switch that did not finish. All of it lives in the checkout's `.git`, which a tree
//! can never contain (the plan refuses `.git` in every spelling), so no file of a
//! repository can pose as any of it.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;

use super::Error;
use crate::cap::{Dir, Kind};

/// The journal: the paths a switch is changing, written before the first change and
/// removed after HEAD names the new commit.
pub(crate) const JOURNAL: &str = ".git/unfurl-switch";
/// The lock a switch holds, so a second one waits (see [`Dir::lock`]).
pub(crate) const LOCK: &str = ".git/unfurl.lock";
/// The journal's first line.
const JOURNAL_HEADER: &[u8] = b"unfurl switch 1\n";

/// Whether `dest` in `parent` is a checkout unfurl made with a `.git`, and so may be
/// switched in place: its `.git` is a directory (not a link) holding unfurl's marker.
pub fn is_checkout(parent: &Dir, dest: &OsStr) -> io::Result<bool> {
    let dest = Path::new(dest);
    Ok(parent.kind(&dest.join(".git"))? == Some(Kind::Dir)
        && parent.kind(&dest.join(".git").join(crate::gitdir::MARKER))? == Some(Kind::File))
}

/// One entry of the checkout's index.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its path, `/`-separated.
    pub(crate) path: BString,
    /// Its object.
    pub(crate) id: ObjectId,
    /// Its mode, as the tree gave it.
    pub(crate) mode: gix_index::entry::Mode,
    /// The `lstat` data recorded when it was written.
    pub(crate) stat: gix_index::entry::Stat,
}

/// What the checkout's `.git` records.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The commit HEAD names; `None` when HEAD is unborn (a tree was checked out).
    pub(crate) commit: Option<ObjectId>,
    /// The index's entries on disk, sorted by path (entries marked skip-worktree, which
    /// are not on disk, left out).
    pub(crate) entries: Vec<Entry>,
    /// The paths of a switch that did not finish, if its journal is there.
    pub(crate) journal: Option<Vec<BString>>,
    /// Every `.gitattributes` the index records (skip-worktree ones too) and its blob,
    /// sorted: what decided how the files were converted.
    pub(crate) attributes: Vec<(BString, ObjectId)>,
}

/// Whether `path` names a `.gitattributes` file (at any depth).
pub(crate) fn is_attributes(path: &[u8]) -> bool {
    path.rsplit(|&b| b == b'/').next() == Some(b".gitattributes".as_slice())
}

fn read_error(path: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: PathBuf::from(path),
        source,
    }
}

/// Read what the checkout below `root` records.
pub(crate) fn read(root: &Dir) -> Result<Recorded, Error> {
    let head = root
        .read(Path::new(".git/HEAD"))
        .map_err(read_error(".git/HEAD"))?;
    let head = head.trim_ascii();
    let commit = if head.starts_with(b"ref: ") {
        None
    } else {
        Some(ObjectId::from_hex(head).map_err(|_| Error::Unreadable {
            path: ".git/HEAD".into(),
            what: "it names no commit".into(),
        })?)
    };
    let data = root
        .read(Path::new(".git/index"))
        .map_err(read_error(".git/index"))?;
    let (state, _) = gix_index::State::from_bytes(
        &data,
        filetime::FileTime::zero(),
        gix_hash::Kind::Sha1,
        Default::default(),
    )
    .map_err(|err| Error::Unreadable {
        path: ".git/index".into(),
        what: err.to_string(),
    })?;
    let mut attributes: Vec<(BString, ObjectId)> = state
        .entries()
        .iter()
        .map(|e| (e.path(&state), e.id))
        .filter(|(path, _)| is_attributes(path))
        .map(|(path, id)| (path.to_owned(), id))
        .collect();
    attributes.sort();
    let mut entries: Vec<Entry> = state
        .entries()
        .iter()
        .filter(|e| !e.flags.contains(gix_index::entry::Flags::SKIP_WORKTREE))
        .map(|e| Entry {
            path: e.path(&state).to_owned(),
            id: e.id,
            mode: e.mode,
            stat: e.stat,
        })
        .collect();
    // Paths from the index decide what a switch removes. unfurl wrote them from a validated
    // tree, but the index is a file anyone with access to the checkout can change: a path
    // that leaves the tree (`..`), or reaches into `.git`, is refused rather than acted on.
    if let Some(bad) = entries.iter().find(|e| !inside_tree(&e.path)) {
        return Err(Error::Unreadable {
            path: ".git/index".into(),
            what: format!("it names {:?}, which is not a path in a tree", bad.path),
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let journal = match root.read(Path::new(JOURNAL)) {
        Ok(data) => Some(parse_journal(&data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(read_error(JOURNAL)(e)),
    };
    Ok(Recorded {
        commit,
        entries,
        journal,
        attributes,
    })
}

/// Whether `path` is a relative path of plain names, none of them `.git` in any case.
fn inside_tree(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').all(|name| {
        !name.is_empty() && name != b"." && name != b".." && !name.eq_ignore_ascii_case(b".git")
    }) && !path.contains(&0)
}

/// The paths a journal lists. A journal cut short by a crash while it was written is never
/// seen (it is renamed into place whole); anything unexpected in it only adds paths to
/// check, which costs time, never correctness.
fn parse_journal(data: &[u8]) -> Vec<BString> {
    let body = data.strip_prefix(JOURNAL_HEADER).unwrap_or(data);
    body.split(|&b| b == 0)
        .filter(|p| inside_tree(p))
        .map(|p| p.as_bstr().to_owned())
        .collect()
}

/// Record that a switch is about to change `paths` below `root`: written beside, then
/// renamed into place, so it is there whole or not at all.
pub(crate) fn write_journal<'a>(
    root: &Dir,
    paths: impl Iterator<Item = &'a BString>,
    fsync: bool,
) -> Result<(), Error> {
    let mut data = JOURNAL_HEADER.to_vec();
    for path in paths {
        data.extend_from_slice(path);
        data.push(0);
    }
    let new = format!("{JOURNAL}.new");
    let _ = root.remove_file(OsStr::new(&new));
    root.write_new(Path::new(&new), &data)
        // With `--fsync`, the journal is on disk before the first entry changes: a power
        // cut after that finds it, and the next run repairs.
        .and_then(|()| match fsync {
            true => root.open_file(Path::new(&new))?.sync_all(),
            false => Ok(()),
        })
        .and_then(|()| root.rename(OsStr::new(&new), OsStr::new(JOURNAL)))
        .and_then(|()| sync_git_dir(root, fsync))
        .map_err(|source| Error::Write {
            path: JOURNAL.into(),
            source,
        })
}

/// With `fsync`, sync the checkout's `.git` directory itself (its entries).
pub(crate) fn sync_git_dir(root: &Dir, fsync: bool) -> io::Result<()> {
    match fsync {
        true => root.open_dir(Path::new(".git"))?.sync_self(),
        false => Ok(()),
    }
}

/// The switch finished: the journal goes (durably, with `fsync`).
pub(crate) fn remove_journal(root: &Dir, fsync: bool) -> Result<(), Error> {
    let error = |source| Error::Write {
        path: JOURNAL.into(),
        source,
    };
    match root.remove_file(OsStr::new(JOURNAL)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(error(e)),
        _ => sync_git_dir(root, fsync).map_err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_below_the_tree_are_acted_on() {
        for good in [
            &b"a"[..],
            b"a/b",
            b".gitignore",
            b"x/.gitmodules",
            b"dir/.github/f",
        ] {
            assert!(inside_tree(good), "expected {:?} accepted", good.as_bstr());
        }
        for bad in [
            &b""[..],
            b"..",
            b"../x",
            b"a/../../b",
            b"./a",
            b"/etc/passwd",
            b".git/config",
            b"a/.GIT/hooks/x",
            b"a//b",
            b"a/b\0c",
        ] {
            assert!(!inside_tree(bad), "expected {:?} refused", bad.as_bstr());
        }
    }

    #[test]
    fn a_journal_lists_only_paths_below_the_tree() {
        let data = b"unfurl switch 1\na\0../up\0b/c\0.git/HEAD\0\0";
        assert_eq!(
            parse_journal(data),
            vec![BString::from("a"), BString::from("b/c")]
        );
    }
}
