//! A bounded cache of delta bases, keyed by where they live in a pack.

use std::collections::HashMap;
use std::sync::Arc;

/// Decoded objects that later deltas may use as their base, up to a byte budget.
///
/// Eviction drops the least recently used entries first. The cache holds few entries
/// (bases are sizeable), so a linear scan to find the oldest is cheap.
pub(crate) struct DeltaCache {
    entries: HashMap<(u32, u64), Entry>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

struct Entry {
    kind: gix_object::Kind,
    data: Arc<[u8]>,
    used: u64,
}

impl DeltaCache {
    /// A cache holding at most `budget` bytes of objects.
    pub(crate) fn new(budget: usize) -> Self {
        DeltaCache {
            entries: HashMap::new(),
            bytes: 0,
            budget,
            tick: 0,
        }
    }

    /// The object at `offset` in pack `pack`, if cached.
    pub(crate) fn get(&mut self, pack: u32, offset: u64) -> Option<(gix_object::Kind, Arc<[u8]>)> {
        self.tick += 1;
        let entry = self.entries.get_mut(&(pack, offset))?;
        entry.used = self.tick;
        Some((entry.kind, entry.data.clone()))
    }

    /// Remember `data` as the object at `offset` in pack `pack`, unless it is too large to be worth it.
    pub(crate) fn put(&mut self, pack: u32, offset: u64, kind: gix_object::Kind, data: Arc<[u8]>) {
        if data.len() > self.budget / 4 || self.entries.contains_key(&(pack, offset)) {
            return;
        }
        while self.bytes + data.len() > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.bytes -= evicted.data.len();
            }
        }
        self.tick += 1;
        self.bytes += data.len();
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
        cache.put(0, 1, blob, vec![0; 20].into());
        cache.put(0, 2, blob, vec![0; 20].into());
        cache.put(0, 3, blob, vec![0; 20].into());
        assert!(cache.get(0, 1).is_some(), "entry 1 should still be cached");
        cache.put(0, 4, blob, vec![0; 20].into());
        cache.put(0, 5, blob, vec![0; 20].into());
        cache.put(0, 6, blob, vec![0; 20].into());
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
        cache.put(0, 7, blob, vec![0; 60].into());
        assert!(
            cache.get(0, 7).is_none(),
            "objects over a quarter of the budget are not cached"
        );
    }
}
