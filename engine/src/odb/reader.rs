//! [`Reader`]: what one thread needs to read objects, and the ways to read them.
//!
//! Each entry point finds the object (or checks the location it is given), then hands over
//! to [`super::loose`] or [`super::packed`].

use std::io::Write;
use std::sync::Arc;

use gix_hash::oid;
use gix_object::Kind;

use super::ahead::ReadAhead;
use super::cache::{Data, DeltaCache};
use super::inflate::Inflater;
use super::location::{Found, ObjectLocation};
use super::{Error, Odb};

/// Reads objects, with its own buffers and delta-base cache; one per worker thread.
pub(crate) struct Reader<'a> {
    pub(super) odb: &'a Odb,
    pub(super) inflater: Inflater,
    pub(super) cache: DeltaCache,
    /// The pack bytes last read, serving the entries that follow.
    pub(super) ahead: ReadAhead,
    /// Hash every object this reader decodes and compare it with its id (see
    /// [`super::verify`]).
    pub(super) verify: bool,
}

impl Odb {
    /// A reader with its own buffers and a delta-base cache of `cache_bytes`.
    pub(crate) fn reader(&self, cache_bytes: usize) -> Reader<'_> {
        Reader {
            odb: self,
            inflater: Inflater::new(),
            cache: DeltaCache::new(cache_bytes),
            ahead: ReadAhead::new(),
            verify: false,
        }
    }
}

impl Reader<'_> {
    /// Bytes this reader has inflated from the store so far (objects and delta bases).
    pub(crate) fn inflated(&self) -> u64 {
        self.inflater.inflated()
    }

    /// Hash every object decoded and fail on one whose content is not its id
    /// (`--verify-objects`).
    pub(crate) fn verifying(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// The kind and size of `id`, without decoding its content where that can be avoided.
    pub(crate) fn header(&mut self, id: &oid) -> Result<(Kind, u64), Error> {
        match self.odb.find(id)? {
            Found::Packed { pack, offset } => self.packed_header(pack, offset, id),
            Found::Loose { file, path, .. } => self.loose_header(&file, &path, id),
        }
    }

    /// Decode the whole object `id`, returning its kind and content; for a packed object, the
    /// very buffer it was decoded into (or the delta-base cache holds), not a copy.
    pub(crate) fn read_shared(&mut self, id: &oid) -> Result<(Kind, Data), Error> {
        match self.odb.find(id)? {
            Found::Packed { pack, offset } => {
                let (kind, data) = self.read_packed(pack, offset, id, 0)?;
                if self.verify {
                    super::verify::check(kind, &data, id, &self.odb.pack(pack).path)?;
                }
                Ok((kind, data))
            }
            // A loose object is verified as it is inflated.
            Found::Loose { file, path, .. } => {
                let mut out = Vec::new();
                let kind = self.read_loose_whole(&file, &path, id, &mut out)?;
                Ok((kind, Arc::new(out)))
            }
        }
    }

    /// Decode the whole object `id` into `out`, returning its kind.
    pub(crate) fn read(&mut self, id: &oid, out: &mut Vec<u8>) -> Result<Kind, Error> {
        let (kind, data) = self.read_shared(id)?;
        out.clear();
        out.extend_from_slice(&data);
        Ok(kind)
    }

    /// Where `id` lives, to hand to another process reading the same store (which reads it
    /// with [`Reader::write_blob_at`] without loading any pack index). Loads the indexes of
    /// the packs searched, if they are not loaded yet.
    pub(crate) fn locate(&self, id: &oid) -> Result<ObjectLocation, Error> {
        let found = self.odb.find(id)?;
        Ok(self.odb.location(&found))
    }

    /// Write the blob `id` to `sink`, streaming it through a fixed buffer where the store
    /// allows (loose objects and undeltified pack entries), and return its size.
    ///
    /// This is [`Reader::locate`] then [`Reader::write_blob_at`]: the one path every blob
    /// takes, whether its location was found here or handed over. Checking the location
    /// costs a second index lookup (and a loose object is opened twice).
    pub(crate) fn write_blob(&mut self, id: &oid, sink: &mut dyn Write) -> Result<u64, Error> {
        let at = self.locate(id)?;
        self.write_blob_at(id, at, sink)
    }

    /// Write the blob `id`, which another process (possibly hostile) says is at `at`, to
    /// `sink`, and return its size; as [`Reader::write_blob`], but reading no pack index
    /// where the entry is stored whole or deltified against bases by offset. A ref-delta's
    /// base is looked up by id, reading that pack's index.
    ///
    /// A location out of range is an [`Error::BadLocation`]; the pack's index is not
    /// consulted. An offset that is not where an entry starts fails as corrupt data, the
    /// wrong kind or the wrong size, never with a panic, an allocation beyond what the
    /// entry's bytes could produce, or a loop; but an offset where another blob's entry
    /// starts yields that blob (which `--verify-objects` catches).
    pub(crate) fn write_blob_at(
        &mut self,
        id: &oid,
        at: ObjectLocation,
        sink: &mut dyn Write,
    ) -> Result<u64, Error> {
        match at {
            ObjectLocation::Packed { offset, .. } => match self.odb.check_packed(id, at)? {
                Some(pack) => self.write_packed_blob(pack, offset, id, sink),
                None => self.write_found_blob(id, sink),
            },
            ObjectLocation::Loose { .. } => match self.odb.open_loose_at(id, at)? {
                Some((file, path)) => self.write_loose_blob(&file, &path, id, sink),
                None => self.write_found_blob(id, sink),
            },
        }
    }

    /// Write the blob `id`, whose location no longer holds it (a concurrent `git gc` moved
    /// it into a new pack), from wherever a lookup finds it now. Nothing was written yet.
    fn write_found_blob(&mut self, id: &oid, sink: &mut dyn Write) -> Result<u64, Error> {
        match self.odb.find(id)? {
            Found::Packed { pack, offset } => self.write_packed_blob(pack, offset, id, sink),
            Found::Loose { file, path, .. } => self.write_loose_blob(&file, &path, id, sink),
        }
    }
}
