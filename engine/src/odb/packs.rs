//! The packs of a store: listing them, the list that holds them (it only grows: those
//! listed when the store was opened, then those a refresh found when a lookup missed), and
//! their numbering between the process that plans and the writers that list the store
//! again (see the `location` module for why a store changes under a checkout).
//!
//! Readers on several threads hold `&Pack`s and key their read-ahead windows by a pack's
//! address, so a pack never moves and is never removed while the store is open. Its data
//! stays readable even after a concurrent repack deletes its files: the pack was opened
//! when it was listed.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};

use super::pack::Pack;
use super::{Error, Odb};
use crate::cap::Dir;

/// How many packs a refresh may add while a store is open: a repack or a fetch beside a
/// checkout adds one or two; beyond this, lookups simply miss as before.
pub(super) const MAX_ADDED: usize = 32;

/// An append-only list of packs, readable from any thread while one adds to it.
pub(super) struct Packs {
    /// Filled in order, never emptied: `slots[..len]` are set.
    slots: Box<[OnceLock<Pack>]>,
    len: AtomicUsize,
    /// How many were listed when the store was opened: `slots[..listed]`.
    listed: usize,
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
            listed: len,
        }
    }

    /// The packs listed when the store was opened, without those a refresh added since.
    pub(super) fn listed(&self) -> impl Iterator<Item = &Pack> {
        (0..self.listed).map(|index| self.get(index))
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

/// The state of [`Odb::refresh`].
pub(super) struct Refresh {
    /// Listings that found no new pack.
    futile: u32,
    /// Packs each object directory gained, by source.
    added: Vec<u32>,
}

impl Refresh {
    /// Nothing listed again yet, for a store of `sources` object directories.
    pub(super) fn new(sources: usize) -> Refresh {
        Refresh {
            futile: 0,
            added: vec![0; sources],
        }
    }
}

/// How many listings that find no new pack [`Odb::refresh`] makes before it stops listing:
/// a miss after that is an object the store lacks (a partial clone may lack thousands, and
/// a checkout then fails naming them all), not one a repack moved.
pub(super) const FUTILE_REFRESHES: u32 = 8;

impl Odb {
    /// List the object directories' packs again and add those that appeared since they
    /// were last listed; return whether any did.
    ///
    /// A repack running beside the checkout writes a new pack, then deletes the packs and
    /// loose objects it holds: an object missed in the packs listed before and as a loose
    /// file is in the new pack. git rescans its packs on a miss for the same reason. Packs
    /// already known stay (they are open, and their data readable whatever happened to
    /// their files). After [`FUTILE_REFRESHES`] listings that find nothing, it stops
    /// listing.
    pub(super) fn refresh(&self) -> Result<bool, Error> {
        let mut state = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        if state.futile >= FUTILE_REFRESHES {
            return Ok(false);
        }
        let mut added = false;
        'sources: for (number, source) in self.sources.iter().enumerate() {
            let Some(listing) = list_packs(&source.dir, &source.label)? else {
                continue;
            };
            for stem in &listing.stems {
                let known = self
                    .packs
                    .iter()
                    .any(|(_, p)| p.source as usize == number && p.stem == *stem);
                if known {
                    continue;
                }
                let count = source.listed.len() as u32 + state.added[number];
                let Some(pack) =
                    open_pack(&listing.dir, &source.label, stem, number as u32, count)?
                else {
                    continue;
                };
                if self.packs.push(pack).is_none() {
                    break 'sources;
                }
                state.added[number] += 1;
                added = true;
            }
        }
        if !added {
            state.futile += 1;
        }
        Ok(added)
    }

    /// How many listings found no new pack.
    #[cfg(test)]
    pub(super) fn futile_refreshes(&self) -> u32 {
        self.refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .futile
    }

    /// Each object directory's packs by their number in an [`ObjectLocation`](super::ObjectLocation): the name
    /// (`pack-<checksum>`) of each, for a writer in another process to find the same pack
    /// in its own listing ([`Odb::follow_numbering`]).
    pub(crate) fn pack_names(&self) -> Vec<Vec<String>> {
        let mut names: Vec<Vec<String>> = vec![Vec::new(); self.sources.len()];
        for (_, pack) in self.packs.iter() {
            let list = &mut names[pack.source as usize];
            let number = pack.number as usize;
            if list.len() <= number {
                list.resize(number + 1, String::new());
            }
            list[number] = pack.stem.clone();
        }
        names
    }

    /// Read the locations handed to this store in `planner`'s numbering of the packs
    /// (what [`Odb::pack_names`] gave the process that planned), which this listing may not
    /// share: a repack between the two listings adds and deletes packs, and renumbers
    /// them. A location in a pack this store does not have is looked up again by id.
    pub(crate) fn follow_numbering(&mut self, planner: &[Vec<String>]) {
        if planner.is_empty() {
            // Nothing was handed over: this listing's own numbering is all there is.
            return;
        }
        let numbering = planner
            .iter()
            .enumerate()
            .map(|(source, names)| {
                names
                    .iter()
                    .map(|name| {
                        self.packs
                            .iter()
                            .find(|(_, p)| p.source as usize == source && p.stem == *name)
                            .map(|(index, _)| index)
                    })
                    .collect()
            })
            .collect();
        self.numbering = Some(numbering);
    }
}

/// The packs of one object directory, as listed.
pub(super) struct Listing {
    /// Its `pack` directory.
    pub(super) dir: Arc<Dir>,
    /// The name of each `pack-*.pack` with its `.idx` beside it, without the extension, in
    /// the order of their names.
    pub(super) stems: Vec<String>,
}

/// List the packs of `objects/pack` (`objects` is labelled `label` in messages); `None` if
/// there is no `pack` directory.
pub(super) fn list_packs(objects: &Dir, label: &Path) -> Result<Option<Listing>, Error> {
    let dir_path = label.join("pack");
    let io = |source| Error::Io {
        path: dir_path.clone(),
        source,
    };
    let dir = match objects.open_dir(Path::new("pack")) {
        Ok(dir) => Arc::new(dir),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io(source)),
    };
    let mut names = dir.entries(Path::new(".")).map_err(io)?;
    names.sort();
    let stems = names
        .iter()
        .filter_map(|name| name.to_str()?.strip_suffix(".idx"))
        // git ignores an index whose pack is gone (a repack in progress); so do we.
        .filter(|stem| {
            let pack_name = std::ffi::OsString::from(format!("{stem}.pack"));
            stem.starts_with("pack-") && names.binary_search(&pack_name).is_ok()
        })
        .map(str::to_owned)
        .collect();
    Ok(Some(Listing { dir, stems }))
}

/// Open the pack `stem` of `dir` (in object directory `source`, labelled `label`) as pack
/// `number` of its directory; `None` if it was deleted since it was listed (a repack in
/// progress, as git treats it).
pub(super) fn open_pack(
    dir: &Arc<Dir>,
    label: &Path,
    stem: &str,
    source: u32,
    number: u32,
) -> Result<Option<Pack>, Error> {
    match Pack::open(dir, &label.join("pack"), stem, source, number) {
        Ok(pack) => Ok(Some(pack)),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
