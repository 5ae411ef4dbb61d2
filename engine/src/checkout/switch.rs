//! The orchestrator's other path: a destination that already holds an unfurl checkout is
//! switched in place to the revision asked for (see [`crate::switch`] for the steps and
//! what a crash at any of them leaves).

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::{Backend, Error, Fallbacks, Options, Outcome, Phases, stage};
use crate::cap::Dir;
use crate::progress::Progress;
use crate::publish::Staging;
use crate::switch::{self, Switched};
use crate::{gitdir, publish};

/// Switch the checkout `dest` in `parent` to `rev`.
pub(super) fn run(
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
    // Files written a second before the index are never racily clean (see `gitdir`).
    options.write.mtime = Some(gitdir::settled_mtime());
    if options.submodules.stores.is_some() {
        return Err(switch::Error::Unsupported {
            what: "checking out submodules",
        }
        .into());
    }
    let root = parent
        .open_dir(Path::new(dest))
        .map_err(|source| switch::Error::Read {
            path: dest.into(),
            source,
        })?;
    if options.paths.is_empty() {
        // A sparse checkout stays as sparse as it was made, unless paths are given anew.
        match root.read(Path::new(".git/info/sparse-checkout")) {
            Ok(patterns) => {
                options.paths = gitdir::sparse_paths_of(&patterns);
                options.git.sparse_paths = crate::plan::Selection::new(&options.paths)?
                    .prefixes()
                    .to_vec();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(switch::Error::Read {
                    path: ".git/info/sparse-checkout".into(),
                    source,
                }
                .into());
            }
        }
    }
    // Line endings stay as the checkout was made (`-c core.autocrlf`, `core.eol`, which its
    // `.git/config` records) unless given anew, one setting at a time as git's `-c` does: a
    // switch that dropped them would leave old files converted and new ones not.
    let defaults = crate::attr::Options::default();
    let given = options.attributes_given;
    let keep_autocrlf = !given.autocrlf && options.attributes.autocrlf == defaults.autocrlf;
    let keep_eol = !given.eol && options.attributes.eol == defaults.eol;
    let keep_lfs = !given.lfs_pointers && options.attributes.lfs_pointers == defaults.lfs_pointers;
    let config = root.read(Path::new(".git/config")).ok();
    let recorded_config = config.as_deref().map(gitdir::recorded).unwrap_or_default();
    let written_with = recorded_config.line_endings;
    // A switch checks out no submodule: those the checkout records stay recorded (git's
    // checkout leaves `.git/config` alone), so git still sees them initialized.
    if options.git.submodules.is_empty() {
        options.git.submodules = config
            .as_deref()
            .map(gitdir::recorded_submodules)
            .unwrap_or_default();
    }
    if keep_autocrlf {
        options.attributes.autocrlf = written_with.autocrlf;
    }
    if keep_eol {
        options.attributes.eol = written_with.eol;
    }
    if keep_lfs {
        options.attributes.lfs_pointers = written_with.lfs_pointers;
    }
    options.git.line_endings = options.attributes;
    let options = &options;
    // Held until this function returns: a second switch of this checkout waits here.
    let _lock = lock(&root)?;
    let recorded = switch::read(&root)?;
    let planned = backend.plan(rev, options, interrupt)?;
    let write_start = Instant::now();
    // On a read-only filesystem no staging directory can be made, and nothing can change;
    // but a checkout that already holds REV needs no change, and says so as on any other
    // filesystem. Its filesystem is then the one its `.git/config` records (it was probed
    // when the checkout was written); anything to change fails with the staging error.
    let (staging, filesystem) = match Staging::beside(parent, dest, &options.publish) {
        Ok(staging) => {
            let filesystem = super::probe(&staging)?;
            (Ok(staging), filesystem)
        }
        Err(err) if read_only(&err) => {
            let recorded = recorded_config.capabilities;
            let filesystem = crate::cap::Filesystem {
                symlinks: recorded.symlinks,
                exec_bits: recorded.filemode,
                case_insensitive: recorded.ignorecase,
            };
            (Err(err), filesystem)
        }
        Err(err) => return Err(err.into()),
    };
    let mut fallbacks = Fallbacks::default();
    // The tree as this filesystem holds it (without the entries a later one replaces
    // there), each entry at its path in the tree: what the index records and the diff
    // compares. A part of it is written in staging as the filesystem holds it (folded
    // again there), and renamed into place by these paths.
    let plan = stage::fold(planned.plan.clone(), &filesystem, options, &mut fallbacks)?.index;
    let new = gitdir::index_entries(&plan);
    // What the new tree's attributes do to each file they convert, by path.
    let conversions = plan
        .files
        .iter()
        .filter_map(|f| {
            let conversion = f.conversion.as_deref()?;
            let path = crate::write::join(plan.dir_path(f.dir).as_ref(), f.name.as_ref());
            Some((path, conversion))
        })
        .collect();
    // Did what decides how files are converted change since the checkout was written (a
    // `.gitattributes` added, changed or removed, or other line-ending settings)? Then a
    // file whose blob did not change may still have to be written anew: a switch leaves
    // the checkout as a fresh checkout of REV would be, where git would keep the old form.
    let mut attributes: Vec<(bstr::BString, gix_hash::ObjectId)> = new
        .iter()
        .map(|e| (&e.path, e.id))
        .chain(plan.outside.iter().map(|o| (&o.path, o.id)))
        .filter(|(path, _)| switch::is_attributes(path))
        .map(|(path, id)| (path.clone(), id))
        .collect();
    attributes.sort();
    let line_endings = |o: &crate::attr::Options| (o.autocrlf, o.eol, o.lfs_pointers);
    let recheck = attributes != recorded.attributes
        || line_endings(&options.attributes) != line_endings(&written_with);
    let changes = switch::compare(&root, &recorded, &new, filesystem, &conversions, recheck)?;
    if !changes.local.is_empty() && !options.force {
        return Err(switch::Error::LocalChanges {
            paths: changes.local.into_iter().collect(),
        }
        .into());
    }
    let repaired = recorded.journal.is_some();
    let switched = Switched {
        from: recorded.commit,
        written: changes.write.len() as u64,
        // An entry removed to make way for the new one at its path (a directory becoming
        // a file) is one changed path, counted as written.
        removed: changes.remove.difference(&changes.write).count() as u64,
        unchanged: changes.unchanged,
        repaired,
        kept: changes.kept.iter().cloned().collect(),
    };
    let outcome = |stats, switched, fallbacks, write_start: Instant| Outcome {
        commit: planned.commit,
        tree: planned.tree,
        stats,
        elapsed: start.elapsed(),
        phases: Phases {
            resolve: planned.resolve,
            plan: planned.planning,
            write: write_start.elapsed(),
            publish: Default::default(),
        },
        filesystem,
        fallbacks,
        unchanged: false,
        switch: Some(switched),
        submodules: Vec::new(),
    };
    if changes.write.is_empty()
        && changes.remove.is_empty()
        && recorded.commit == planned.commit
        && !repaired
    {
        let mut same = outcome(Default::default(), switched, fallbacks, write_start);
        same.unchanged = true;
        return Ok(same);
    }
    let staging = staging?;
    let part = Arc::new(switch::subset(&plan, &changes.write));
    progress.planned(part.files() as u64);
    // The part is cut from the folded plan: folding it again finds no collision, and
    // merges what directories differ only in case.
    let mut written = stage::write_plan(
        backend,
        part,
        &staging,
        &filesystem,
        options,
        progress,
        interrupt,
        &mut fallbacks,
    )?;
    stage::finish(&mut written, &staging, &filesystem, &mut fallbacks)?;
    let stats = written.stats;
    // With `--fsync`, every step below is made durable before the next, as a fresh
    // checkout's publish is: what is written, before anything of the checkout changes;
    // the journal, before the first entry does; the changed directories and the `.git`,
    // before the journal goes.
    let fsync = options.publish.fsync;
    if fsync {
        publish::durable::sync_tree(staging.dir(), Path::new(staging.name()))?;
    }
    // From here on the checkout changes: the journal first, so that a crash is seen.
    switch::write_journal(
        &root,
        changes.write.iter().chain(changes.remove.iter()),
        fsync,
    )?;
    switch::apply(&root, staging.dir(), &changes, &new)?;
    if fsync {
        switch::sync_changed(&root, &changes)?;
    }
    gitdir::update(
        &root,
        staging.dir(),
        planned.commit,
        &plan,
        planned.refs.as_ref(),
        &options.git,
        gitdir::Capabilities {
            symlinks: filesystem.symlinks,
            filemode: filesystem.exec_bits,
            ignorecase: filesystem.case_insensitive,
        },
    )?;
    if fsync {
        let git = root
            .open_dir(Path::new(".git"))
            .map_err(|source| switch::Error::Write {
                path: ".git".into(),
                source,
            })?;
        publish::durable::sync_tree(&git, Path::new(".git"))?;
    }
    switch::remove_journal(&root, fsync)?;
    drop(staging);
    Ok(outcome(stats, switched, fallbacks, write_start))
}

