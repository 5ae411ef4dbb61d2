//! The orchestrator: resolve → plan → write → finish → publish, once, for every runtime.
//!
//! Where stages 1 to 3 run is a [`Backend`]: [`Native`] runs them in this process with a
//! pool of threads; the host crate's sandbox runs them in WASI guests. Either way the
//! sequence, the staging directory, the operations left to the end and the atomic publish
//! are this module's, so a feature added to the pipeline works in every runtime.

mod case;
pub use case::{CaseCollision, CaseCollisions};

use std::ffi::OsStr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gix_hash::ObjectId;

use crate::cap::{Dir, Filesystem};
use crate::failure::{ErrorKind, Failure};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::publish::Staging;
use crate::store::Store;
use crate::write::{Deferred, Stats};
use crate::{gitdir, odb, plan, publish, resolve, store, write};

/// How to check out.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How files are written (writers, delta cache). Default: one writer per core, 8 MiB of
    /// delta bases.
    pub write: write::Options,
    /// Whether and how to write a `.git` beside the tree. Default: none (see
    /// [`gitdir::Mode`] for why the library's default differs from the CLI's).
    pub git: gitdir::Options,
    /// What to do when the destination's filesystem ignores case and two entries of the
    /// tree would be one file there (`README` and `readme`). Default:
    /// [`CaseCollisions::Error`], fail before writing.
    pub case_collisions: CaseCollisions,
    /// How the staging directory is named, swept and finished (see [`publish::Options`]).
    /// Default: no owner in its name, no sweep of orphans.
    pub publish: publish::Options,
}

/// What a checkout did. Data, not logs: nothing here needs parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The commit checked out; `None` when the revision named a tree.
    pub commit: Option<ObjectId>,
    /// The tree checked out.
    pub tree: ObjectId,
    /// Counts and bytes written. Its `deferred` lists what the writing runtime could not do
    /// and the orchestrator did for it (under WASI: exec bits, and renames of names WASI
    /// cannot spell); empty natively on Unix.
    pub stats: Stats,
    /// Wall time from opening the revision to publishing.
    pub elapsed: Duration,
    /// Where that time went, by stage.
    pub phases: Phases,
    /// What the destination's filesystem can hold, as probed before writing: what a `.git`
    /// written beside the checkout should record as `core.symlinks`, `core.filemode` and
    /// `core.ignorecase`.
    pub filesystem: Filesystem,
    /// Where the checkout differs from the tree because the filesystem could not hold it.
    pub fallbacks: Fallbacks,
}

/// Where a checkout differs from its tree because the destination's filesystem could not
/// hold the tree as it is (see [`Filesystem`]), as git adapts a work tree. All zero and
/// empty on a POSIX filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fallbacks {
    /// Symlinks written as regular files holding their target, byte for byte, because the
    /// filesystem has no symlinks (git's `core.symlinks=false`). They still count in
    /// [`Stats::symlinks`], not in [`Stats::files`].
    pub symlinks_as_files: u64,
    /// Executables written without an exec bit, because exec bits do not stick there
    /// (git's `core.filemode=false`). They still count in [`Stats::executables`].
    pub exec_bits_not_set: u64,
    /// Entries left out because a later one takes their place on a case-insensitive
    /// filesystem, with [`CaseCollisions::LastWins`]. A caller should warn about each.
    pub case_collisions: Vec<CaseCollision>,
}

/// Wall time spent in each stage of the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Resolving the revision to a tree.
    pub resolve: Duration,
    /// Walking and validating the tree.
    pub plan: Duration,
    /// Writing files into the staging directory, and what is left to the end (directories
    /// without files, symlinks).
    pub write: Duration,
    /// Renaming into place.
    pub publish: Duration,
}

/// A revision resolved and its tree planned: stages 1 and 2, as a [`Backend`] returns them.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The commit, when the revision named one.
    pub commit: Option<ObjectId>,
    /// The tree.
    pub tree: ObjectId,
    /// The validated checkout (shared: a sandbox hands its groups to guests on several
    /// threads).
    pub plan: Arc<Plan>,
    /// How long resolving took.
    pub resolve: Duration,
    /// How long planning took.
    pub planning: Duration,
    /// The store's references, when a `.git` is to be written.
    pub refs: Option<gitdir::StoreRefs>,
}

