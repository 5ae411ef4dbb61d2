//! Where objects live: the object directories of a store, their packs, and finding an
//! object by id or checking a location another process names.
//!
//! The object directories are the store's own `objects/` (source 0), then its alternates in
//! the order given. Each one's packs are listed when the store is opened, in the order of
//! their names, so two processes opening one store number them alike and can hand each
//! other an [`ObjectLocation`]. A pack's index is read only when a lookup by id needs it.
//!
//! A store can change under a checkout: `git fetch` starts `git gc --auto` in the
//! background, which packs loose objects and deletes them, and repacks packs into a new one
//! and deletes the old. Objects move; none that a checkout reads disappears. So, as git
//! does, a lookup that misses lists the object directories again before it gives up
//! ([`Odb::refresh`]); a location that no longer holds its object (a loose file deleted, a
//! pack the planner numbered gone from a writer's listing) is looked up again by id; and a
//! pack or an index deleted between listing and opening counts as gone, not as an error.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gix_hash::{ObjectId, oid};

use super::pack::{self, Pack};
use super::packs::{Packs, Refresh, list_packs, open_pack};
use super::{Error, Odb};
use crate::cap::Dir;

/// Where an object of a store lives: a pack entry, or a loose object.
///
/// A location names things by number, so that it can be handed from the process that
/// planned a checkout to the processes that write it, which open the same store: object
/// directories are numbered 0 for the store's own `objects/`, then its alternates in the
/// order given; packs are numbered within their directory in the order of their names
/// (then, those a refresh found, in the order found), and a writer that lists the store
/// after a repack maps the numbers by the names the plan carries
/// (`Odb::follow_numbering`). A location handed over is checked before it is used, and
/// reading from one that is wrong fails with an error rather than misbehaving; one whose
/// object has moved since (a loose file packed and deleted, a pack replaced) is looked up
/// again by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
// Externally tagged (`{"packed": {…}}`): an internally tagged enum is buffered whole before
// it is read, for every file of a plan.
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum ObjectLocation {
    /// An entry of a pack.
    Packed {
        /// The object directory: 0 for the store's own, then its alternates in order.
        source: u32,
        /// The pack, numbered within its object directory in the order of the packs' names.
        pack: u32,
        /// Where the entry starts in the pack's data file, in bytes from its beginning.
        offset: u64,
    },
    /// A loose object, in the file named by its id.
    Loose {
        /// The object directory: 0 for the store's own, then its alternates in order.
        source: u32,
    },
}

impl fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectLocation::Packed {
                source,
                pack,
                offset,
            } => write!(
                f,
                "offset {offset} of pack {pack} in object directory {source}"
            ),
            ObjectLocation::Loose { source } => {
                write!(f, "a loose object in object directory {source}")
            }
        }
    }
}

/// One object directory: the store's own `objects/`, or an alternate.
pub(super) struct Source {
    pub(super) dir: Dir,
    /// How messages name it: `objects`, or the alternate's path as the store lists it.
    pub(super) label: PathBuf,
    /// The packs listed when the store was opened, as a range of [`Odb::packs`]: numbered
    /// from 0 in the order of their names. Packs a refresh adds are numbered on from the
    /// range's length.
    pub(super) listed: Range<usize>,
}

/// Where an object was found, ready to be read.
pub(super) enum Found {
    /// At `offset` in pack `pack`, an index into [`Odb::packs`].
    Packed { pack: usize, offset: u64 },
    /// A loose object, already opened.
    Loose {
        file: File,
        /// The file, relative to the store, for messages.
        path: PathBuf,
        /// Its object directory.
        source: usize,
    },
}