/// After losing the race to publish `dest` (another process renamed its checkout into
/// place first): whether what is there now is a finished checkout of `commit`, in which
/// case there is nothing left to do.
pub(super) fn already_there(
    parent: &Dir,
    dest: &OsStr,
    commit: Option<gix_hash::ObjectId>,
) -> Result<bool, Error> {
    if commit.is_none() || !switch::is_checkout(parent, dest).unwrap_or(false) {
        return Ok(false);
    }
    let Ok(root) = parent.open_dir(Path::new(dest)) else {
        return Ok(false);
    };
    let _lock = lock(&root)?;
    let recorded = switch::read(&root)?;
    Ok(recorded.journal.is_none() && recorded.commit == commit)
}

/// Take the checkout's lock (see [`switch::LOCK`]), waiting for another holder; `None` on
/// a read-only filesystem where no lock file exists (see [`Dir::lock`]).
fn lock(root: &Dir) -> Result<Option<std::fs::File>, Error> {
    root.lock(Path::new(switch::LOCK)).map_err(|source| {
        switch::Error::Write {
            path: switch::LOCK.into(),
            source,
        }
        .into()
    })
}

/// Whether `err` is the staging directory refused by a read-only filesystem.
fn read_only(err: &publish::Error) -> bool {
    matches!(err, publish::Error::CreateStaging { source, .. }
        if source.kind() == std::io::ErrorKind::ReadOnlyFilesystem)
}

/// Whether a publish failed because `dest` is there now.
pub(super) fn lost_race(err: &publish::Error) -> bool {
    matches!(
        err,
        publish::Error::NotEmpty { .. } | publish::Error::Rename { .. }
    )
}
