//! Where objects live: the object directories of a store, their packs, and finding an
//! object by id.
//!
//! The object directories are the store's own `objects/`, then its alternates in the order
//! given; each one's packs are opened with the store, in the order of their names.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gix_hash::{ObjectId, oid};

use super::pack::Pack;
use super::{Error, Odb};
use crate::cap::Dir;

/// One object directory: the store's own `objects/`, or an alternate.
pub(super) struct Source {
    dir: Dir,
    /// How messages name it: `objects`, or the alternate's path as the store lists it.
    label: PathBuf,
    /// Its packs, as a range of [`Odb::packs`].
    packs: Range<usize>,
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
    },
}

impl Odb {
    /// Open the object directory `objects` (labelled `label` in messages) and `alternates`,
    /// with their packs.
    pub(crate) fn open(
        objects: Dir,
        label: PathBuf,
        alternates: Vec<(Dir, PathBuf)>,
    ) -> Result<Odb, Error> {
        let mut sources = Vec::new();
        let mut packs = Vec::new();
        for (dir, label) in std::iter::once((objects, label)).chain(alternates) {
            let start = packs.len();
            open_packs(&dir, &label, &mut packs)?;
            sources.push(Source {
                dir,
                label,
                packs: start..packs.len(),
            });
        }
        Ok(Odb { sources, packs })
    }

    /// Find `id`: in the packs of each object directory in turn, then as a loose object.
    pub(super) fn find(&self, id: &oid) -> Result<Found, Error> {
        for (number, pack) in self.packs.iter().enumerate() {
            if let Some(offset) = pack.offset_of(id) {
                return Ok(Found::Packed {
                    pack: number,
                    offset,
                });
            }
        }
        for source in &self.sources {
            if let Some((file, path)) = source.open_loose(id)? {
                return Ok(Found::Loose { file, path });
            }
        }
        Err(Error::NotFound { id: id.to_owned() })
    }

    /// Every object id in the store that starts with `prefix`, without duplicates.
    pub(crate) fn ids_with_prefix(&self, prefix: gix_hash::Prefix) -> Result<Vec<ObjectId>, Error> {
        let mut ids = Vec::new();
        let hex = prefix.to_string();
        for source in &self.sources {
            for pack in &self.packs[source.packs.clone()] {
                pack.ids_with_prefix(prefix, &mut ids);
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

    /// Pack `number`, an index into [`Odb::packs`] that [`Odb::find`] returned.
    pub(super) fn pack(&self, number: usize) -> &Pack {
        &self.packs[number]
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

/// Open the packs of `objects/pack`, each `pack-*.idx` with its `.pack` beside it, in the
/// order of their names.
fn open_packs(objects: &Dir, label: &Path, out: &mut Vec<Pack>) -> Result<(), Error> {
    let dir_path = label.join("pack");
    let io = |source| Error::Io {
        path: dir_path.clone(),
        source,
    };
    let dir = match objects.open_dir(Path::new("pack")) {
        Ok(dir) => dir,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io(source)),
    };
    let mut names = dir.entries(Path::new(".")).map_err(io)?;
    names.sort();
    for name in &names {
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
            continue;
        };
        // git ignores an index whose pack is gone (a repack in progress); so do we.
        let pack_name = std::ffi::OsString::from(format!("{stem}.pack"));
        if !stem.starts_with("pack-") || names.binary_search(&pack_name).is_err() {
            continue;
        }
        out.push(Pack::open(&dir, &dir_path, stem)?);
    }
    Ok(())
}
