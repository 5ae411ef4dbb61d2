//! A plan's groups of files, handed out to writers a run of neighbouring groups at a time.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plan::Plan;
use crate::write;

/// A plan's groups, handed out a claim at a time to whichever writer asks first: a writer on
/// a busy core simply takes fewer.
///
/// A claim is a run of consecutive groups (neighbouring directories, in the plan's
/// depth-first order) of up to 64 files (`CLAIM_FILES`), or one group if that is larger; and
/// of at most a quarter of the files left per writer, so that a checkout of few files is
/// still shared out (100 files in claims of 64 would give one writer two thirds of them),
/// and the last claims are small enough for the writers to finish together. One
/// directory per claim dealt the two writers neighbouring directories in turn: both then
/// opened and created the same parents (cargo's tests, one or two files a directory, cost
/// about two opens per directory and hundreds of `mkdir`s lost to the other writer), and
/// each created files in the directory the other was creating a subdirectory in, waiting
/// on its lock.
#[derive(Debug)]
pub struct Claims {
    plan: Arc<Plan>,
    groups: Vec<Range<usize>>,
    /// The claims, as ranges of `groups`.
    claims: Vec<Range<usize>>,
    next: AtomicUsize,
    /// Files in the groups handed out so far.
    files: AtomicUsize,
}

impl Claims {
    /// Every group of `plan` (runs of at most `group_files` files of one directory), none
    /// claimed yet, in claims for `writers` writers.
    pub fn new(plan: Arc<Plan>, group_files: usize, writers: usize) -> Claims {
        let groups = plan.groups_of(group_files);
        let claims = claims_of(&groups, CLAIM_FILES, writers);
        Claims {
            groups,
            claims,
            plan,
            next: AtomicUsize::new(0),
            files: AtomicUsize::new(0),
        }
    }

    /// How many claims there are: more writers would have nothing to take.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// Hand out nothing more: the checkout failed, the other writers may stop.
    pub fn stop(&self) {
        self.next.store(usize::MAX, Ordering::Relaxed);
    }

    /// The groups of the next claim, or `None` when all are taken.
    pub fn next(&self) -> Option<Vec<write::Group>> {
        let index = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .ok()?;
        let groups = &self.groups[self.claims.get(index)?.clone()];
        let files = groups.iter().map(|g| g.len()).sum();
        self.files.fetch_add(files, Ordering::Relaxed);
        Some(groups.iter().map(|g| self.plan.group(g.clone())).collect())
    }

    /// How many files the groups handed out so far hold: progress, for a caller whose
    /// writers report none as they go.
    pub fn claimed_files(&self) -> usize {
        self.files.load(Ordering::Relaxed)
    }
}

/// The most files a claim of several groups holds.
pub(crate) const CLAIM_FILES: usize = 64;

/// `groups` cut into runs of consecutive groups of at most `max` files, or one group;
/// towards the end, of at most a quarter of what is left per writer (so that the last
/// claims are small and writers finish together).
fn claims_of(groups: &[Range<usize>], max: usize, writers: usize) -> Vec<Range<usize>> {
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let mut claims = Vec::new();
    let mut start = 0;
    let mut files = 0;
    let mut done = 0;
    for (i, group) in groups.iter().enumerate() {
        let limit = match writers {
            0 => max,
            n => ((total - done) / (4 * n)).clamp(1, max),
        };
        if i > start && files + group.len() > limit {
            claims.push(start..i);
            start = i;
            done += files;
            files = 0;
        }
        files += group.len();
    }
    if start < groups.len() {
        claims.push(start..groups.len());
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::claims_of;

    #[test]
    fn claims_are_runs_of_neighbouring_groups_up_to_the_limit() {
        let groups = [0..2, 2..3, 3..8, 8..9, 9..109, 109..110];
        // One writer: 110 files, a quarter of what is left is never below 8 before the
        // last claim.
        assert_eq!(claims_of(&groups, 8, 1), vec![0..3, 3..4, 4..5, 5..6]);
        assert_eq!(
            claims_of(&groups, 1, 1),
            vec![0..1, 1..2, 2..3, 3..4, 4..5, 5..6]
        );
        assert_eq!(claims_of(&groups, 1000, 1), vec![0..4, 4..5, 5..6]);
        assert!(claims_of(&[], 8, 2).is_empty());
    }

    #[test]
    fn claims_shrink_as_the_files_run_out() {
        // 100 one-file groups, two writers, claims of up to 64: the first holds 12 (a
        // quarter of 100 per writer), and the last ones one each.
        let groups: Vec<_> = (0..100).map(|i| i..i + 1).collect();
        let claims = claims_of(&groups, 64, 2);
        let sizes: Vec<usize> = claims.iter().map(|c| c.len()).collect();
        assert_eq!(sizes[0], 12);
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert_eq!(sizes[sizes.len() - 8..], [1; 8], "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 100);
    }
}