impl Odb {
    /// Open the object directory `objects` (labelled `label` in messages) and `alternates`,
    /// listing their packs; no pack index is read yet.
    pub(crate) fn open(
        objects: Dir,
        label: PathBuf,
        alternates: Vec<(Dir, PathBuf)>,
    ) -> Result<Odb, Error> {
        let mut sources = Vec::new();
        let mut packs = Vec::new();
        for (number, (dir, label)) in std::iter::once((objects, label))
            .chain(alternates)
            .enumerate()
        {
            let number = u32::try_from(number).map_err(|_| Error::CorruptFile {
                path: label.clone(),
                message: "too many alternates".into(),
            })?;
            let start = packs.len();
            if let Some(listing) = list_packs(&dir, &label)? {
                for stem in &listing.stems {
                    let count = (packs.len() - start) as u32;
                    if let Some(pack) = open_pack(&listing.dir, &label, stem, number, count)? {
                        packs.push(pack);
                    }
                }
            }
            sources.push(Source {
                dir,
                label,
                listed: start..packs.len(),
            });
        }
        let refresh = Refresh::new(sources.len());
        Ok(Odb {
            sources,
            packs: Packs::new(packs),
            refresh: std::sync::Mutex::new(refresh),
            numbering: None,
        })
    }

    /// Find `id`: in the packs of each object directory in turn, then as a loose object;
    /// if it is in neither, in the packs a new listing finds (see [`Odb::refresh`]).
    pub(super) fn find(&self, id: &oid) -> Result<Found, Error> {
        let mut searched = 0;
        loop {
            let known = self.packs.len();
            for number in searched..known {
                if let Some(offset) = self.packs.get(number).offset_of(id)? {
                    return Ok(Found::Packed {
                        pack: number,
                        offset,
                    });
                }
            }
            searched = known;
            for (number, source) in self.sources.iter().enumerate() {
                if let Some((file, path)) = source.open_loose(id)? {
                    return Ok(Found::Loose {
                        file,
                        path,
                        source: number,
                    });
                }
            }
            if !self.refresh()? {
                return Err(Error::NotFound { id: id.to_owned() });
            }
        }
    }

    /// The location of what [`Odb::find`] found.
    pub(super) fn location(&self, found: &Found) -> ObjectLocation {
        match *found {
            Found::Packed { pack, offset } => ObjectLocation::Packed {
                source: self.packs.get(pack).source,
                pack: self.packs.get(pack).number,
                offset,
            },
            Found::Loose { source, .. } => ObjectLocation::Loose {
                // `open` numbered the sources as u32.
                source: source as u32,
            },
        }
    }

    /// Check `at`, a location of `id` another process handed over, against this store: the
    /// object directory, the pack and the offset must exist. Returns the pack, as an index
    /// into [`Odb::packs`], or `None` if the pack is no longer there (a writer guest's
    /// listing lacks a pack the planner numbered: a repack deleted it in between), for the
    /// caller to look `id` up again.
    ///
    /// The pack's index is not consulted: a writer guest never opens it, and natively the
    /// location comes from this process's own lookup. An offset that is not the start of
    /// the entry of `id` cannot be told from here; decoding from it then fails (corrupt
    /// data, the wrong kind or size) or, if it is the start of another blob's entry, yields
    /// that blob (which `--verify-objects` catches by its hash).
    pub(super) fn check_packed(
        &self,
        id: &oid,
        at: ObjectLocation,
    ) -> Result<Option<usize>, Error> {
        let bad = |reason: String| Error::BadLocation {
            id: id.to_owned(),
            location: at,
            reason,
        };
        let ObjectLocation::Packed {
            source: source_number,
            pack,
            offset,
        } = at
        else {
            return Err(bad("not a pack entry".into()));
        };
        let source = self.source(source_number).map_err(bad)?;
        let number = usize::try_from(pack).unwrap_or(usize::MAX);
        let index = match &self.numbering {
            // The planner's numbering, mapped to this listing once.
            Some(numbering) => {
                let names = numbering
                    .get(source_number as usize)
                    .map_or(&[][..], Vec::as_slice);
                match names.get(number) {
                    Some(Some(index)) => *index,
                    Some(None) => return Ok(None),
                    None => {
                        return Err(bad(format!(
                            "the planner numbered {} packs in {}",
                            names.len(),
                            source.label.join("pack").display()
                        )));
                    }
                }
            }
            // This process's own numbering: the packs listed first, then those added.
            None if number < source.listed.len() => source.listed.start + number,
            None => self
                .packs
                .iter()
                .skip(self.listed_packs())
                .find(|(_, p)| p.source == source_number && p.number as usize == number)
                .map(|(index, _)| index)
                .ok_or_else(|| {
                    bad(format!(
                        "{} has {} packs",
                        source.label.join("pack").display(),
                        source.listed.len()
                    ))
                })?,
        };
        let pack = self.packs.get(index);
        let end = pack.data_end();
        if !(pack::HEADER_LEN..end).contains(&offset) {
            return Err(bad(format!(
                "the entries of {} lie between offsets {} and {end}",
                pack.path.display(),
                pack::HEADER_LEN
            )));
        }
        Ok(Some(index))
    }

