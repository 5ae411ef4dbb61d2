//! The whole pipeline: resolve, plan, write, publish.

use std::ffi::OsStr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gix_hash::ObjectId;

use crate::cap::Dir;
use crate::progress::Progress;
use crate::store::Store;

use crate::{plan, publish, resolve, store, write};

/// How to check out.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How files are written (workers, delta cache). Default: one worker per core, 8 MiB of delta bases.
    pub write: write::Options,
    /// For [`materialize()`]: write only this shard, so that several runtimes can share
    /// one checkout (see [`plan::Shard`]). Ignored by [`checkout()`]. Default: `None`.
    pub shard: Option<plan::Shard>,
}

/// What a checkout did. Data, not logs: nothing here needs parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The commit checked out; `None` when the revision named a tree.
    pub commit: Option<ObjectId>,
    /// The tree checked out.
    pub tree: ObjectId,
    /// Counts and bytes written, and any operations deferred to the caller.
    pub stats: write::Stats,
    /// Wall time from opening the revision to publishing.
    pub elapsed: Duration,
    /// Where that time went, by stage.
    pub phases: Phases,
}

/// Wall time spent in each stage of the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Resolving the revision to a tree.
    pub resolve: Duration,
    /// Walking and validating the tree.
    pub plan: Duration,
    /// Writing directories, files and symlinks (into the staging directory).
    pub write: Duration,
    /// Finishing deferred work and renaming into place (zero for [`materialize()`]).
    pub publish: Duration,
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
}

impl Error {
    /// Whether the error is about the tree's content (a hostile or malformed tree) rather
    /// than the store, the revision or the destination.
    pub fn is_tree_rejected(&self) -> bool {
        matches!(self, Error::Plan(e) if e.path().is_some())
    }

    /// Whether the caller interrupted the checkout.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            Error::Plan(plan::Error::Interrupted) | Error::Write(write::Error::Interrupted)
        )
    }
}

/// Check out `rev` from `store` as the new directory `dest` in `parent`.
///
/// `dest` must not exist, or be an empty directory. The tree is resolved and validated
/// first, then written into a staging directory beside `dest` and renamed into place; on
/// any error the staging directory is removed and `dest` is left as it was.
pub fn checkout(
    store: &Store,
    rev: &str,
    parent: &Dir,
    dest: &OsStr,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    // The whole tree is validated before the staging directory exists.
    let (resolved, plan, mut phases) = prepare(store, rev, None, options, interrupt, start)?;
    let staging = publish::Staging::create(parent, dest)?;
    let stats = write::write(
        store,
        &plan,
        staging.dir(),
        &options.write,
        progress,
        interrupt,
    )?;
    phases.write = start.elapsed() - phases.resolve - phases.plan;
    // Natively nothing is deferred where modes and symlinks exist; elsewhere, finish
    // through the same handle.
    write::apply_deferred(staging.dir(), &stats.deferred)?;
    staging.publish()?;
    Ok(finish(resolved, stats, start, phases))
}

/// Resolve, plan and write `rev` from `store` into `root`, an existing empty directory,
/// without publishing: the building block for runtimes whose caller owns the destination
/// (the WASI guest writes into a preopened staging directory; the host publishes).
///
/// Operations the runtime cannot perform are listed in `Outcome::stats.deferred`.
pub fn materialize(
    store: &Store,
    rev: &str,
    root: &Dir,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let (resolved, plan, mut phases) =
        prepare(store, rev, options.shard, options, interrupt, start)?;
    let stats = write::write(store, &plan, root, &options.write, progress, interrupt)?;
    phases.write = start.elapsed() - phases.resolve - phases.plan;
    Ok(finish(resolved, stats, start, phases))
}

/// Stages 1 and 2: everything that happens before anything is written.
fn prepare(
    store: &Store,
    rev: &str,
    shard: Option<plan::Shard>,
    options: &Options,
    interrupt: &AtomicBool,
    start: Instant,
) -> Result<(resolve::Resolved, plan::Plan, Phases), Error> {
    let mut phases = Phases::default();
    let resolved = resolve::resolve(store, rev)?;
    phases.resolve = start.elapsed();
    // The walk gets the whole delta-base budget; the writers share it out after.
    let cache = options.write.delta_cache_bytes;
    let plan = plan::plan_with_cache(store, resolved.tree, shard, cache, interrupt)?;
    phases.plan = start.elapsed() - phases.resolve;
    Ok((resolved, plan, phases))
}

fn finish(
    resolved: resolve::Resolved,
    stats: write::Stats,
    start: Instant,
    mut phases: Phases,
) -> Outcome {
    let elapsed = start.elapsed();
    phases.publish = elapsed.saturating_sub(phases.resolve + phases.plan + phases.write);
    Outcome {
        commit: resolved.commit,
        tree: resolved.tree,
        stats,
        elapsed,
        phases,
    }
}
