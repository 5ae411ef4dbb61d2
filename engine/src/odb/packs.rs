//! The packs of a store, as a list that only grows: those listed when the store was opened,
//! then those a refresh found (see `Odb::refresh`).
//!
//! Readers on several threads hold `&Pack`s and key their read-ahead windows by a pack's
//! address, so a pack never moves and is never removed while the store is open. Its data
//! stays readable even after a concurrent repack deletes its files: the pack was opened
//! when it was listed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::pack::Pack;

/// How many packs a refresh may add while a store is open: a repack or a fetch beside a
/// checkout adds one or two; beyond this, lookups simply miss as before.
pub(super) const MAX_ADDED: usize = 32;

/// An append-only list of packs, readable from any thread while one adds to it.
pub(super) struct Packs {
    /// Filled in order, never emptied: `slots[..len]` are set.
    slots: Box<[OnceLock<Pack>]>,
    len: AtomicUsize,
}

impl Packs {
    /// `listed`, with room for [`MAX_ADDED`] more.
    pub(super) fn new(listed: Vec<Pack>) -> Packs {
        let mut slots: Vec<OnceLock<Pack>> = Vec::with_capacity(listed.len() + MAX_ADDED);
        for pack in listed {
            slots.push(OnceLock::from(pack));
        }
        let len = slots.len();
        slots.resize_with(len + MAX_ADDED, OnceLock::new);
        Packs {
            slots: slots.into_boxed_slice(),
            len: AtomicUsize::new(len),
        }
    }

    /// How many packs there are now.
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Pack `index`, which must be below a [`Packs::len`] seen before.
    pub(super) fn get(&self, index: usize) -> &Pack {
        self.slots[index]
            .get()
            .expect("every pack below `len` is set")
    }

    /// Every pack there is now, with its index.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Pack)> {
        (0..self.len()).map(|index| (index, self.get(index)))
    }

    /// Add `pack`, returning its index, or `None` (dropping it) when the list is full. Only
    /// one thread adds at a time (the caller holds the store's refresh lock).
    pub(super) fn push(&self, pack: Pack) -> Option<usize> {
        let index = self.len.load(Ordering::Relaxed);
        self.slots.get(index)?.set(pack).ok()?;
        // Release: a reader that sees the new length sees the pack.
        self.len.store(index + 1, Ordering::Release);
        Some(index)
    }
}
