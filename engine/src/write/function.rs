use std::cmp::Reverse;
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bstr::{BStr, BString, ByteSlice, ByteVec};

use super::{Deferred, Error, Options, Stats};
use crate::cap::{self, Dir, SymlinkOutcome};
use crate::odb;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::store::Store;

/// Write `plan` from `store` below `root`, an empty directory.
///
/// Files first (by `options.jobs` workers, each creating the directories it needs), then
/// the directories that hold no file, then symlinks; see the [module docs](super) for why
/// that order is what keeps the write safe.
pub fn write(
    store: &Store,
    plan: &Plan,
    root: &Dir,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Stats, Error> {
    progress.planned(plan.files.len() as u64);
    // A plan for one shard holds only that shard's files (see `plan::Shard`).
    let shard = plan.shard;
    let dirs = Dirs::new(plan, root);
    let groups = groups_by_dir(plan);
    let jobs = jobs(options.jobs).min(groups.len()).max(1);
    let mut stats = run_writers(
        store, plan, &dirs, &groups, jobs, options, progress, interrupt,
    )?;
    if shard.is_some_and(|s| s.index != 0) {
        // Shard 0 reports the directories and links; the others only their files.
        return Ok(stats);
    }

    // Directories holding no file (submodules, and parents of only those).
    for index in 1..plan.dirs.len() {
        dirs.ensure(index)?;
    }
    stats.dirs = plan.dirs.len() as u64 - 1;

    // Symlinks go last: from here on nothing else is written into this tree, so no
    // write can be redirected through a link the tree planted.
    if interrupt.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let mut open: Option<(usize, Dir)> = None;
    for link in &plan.symlinks {
        let path = join(plan.dir_path(link.dir).as_ref(), link.name.as_ref());
        let symlink_error = |source| Error::Symlink {
            path: path.clone(),
            source,
        };
        let outcome = if shard.is_some() {
            // Other shards may still be writing files: the caller creates every link
            // once all of them are done.
            SymlinkOutcome::Unsupported
        } else {
            let dir = match &open {
                Some((index, dir)) if *index == link.dir => dir,
                _ => {
                    let dir =
                        open_dir(root, plan.dir_path(link.dir).as_ref()).map_err(symlink_error)?;
                    &open.insert((link.dir, dir)).1
                }
            };
            let name = cap::os_str(&link.name).map_err(symlink_error)?;
            dir.symlink(&link.target, name).map_err(symlink_error)?
        };
        if outcome == SymlinkOutcome::Unsupported {
            stats.deferred.push(Deferred::Symlink {
                path: utf8(&path).map_err(symlink_error)?,
                target: link.target.to_vec(),
            });
        }
        stats.symlinks += 1;
    }

    // Entries this runtime could not name: renamed by the caller, after everything else.
    for rename in &plan.renames {
        let path = join(
            plan.dir_path(rename.dir).as_ref(),
            rename.placeholder.as_ref(),
        );
        stats.deferred.push(Deferred::Rename {
            path: utf8(&path).map_err(|source| Error::Rename {
                path: path.clone(),
                source,
            })?,
            name: rename.name.to_vec(),
        });
    }
    Ok(stats)
}

/// Finish, through `root`, the operations a confined runtime left undone (see [`Deferred`]).
///
/// The list comes from a sandboxed guest, so it is not trusted: every path is validated
/// like a tree entry (no `..`, no absolute paths, no `.git`) and resolved beneath `root`,
/// only regular files are made executable, never the target of a symlink, and all modes
/// are set before the first symlink is created. Renames come last, deepest first; each
/// moves an entry within its directory to a name that is validated like a tree entry's and
/// must be free.
pub fn apply_deferred(root: &Dir, deferred: &[Deferred]) -> Result<(), Error> {
    // Every mode first, then the symlinks: as in `write`, no file is touched once a link
    // exists, whatever order the list came in. Then the renames, deepest first, so that
    // every path still names what the guest wrote when it is used.
    let rank = |op: &Deferred| match op {
        Deferred::Executable { .. } => (0, Reverse(0)),
        Deferred::Symlink { .. } => (1, Reverse(0)),
        Deferred::Rename { path, .. } => (2, Reverse(path.matches('/').count())),
    };
    let mut ops: Vec<&Deferred> = deferred.iter().collect();
    ops.sort_by_key(|op| rank(op));
    for op in ops {
        match op {
            Deferred::Executable { path } => {
                let path_b: BString = path.as_str().into();
                let rel = checked_path(&path_b)?;
                if root.kind(rel).ok().flatten() != Some(cap::Kind::File) {
                    return Err(Error::BadDeferred {
                        path: path_b,
                        reason: "it is not a regular file",
                    });
                }
                match root.set_executable(rel) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Error::SetMode {
                            path: path_b,
                            source: std::io::Error::new(
                                std::io::ErrorKind::Unsupported,
                                "no file modes here",
                            ),
                        });
                    }
                    Err(source) => {
                        return Err(Error::SetMode {
                            path: path_b,
                            source,
                        });
                    }
                }
            }
            Deferred::Symlink { path, target } => {
                let path_b: BString = path.as_str().into();
                checked_path(&path_b)?;
                let symlink_error = |source| Error::Symlink {
                    path: path_b.clone(),
                    source,
                };
                let (parent, name) = match path_b.rsplit_once_str("/") {
                    Some((parent, name)) => (parent, name),
                    None => (&b""[..], &path_b[..]),
                };
                let dir = open_dir(root, parent.as_bstr()).map_err(symlink_error)?;
                let name = cap::os_str(name).map_err(symlink_error)?;
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
            Deferred::Rename { path, name } => rename_deferred(root, path, name.as_bstr())?,
        }
    }
    Ok(())
}

