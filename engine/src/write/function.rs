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
/// Directories first, then files (by `options.jobs` workers), then symlinks; see the
/// [module docs](super) for why that order is what keeps the write safe.
pub fn write(
    store: &Store,
    plan: &Plan,
    root: &Dir,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Stats, Error> {
    let mut stats = Stats::default();
    progress.planned(plan.files.len() as u64);
    for dir in plan.dirs.iter().skip(1) {
        let create = |path: &BStr| root.create_dir(os_path(path)?);
        create(dir.path.as_ref()).map_err(|source| Error::CreateDir {
            path: dir.path.clone(),
            source,
        })?;
        stats.dirs += 1;
    }

    let groups = groups_by_dir(plan);
    let jobs = jobs(options.jobs).min(groups.len()).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let cache_bytes = options.delta_cache_bytes / jobs;
    let worker = || {
        let mut worker = Worker {
            reader: store.odb().reader(cache_bytes),
            stats: Stats::default(),
        };
        let result = (|| {
            loop {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if interrupt.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                worker.write_group(plan, root, group.clone(), progress)?;
            }
        })();
        if let Err(err) = result {
            failed.store(true, Ordering::Relaxed);
            first_error
                .lock()
                .expect("no panics while held")
                .get_or_insert(err);
        }
        worker.stats
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
    for s in per_worker {
        stats.files += s.files;
        stats.executables += s.executables;
        stats.bytes += s.bytes;
        stats.deferred.extend(s.deferred);
    }

    // Symlinks go last: from here on nothing else is written into this tree, so no
    // write can be redirected through a link the tree planted.
    if interrupt.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let mut open: Option<(usize, Dir)> = None;
    for link in &plan.symlinks {
        let path = join(plan.dirs[link.dir].path.as_ref(), link.name.as_ref());
        let symlink_error = |source| Error::Symlink {
            path: path.clone(),
            source,
        };
        let dir = match &open {
            Some((index, dir)) if *index == link.dir => dir,
            _ => {
                let dir =
                    open_dir(root, plan.dirs[link.dir].path.as_ref()).map_err(symlink_error)?;
                &open.insert((link.dir, dir)).1
            }
        };
        let name = cap::os_str(&link.name).map_err(symlink_error)?;
        match dir.symlink(&link.target, name).map_err(symlink_error)? {
            SymlinkOutcome::Created => {}
            SymlinkOutcome::Unsupported => stats.deferred.push(Deferred::Symlink {
                path: utf8(&path).map_err(symlink_error)?,
                target: utf8(&link.target).map_err(symlink_error)?,
            }),
        }
        stats.symlinks += 1;
    }
    Ok(stats)
}

/// Finish, through `root`, the operations a confined runtime left undone (see [`Deferred`]).
///
/// The list comes from a sandboxed guest, so it is not trusted: every path is validated
/// like a tree entry (no `..`, no absolute paths, no `.git`) and resolved beneath `root`,
/// and only regular files are made executable, never the target of a symlink.
pub fn apply_deferred(root: &Dir, deferred: &[Deferred]) -> Result<(), Error> {
    for op in deferred {
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
                match dir
                    .symlink(target.as_bytes(), name)
                    .map_err(symlink_error)?
                {
                    SymlinkOutcome::Created => {}
                    SymlinkOutcome::Unsupported => {
                        return Err(symlink_error(std::io::Error::new(
                            std::io::ErrorKind::Unsupported,
                            "symlinks cannot be created here",
                        )));
                    }
                }
            }
        }
    }
    Ok(())
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

/// One worker: an object reader of its own, and what it wrote.
struct Worker<'a> {
    reader: odb::Reader<'a>,
    stats: Stats,
}

impl Worker<'_> {
    /// Write the files `range` of `plan`, which all live in one directory.
    fn write_group(
        &mut self,
        plan: &Plan,
        root: &Dir,
        range: Range<usize>,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let files = &plan.files[range];
        let dir_path = plan.dirs[files[0].dir].path.as_ref();
        // One handle per directory: each file is then a single-component create in it.
        let dir = open_dir(root, dir_path).map_err(|source| Error::CreateFile {
            path: join(dir_path, files[0].name.as_ref()),
            source,
        })?;
        for file in files {
            let path = || join(dir_path, file.name.as_ref());
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
            if file.executable {
                self.stats.executables += 1;
                if !mode_set {
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
        }
        Ok(())
    }
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
