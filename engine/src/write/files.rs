//! Writers: claim a group of files, create its directory, stream each blob into place.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::{Deferred, Error, Stats};
use crate::cap::{self, Dir};
use crate::odb;
use crate::progress::Progress;
use crate::store::Store;

/// One directory's regular files: the unit of work writers claim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Group {
    /// The directory, `/`-separated below the checkout root; empty for the root.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub dir: BString,
    /// Its files.
    pub files: Vec<GroupFile>,
}

/// A regular file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupFile {
    /// Its name in the group's directory.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub name: BString,
    /// The blob holding its content.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))]
    pub id: ObjectId,
    /// Whether the tree marks it executable (mode 100755).
    #[cfg_attr(feature = "serde", serde(default))]
    pub executable: bool,
    /// Where the blob is, if the planner located it: then the writer reads it without
    /// loading any pack index (the location is checked, never trusted).
    #[cfg_attr(feature = "serde", serde(default))]
    pub at: Option<crate::ObjectLocation>,
    /// What its attributes do to its content (see [`crate::attr`]); `None` streams the
    /// blob as stored.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub conversion: Option<crate::attr::Conversion>,
}

/// Write every group `claim` hands out below `root`, with `options.writers()` writers
/// (threads; one, the calling thread, where there are none), each with its own object
/// reader and a share of the delta-base cache.
///
/// `claim` returns the next groups to write, or `None` when none is left; it is shared by
/// every writer of the checkout, in this runtime and in others writing the same checkout.
/// The first error stops every writer and is returned.
#[allow(clippy::too_many_arguments)]
pub fn write_files(
    store: &Store,
    root: &Dir,
    claim: &(dyn Fn() -> Result<Option<Vec<Group>>, Error> + Sync),
    options: &super::Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Stats, Error> {
    let jobs = options.writers();
    let cache_bytes = options.delta_cache_bytes;
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let made = Made::default();
    let worker = || {
        let mut writer = Writer::new(
            store,
            root,
            &made,
            cache_bytes / jobs,
            options.verify_objects,
        );
        writer.mtime = options.mtime;
        let result = (|| {
            while let Some(groups) = claim()? {
                for group in &groups {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    if interrupt.load(Ordering::Relaxed) {
                        return Err(Error::Interrupted);
                    }
                    writer.write_group(group, progress)?;
                }
            }
            Ok(())
        })();
        if let Err(err) = result {
            failed.store(true, Ordering::Relaxed);
            first_error
                .lock()
                .expect("no panics while held")
                .get_or_insert(err);
        }
        let mut stats = writer.stats;
        stats.inflated = writer.reader.inflated();
        stats
    };
    let per_worker: Vec<Stats> = fan_out(jobs, worker);
    if let Some(err) = first_error.into_inner().expect("no panics while held") {
        return Err(err);
    }
    let mut stats = Stats::default();
    for s in per_worker {
        stats.add(s);
    }
    Ok(stats)
}

/// Run `work` on `jobs` threads (on this one when `jobs` is 1, the only way under WASI) and
/// collect what each returns; a panic in one is resumed here. The host's sandbox runs its
/// guests with it too.
pub fn fan_out<T: Send>(jobs: usize, work: impl Fn() -> T + Sync) -> Vec<T> {
    if jobs <= 1 {
        return vec![work()];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(&work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Creates files: holds an object reader, handles to the directory it writes in and its
/// ancestors, and what it wrote.
struct Writer<'a> {
    reader: odb::Reader<'a>,
    /// The store, for its Git LFS objects.
    store: &'a Store,
    root: &'a Dir,
    /// Directories known to exist, shared by the writers of this runtime.
    made: &'a Made,
    /// Where this writer is in the tree.
    cursor: Cursor,
    /// The modification time to give every file, if not the time of writing.
    mtime: Option<std::time::SystemTime>,
    stats: Stats,
}

/// The directory a writer last wrote in, with handles to it and to its ancestors.
///
/// Groups come in the plan's depth-first order, so a writer's next group is mostly in the
/// same directory (a wide one shared out in runs), a sibling, or a child: moving there
/// opens only the names that differ. (Reaching each group's directory from the root cost
/// cargo's 3 072 files 8 448 opens, three per file.)
#[derive(Default)]
struct Cursor {
    /// The directory, `/`-separated below the root; empty for the root.
    path: BString,
    /// Handles to directories along `path`, by the length of the prefix of `path` naming
    /// each, shortest first; always the deepest, and the ancestors up to [`HELD_DIRS`]
    /// (a tree may nest 4 096 levels deep, more than a process may hold open). The root is
    /// the writer's own.
    held: Vec<(usize, Dir)>,
}

/// The directories the writers of one runtime know to exist (one of them made it, or found
/// it made). Shared, so that a directory two writers need is created once: each writer
/// keeping its own set, cargo's 1 637 directories cost 2 630 `mkdir`s, 992 of them failing
/// as already there (and each then checked by a `stat`). A writer still creates what it
/// does not find here, so one that loses a race only gets "already exists".
#[derive(Default)]
struct Made(Mutex<HashSet<BString>>);

impl Made {
    fn contains(&self, path: &BStr) -> bool {
        self.0.lock().expect("no panics while held").contains(path)
    }

    fn insert(&self, path: &BStr) {
        self.0
            .lock()
            .expect("no panics while held")
            .insert(path.to_owned());
    }
}

/// How many directory handles a writer holds at most.
const HELD_DIRS: usize = 32;

impl<'a> Writer<'a> {
    fn new(
        store: &'a Store,
        root: &'a Dir,
        made: &'a Made,
        cache_bytes: usize,
        verify: bool,
    ) -> Writer<'a> {
        Writer {
            reader: store.odb().reader(cache_bytes).verifying(verify),
            store,
            root,
            made,
            cursor: Cursor::default(),
            mtime: None,
            stats: Stats::default(),
        }
    }

    /// Check `group` as the plan checked the tree, then write its files.
    fn write_group(&mut self, group: &Group, progress: &dyn Progress) -> Result<(), Error> {
        // The group may come from another, untrusted guest: its directory must be a plain
        // relative path and every name a plain component, or a write could leave the
        // checkout or reach into a `.git`. (Natively the plan made it; checking again is
        // cheap next to creating a file.)
        if !group.dir.is_empty() {
            super::deferred::checked_path(&group.dir)?;
        }
        for file in &group.files {
            if file.name.contains(&b'/') || !super::deferred::valid_component(file.name.as_ref()) {
                return Err(Error::Refused {
                    path: join(group.dir.as_ref(), file.name.as_ref()),
                    reason: "its name is not a plain file name",
                });
            }
        }
        self.enter(group.dir.as_ref())?;
        for file in &group.files {
            self.write_file(group.dir.as_ref(), file, progress)?;
        }
        Ok(())
    }

    /// The directory [`Writer::enter()`] last reached.
    fn here(&self) -> &Dir {
        match self.cursor.held.last() {
            Some((len, dir)) if *len == self.cursor.path.len() => dir,
            _ => self.root,
        }
    }

    /// Move the cursor to directory `path`, creating it (and its parents) if need be: each
    /// file is then a single-component create in it.
    ///
    /// The directory is reached one name at a time from the deepest ancestor held open (or
    /// the root), never by its whole path: a tree may nest deeper than a path may be long
    /// (Linux's `PATH_MAX` is 4096 bytes; 2049 levels of `d/` exceed it, and the depth
    /// limit is 4096 levels).
    fn enter(&mut self, path: &BStr) -> Result<(), Error> {
        let cursor = &mut self.cursor;
        if cursor.path == path {
            return Ok(());
        }
        let shared = shared_dirs(cursor.path.as_ref(), path);
        let keep = cursor.held.partition_point(|(len, _)| *len <= shared);
        cursor.held.truncate(keep);
        // Until the rest is reached, the cursor is where the two paths part (so that a
        // failure below leaves it consistent).
        cursor.path.truncate(shared);
        let start = match cursor.held.last() {
            Some((len, _)) => len + 1,
            None => 0,
        };
        if start > path.len() || path.is_empty() {
            // An ancestor held open, or the root.
            cursor.path = path.to_owned();
            return Ok(());
        }
        let mut transient: Option<Dir> = None;
        let mut end = start;
        for name in path[start..].split_str("/") {
            end += name.len();
            let at = path[..end].as_bstr();
            let create_dir = || {
                let path = at.to_owned();
                move |source| Error::CreateDir { path, source }
            };
            let parent = match &transient {
                Some(dir) => dir,
                None => cursor.held.last().map_or(self.root, |(_, dir)| dir),
            };
            if !self.made.contains(at) {
                ensure_in(parent, name.as_bstr(), at)?;
                self.made.insert(at);
            }
            let next = parent
                .open_dir(os_path(name.as_bstr()).map_err(create_dir())?)
                .map_err(create_dir())?;
            if end == path.len() || cursor.held.len() + 1 < HELD_DIRS {
                cursor.held.push((end, next));
                transient = None;
            } else {
                transient = Some(next);
            }
            end += 1;
        }
        cursor.path = path.to_owned();
        Ok(())
    }

    /// Create `file` in `dir` and stream its blob into it.
    fn write_file(
        &mut self,
        dir_path: &BStr,
        file: &GroupFile,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let path = || join(dir_path, file.name.as_ref());
        let dir = self.here();
        let name = cap::os_str(&file.name).map_err(|source| Error::CreateFile {
            path: path(),
            source,
        })?;
        let (mut handle, mode_set) =
            dir.create_file(name, file.executable)
                .map_err(|source| Error::CreateFile {
                    path: path(),
                    source,
                })?;
        let reader = &mut self.reader;
        let mut read = |sink: &mut dyn std::io::Write| match file.at {
            Some(at) => reader.write_blob_at(&file.id, at, sink),
            None => reader.write_blob(&file.id, sink),
        };
        let written = match &file.conversion {
            Some(conversion) if conversion.lfs.is_some() => {
                let pointer = conversion.lfs.as_ref().expect("checked");
                let lfs = self.store.lfs_objects();
                let bytes =
                    crate::lfs::write_object(lfs, pointer, &mut handle).map_err(|source| {
                        Error::Lfs {
                            path: path(),
                            source,
                        }
                    })?;
                Ok(bytes)
            }
            Some(conversion) => {
                crate::attr::write_converted(conversion, &file.id, &mut read, &mut handle)
            }
            None => read(&mut handle),
        };
        let bytes = written.map_err(|err| match err {
            odb::Error::Sink { source, .. } => Error::WriteFile {
                path: path(),
                source,
            },
            source => Error::Object {
                path: path(),
                source,
            },
        })?;
        if let Some(mtime) = self.mtime {
            handle
                .set_modified(mtime)
                .map_err(|source| Error::WriteFile {
                    path: path(),
                    source,
                })?;
        }
        drop(handle);
        if file.executable {
            self.stats.executables += 1;
            if !mode_set {
                let dir = self.here();
                let outcome =
                    dir.set_executable(Path::new(name))
                        .map_err(|source| Error::SetMode {
                            path: path(),
                            source,
                        })?;
                match outcome {
                    cap::Chmod::Done => {}
                    cap::Chmod::Unsupported => self
                        .stats
                        .deferred
                        .push(Deferred::Executable { path: path() }),
                    // This writer created the file a moment ago, with `O_EXCL`.
                    cap::Chmod::NotRegular => {
                        return Err(Error::SetMode {
                            path: path(),
                            source: std::io::Error::other("it is no longer a regular file"),
                        });
                    }
                }
            }
        }
        self.stats.files += 1;
        self.stats.bytes += bytes;
        progress.wrote_file(bytes);
        Ok(())
    }
}

/// The length of the longest run of whole directory names `a` and `b` begin with: 3 for
/// `src/a` and `src/b`, 0 for `src` and `srcs`.
fn shared_dirs(a: &BStr, b: &BStr) -> usize {
    let same = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    let ends = |p: &BStr| p.len() == same || p[same] == b'/';
    if ends(a) && ends(b) {
        return same;
    }
    a[..same].rfind_byte(b'/').unwrap_or(0)
}

/// Create directory `name` in `parent` (whose path is that of `path` less its last name);
/// one that is there already is fine if it is a directory.
pub(super) fn ensure_in(parent: &Dir, name: &BStr, path: &BStr) -> Result<(), Error> {
    let create = || {
        let rel = os_path(name)?;
        match parent.create_dir(rel) {
            // Another writer (or guest) made it first. Only writers write here, and no
            // symlink exists until all files are written, so it can only be that
            // directory; the check is cheap insurance (and catches a file with that name
            // on a case-insensitive filesystem).
            Err(err)
                if err.kind() == std::io::ErrorKind::AlreadyExists
                    && parent.kind(rel)? == Some(cap::Kind::Dir) =>
            {
                Ok(())
            }
            result => result,
        }
    };
    create().map_err(|source| Error::CreateDir {
        path: path.to_owned(),
        source,
    })
}

/// A handle to the existing directory `path` below `root`, opened one name at a time (so
/// that no path longer than one name reaches the system); `None` for the root itself.
pub(super) fn reach_from(root: &Dir, path: &BStr) -> std::io::Result<Option<Dir>> {
    let mut dir: Option<Dir> = None;
    if path.is_empty() {
        return Ok(None);
    }
    for name in path.split_str("/") {
        let next = dir
            .as_ref()
            .unwrap_or(root)
            .open_dir(os_path(name.as_bstr())?)?;
        dir = Some(next);
    }
    Ok(dir)
}

pub(super) fn open_dir(root: &Dir, path: &BStr) -> std::io::Result<Dir> {
    if path.is_empty() {
        root.open_dir(Path::new("."))
    } else {
        root.open_dir(os_path(path)?)
    }
}

pub(super) fn os_path(path: &BStr) -> std::io::Result<&Path> {
    cap::os_str(path).map(Path::new)
}

pub(crate) fn join(dir: &BStr, name: &BStr) -> BString {
    let mut path = BString::from(dir);
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

#[cfg(test)]
mod tests {
    use super::shared_dirs;
    use bstr::ByteSlice;

    #[test]
    fn shared_dirs_counts_whole_names_only() {
        let shared = |a: &str, b: &str| shared_dirs(a.as_bytes().as_bstr(), b.as_bytes().as_bstr());
        assert_eq!(shared("src/a", "src/b"), 3);
        assert_eq!(shared("src", "srcs"), 0);
        assert_eq!(shared("srcs", "src"), 0);
        assert_eq!(shared("a/bc", "a/bd"), 1);
        assert_eq!(shared("a/b", "a/b/c"), 3);
        assert_eq!(shared("a/b/c", "a/b"), 3);
        assert_eq!(shared("a/b", "a/b"), 3);
        assert_eq!(shared("", "a"), 0);
        assert_eq!(shared("a", ""), 0);
        assert_eq!(shared("x/y", "a/b"), 0);
    }
}