/// Rename the entry at `path` (as written) to `name` in the same directory.
fn rename_deferred(root: &Dir, path: &str, name: &BStr) -> Result<(), Error> {
    let from_b: BString = path.into();
    let from = checked_path(&from_b)?;
    let parent = match from_b.rfind_byte(b'/') {
        Some(slash) => from_b[..=slash].as_bstr(),
        None => b"".as_bstr(),
    };
    let mut to_b = BString::from(parent);
    to_b.push_str(name);
    let bad = |reason| Error::BadDeferred {
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

/// `path` as a relative path, after checking each component as a tree entry name.
fn checked_path(path: &BString) -> Result<&Path, Error> {
    let options = gix_validate::path::component::Options {
        protect_windows: cfg!(windows),
        protect_hfs: true,
        protect_ntfs: true,
    };
    for component in path.split_str("/") {
        if gix_validate::path::component(component.as_bstr(), None, options).is_err() {
            return Err(Error::BadDeferred {
                path: path.clone(),
                reason: "it is not a plain relative path inside the checkout",
            });
        }
    }
    os_path(path.as_ref()).map_err(|_| Error::BadDeferred {
        path: path.clone(),
        reason: "it cannot be represented here",
    })
}

/// `jobs` workers, each taking the next directory's files, decoding and writing them.
/// With one job the calling thread does it all (the only way under WASI).
#[allow(clippy::too_many_arguments)]
fn run_writers(
    store: &Store,
    plan: &Plan,
    dirs: &Dirs<'_>,
    groups: &[Range<usize>],
    jobs: usize,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Stats, Error> {
    let next = AtomicUsize::new(0);
    let claim = || match options.claim {
        Some(claim) => claim(),
        None => next.fetch_add(1, Ordering::Relaxed),
    };
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || {
        let mut writer = Writer::new(store, options.delta_cache_bytes / jobs);
        let result = (|| {
            while let Some(group) = groups.get(claim()) {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if interrupt.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                for index in group.clone() {
                    writer.write(plan, dirs, index, progress)?;
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
        writer.stats
    };
    let per_worker: Vec<Stats> = if jobs == 1 {
        vec![worker()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    };
    if let Some(err) = first_error.into_inner().expect("no panics while held") {
        return Err(err);
    }
    let mut stats = Stats::default();
    for s in per_worker {
        stats.files += s.files;
        stats.executables += s.executables;
        stats.bytes += s.bytes;
        stats.deferred.extend(s.deferred);
    }
    Ok(stats)
}

/// The plan's directories, created on demand by whichever worker first needs one, so
/// that directory creation runs in parallel with (and interleaved between) file writes.
struct Dirs<'a> {
    plan: &'a Plan,
    root: &'a Dir,
    created: Vec<AtomicBool>,
}

impl<'a> Dirs<'a> {
    fn new(plan: &'a Plan, root: &'a Dir) -> Dirs<'a> {
        let created = (0..plan.dirs.len())
            .map(|i| AtomicBool::new(i == 0))
            .collect();
        Dirs {
            plan,
            root,
            created,
        }
    }

    /// Make sure directory `index` and its ancestors exist.
    fn ensure(&self, index: usize) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut at = index;
        while !self.created[at].load(Ordering::Acquire) {
            missing.push(at);
            at = self.plan.dirs[at].parent;
        }
        for &at in missing.iter().rev() {
            let path = self.plan.dir_path(at);
            let create = || {
                let rel = os_path(path.as_ref())?;
                match self.root.create_dir(rel) {
                    // Another worker (or shard) made it first. Only they write here, and no
                    // symlink exists until all files are written, so it can only be that
                    // directory; the check is cheap insurance (and catches a file with that
                    // name on a case-insensitive filesystem).
                    Err(err)
                        if err.kind() == std::io::ErrorKind::AlreadyExists
                            && self.root.kind(rel)? == Some(cap::Kind::Dir) =>
                    {
                        Ok(())
                    }
                    result => result,
                }
            };
            create().map_err(|source| Error::CreateDir {
                path: path.clone(),
                source,
            })?;
            self.created[at].store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Creates files: holds an object reader, a few directory handles, and what it wrote.
struct Writer<'a> {
    reader: odb::Reader<'a>,
    /// Recently used directory handles, most recent first.
    dirs: Vec<(usize, Dir)>,
    stats: Stats,
}

/// How many directory handles a writer keeps open.
const OPEN_DIRS: usize = 8;

impl<'a> Writer<'a> {
    fn new(store: &'a Store, cache_bytes: usize) -> Writer<'a> {
        Writer {
            reader: store.odb().reader(cache_bytes),
            dirs: Vec::with_capacity(OPEN_DIRS),
            stats: Stats::default(),
        }
    }

    /// A handle to directory `index` of the plan, created if need be: each file is then a
    /// single-component create in it.
    fn dir(
        &mut self,
        dirs: &Dirs<'_>,
        index: usize,
        file_path: impl Fn() -> BString,
    ) -> Result<&Dir, Error> {
        match self.dirs.iter().position(|(i, _)| *i == index) {
            Some(0) => {}
            Some(at) => {
                let entry = self.dirs.remove(at);
                self.dirs.insert(0, entry);
            }
            None => {
                dirs.ensure(index)?;
                let dir =
                    open_dir(dirs.root, dirs.plan.dir_path(index).as_ref()).map_err(|source| {
                        Error::CreateFile {
                            path: file_path(),
                            source,
                        }
                    })?;
                self.dirs.truncate(OPEN_DIRS - 1);
                self.dirs.insert(0, (index, dir));
            }
        }
        Ok(&self.dirs[0].1)
    }

    /// Create file `index` of `plan` and stream its blob into it.
    fn write(
        &mut self,
        plan: &Plan,
        dirs: &Dirs<'_>,
        index: usize,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let file = &plan.files[index];
        let path = || file_path(plan, index);
        let dir = self.dir(dirs, file.dir, path)?;
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
        let bytes = self
            .reader
            .write_blob(&file.id, &mut handle)
            .map_err(|err| match err {
                odb::Error::Sink { source, .. } => Error::WriteFile {
                    path: path(),
                    source,
                },
                source => Error::Object {
                    path: path(),
                    source,
                },
            })?;
        drop(handle);
        if file.executable {
            self.stats.executables += 1;
            if !mode_set {
                let dir = &self.dirs[0].1;
                let done =
                    dir.set_executable(Path::new(name))
                        .map_err(|source| Error::SetMode {
                            path: path(),
                            source,
                        })?;
                if !done {
                    self.stats.deferred.push(Deferred::Executable {
                        path: utf8(&path()).map_err(|source| Error::SetMode {
                            path: path(),
                            source,
                        })?,
                    });
                }
            }
        }
        self.stats.files += 1;
        self.stats.bytes += bytes;
        progress.wrote_file(bytes);
        Ok(())
    }
}

fn file_path(plan: &Plan, index: usize) -> BString {
    let file = &plan.files[index];
    join(plan.dir_path(file.dir).as_ref(), file.name.as_ref())
}

/// Contiguous runs of files in one directory.
fn groups_by_dir(plan: &Plan) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=plan.files.len() {
        if i == plan.files.len() || plan.files[i].dir != plan.files[start].dir {
            if i > start {
                groups.push(start..i);
            }
            start = i;
        }
    }
    groups
}

fn open_dir(root: &Dir, path: &BStr) -> std::io::Result<Dir> {
    if path.is_empty() {
        root.open_dir(Path::new("."))
    } else {
        root.open_dir(os_path(path)?)
    }
}

fn os_path(path: &BStr) -> std::io::Result<&Path> {
    cap::os_str(path).map(Path::new)
}

fn join(dir: &BStr, name: &BStr) -> BString {
    let mut path = BString::from(dir);
    if !path.is_empty() {
        path.push_byte(b'/');
    }
    path.push_str(name);
    path
}

fn utf8(bytes: &[u8]) -> std::io::Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not valid UTF-8, which the host cannot be asked to finish",
        )
    })
}

/// How many workers `requested` means here.
#[cfg(not(target_os = "wasi"))]
fn jobs(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// wasm32-wasip1 has no threads.
#[cfg(target_os = "wasi")]
fn jobs(_requested: usize) -> usize {
    1
}
