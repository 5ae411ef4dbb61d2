//! One pack: its data file read with positioned reads, its index opened the first time a
//! lookup by id needs it.
//!
//! The data file is not memory-mapped: mapping is unavailable under WASI, and a mapped pack
//! of a 1 GiB blob would count towards the checkout's resident memory. The index is mapped
//! natively and read under WASI (see [`crate::cap::Bytes`]), and only when first needed: a
//! reader handed an entry's location (see `ObjectLocation`) does not need it, so a writer
//! guest under WASI never holds the `.idx` of a large store in memory.
//!
//! Where an entry ends is not looked up: that would take every offset of the index, sorted
//! (for git/git's 850,000 objects, a sort that cost more than the whole plan). Entries are
//! bounded by the end of the pack's entries, and by their own zlib stream and announced
//! size (see `odb::packed`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use gix_hash::{ObjectId, oid};

use super::Error;
use super::index::Index;
use crate::cap::{Dir, ReadAt};

/// A pack data file, and its index once loaded.
pub(crate) struct Pack {
    /// `objects/pack/pack-….pack`, relative to the store, for messages.
    pub(crate) path: PathBuf,
    /// `objects/pack/pack-….idx`, relative to the store, for messages.
    idx_path: PathBuf,
    /// The directory holding both files, shared by the packs of one object directory.
    dir: Arc<Dir>,
    /// The pack's name without its extension (`pack-<checksum>`): what identifies it
    /// between processes opening one store.
    pub(crate) stem: String,
    /// The index's name in `dir`.
    idx_name: String,
    data: ReadAt,
    /// The object count of the pack's header.
    count: u32,
    /// The pack's trailing checksum, which its index must name.
    checksum: ObjectId,
    index: OnceLock<Index>,
    /// Held while the index loads, so that threads needing it at once read it once.
    loading: Mutex<()>,
    /// The index was deleted after the pack was listed: a repack replaced the pack. Its
    /// objects are found in the pack that replaced it (see `Odb::refresh`).
    index_gone: AtomicBool,
    /// Which object directory the pack belongs to (0: the store's own, then alternates).
    pub(crate) source: u32,
    /// Its number among that directory's packs, in the order of their names.
    pub(crate) number: u32,
}

/// The length of a pack's header: signature, version, object count.
pub(crate) const HEADER_LEN: u64 = 12;
const HASH_LEN: u64 = 20;

impl Pack {
    /// Open `pack-….pack` named by `stem` in `dir`, and check its header; its index is read
    /// when first needed.
    pub(crate) fn open(
        dir: &Arc<Dir>,
        dir_path: &Path,
        stem: &str,
        source: u32,
        number: u32,
    ) -> Result<Pack, Error> {
        let idx_name = format!("{stem}.idx");
        let pack_name = format!("{stem}.pack");
        let path = dir_path.join(&pack_name);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let file = dir.open_file(pack_name.as_ref()).map_err(io)?;
        let data = ReadAt::new(file).map_err(io)?;
        let corrupt = |message: &str| Error::CorruptFile {
            path: path.clone(),
            message: message.into(),
        };
        let mut header = [0u8; HEADER_LEN as usize];
        let n = data.read_at(&mut header, 0).map_err(io)?;
        if n < header.len() || &header[..4] != b"PACK" {
            return Err(corrupt("not a pack file (bad signature)"));
        }
        let version = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
        if version != 2 && version != 3 {
            return Err(corrupt(&format!("unsupported pack version {version}")));
        }
        if data.len() < HEADER_LEN + HASH_LEN {
            return Err(corrupt("pack is truncated"));
        }
        let mut trailer = [0u8; HASH_LEN as usize];
        data.read_at(&mut trailer, data.len() - HASH_LEN)
            .map_err(io)?;
        Ok(Pack {
            idx_path: dir_path.join(&idx_name),
            path,
            dir: dir.clone(),
            stem: stem.to_owned(),
            idx_name,
            data,
            count: u32::from_be_bytes(header[8..12].try_into().expect("4 bytes")),
            checksum: ObjectId::from(trailer),
            index: OnceLock::new(),
            loading: Mutex::new(()),
            index_gone: AtomicBool::new(false),
            source,
            number,
        })
    }

    /// The object count of the pack's header.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The pack's index, opened now if this is its first use; `None` if it was deleted
    /// since the pack was listed. Any other failure is not remembered: every lookup that
    /// needs the index tries again, and fails the same way.
    fn index(&self) -> Result<Option<&Index>, Error> {
        if let Some(index) = self.index.get() {
            return Ok(Some(index));
        }
        if self.index_gone.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // One thread reads it; others needing it at the same time wait rather than read it
        // too (an index can be hundreds of megabytes).
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = self.index.get() {
            return Ok(Some(index));
        }
        match self.load_index() {
            Ok(index) => Ok(Some(self.index.get_or_init(|| index))),
            // The index was there when the pack was listed: a repack (`git gc`, which `git
            // fetch` starts in the background) has deleted it since, along with the pack,
            // after writing the pack that holds its objects now. As git does, treat the
            // pack as gone rather than fail.
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                self.index_gone.store(true, Ordering::Relaxed);
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Read the index, and check that it describes this pack: the same object count, and
    /// the pack's trailing checksum.
    fn load_index(&self) -> Result<Index, Error> {
        let data = self
            .dir
            .map(self.idx_name.as_ref())
            .map_err(|source| Error::Io {
                path: self.idx_path.clone(),
                source,
            })?;
        let corrupt = |path: &Path, message: String| Error::CorruptFile {
            path: path.to_owned(),
            message,
        };
        let index = Index::new(data, self.idx_path.clone())
            .map_err(|message| corrupt(&self.idx_path, message))?;
        let file = index.file();
        if self.count != file.num_objects() {
            return Err(corrupt(
                &self.path,
                format!(
                    "pack holds {} objects but its index lists {}",
                    self.count,
                    file.num_objects()
                ),
            ));
        }
        if file.pack_checksum() != self.checksum {
            return Err(corrupt(
                &self.path,
                "pack checksum does not match its index (truncated or replaced pack)".into(),
            ));
        }
        Ok(index)
    }

    /// Where the entry of `id` starts, if this pack has it.
    pub(crate) fn offset_of(&self, id: &oid) -> Result<Option<u64>, Error> {
        Ok(self.index()?.and_then(|index| index.offset_of(id)))
    }

    /// Every id in this pack that starts with `prefix`, added to `out`.
    pub(crate) fn ids_with_prefix(
        &self,
        prefix: gix_hash::Prefix,
        out: &mut Vec<ObjectId>,
    ) -> Result<(), Error> {
        let Some(index) = self.index()? else {
            return Ok(());
        };
        let index = index.file();
        let mut candidates = 0..0;
        if index.lookup_prefix(prefix, Some(&mut candidates)).is_some() {
            out.extend(candidates.map(|i| index.oid_at_index(i).to_owned()));
        }
        Ok(())
    }

    /// Where the entries end: the start of the trailing checksum.
    pub(crate) fn data_end(&self) -> u64 {
        self.data.len() - HASH_LEN
    }

    /// Read into `buf` from `offset`, returning how much was read (less only at the end).
    pub(crate) fn read_io(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.data.read_at(buf, offset)
    }
}
