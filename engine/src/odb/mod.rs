//! The object layer: find and read git objects from a store with positioned reads only.
//!
//! This layer exists because gix's object database memory-maps packs and loose objects
//! (impossible under WASI, where memmap2 is a stub) and hands out whole objects (a 1 GiB
//! blob would be held in memory whole). Here an undeltified blob streams to its file through
//! a bounded buffer, and the same code runs natively and under WASI.
//!
//! # Map
//!
//! - [`location`]: where objects live. The object directories (the store's own `objects/`,
//!   then the alternates in order), their packs listed in the order of their names, finding
//!   an object by id, ids by prefix, and [`ObjectLocation`], a location one process can
//!   hand another, checked before use.
//! - [`pack`]: one pack. Its data is read with positioned reads; its index is read into
//!   memory the first time a lookup by id needs it, so reading from a location needs none.
//! - [`packs`]: the store's packs, a list that only grows: a lookup that misses lists the
//!   object directories again, for packs a concurrent repack or fetch wrote.
//! - [`ahead`]: read-ahead windows over pack data, serving runs of neighbouring entries
//!   with a few reads.
//! - [`reader`]: [`Reader`], one per thread, and its entry points: `header`, `read_shared`,
//!   `read`, `locate`, `write_blob`, `write_blob_at`.
//! - [`loose`]: loose objects: the header, streamed content, whole content.
//! - [`packed`]: pack entries: headers, delta chains, kinds, blobs streamed from
//!   undeltified entries.
//! - [`inflate`]: the inflater, which owns its zlib state and input and output buffers.
//! - [`whole`]: decoding small streams in one go (libdeflate natively, zune-inflate under
//!   wasm).
//! - [`delta`]: git's delta format.
//! - [`cache`]: the delta-base cache, bounded in bytes.
//! - [`verify`]: hashing what is decoded and comparing it with its id (`--verify-objects`).

mod ahead;
mod cache;
pub(crate) mod delta;
mod entry;
mod index;
mod inflate;
mod location;
mod loose;
mod pack;
mod packed;
mod packs;
mod reader;
mod verify;
mod whole;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

use gix_hash::{ObjectId, oid};
use gix_object::Kind;

pub use location::ObjectLocation;
pub(crate) use reader::Reader;

/// The object database of a store: its object directories and their packs.
pub(crate) struct Odb {
    /// The store's own object directory, then its alternates.
    sources: Vec<location::Source>,
    /// The packs of every object directory: those listed when the store was opened,
    /// directory by directory, each one's in the order of their names; then those
    /// a refresh found when a lookup missed (see `packs`).
    packs: packs::Packs,
    /// Held while the object directories are listed again; counts the listings that
    /// found nothing new.
    refresh: std::sync::Mutex<packs::Refresh>,
    /// In a writer guest: the planner's numbering of the packs, which locations use (see
    /// [`Odb::follow_numbering`]).
    numbering: Option<Vec<Vec<Option<usize>>>>,
}

impl Odb {
    /// How many objects the packs hold, by their headers: what git's
    /// `repo_approximate_object_count` counts to choose an abbreviation's length.
    ///
    /// Only the packs listed when the store was opened count, as git counts once: a pack a
    /// refresh found later holds, after a repack, the same objects again (see `packs`), and
    /// counting both could lengthen `%h` by a digit that git would not add.
    pub(crate) fn packed_objects(&self) -> u64 {
        self.packs.listed().map(|p| u64::from(p.count())).sum()
    }
}

/// An error reading objects, naming the object and the store file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No object directory of the store has this object.
    #[error(
        "object {id} is missing from the store (the store is incomplete: re-fetch it, or run `git fsck` on it)"
    )]
    NotFound {
        /// The missing object.
        id: ObjectId,
    },
    /// A store file could not be read.
    #[error("could not read {path}")]
    Io {
        /// The file, relative to the store.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A store file is not what it claims to be.
    #[error(
        "{path} is corrupt: {message} (the store is damaged: run `git fsck` on it and re-fetch)"
    )]
    CorruptFile {
        /// The file, relative to the store.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An object could not be decoded.
    #[error(
        "object {id} in {path} is corrupt: {message} (the store is damaged: run `git fsck` on it and re-fetch)"
    )]
    Corrupt {
        /// The object.
        id: ObjectId,
        /// The file holding it, relative to the store.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An object is not of the kind its use requires.
    #[error("object {id} is a {actual}, but a {expected} was expected")]
    UnexpectedKind {
        /// The object.
        id: ObjectId,
        /// The kind the caller needed.
        expected: Kind,
        /// The kind it is.
        actual: Kind,
    },
    /// Writing a streamed object to its destination failed.
    #[error("could not write object {id}")]
    Sink {
        /// The object being written.
        id: ObjectId,
        /// What went wrong.
        source: io::Error,
    },
    /// The location another process gave for an object does not hold it.
    #[error(
        "object {id} is not at {location}, where it was said to be: {reason} (locations are only valid for the store they were taken from, as it was then: plan the checkout again)"
    )]
    BadLocation {
        /// The object.
        id: ObjectId,
        /// Where it was said to be.
        location: ObjectLocation,
        /// Why that cannot be.
        reason: String,
    },
}

impl Error {
    /// The I/O error behind this error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io { source, .. } | Error::Sink { source, .. } => Some(source),
            _ => None,
        }
    }

    fn corrupt(id: &oid, path: &Path, message: impl ToString) -> Error {
        Error::Corrupt {
            id: id.to_owned(),
            path: path.to_owned(),
            message: message.to_string(),
        }
    }
}
