//! Switching a checkout in place: from the commit it holds to another, touching only the
//! paths that differ.
//!
//! A checkout written with a `.git` records what it is: `.git/HEAD` the commit,
//! `.git/index` every entry with its object id and `lstat` data, and `.git/unfurl` that
//! unfurl made it (a user's own clone is never switched). The orchestrator
//! ([`crate::run`]) switches such a destination instead of refusing it:
//!
//! 1. it locks the checkout (`.git/unfurl.lock`, an OS lock a crashed holder releases), so
//!    a second switch of the same destination waits for the first;
//! 2. it finds local changes: an entry whose `lstat` data differs from the index's is
//!    hashed, and one that no longer matches is refused, with the list, unless forced;
//! 3. it plans the new revision as a fresh checkout would, and compares (`diff.rs`): what to
//!    write, what to remove, what is already right;
//! 4. it writes what changes into a staging directory beside the destination through the
//!    backend, so in every runtime, with the destination's filesystem fallbacks;
//! 5. it records the paths it is about to change in `.git/unfurl-switch` (the journal),
//!    removes and renames entries into place (`apply.rs`), brings the `.git` up to date
//!    with HEAD last, and removes the journal.
//!
//! A crash before step 5 leaves the destination as it was (and a staging directory that a
//! later run sweeps). A crash during step 5 leaves the journal: the next run trusts no
//! `lstat` data, hashes every path of the index, the journal and the new tree, and writes
//! whatever is not yet right, whatever revision it asks for. Until then HEAD still names
//! the old commit and [`verify`](crate::verify) reports what differs.

// The orchestrator, which switches, runs natively in every runtime.
#[cfg(not(target_os = "wasi"))]
mod apply;
#[cfg(not(target_os = "wasi"))]
mod diff;
#[cfg(not(target_os = "wasi"))]
mod state;

#[cfg(not(target_os = "wasi"))]
pub(crate) use apply::{apply, sync_changed};
#[cfg(not(target_os = "wasi"))]
pub(crate) use diff::compare;
#[cfg(not(target_os = "wasi"))]
pub use state::is_checkout;
#[cfg(not(target_os = "wasi"))]
pub(crate) use state::{LOCK, is_attributes, read, remove_journal, write_journal};

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use crate::gitdir::RealNames;
use crate::plan::Plan;

/// What a switch in place did, counted in paths (files, symlinks and submodules), as
/// `git diff --name-status --no-renames` between the two commits counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switched {
    /// The commit the checkout held before; `None` if HEAD was unborn.
    pub from: Option<ObjectId>,
    /// Paths written: added, modified, or changed in kind or mode.
    pub written: u64,
    /// Paths removed.
    pub removed: u64,
    /// Paths of the new tree that were already right and were not touched.
    pub unchanged: u64,
    /// Whether an interrupted switch was found (its journal) and its paths reconciled.
    pub repaired: bool,
    /// Submodules the new tree no longer has whose directories were kept because they
    /// hold something (a checkout of the submodule): git's checkout keeps them too. They
    /// are now untracked.
    pub kept: Vec<BString>,
}

/// Why a checkout could not be switched in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Entries of the checkout were changed since it was written, or entries it does not
    /// record stand where the new tree needs to write.
    #[error(
        "the checkout has local changes that switching would lose: {}; keep them elsewhere, or pass --force to overwrite them",
        list(paths)
    )]
    LocalChanges {
        /// Every such path, sorted.
        paths: Vec<BString>,
    },
    /// A file of the checkout's `.git`, or of its tree, could not be read.
    #[error("could not read {path:?} in the checkout")]
    Read {
        /// The file, relative to the checkout root.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A file of the `.git` is not what unfurl writes.
    #[error(
        "the checkout's {path:?} is unreadable ({what}); remove the checkout and check out again"
    )]
    Unreadable {
        /// The file, relative to the checkout root.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// What was asked cannot be done by a switch in place.
    #[error(
        "switching a checkout in place does not support {what} yet; check out into a new directory"
    )]
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// An entry of the checkout could not be changed.
    #[error("could not update {path:?} in the checkout")]
    Write {
        /// The entry, relative to the checkout root.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Error {
    /// The path involved, if any (the first, for local changes).
    pub fn path(&self) -> Option<&BStr> {
        match self {
            Error::LocalChanges { paths } => paths.first().map(|p| p.as_bstr()),
            Error::Read { path, .. }
            | Error::Unreadable { path, .. }
            | Error::Write { path, .. } => path.to_str().map(|p| p.as_bytes().as_bstr()),
            Error::Unsupported { .. } => None,
        }
    }
}

/// At most this many paths are named in a message; the error holds them all.
const LISTED: usize = 20;

fn list(paths: &[BString]) -> String {
    let mut out: Vec<String> = paths
        .iter()
        .take(LISTED)
        .map(|p| format!("{:?}", p.as_bstr()))
        .collect();
    if paths.len() > LISTED {
        out.push(format!("and {} more", paths.len() - LISTED));
    }
    out.join(", ")
}

/// The part of `plan` a switch writes: the files and symlinks at the real paths in
/// `write`, the directories on their way (renumbered, parents first, so a staging
/// directory gets only those), and the renames those need.
#[cfg_attr(target_os = "wasi", allow(dead_code))]
pub(crate) fn subset(plan: &Plan, write: &BTreeSet<BString>) -> Plan {
    let names = RealNames::new(plan);
    let mut keep = vec![false; plan.dirs.len()];
    let mut kept: HashSet<(usize, BString)> = HashSet::new();
    let mark = |mut dir: usize, keep: &mut Vec<bool>| {
        while !keep[dir] {
            keep[dir] = true;
            dir = plan.dirs[dir].parent;
        }
    };
    let files: Vec<_> = plan
        .files
        .iter()
        .filter(|f| write.contains(&names.path(plan, f.dir, f.name.as_ref())))
        .cloned()
        .collect();
    let symlinks: Vec<_> = plan
        .symlinks
        .iter()
        .filter(|l| write.contains(&names.path(plan, l.dir, l.name.as_ref())))
        .cloned()
        .collect();
    if !plan.dirs.is_empty() {
        keep[0] = true;
    }
    for (dir, name) in files
        .iter()
        .map(|f| (f.dir, &f.name))
        .chain(symlinks.iter().map(|l| (l.dir, &l.name)))
    {
        mark(dir, &mut keep);
        kept.insert((dir, name.clone()));
    }
    // Directories kept, renumbered in their order (parents before children).
    let mut index = vec![0; plan.dirs.len()];
    let mut dirs = Vec::new();
    for (i, dir) in plan.dirs.iter().enumerate() {
        if keep[i] {
            index[i] = dirs.len();
            let mut dir = dir.clone();
            dir.parent = index[dir.parent];
            dirs.push(dir);
            if i > 0 {
                kept.insert((plan.dirs[i].parent, plan.dirs[i].name.clone()));
            }
        }
    }
    let renames = plan
        .renames
        .iter()
        .filter(|r| kept.contains(&(r.dir, r.placeholder.clone())))
        .map(|r| {
            let mut r = r.clone();
            r.dir = index[r.dir];
            r
        })
        .collect();
    Plan {
        files: files
            .into_iter()
            .map(|mut f| {
                f.dir = index[f.dir];
                f
            })
            .collect(),
        symlinks: symlinks
            .into_iter()
            .map(|mut l| {
                l.dir = index[l.dir];
                l
            })
            .collect(),
        dirs,
        renames,
        packs: plan.packs.clone(),
        ..Plan::default()
    }
}
