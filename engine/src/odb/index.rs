//! A pack's index (`.idx`), and finding an id in it by interpolation.
//!
//! gix-pack parses and validates the index; lookups are ours. An index lists its ids in
//! order, and ids are SHA-1 hashes, spread uniformly: where an id lies between two others
//! is well predicted by its value. Interpolating finds most ids in two or three probes where
//! a binary search takes log2(n), about 20 in git/git's index of 850,000 objects. Each probe
//! of a large index is a cache miss (and in a mapped index a TLB miss), and the lookups of
//! a checkout's plan run before any writer starts: on git/git they were a third of the
//! plan's time.
//!
//! An index is untrusted input: ids out of order (a corrupt or hostile file) can make
//! interpolation guess badly, so it is given a few steps, then a binary search finishes the
//! range. Either way every probe stays within the id's fan-out bucket, and an id is found
//! only where the index holds exactly it.

use std::cmp::Ordering;
use std::path::PathBuf;

use gix_hash::oid;

use crate::cap::Bytes;

/// How many interpolation steps a lookup takes before it falls back to bisecting.
const INTERPOLATION_STEPS: u32 = 6;
/// A range this short is bisected: interpolating would not save a probe.
const BISECT_BELOW: u32 = 8;

/// A pack's index: gix-pack's parse of it, and its fan-out table.
pub(super) struct Index {
    file: gix_pack::index::File<Bytes>,
    /// `fan[b]`: how many ids start with a byte of at most `b`.
    fan: [u32; 256],
}

impl Index {
    /// Parse `data`, the index at `path`; the error is gix-pack's, for the caller to report.
    pub(super) fn new(data: Bytes, path: PathBuf) -> Result<Index, String> {
        // The fan-out table follows a version 2 index's magic and version; a version 1
        // index starts with it. gix-pack tells the versions apart the same way, and refuses
        // an index too short to hold the table, so `fan` is only used when it was read.
        let table = if data.starts_with(b"\xfftOc") { 8 } else { 0 };
        let fan = std::array::from_fn(|b| {
            let at = table + 4 * b;
            data.get(at..at + 4)
                .map_or(0, |n| u32::from_be_bytes(n.try_into().expect("4 bytes")))
        });
        let file = gix_pack::index::File::from_data(data, path, gix_hash::Kind::Sha1)
            .map_err(|err| err.to_string())?;
        Ok(Index { file, fan })
    }

    /// gix-pack's parse, for what it answers itself (counts, checksums, prefixes).
    pub(super) fn file(&self) -> &gix_pack::index::File<Bytes> {
        &self.file
    }

    /// Where in the pack the entry of `id` starts, if the index lists it.
    pub(super) fn offset_of(&self, id: &oid) -> Option<u64> {
        self.find(id)
            .map(|entry| self.file.pack_offset_at_index(entry))
    }

    /// The position of `id` in the index, if it is there.
    fn find(&self, id: &oid) -> Option<u32> {
        let bytes = id.as_bytes();
        let first = usize::from(bytes[0]);
        let count = self.file.num_objects();
        let mut lo = if first == 0 { 0 } else { self.fan[first - 1] };
        let mut hi = self.fan[first].min(count);
        if lo >= hi {
            return None;
        }
        // Within the bucket, ids are ordered by their next bytes: interpolate on eight of
        // them, between the keys known to bound the range.
        let key = key_of(bytes);
        let (mut lo_key, mut hi_key) = (0u64, u64::MAX);
        let mut steps = 0;
        while hi - lo >= BISECT_BELOW && steps < INTERPOLATION_STEPS {
            steps += 1;
            let span = u128::from(hi_key - lo_key) + 1;
            let into = u128::from(key.saturating_sub(lo_key).min(hi_key - lo_key));
            let guess = lo + (into * u128::from(hi - lo) / span) as u32;
            let guess = guess.clamp(lo, hi - 1);
            let at = self.file.oid_at_index(guess);
            match at.as_bytes().cmp(bytes) {
                Ordering::Equal => return Some(guess),
                Ordering::Less => {
                    lo = guess + 1;
                    lo_key = key_of(at.as_bytes()).max(lo_key);
                }
                Ordering::Greater => {
                    hi = guess;
                    hi_key = key_of(at.as_bytes()).min(hi_key);
                }
            }
            if lo >= hi || lo_key > hi_key {
                // Nothing left, or keys out of order: a corrupt index, which bisecting
                // the rest settles.
                break;
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.file.oid_at_index(mid).as_bytes().cmp(bytes) {
                Ordering::Equal => return Some(mid),
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

/// The eight bytes after the first (which picked the fan-out bucket), as a number.
fn key_of(id: &[u8]) -> u64 {
    u64::from_be_bytes(id[1..9].try_into().expect("an id is longer than 9 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id of `ids` (sorted) is found where it is, and ids near them are not found.
    fn check(ids: &[[u8; 20]]) {
        let index = build(ids);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.find(oid::from_bytes_unchecked(id)), Some(i as u32));
            let mut near = *id;
            near[19] ^= 1;
            if !ids.contains(&near) {
                assert_eq!(index.find(oid::from_bytes_unchecked(&near)), None);
            }
        }
    }

    /// A version-2 index listing `ids` (sorted), at increasing offsets.
    fn build(ids: &[[u8; 20]]) -> Index {
        let mut data = b"\xfftOc\0\0\0\x02".to_vec();
        for b in 0..256 {
            let n = ids.iter().filter(|id| usize::from(id[0]) <= b).count() as u32;
            data.extend(n.to_be_bytes());
        }
        for id in ids {
            data.extend(id);
        }
        data.extend(std::iter::repeat_n(0, 4 * ids.len()));
        for i in 0..ids.len() as u32 {
            data.extend((12 + i).to_be_bytes());
        }
        data.extend([0; 40]);
        Index::new(Bytes::from_vec(data), "test.idx".into()).unwrap()
    }

    /// A deterministic stream of pseudo-random bytes (xorshift).
    fn ids(n: usize, mut seed: u64) -> Vec<[u8; 20]> {
        let mut out: Vec<[u8; 20]> = (0..n)
            .map(|_| {
                std::array::from_fn(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn uniform_ids_are_found() {
        check(&ids(20_000, 0x9E37_79B9_7F4A_7C15));
    }

    #[test]
    fn clustered_ids_are_found() {
        // Ids sharing long prefixes defeat interpolation; bisecting still finds them.
        let mut ids: Vec<[u8; 20]> = (0..3000u32)
            .map(|i| {
                let mut id = [0xAB; 20];
                id[16..].copy_from_slice(&(i * i).to_be_bytes());
                id
            })
            .collect();
        ids.extend((0..100u8).map(|i| [i; 20]));
        ids.sort();
        ids.dedup();
        check(&ids);
    }

    #[test]
    fn ids_out_of_order_are_not_found_where_they_are_not() {
        // A corrupt index: the lookup ends, and finds only exact matches.
        let mut listed = ids(500, 7);
        listed.reverse();
        let index = build(&listed);
        for (i, id) in listed.iter().enumerate() {
            if let Some(at) = index.find(oid::from_bytes_unchecked(id)) {
                assert_eq!(at, i as u32);
            }
        }
    }
}