/// Where stages 1 to 3 run. The orchestrator ([`run()`]) calls [`Backend::plan()`] before
/// anything exists on disk, then [`Backend::write()`] into a fresh staging directory; it
/// does the rest itself.
pub trait Backend {
    /// Resolve `rev` and walk and validate its tree. Nothing is written.
    fn plan(&self, rev: &str, options: &Options, interrupt: &AtomicBool) -> Result<Planned, Error>;

    /// Write the files of `plan` into `staging`, with up to `options.write.writers()`
    /// writers, reporting each file to `progress`. Returns what was written, its `deferred`
    /// listing what this runtime could not do (exec bits under WASI).
    fn write(
        &self,
        plan: &Arc<Plan>,
        staging: &Staging<'_>,
        options: &Options,
        progress: &dyn Progress,
        interrupt: &AtomicBool,
    ) -> Result<Stats, Error>;
}

/// The backend that runs everything in this process: a pool of threads writes the files,
/// claiming one directory's files at a time.
#[derive(Debug, Clone, Copy)]
pub struct Native<'a> {
    store: &'a Store,
}

impl<'a> Native<'a> {
    /// Read objects from `store`.
    pub fn new(store: &'a Store) -> Native<'a> {
        Native { store }
    }
}

impl Backend for Native<'_> {
    fn plan(&self, rev: &str, options: &Options, interrupt: &AtomicBool) -> Result<Planned, Error> {
        let start = Instant::now();
        let resolved = resolve::resolve(self.store, rev)?;
        let resolve = start.elapsed();
        // The walk gets the whole delta-base budget; the writers share it out after.
        let cache = options.write.delta_cache_bytes;
        let plan = plan::plan_with_cache(self.store, resolved.tree, cache, interrupt)?;
        let refs = match options.git.mode {
            gitdir::Mode::None => None,
            _ => Some(gitdir::store_refs(self.store)?),
        };
        Ok(Planned {
            commit: resolved.commit,
            tree: resolved.tree,
            plan: Arc::new(plan),
            resolve,
            planning: start.elapsed() - resolve,
            refs,
        })
    }

    fn write(
        &self,
        plan: &Arc<Plan>,
        staging: &Staging<'_>,
        options: &Options,
        progress: &dyn Progress,
        interrupt: &AtomicBool,
    ) -> Result<Stats, Error> {
        let work = Claims::new(plan.clone());
        let claim = || Ok(work.next());
        let mut write = options.write.clone();
        write.jobs = write.writers().min(work.len()).max(1);
        Ok(write::write_files(
            self.store,
            staging.dir(),
            &claim,
            &write,
            progress,
            interrupt,
        )?)
    }
}

/// A plan's groups, handed out one at a time to whichever writer asks first: a writer on a
/// busy core simply takes fewer.
#[derive(Debug)]
pub struct Claims {
    plan: Arc<Plan>,
    groups: Vec<Range<usize>>,
    next: AtomicUsize,
    /// Files in the groups handed out so far.
    files: AtomicUsize,
}

