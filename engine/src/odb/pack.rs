//! One pack: its index read into memory, its data file read with positioned reads.
//!
//! Nothing is memory-mapped: mapping is unavailable under WASI, and a mapped pack of a
//! 1 GiB blob would count towards the checkout's resident memory.

use std::path::PathBuf;
use std::sync::OnceLock;

use gix_hash::{ObjectId, oid};

use super::Error;
use crate::cap::{Dir, ReadAt};

/// A pack data file and its index.
pub(crate) struct Pack {
    /// `objects/pack/pack-….pack`, relative to the store, for messages.
    pub(crate) path: PathBuf,
    index: gix_pack::index::File<Vec<u8>>,
    data: ReadAt,
    /// Entry offsets in ascending order, built on first use, to know where each entry ends.
    offsets: OnceLock<Vec<u64>>,
}

/// The length of a pack's header: signature, version, object count.
pub(crate) const HEADER_LEN: u64 = 12;

impl Pack {
    /// Open `pack-….idx` and `pack-….pack` named by `stem` in `pack_dir`.
    pub(crate) fn open(
        pack_dir: &Dir,
        pack_dir_path: &std::path::Path,
        stem: &str,
    ) -> Result<Pack, Error> {
        let idx_name = format!("{stem}.idx");
        let pack_name = format!("{stem}.pack");
        let idx_path = pack_dir_path.join(&idx_name);
        let path = pack_dir_path.join(&pack_name);
        let idx_data = pack_dir
            .read(idx_name.as_ref())
            .map_err(|source| Error::Io {
                path: idx_path.clone(),
                source,
            })?;
        let index =
            gix_pack::index::File::from_data(idx_data, idx_path.clone(), gix_hash::Kind::Sha1)
                .map_err(|err| Error::CorruptFile {
                    path: idx_path.clone(),
                    message: err.to_string(),
                })?;
        let file = pack_dir
            .open_file(pack_name.as_ref())
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        let data = ReadAt::new(file).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let pack = Pack {
            path,
            index,
            data,
            offsets: OnceLock::new(),
        };
        pack.verify_header()?;
        Ok(pack)
    }

    /// Check the pack's signature, version and object count against its index, and that the
    /// pack's trailing checksum is the one the index was made for.
    fn verify_header(&self) -> Result<(), Error> {
        let corrupt = |message: String| Error::CorruptFile {
            path: self.path.clone(),
            message,
        };
        let mut header = [0u8; HEADER_LEN as usize];
        let n = self.read(&mut header, 0)?;
        if n < header.len() || &header[..4] != b"PACK" {
            return Err(corrupt("not a pack file (bad signature)".into()));
        }
        let version = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
        if version != 2 && version != 3 {
            return Err(corrupt(format!("unsupported pack version {version}")));
        }
        let count = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
        if count != self.index.num_objects() {
            return Err(corrupt(format!(
                "pack holds {count} objects but its index lists {}",
                self.index.num_objects()
            )));
        }
        let hash_len = gix_hash::Kind::Sha1.len_in_bytes() as u64;
        if self.data.len() < HEADER_LEN + hash_len {
            return Err(corrupt("pack is truncated".into()));
        }
        let mut trailer = [0u8; 20];
        self.read(&mut trailer, self.data.len() - hash_len)?;
        if trailer[..] != self.index.pack_checksum().as_bytes()[..] {
            return Err(corrupt(
                "pack checksum does not match its index (truncated or replaced pack)".into(),
            ));
        }
        Ok(())
    }

    /// Where the entry of `id` starts, if this pack has it.
    pub(crate) fn offset_of(&self, id: &oid) -> Option<u64> {
        self.index
            .lookup(id)
            .map(|i| self.index.pack_offset_at_index(i))
    }

    /// Every id in this pack that starts with `prefix`, added to `out`.
    pub(crate) fn ids_with_prefix(&self, prefix: gix_hash::Prefix, out: &mut Vec<ObjectId>) {
        let mut candidates = 0..0;
        if self
            .index
            .lookup_prefix(prefix, Some(&mut candidates))
            .is_some()
        {
            out.extend(candidates.map(|i| self.index.oid_at_index(i).to_owned()));
        }
    }

    /// Where the entry starting at `offset` ends: the next entry's start, or the trailer.
    pub(crate) fn entry_end(&self, offset: u64) -> u64 {
        let offsets = self.offsets.get_or_init(|| {
            let mut offsets: Vec<u64> = (0..self.index.num_objects())
                .map(|i| self.index.pack_offset_at_index(i))
                .collect();
            offsets.sort_unstable();
            offsets
        });
        let trailer = self
            .data
            .len()
            .saturating_sub(gix_hash::Kind::Sha1.len_in_bytes() as u64);
        match offsets.binary_search(&offset) {
            Ok(i) => offsets.get(i + 1).copied().unwrap_or(trailer),
            Err(i) => offsets.get(i).copied().unwrap_or(trailer),
        }
        .max(offset)
    }

    /// Where the entries end: the start of the trailing checksum.
    pub(crate) fn data_end(&self) -> u64 {
        self.data
            .len()
            .saturating_sub(gix_hash::Kind::Sha1.len_in_bytes() as u64)
    }

    /// Read into `buf` from `offset`, returning how much was read (less only at the end).
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Error> {
        self.read_io(buf, offset).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// [`Pack::read()`], with the bare I/O error.
    pub(crate) fn read_io(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.data.read_at(buf, offset)
    }
}
