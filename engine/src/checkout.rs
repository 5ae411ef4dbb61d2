//! The orchestrator: resolve → plan → write → finish → publish, once, for every runtime.
//!
//! Where stages 1 to 3 run is a [`Backend`]: [`Native`] runs them in this process with a
//! pool of threads; the host crate's sandbox runs them in WASI guests. Either way the
//! sequence, the staging directory, the operations left to the end and the atomic publish
//! are this module's, so a feature added to the pipeline works in every runtime.

pub(crate) mod case;
mod claims;
mod error;
mod native;
mod stage;
#[cfg(not(target_os = "wasi"))]
mod switch;
pub use case::{CaseCollision, CaseCollisions};
pub use claims::Claims;
pub use error::{BackendError, Error};
pub use native::Native;

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gix_hash::ObjectId;

use crate::cap::{Dir, Filesystem};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::publish::Staging;
use crate::store::Store;
use crate::write::Stats;
use crate::{gitdir, plan, publish, submodule, write};

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
    /// When switching a checkout in place: overwrite local changes (entries changed since
    /// the checkout was written, and files it does not record that stand in the new tree's
    /// way) instead of refusing. Default: `false`, refuse and list them.
    pub force: bool,
    /// Check out only these paths of the tree (`/`-separated, relative to the tree checked
    /// out), each at its place, as `git archive REV PATH…` does: subtrees outside them are
    /// not walked deeper than needed and their blobs are never read. A path that names
    /// nothing fails with [`plan::Error::PathNotFound`]. With a `.git`, the index lists the
    /// other entries as skip-worktree and sparse checkout is configured (see [`gitdir`]).
    /// Default: empty, the whole tree.
    pub paths: Vec<bstr::BString>,
    /// Whether and from where submodules are checked out (see [`submodule`]). Default:
    /// not at all, gitlinks stay empty directories.
    pub submodules: submodule::Options,
    /// How `.gitattributes` and git's line-ending settings apply (see [`crate::attr`]).
    /// Default: the repository's attributes, none of the user's git configuration.
    pub attributes: crate::attr::Options,
    /// Which of [`attributes`](Options::attributes)' settings (line endings, Git LFS
    /// pointers) were given for this run; when switching a checkout in place, the others
    /// are those its `.git/config` records (see [`crate::attr::Given`]). Default: none.
    pub attributes_given: crate::attr::Given,
    /// Write the tree as `git archive REV | tar -x` would: leave out what `export-ignore`
    /// names, expand `export-subst` files for the commit. A caller wants no `.git` with
    /// it (the CLI's `--archive` implies `--git none`). Default: `false`.
    pub archive: bool,
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
    /// Whether the destination already held this commit, as it should be, so nothing was
    /// written: a switch to the commit a checkout holds, or a concurrent checkout of the
    /// same commit that published first.
    pub unchanged: bool,
    /// For a destination that held a checkout and was switched in place: what changed, in
    /// paths. Its [`stats`](Outcome::stats) then count only what was written.
    pub switch: Option<crate::switch::Switched>,
    /// The submodules found, parents before children, each checked out unless
    /// [`skipped`](submodule::Module::skipped); empty without
    /// [`submodule::Options::stores`].
    pub submodules: Vec<submodule::Module>,
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
    /// The commit's `.gitmodules`, when [`submodule::Options::gitmodules`] asked for it and
    /// the tree has one.
    pub gitmodules: Option<Vec<u8>>,
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

