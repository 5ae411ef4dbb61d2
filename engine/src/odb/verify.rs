//! `--verify-objects`: hash what is decoded as git hashes an object, and compare with the id
//! it was asked for.
//!
//! zlib's checksum catches random damage, but a store altered consistently (valid zlib, the
//! announced size, other bytes) decodes without complaint; git does not notice either on
//! checkout. Hashing every object read (commits, trees, blobs, deltified or not) closes that
//! gap, at the cost of one SHA-1 (with collision detection) per byte read.

use std::path::Path;

use gix_hash::oid;
use gix_object::Kind;

use super::Error;

/// A SHA-1 of one object, fed as its content is produced.
pub(super) struct Hashing(gix_hash::Hasher);

impl Hashing {
    /// Start hashing an object of `kind` and `size` bytes: its loose header first.
    pub(super) fn new(kind: Kind, size: u64) -> Hashing {
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(&gix_object::encode::loose_header(kind, size));
        Hashing(hasher)
    }

    /// Hash the next bytes of content.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Fail unless the content hashed is the object `id`, read from `path`.
    pub(super) fn check(self, id: &oid, path: &Path) -> Result<(), Error> {
        let actual = self
            .0
            .try_finalize()
            .map_err(|e| Error::corrupt(id, path, format!("its content cannot be hashed: {e}")))?;
        if actual == id {
            return Ok(());
        }
        Err(Error::corrupt(
            id,
            path,
            format!(
                "its content hashes to {actual}, not to its id (the store was altered; \
                 found by --verify-objects)"
            ),
        ))
    }
}

/// Fail unless `data`, of `kind`, is the object `id`, read from `path`.
pub(super) fn check(kind: Kind, data: &[u8], id: &oid, path: &Path) -> Result<(), Error> {
    let mut hashing = Hashing::new(kind, data.len() as u64);
    hashing.update(data);
    hashing.check(id, path)
}
