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
/// `claim` returns the next group to write, or `None` when none is left; it is shared by
/// every writer of the checkout, in this runtime and in others writing the same checkout.
/// The first error stops every writer and is returned.
#[allow(clippy::too_many_arguments)]
pub fn write_files(
    store: &Store,
    root: &Dir,
    claim: &(dyn Fn() -> Result<Option<Group>, Error> + Sync),
    options: &super::Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Stats, Error> {
    let jobs = options.writers();
    let cache_bytes = options.delta_cache_bytes;
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || {
        let mut writer = Writer::new(store, root, cache_bytes / jobs, options.verify_objects);
        writer.mtime = options.mtime;
        let result = (|| {
            while let Some(group) = claim()? {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if interrupt.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                writer.write_group(&group, progress)?;
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

/// Creates files: holds an object reader, a few directory handles, and what it wrote.
struct Writer<'a> {
    reader: odb::Reader<'a>,
    /// The store, for its Git LFS objects.
    store: &'a Store,
    root: &'a Dir,
    /// Directories known to exist (this writer made them, or found them made).
    made: HashSet<BString>,
    /// Recently used directory handles, most recent first.
    open: Vec<(BString, Dir)>,
    /// The modification time to give every file, if not the time of writing.
    mtime: Option<std::time::SystemTime>,
    stats: Stats,
}

/// How many directory handles a writer keeps open.
const OPEN_DIRS: usize = 8;

impl<'a> Writer<'a> {
    fn new(store: &'a Store, root: &'a Dir, cache_bytes: usize, verify: bool) -> Writer<'a> {
        Writer {
            reader: store.odb().reader(cache_bytes).verifying(verify),
            store,
            root,
            made: HashSet::new(),
            open: Vec::with_capacity(OPEN_DIRS),
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
        for file in &group.files {
            self.write_file(group.dir.as_ref(), file, progress)?;
        }
        Ok(())
    }

    /// A handle to directory `path`, created (with its parents) if need be: each file is
    /// then a single-component create in it.
    ///
    /// The directory is reached one name at a time from the nearest ancestor this writer
    /// holds open (or the root), never by its whole path: a tree may nest deeper than a
    /// path may be long (Linux's `PATH_MAX` is 4096 bytes; 2049 levels of `d/` exceed it,
    /// and the depth limit is 4096 levels).
    fn dir(&mut self, path: &BStr) -> Result<&Dir, Error> {
        match self.open.iter().position(|(p, _)| p == path) {
            Some(0) => {}
            Some(at) => {
                let entry = self.open.remove(at);
                self.open.insert(0, entry);
            }
            None => {
                let dir = self.reach(path)?;
                self.open.truncate(OPEN_DIRS - 1);
                self.open.insert(0, (path.to_owned(), dir));
            }
        }
        Ok(&self.open[0].1)
    }

    /// Open directory `path`, creating the missing ones on the way, from the nearest open
    /// ancestor.
    fn reach(&mut self, path: &BStr) -> Result<Dir, Error> {
        let create_dir = |at: &BStr| {
            let path = at.to_owned();
            move |source| Error::CreateDir { path, source }
        };
        if path.is_empty() {
            return open_dir(self.root, path).map_err(create_dir(path));
        }
        // The longest ancestor held open: `a/b` for `a/b/c`, never `a/bc` for `a/bcd`.
        let start = self
            .open
            .iter()
            .filter(|(p, _)| {
                p.is_empty() || (path.starts_with(p) && path.get(p.len()) == Some(&b'/'))
            })
            .max_by_key(|(p, _)| p.len())
            .map(|(p, dir)| (p.len(), dir));
        let (skip, mut parent) = match start {
            Some((0, dir)) => (0, dir),
            Some((len, dir)) => (len + 1, dir),
            None => (0, self.root),
        };
        let mut owned: Option<Dir> = None;
        let mut end = skip;
        for name in path[skip..].split_str("/") {
            end += name.len();
            let at = path[..end].as_bstr();
            if !self.made.contains(at) {
                ensure_in(parent, name.as_bstr(), at)?;
                self.made.insert(at.to_owned());
            }
            let next = parent
                .open_dir(os_path(name.as_bstr()).map_err(create_dir(at))?)
                .map_err(create_dir(at))?;
            parent = &*owned.insert(next);
            end += 1;
        }
        Ok(owned.expect("a non-empty path has a component"))
    }

    /// Create `file` in `dir` and stream its blob into it.
    fn write_file(
        &mut self,
        dir_path: &BStr,
        file: &GroupFile,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let path = || join(dir_path, file.name.as_ref());
        let dir = self.dir(dir_path)?;
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
                let dir = &self.open[0].1;
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
