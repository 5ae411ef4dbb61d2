//! A plan's groups of files, handed out to writers one at a time.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plan::Plan;
use crate::write;

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
    /// Every group of `plan` (runs of at most `group_files` files of one directory), none
    /// claimed yet.
    pub fn new(plan: Arc<Plan>, group_files: usize) -> Claims {
        Claims {
            groups: plan.groups_of(group_files),
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