impl Claims {
    /// Every group of `plan`, none claimed yet.
    pub fn new(plan: Arc<Plan>) -> Claims {
        Claims {
            groups: plan.groups(),
            plan,
            next: AtomicUsize::new(0),
            files: AtomicUsize::new(0),
        }
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Hand out nothing more: the checkout failed, the other writers may stop.
    pub fn stop(&self) {
        self.next.store(usize::MAX, Ordering::Relaxed);
    }

    /// The next unclaimed group, or `None` when all are taken.
    pub fn next(&self) -> Option<write::Group> {
        let index = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .ok()?;
        let range = self.groups.get(index)?;
        self.files.fetch_add(range.len(), Ordering::Relaxed);
        Some(self.plan.group(range.clone()))
    }

    /// How many files the groups handed out so far hold: progress, for a caller whose
    /// writers report none as they go.
    pub fn claimed_files(&self) -> usize {
        self.files.load(Ordering::Relaxed)
    }
}

/// Check out `rev` as the new directory `dest` in `parent`, running stages 1 to 3 on
/// `backend`.
///
/// `dest` must not exist, or be an empty directory. The tree is resolved and validated
/// first, then written into a staging directory beside `dest` and renamed into place; on
/// any error the staging directory is removed and `dest` is left as it was.
pub fn run(
    backend: &dyn Backend,
    rev: &str,
    parent: &Dir,
    dest: &OsStr,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let mut options = options.clone();
    if options.git.mode != gitdir::Mode::None {
        // Files a whole second older than the index are never racily clean to git, so
        // `git status` trusts their stat data without reading them (see `gitdir`).
        options.write.mtime = Some(gitdir::settled_mtime());
    }
    let options = &options;
    // Fail on an unusable destination before any work.
    publish::check_dest(parent, dest)?;
    // The whole tree is validated before the staging directory exists.
    let planned = backend.plan(rev, options, interrupt)?;
    progress.planned(planned.plan.files() as u64);
    let write_start = Instant::now();
    let staging = Staging::create_with(parent, dest, &options.publish)?;
    // Once, in the staging directory (DEST's filesystem), before anything is written: what
    // it can hold decides how links, modes and names that differ only in case are written.
    let filesystem = staging.dir().probe().map_err(|source| Error::Probe {
        staging: staging.name().into(),
        source,
    })?;
    let mut fallbacks = Fallbacks::default();
    let mut plan = planned.plan.clone();
    if filesystem.case_insensitive {
        let folded = case::fold_plan(&plan, options.case_collisions)
            .map_err(|(first, second)| Error::CaseCollision { first, second })?;
        if let Some(folded) = folded.plan {
            plan = Arc::new(folded);
        }
        fallbacks.case_collisions = folded.collisions;
    }
    let mut stats = backend.write(&plan, &staging, options, progress, interrupt)?;
    if interrupt.load(Ordering::Relaxed) {
        return Err(write::Error::Interrupted.into());
    }
    if !filesystem.exec_bits {
        // Executables are written as plain files: nothing is left for the host to set.
        fallbacks.exec_bits_not_set = stats.executables;
        stats
            .deferred
            .retain(|op| !matches!(op, Deferred::Executable { .. }));
    }
    // What the plan leaves to the end, and what the runtime could not do, through the
    // orchestrator's own handle (see `write::apply_deferred` for the order and checks),
    // as the filesystem allows.
    let mut finishing = plan.finishing();
    finishing.extend(stats.deferred.iter().cloned());
    fallbacks.symlinks_as_files = write::apply_deferred_on(staging.dir(), &finishing, &filesystem)?;
    if options.git.mode != gitdir::Mode::None {
        let refs = planned.refs.clone().unwrap_or_default();
        gitdir::write(
            staging.dir(),
            planned.commit,
            &plan,
            &refs,
            &options.git,
            gitdir::Capabilities {
                symlinks: filesystem.symlinks,
                filemode: filesystem.exec_bits,
                ignorecase: filesystem.case_insensitive,
            },
        )?;
    }
    stats.dirs = plan.dirs() as u64;
    stats.symlinks = plan.symlinks() as u64;
    stats.deferred.extend(
        finishing
            .into_iter()
            .filter(|op| matches!(op, Deferred::Rename { .. })),
    );
    let write = write_start.elapsed();
    let publish_start = Instant::now();
    staging.publish()?;
    Ok(Outcome {
        commit: planned.commit,
        tree: planned.tree,
        stats,
        elapsed: start.elapsed(),
        phases: Phases {
            resolve: planned.resolve,
            plan: planned.planning,
            write,
            publish: publish_start.elapsed(),
        },
        filesystem,
        fallbacks,
    })
}

/// Check out `rev` from `store` as the new directory `dest` in `parent`, in this process:
/// [`run()`] with the [`Native`] backend.
pub fn checkout(
    store: &Store,
    rev: &str,
    parent: &Dir,
    dest: &OsStr,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Outcome, Error> {
    run(
        &Native::new(store),
        rev,
        parent,
        dest,
        options,
        progress,
        interrupt,
    )
}

/// An error of a [`Backend`] itself, rather than of the engine it runs: for the sandbox, a
/// guest that ran out of memory or time, or a runtime that broke down.
pub trait BackendError: std::error::Error + Send + Sync + 'static {
    /// How to classify it.
    fn kind(&self) -> ErrorKind;
}

/// Any error of the pipeline, by stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The revision could not be resolved.
    #[error(transparent)]
    Resolve(#[from] resolve::Error),
    /// The tree failed validation.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// Writing the tree failed.
    #[error(transparent)]
    Write(#[from] write::Error),
    /// Preparing or publishing the destination failed.
    #[error(transparent)]
    Publish(#[from] publish::Error),
    /// Writing the checkout's `.git` failed.
    #[error(transparent)]
    Git(#[from] gitdir::Error),
    /// Reading a checkout on disk (to verify it) failed.
    #[error("could not read {path:?} in the checkout")]
    Read {
        /// The entry, relative to the checkout root.
        path: bstr::BString,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The engine failed where it ran, elsewhere (in a sandboxed guest): its failure as
    /// data, kind, path and object kept.
    #[error(transparent)]
    Remote(Failure),
    /// The backend itself failed.
    #[error("{0}")]
    Backend(Box<dyn BackendError>),
    /// The destination's filesystem could not be probed (see [`Filesystem`]).
    #[error("could not find out what the destination's filesystem can hold, in {staging:?}")]
    Probe {
        /// The staging directory probed, in the destination's parent.
        staging: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Two entries of the tree would be one file on the destination, whose filesystem
    /// ignores case, and [`Options::case_collisions`] says to fail.
    #[error(
        "{first:?} and {second:?} would be the same file here: the destination's filesystem ignores case; check out onto a case-sensitive filesystem, or keep the later entry as git does (`--case-collisions=last-wins`)"
    )]
    CaseCollision {
        /// The earlier entry, in git's index order, as the tree names it.
        first: bstr::BString,
        /// The later entry.
        second: bstr::BString,
    },
}

impl Error {
    /// The stable classification of this error (see [`ErrorKind`]); the same input gives
    /// the same kind in every runtime.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => store_kind(e),
            Error::Resolve(e) => match e {
                resolve::Error::NotFound { .. } | resolve::Error::Navigation { .. } => {
                    ErrorKind::RevisionNotFound
                }
                resolve::Error::Store(e) => store_kind(e),
                resolve::Error::Object(e) => object_kind(e),
                _ => ErrorKind::RevisionInvalid,
            },
            Error::Plan(e) => match e {
                plan::Error::Object(e) => object_kind(e),
                plan::Error::MissingObjects { .. } => ErrorKind::ObjectsMissing,
                plan::Error::Interrupted => ErrorKind::Interrupted,
                plan::Error::Malformed { .. } => ErrorKind::Sandbox,
                _ => ErrorKind::TreeRejected,
            },
            Error::Write(e) => match e {
                write::Error::Object { source, .. } => object_kind(source),
                write::Error::Interrupted => ErrorKind::Interrupted,
                write::Error::Refused { .. } => ErrorKind::Sandbox,
                _ => ErrorKind::Io,
            },
            Error::Publish(e) => match e {
                publish::Error::NotEmpty { .. } => ErrorKind::DestinationNotEmpty,
                publish::Error::NotADirectory { .. } | publish::Error::BadName { .. } => {
                    ErrorKind::DestinationUnusable
                }
                _ => ErrorKind::Io,
            },
            Error::Git(gitdir::Error::Store(e)) => store_kind(e),
            Error::Git(_) | Error::Read { .. } => ErrorKind::Io,
            Error::Remote(failure) => failure.kind,
            Error::Backend(e) => e.kind(),
            Error::Probe { .. } => ErrorKind::Io,
            Error::CaseCollision { .. } => ErrorKind::CaseCollision,
        }
    }

    /// Whether the error is about the tree's content (a hostile or malformed tree) rather
    /// than the store, the revision or the destination.
    pub fn is_tree_rejected(&self) -> bool {
        self.kind() == ErrorKind::TreeRejected
    }

    /// Whether the caller interrupted the checkout.
    pub fn is_interrupted(&self) -> bool {
        self.kind() == ErrorKind::Interrupted
    }

    /// This error as data, to send across a process boundary or print as JSON.
    pub fn failure(&self) -> Failure {
        if let Error::Remote(failure) = self {
            return failure.clone();
        }
        let (path, object) = match self {
            Error::Store(e) | Error::Resolve(resolve::Error::Store(e)) => store_subject(e),
            Error::Resolve(resolve::Error::Object(e)) | Error::Plan(plan::Error::Object(e)) => {
                object_subject(e)
            }
            Error::Plan(e) => (e.path().map(|p| p.to_string()), None),
            Error::Write(write::Error::Object { path, source }) => {
                (Some(path.to_string()), object_subject(source).1)
            }
            Error::Write(e) => (e.path().map(|p| p.to_string()), None),
            Error::Publish(e) => (publish_subject(e), None),
            Error::Git(e) => (e.path().map(|p| p.display().to_string()), None),
            Error::Read { path, .. } => (Some(path.to_string()), None),
            Error::Probe { staging, .. } => (Some(staging.display().to_string()), None),
            Error::CaseCollision { first, .. } => (Some(first.to_string()), None),
            _ => (None, None),
        };
        let missing = match self {
            Error::Plan(plan::Error::MissingObjects { objects, .. }) => objects
                .iter()
                .map(|(path, id)| crate::failure::MissingObject {
                    path: path.to_string(),
                    object: id.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let object = object.or_else(|| missing.first().map(|m| m.object.clone()));
        Failure {
            kind: self.kind(),
            message: crate::failure::one_line(self),
            path,
            object,
            missing,
        }
    }
}

fn store_kind(e: &store::Error) -> ErrorKind {
    match e {
        store::Error::NotARepository { .. } | store::Error::Unsupported { .. } => {
            ErrorKind::StoreUnusable
        }
        store::Error::Io { .. } => ErrorKind::Io,
        store::Error::BadRef { .. } => ErrorKind::StoreCorrupt,
        store::Error::Object(e) => object_kind(e),
    }
}

fn object_kind(e: &odb::Error) -> ErrorKind {
    match e {
        odb::Error::Io { .. } | odb::Error::Sink { .. } => ErrorKind::Io,
        _ => ErrorKind::StoreCorrupt,
    }
}

fn store_subject(e: &store::Error) -> (Option<String>, Option<String>) {
    match e {
        store::Error::Io { path, .. } => (Some(path.display().to_string()), None),
        store::Error::BadRef { name, .. } => (Some(name.to_string()), None),
        store::Error::Object(e) => object_subject(e),
        _ => (None, None),
    }
}

fn object_subject(e: &odb::Error) -> (Option<String>, Option<String>) {
    match e {
        odb::Error::NotFound { id } => (None, Some(id.to_string())),
        odb::Error::Io { path, .. } | odb::Error::CorruptFile { path, .. } => {
            (Some(path.display().to_string()), None)
        }
        odb::Error::Corrupt { id, path, .. } => {
            (Some(path.display().to_string()), Some(id.to_string()))
        }
        odb::Error::UnexpectedKind { id, .. }
        | odb::Error::Sink { id, .. }
        | odb::Error::BadLocation { id, .. } => (None, Some(id.to_string())),
    }
}

fn publish_subject(e: &publish::Error) -> Option<String> {
    let path = match e {
        publish::Error::NotEmpty { dest }
        | publish::Error::NotADirectory { dest, .. }
        | publish::Error::BadName { dest }
        | publish::Error::Inspect { dest, .. }
        | publish::Error::Rename { dest, .. }
        | publish::Error::KeepAttributes { dest, .. } => dest,
        publish::Error::CreateStaging { path, .. } => path,
    };
    Some(path.display().to_string())
}
