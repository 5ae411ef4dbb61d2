//! The backend that runs stages 1 to 3 in this process.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::{Backend, Claims, Error, Options, Planned};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::publish::Staging;
use crate::store::Store;
use crate::write::Stats;
use crate::{gitdir, plan, resolve, submodule, write};

/// The backend that runs everything in this process: a pool of threads writes the files,
/// claiming a run of neighbouring groups (see [`Claims`]) at a time.
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
        let verify = options.write.verify_objects;
        let resolved = resolve::resolve_verifying(self.store, rev, verify)?;
        let resolve = start.elapsed();
        // The walk gets the whole delta-base budget; the writers share it out after.
        let cache = options.write.delta_cache_bytes;
        // With a `.git`, the index lists the entries outside the selected paths too.
        let selection = plan::Selection::new(&options.paths)?
            .keeping_outside(options.git.mode != gitdir::Mode::None);
        let mut plan = plan::plan_with(
            self.store,
            resolved.tree,
            cache,
            verify,
            &selection,
            &options.attributes,
            options.archive.then_some(resolved.commit),
            interrupt,
        )?;
        // After the walk: a lookup that missed may have found packs a repack added.
        plan.packs = self.store.odb().pack_names();
        // Every LFS object is there, or the checkout fails before writing, naming each.
        crate::lfs::check_present(self.store, &plan)?;
        let refs = match options.git.mode {
            gitdir::Mode::None => None,
            _ => Some(gitdir::store_refs(self.store)?),
        };
        let gitmodules = if options.submodules.gitmodules || options.submodules.stores.is_some() {
            submodule::read_gitmodules(self.store, resolved.tree)?
        } else {
            None
        };
        Ok(Planned {
            commit: resolved.commit,
            tree: resolved.tree,
            plan: Arc::new(plan),
            resolve,
            planning: start.elapsed() - resolve,
            refs,
            gitmodules,
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
        let work = Claims::new(
            plan.clone(),
            options.write.group_files,
            options.write.writers(),
        );
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
