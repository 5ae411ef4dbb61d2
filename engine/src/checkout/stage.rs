//! Stage 3 for one plan, as [`run()`](super::run) drives it for the checkout and for each
//! of its submodules: the plan adapted to the destination's filesystem and written by a
//! backend, then, once every plan's files are written, what it leaves to the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Backend, Error, Fallbacks, Options, case};
use crate::cap::Filesystem;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::publish::Staging;
use crate::write::{self, Deferred, Stats};

/// A plan whose files are written.
pub(super) struct Written {
    /// The plan as written (folded on a case-insensitive filesystem).
    pub(super) plan: Arc<Plan>,
    /// The plan as the index records it (see [`Fold::index`]).
    pub(super) index: Arc<Plan>,
    /// What the writers wrote, and what they left to the orchestrator.
    pub(super) stats: Stats,
}

/// A plan as a filesystem holds it.
pub(super) struct Fold {
    /// What to write: on a filesystem that ignores case, without the entries a later one
    /// replaces there, and with directories whose names differ only in case merged.
    pub(super) write: Arc<Plan>,
    /// What the index records: the same entries, each at its path in the tree.
    pub(super) index: Arc<Plan>,
}

/// `plan` as a filesystem that ignores case can hold it: two entries that would be one file
/// there fail, or the earlier is left out, as [`Options::case_collisions`] says (each one
/// left out added to `fallbacks`). Unchanged elsewhere.
pub(super) fn fold(
    plan: Arc<Plan>,
    filesystem: &Filesystem,
    options: &Options,
    fallbacks: &mut Fallbacks,
) -> Result<Fold, Error> {
    if !filesystem.case_insensitive {
        return Ok(Fold {
            write: plan.clone(),
            index: plan,
        });
    }
    let folded = case::fold_plan(&plan, options.case_collisions)
        .map_err(|(first, second)| Error::CaseCollision { first, second })?;
    fallbacks.case_collisions.extend(folded.collisions);
    Ok(Fold {
        write: folded.plan.map_or_else(|| plan.clone(), Arc::new),
        index: folded.index.map_or(plan, Arc::new),
    })
}

/// Write the files of `plan` into `staging` with `backend`, as `filesystem` can hold them.
#[expect(
    clippy::too_many_arguments,
    reason = "the pipeline's state, passed through"
)]
pub(super) fn write_plan(
    backend: &dyn Backend,
    plan: Arc<Plan>,
    staging: &Staging<'_>,
    filesystem: &Filesystem,
    options: &Options,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
    fallbacks: &mut Fallbacks,
) -> Result<Written, Error> {
    let Fold { write: plan, index } = fold(plan, filesystem, options, fallbacks)?;
    let mut stats = backend.write(&plan, staging, options, progress, interrupt)?;
    if interrupt.load(Ordering::Relaxed) {
        return Err(write::Error::Interrupted.into());
    }
    if !filesystem.exec_bits {
        // Executables are written as plain files: nothing is left for the host to set.
        fallbacks.exec_bits_not_set += stats.executables;
        stats
            .deferred
            .retain(|op| !matches!(op, Deferred::Executable { .. }));
    }
    Ok(Written { plan, index, stats })
}

/// What `written` leaves to the end, and what its runtime could not do, through the
/// orchestrator's own handle (see `write::apply_deferred` for the order and checks), as
/// the filesystem allows. Called once every plan's files are written, so that no symlink
/// exists while any file is written.
pub(super) fn finish(
    written: &mut Written,
    staging: &Staging<'_>,
    filesystem: &Filesystem,
    fallbacks: &mut Fallbacks,
) -> Result<(), Error> {
    let mut finishing = written.plan.finishing();
    finishing.extend(written.stats.deferred.iter().cloned());
    fallbacks.symlinks_as_files += write::apply_deferred_on(staging.dir(), &finishing, filesystem)?;
    written.stats.dirs = written.plan.dirs() as u64;
    written.stats.symlinks = written.plan.symlinks() as u64;
    written.stats.deferred.extend(
        finishing
            .into_iter()
            .filter(|op| matches!(op, Deferred::Rename { .. })),
    );
    Ok(())
}
