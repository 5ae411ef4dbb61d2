//! A bounded cache of delta bases, keyed by where they live in a pack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A decoded object, shared between the cache and its readers without copying.
pub(crate) type Data = Arc<Vec<u8>>;

/// Decoded objects that later deltas may use as their base, up to a byte budget.
///
/// Eviction drops the least recently used entries first. Entries can be many (a budget of
/// 8 MiB holds tens of thousands of small deltified trees), so the use order is kept in a
/// map of its own: every operation is logarithmic, never a scan of the whole cache.
pub(crate) struct DeltaCache {
    entries: HashMap<(usize, u64), Entry>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, (usize, u64)>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

struct Entry {
    kind: gix_object::Kind,
    data: Data,
    used: u64,
}

impl DeltaCache {
    /// A cache holding at most `budget` bytes of objects.
    pub(crate) fn new(budget: usize) -> Self {
        DeltaCache {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            bytes: 0,
            budget,
            tick: 0,
        }
    }

    /// The object at `offset` in pack `pack`, if cached.
    pub(crate) fn get(&mut self, pack: usize, offset: u64) -> Option<(gix_object::Kind, Data)> {
        let entry = self.entries.get_mut(&(pack, offset))?;
        self.tick += 1;
        self.order.remove(&entry.used);
        entry.used = self.tick;
        self.order.insert(self.tick, (pack, offset));
        Some((entry.kind, entry.data.clone()))
    }

    /// Remember `data` as the object at `offset` in pack `pack`, unless it is too large to be worth it.
    pub(crate) fn put(&mut self, pack: usize, offset: u64, kind: gix_object::Kind, data: Data) {
        // What the object occupies, slack included, is what the budget bounds.
        let size = data.capacity();
        if size > self.budget / 4 || self.entries.contains_key(&(pack, offset)) {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.bytes -= evicted.data.capacity();
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, (pack, offset));
        self.bytes += size;
        self.entries.insert(
            (pack, offset),
            Entry {
                kind,
                data,
                used: self.tick,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_never_holds_more_than_its_budget_and_evicts_the_least_recently_used() {
        let mut cache = DeltaCache::new(100);
        let blob = gix_object::Kind::Blob;
        cache.put(0, 1, blob, Arc::new(vec![0; 20]));
        cache.put(0, 2, blob, Arc::new(vec![0; 20]));
        cache.put(0, 3, blob, Arc::new(vec![0; 20]));
        assert!(cache.get(0, 1).is_some(), "entry 1 should still be cached");
        cache.put(0, 4, blob, Arc::new(vec![0; 20]));
        cache.put(0, 5, blob, Arc::new(vec![0; 20]));
        cache.put(0, 6, blob, Arc::new(vec![0; 20]));
        assert!(
            cache.bytes <= 100,
            "cache holds {} bytes, budget 100",
            cache.bytes
        );
        assert!(
            cache.get(0, 2).is_none(),
            "entry 2 was least recently used and should be gone"
        );
        assert!(
            cache.get(0, 1).is_some(),
            "entry 1 was used recently and should stay"
        );
        cache.put(0, 7, blob, Arc::new(vec![0; 60]));
        assert!(
            cache.get(0, 7).is_none(),
            "objects over a quarter of the budget are not cached"
        );
        assert_eq!(cache.order.len(), cache.entries.len());
    }

    #[test]
    fn many_small_entries_cycle_through_the_cache_in_use_order() {
        let mut cache = DeltaCache::new(10_000);
        let tree = gix_object::Kind::Tree;
        for offset in 0..100_000u64 {
            cache.put(0, offset, tree, Arc::new(vec![offset as u8; 10]));
            // Keep the first entry in use: it must survive every eviction.
            assert!(cache.get(0, 0).is_some(), "entry 0 was evicted at {offset}");
        }
        assert_eq!(cache.bytes, 10_000);
        assert_eq!(cache.entries.len(), 1_000);
        assert_eq!(cache.order.len(), 1_000);
        // The newest 999 others are cached, the older ones are not.
        assert!(cache.get(0, 99_999 - 998).is_some());
        assert!(cache.get(0, 99_999 - 999).is_none());
    }
}