    /// How many packs were listed when the store was opened (the rest a refresh added).
    fn listed_packs(&self) -> usize {
        self.sources.last().map_or(0, |s| s.listed.end)
    }

    /// Open the loose object `id` in the object directory `at` names, a location another
    /// process handed over; `None` if the file is gone (`git gc` packs loose objects, then
    /// deletes them), for the caller to look `id` up again.
    pub(super) fn open_loose_at(
        &self,
        id: &oid,
        at: ObjectLocation,
    ) -> Result<Option<(File, PathBuf)>, Error> {
        let bad = |reason: String| Error::BadLocation {
            id: id.to_owned(),
            location: at,
            reason,
        };
        let ObjectLocation::Loose { source } = at else {
            return Err(bad("not a loose object".into()));
        };
        let source = self.source(source).map_err(bad)?;
        source.open_loose(id)
    }

    fn source(&self, number: u32) -> Result<&Source, String> {
        usize::try_from(number)
            .ok()
            .and_then(|number| self.sources.get(number))
            .ok_or_else(|| format!("the store has {} object directories", self.sources.len()))
    }

    /// Every object id in the store that starts with `prefix`, without duplicates.
    pub(crate) fn ids_with_prefix(&self, prefix: gix_hash::Prefix) -> Result<Vec<ObjectId>, Error> {
        let mut ids = Vec::new();
        let hex = prefix.to_string();
        for (number, source) in self.sources.iter().enumerate() {
            for (_, pack) in self.packs.iter() {
                if pack.source as usize == number {
                    pack.ids_with_prefix(prefix, &mut ids)?;
                }
            }
            let fan = Path::new(&hex[..2]);
            let names = match source.dir.entries(fan) {
                Ok(names) => names,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(Error::Io {
                        path: source.label.join(fan),
                        source: err,
                    });
                }
            };
            for name in names {
                let Some(rest) = name.to_str() else { continue };
                let full = format!("{}{rest}", &hex[..2]);
                if let Ok(id) = ObjectId::from_hex(full.as_bytes())
                    && id.to_hex().to_string().starts_with(&hex)
                {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Pack `number`, an index into [`Odb::packs`] that [`Odb::find`] or
    /// [`Odb::check_packed`] returned.
    pub(super) fn pack(&self, number: usize) -> &Pack {
        self.packs.get(number)
    }
}

impl Source {
    /// Open the loose object `id` in this directory, if it is there.
    fn open_loose(&self, id: &oid) -> Result<Option<(File, PathBuf)>, Error> {
        let hex = id.to_hex().to_string();
        let rel = Path::new(&hex[..2]).join(&hex[2..]);
        match self.dir.open_file(&rel) {
            Ok(file) => Ok(Some((file, self.label.join(&rel)))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: self.label.join(&rel),
                source,
            }),
        }
    }
}