/// Check out `rev` as the new directory `dest` in `parent`, running stages 1 to 3 on
/// `backend`.
///
/// `dest` must not exist, be an empty directory, or hold a checkout unfurl wrote with a
/// `.git` (which is then switched in place, see [`crate::switch`]). The tree is resolved
/// and validated first, then written into a staging directory beside `dest` and renamed
/// into place; on any error the staging directory is removed and `dest` is left as it
/// was.
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
    // The `.git` records the line-ending settings the files were written with.
    options.git.line_endings = options.attributes;
    if options.git.mode != gitdir::Mode::None {
        // Files a whole second older than the index are never racily clean to git, so
        // `git status` trusts their stat data without reading them (see `gitdir`).
        options.write.mtime = Some(gitdir::settled_mtime());
    }
    if !options.paths.is_empty() {
        // A malformed path fails before any work; the `.git` configures sparse checkout
        // with the paths as the plan normalized them.
        let selection = plan::Selection::new(&options.paths)?;
        options.git.sparse_paths = selection.prefixes().to_vec();
    }
    let options = &options;
    // Fail on an unusable destination before any work; one that holds an unfurl checkout
    // is switched in place instead.
    match publish::check_dest(parent, dest) {
        #[cfg(not(target_os = "wasi"))]
        Err(publish::Error::NotEmpty { .. })
            if crate::switch::is_checkout(parent, dest).unwrap_or(false) =>
        {
            return switch::run(backend, rev, parent, dest, options, progress, interrupt);
        }
        other => other?,
    };
    // The whole tree is validated before the staging directory exists.
    let planned = backend.plan(rev, options, interrupt)?;
    // Every submodule's store and commit is found, and every one planned, before anything
    // is written: what is missing is reported at once.
    let found = match &options.submodules.stores {
        Some(stores) => {
            let found = submodule::discover(stores.as_ref(), &planned, options, true, interrupt)?;
            let missing: Vec<submodule::MissingModule> = found
                .iter()
                .filter_map(|f| {
                    f.missing.map(|lack| submodule::MissingModule {
                        module: f.module.clone(),
                        lack,
                    })
                })
                .collect();
            if !missing.is_empty() {
                return Err(submodule::Error::Missing { modules: missing }.into());
            }
            found
        }
        None => Vec::new(),
    };
    let planned_modules: Vec<_> = found
        .iter()
        .filter_map(|f| f.planned.as_ref().map(|(b, p)| (&f.module, b.as_ref(), p)))
        .collect();
    let files: usize = planned.plan.files()
        + planned_modules
            .iter()
            .map(|(_, _, p)| p.plan.files())
            .sum::<usize>();
    progress.planned(files as u64);
    let write_start = Instant::now();
    let staging = match Staging::create_with(parent, dest, &options.publish) {
        Ok(staging) => staging,
        // Another process published a checkout here while this one planned: it is now a
        // checkout to switch (a no-op if it holds this commit), as if it had been there
        // from the start.
        #[cfg(not(target_os = "wasi"))]
        Err(err)
            if switch::lost_race(&err)
                && crate::switch::is_checkout(parent, dest).unwrap_or(false) =>
        {
            return switch::run(backend, rev, parent, dest, options, progress, interrupt);
        }
        Err(err) => return Err(err.into()),
    };
    let filesystem = probe(&staging)?;
    let mut fallbacks = Fallbacks::default();
    let w = |backend: &dyn Backend, plan, fallbacks: &mut Fallbacks| {
        stage::write_plan(
            backend,
            plan,
            &staging,
            &filesystem,
            options,
            progress,
            interrupt,
            fallbacks,
        )
    };
    let mut top = w(backend, planned.plan.clone(), &mut fallbacks)?;
    // Each submodule below its gitlink, from its own store, parents before children.
    let mut modules = Vec::with_capacity(planned_modules.len());
    for (module, backend, sub) in &planned_modules {
        let grafted = Arc::new(sub.plan.grafted(module.path.as_ref()));
        modules.push(w(*backend, grafted, &mut fallbacks)?);
    }
    stage::finish(&mut top, &staging, &filesystem, &mut fallbacks)?;
    for written in &mut modules {
        stage::finish(written, &staging, &filesystem, &mut fallbacks)?;
    }
    // The index records the tree's paths, whatever the filesystem merged.
    let plan = top.index.clone();
    let mut stats = top.stats;
    let capabilities = gitdir::Capabilities {
        symlinks: filesystem.symlinks,
        filemode: filesystem.exec_bits,
        ignorecase: filesystem.case_insensitive,
    };
    if options.git.mode != gitdir::Mode::None {
        let modules: Vec<&submodule::Module> = planned_modules.iter().map(|m| m.0).collect();
        if let Some(stores) = &options.submodules.stores {
            for (module, _, sub) in &planned_modules {
                let within = submodule::within(&modules, Some(module));
                submodule::write_gitdir(
                    staging.dir(),
                    module,
                    sub,
                    within,
                    stores.as_ref(),
                    options.git.mode,
                    capabilities,
                )?;
            }
        }
        let refs = planned.refs.clone().unwrap_or_default();
        let mut git = options.git.clone();
        git.submodules = submodule::within(&modules, None);
        gitdir::write(
            staging.dir(),
            planned.commit,
            &plan,
            &refs,
            &git,
            capabilities,
        )?;
    }
    for (written, (module, _, _)) in modules.into_iter().zip(&planned_modules) {
        let mut sub = written.stats;
        // The directories on the way to the submodule are its parent's.
        sub.dirs -= module.path.split(|&b| b == b'/').count() as u64;
        stats.add(sub);
    }
    let write = write_start.elapsed();
    let publish_start = Instant::now();
    // The orchestrator never runs under WASI, where switching does not exist.
    #[cfg_attr(target_os = "wasi", allow(unused_mut))]
    let mut unchanged = false;
    if let Err(err) = staging.publish() {
        // Another process published this destination first (the staging directory is gone
        // with `publish`'s error). If it holds this commit, finished, there is nothing left
        // to do. If it holds another, it is an unfurl checkout like any other: switch it,
        // as when it appears while this one plans, and as a run after it would. (With
        // submodules, which a switch does not check out, or without a `.git`, it stays
        // theirs.)
        #[cfg(not(target_os = "wasi"))]
        if switch::lost_race(&err) {
            if switch::already_there(parent, dest, planned.commit)? {
                unchanged = true;
            } else if options.submodules.stores.is_none()
                && crate::switch::is_checkout(parent, dest).unwrap_or(false)
            {
                return switch::run(backend, rev, parent, dest, options, progress, interrupt);
            }
        }
        if !unchanged {
            return Err(err.into());
        }
    }
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
        unchanged,
        switch: None,
        submodules: found.into_iter().map(|f| f.module).collect(),
    })
}

/// Probe the staging directory's filesystem (the destination's) once, before anything is
/// written: what it can hold decides how links, modes and names that differ only in case
/// are written.
fn probe(staging: &Staging<'_>) -> Result<Filesystem, Error> {
    staging.dir().probe().map_err(|source| Error::Probe {
        staging: staging.name().into(),
        source,
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
