//! The object layer: find and read git objects from a store with positioned reads only.
//!
//! This layer exists because gix's object database memory-maps packs and loose objects
//! (impossible under WASI, where memmap2 is a stub) and hands out whole objects (a 1 GiB
//! blob would be held in memory whole). Here:
//!
//! - pack indexes are read into memory and searched with `gix-pack`;
//! - pack entries and loose objects are inflated in fixed-size chunks read with positioned
//!   reads, so an undeltified blob streams to its file through a bounded buffer;
//! - deltified entries are rebuilt from their base chain, with a byte-bounded cache of bases;
//! - alternates (`objects/info/alternates`) are further object directories searched in order.
//!
//! The same code runs natively and under WASI.

mod ahead;
mod cache;
mod delta;
mod pack;
mod whole;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gix_hash::{ObjectId, oid};
use gix_object::Kind;
use gix_zlib::{Decompress, FlushDecompress, Status};

use crate::cap::Dir;
use ahead::ReadAhead;
use cache::{Data, DeltaCache};
use pack::Pack;
use whole::Whole;

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
}

impl Error {
    /// The I/O error behind this error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io { source, .. } | Error::Sink { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One object directory: the store's own `objects/`, or an alternate.
struct Source {
    dir: Dir,
    /// How messages name it: `objects`, or the alternate's path as the store lists it.
    label: PathBuf,
    packs: Vec<Pack>,
}

/// Where an object lives.
enum Location {
    /// In pack `pack` of source `source`, at byte `offset`.
    Packed {
        source: usize,
        pack: usize,
        offset: u64,
    },
    /// A loose object, already opened.
    Loose { file: std::fs::File, path: PathBuf },
}

/// The object database of a store: its object directory and its alternates.
pub struct Odb {
    sources: Vec<Source>,
}

/// How much compressed input is read at a time, and the size of the streaming buffer.
const CHUNK: usize = 64 * 1024;
/// The largest blob decoded whole in memory (see [`whole`]) rather than streamed through a
/// fixed buffer.
const WHOLE_MAX: u64 = 1 << 20;
/// Output room zlib's fast decoding loop needs (its longest match, 258, and some).
const INFLATE_FAST_ROOM: usize = 320;
/// The longest delta chain followed before the pack is called corrupt (git's default depth is 50).
const MAX_CHAIN: usize = 10_000;

impl Odb {
    /// Open the object directory `objects` (labelled `label` in messages) and `alternates`.
    pub(crate) fn open(
        objects: Dir,
        label: PathBuf,
        alternates: Vec<(Dir, PathBuf)>,
    ) -> Result<Odb, Error> {
        let sources = std::iter::once((objects, label))
            .chain(alternates)
            .map(|(dir, label)| {
                let packs = open_packs(&dir, &label)?;
                Ok(Source { dir, label, packs })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Odb { sources })
    }

    /// A reader with its own buffers and a delta-base cache of `cache_bytes`.
    pub(crate) fn reader(&self, cache_bytes: usize) -> Reader<'_> {
        Reader {
            odb: self,
            z: Decompress::new(),
            input: vec![0; CHUNK],
            output: vec![0; CHUNK],
            cache: DeltaCache::new(cache_bytes),
            ahead: ReadAhead::new(),
            whole: Whole::new(),
        }
    }

    fn locate(&self, id: &oid) -> Result<Location, Error> {
        for (s, source) in self.sources.iter().enumerate() {
            for (p, pack) in source.packs.iter().enumerate() {
                if let Some(offset) = pack.offset_of(id) {
                    return Ok(Location::Packed {
                        source: s,
                        pack: p,
                        offset,
                    });
                }
            }
        }
        let hex = id.to_hex().to_string();
        let rel = Path::new(&hex[..2]).join(&hex[2..]);
        for source in &self.sources {
            match source.dir.open_file(&rel) {
                Ok(file) => {
                    return Ok(Location::Loose {
                        file,
                        path: source.label.join(&rel),
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(source_err) => {
                    return Err(Error::Io {
                        path: source.label.join(&rel),
                        source: source_err,
                    });
                }
            }
        }
        Err(Error::NotFound { id: id.to_owned() })
    }

    /// Every object id in the store that starts with `prefix`, without duplicates.
    pub(crate) fn ids_with_prefix(&self, prefix: gix_hash::Prefix) -> Result<Vec<ObjectId>, Error> {
        let mut ids = Vec::new();
        let hex = prefix.to_string();
        for source in &self.sources {
            for pack in &source.packs {
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

    fn pack(&self, source: usize, pack: usize) -> &Pack {
        &self.sources[source].packs[pack]
    }
}

/// Open every `pack-*.idx` that has its `.pack` in `objects/pack`.
fn open_packs(objects: &Dir, label: &Path) -> Result<Vec<Pack>, Error> {
    let pack_dir_path = label.join("pack");
    let pack_dir = match objects.open_dir(Path::new("pack")) {
        Ok(dir) => dir,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: pack_dir_path,
                source,
            });
        }
    };
    let mut names = pack_dir
        .entries(Path::new("."))
        .map_err(|source| Error::Io {
            path: pack_dir_path.clone(),
            source,
        })?;
    names.sort();
    let mut packs = Vec::new();
    for name in names {
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
            continue;
        };
        if !stem.starts_with("pack-") {
            continue;
        }
        // git ignores an index whose pack is gone (a repack in progress); so do we.
        let pack_name = format!("{stem}.pack");
        if pack_dir
            .kind(Path::new(&pack_name))
            .ok()
            .flatten()
            .is_none()
        {
            continue;
        }
        packs.push(Pack::open(&pack_dir, &pack_dir_path, stem)?);
    }
    Ok(packs)
}

/// Reads objects, with its own buffers and delta-base cache; one per worker thread.
pub(crate) struct Reader<'a> {
    odb: &'a Odb,
    z: Decompress,
    /// Compressed input, one chunk at a time.
    input: Vec<u8>,
    /// Inflated output on its way to a file.
    output: Vec<u8>,
    cache: DeltaCache,
    /// The pack bytes last read, serving the entries that follow.
    ahead: ReadAhead,
    /// The decoder for entries read whole.
    whole: Whole,
}

/// Where compressed bytes come from.
enum Input<'f> {
    /// Bytes `pos..end` of a pack; `pre` is a window of `Reader::input` already holding the
    /// bytes just before `pos` (read together with the entry header, saving a read).
    Pack {
        pack: &'f Pack,
        pos: u64,
        end: u64,
        pre: Option<(usize, usize)>,
    },
    File(&'f std::fs::File),
}

impl Input<'_> {
    /// The window of `Reader::input` that already holds input, if any: consumed once.
    fn take_prefetched(&mut self) -> (usize, usize) {
        match self {
            Input::Pack { pre, .. } => pre.take().unwrap_or((0, 0)),
            Input::File(_) => (0, 0),
        }
    }

    fn read(&mut self, ahead: &mut ReadAhead, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Pack { pack, pos, end, .. } => {
                let want = (*end - *pos).min(buf.len() as u64) as usize;
                let n = ahead.read(pack, &mut buf[..want], *pos)?;
                *pos += n as u64;
                Ok(n)
            }
            Input::File(file) => {
                use std::io::Read;
                let mut file: &std::fs::File = file;
                file.read(buf)
            }
        }
    }
}

/// The part of `Reader::input` that holds compressed bytes not yet consumed.
struct Window {
    start: usize,
    end: usize,
    /// The input is exhausted.
    eof: bool,
}

impl Window {
    /// Starting with what `input` already read into the buffer, if anything.
    fn new(input: &mut Input<'_>) -> Window {
        let (start, end) = input.take_prefetched();
        Window {
            start,
            end,
            eof: false,
        }
    }
}

/// Why inflating failed.
enum InflateError {
    /// Reading the input failed.
    Read(io::Error),
    /// The stream is corrupt, truncated, or longer than announced.
    Corrupt(String),
    /// The sink refused the data.
    Sink(io::Error),
}

impl<'a> Reader<'a> {
    /// The kind and size of `id`, without decoding its content where that can be avoided.
    pub(crate) fn header(&mut self, id: &oid) -> Result<(Kind, u64), Error> {
        match self.odb.locate(id)? {
            Location::Packed {
                source,
                pack,
                offset,
            } => {
                let pack_ref = self.odb.pack(source, pack);
                let (entry, prefetched) = self.entry(pack_ref, offset, id)?;
                let size = match entry.header {
                    gix_pack::data::entry::Header::OfsDelta { .. }
                    | gix_pack::data::entry::Header::RefDelta { .. } => {
                        // The result size is the second number of the delta's own header.
                        let mut head = Vec::new();
                        let end = pack_ref.entry_end(offset);
                        let mut input = Input::Pack {
                            pack: pack_ref,
                            pos: offset + prefetched as u64,
                            end,
                            pre: Some(((entry.data_offset - offset) as usize, prefetched)),
                        };
                        let limit = entry.decompressed_size.min(32) as usize;
                        self.inflate(&mut input, entry.decompressed_size, |chunk| {
                            head.extend_from_slice(chunk);
                            Ok(head.len() < limit)
                        })
                        .map_err(|e| self.inflate_error(e, id, &pack_ref.path))?;
                        delta::result_size(&head).map_err(|e| corrupt(id, &pack_ref.path, e))?
                    }
                    _ => entry.decompressed_size,
                };
                let kind = self.packed_kind(source, pack, offset, id)?;
                Ok((kind, size))
            }
            Location::Loose { file, path } => {
                let mut head = Vec::new();
                let mut input = Input::File(&file);
                self.inflate(&mut input, u64::MAX, |chunk| {
                    head.extend_from_slice(chunk);
                    Ok(!head.contains(&0) && head.len() < 64)
                })
                .map_err(|e| self.inflate_error(e, id, &path))?;
                let (kind, size, _) =
                    gix_object::decode::loose_header(&head).map_err(|e| corrupt(id, &path, e))?;
                Ok((kind, size))
            }
        }
    }

    /// Follow the delta chain at `offset` down to its base to learn the object's kind.
    fn packed_kind(
        &mut self,
        mut source: usize,
        mut pack: usize,
        mut offset: u64,
        id: &oid,
    ) -> Result<Kind, Error> {
        use gix_pack::data::entry::Header;
        for _ in 0..MAX_CHAIN {
            let pack_ref = self.odb.pack(source, pack);
            let (entry, _) = self.entry(pack_ref, offset, id)?;
            match entry.header {
                Header::Commit => return Ok(Kind::Commit),
                Header::Tree => return Ok(Kind::Tree),
                Header::Blob => return Ok(Kind::Blob),
                Header::Tag => return Ok(Kind::Tag),
                Header::OfsDelta { base_distance } => {
                    offset = entry
                        .checked_base_pack_offset(base_distance)
                        .ok_or_else(|| {
                            corrupt(id, &pack_ref.path, "delta base offset out of range")
                        })?;
                }
                Header::RefDelta { base_id } => match self.odb.locate(&base_id)? {
                    Location::Packed {
                        source: s,
                        pack: p,
                        offset: o,
                    } => (source, pack, offset) = (s, p, o),
                    Location::Loose { .. } => return Ok(self.header(&base_id)?.0),
                },
            }
        }
        Err(corrupt(
            id,
            &self.odb.pack(source, pack).path,
            "delta chain too long",
        ))
    }

    /// Decode the whole object `id`, returning its kind and content; for a packed object, the
    /// very buffer it was decoded into (or the delta-base cache holds), not a copy.
    pub(crate) fn read_shared(&mut self, id: &oid) -> Result<(Kind, Data), Error> {
        match self.odb.locate(id)? {
            Location::Packed {
                source,
                pack,
                offset,
            } => self.read_packed(source, pack, offset, id, 0),
            Location::Loose { file, path } => {
                let mut out = Vec::new();
                let kind = self.read_loose(&file, &path, id, None, &mut |chunk| {
                    out.extend_from_slice(chunk);
                    Ok(())
                })?;
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

    /// Write the blob `id` to `sink`, streaming it through a fixed buffer where the store
    /// allows (loose objects and undeltified pack entries), and return its size.
    pub(crate) fn write_blob(&mut self, id: &oid, sink: &mut dyn Write) -> Result<u64, Error> {
        use gix_pack::data::entry::Header;
        let sink_error = |source| Error::Sink {
            id: id.to_owned(),
            source,
        };
        match self.odb.locate(id)? {
            Location::Packed {
                source,
                pack,
                offset,
            } => {
                let pack_ref = self.odb.pack(source, pack);
                let (entry, prefetched) = self.entry(pack_ref, offset, id)?;
                match entry.header {
                    Header::Blob => {
                        let end = pack_ref.entry_end(offset);
                        let size = entry.decompressed_size;
                        // A small entry read whole along with its header: decode it in one go.
                        let data_start = (entry.data_offset - offset) as usize;
                        let entry_len = (end - offset) as usize;
                        if entry_len <= prefetched && size <= WHOLE_MAX {
                            let compressed = &self.input[data_start..entry_len];
                            if let Some(data) = self.whole.inflate_reusing(
                                compressed,
                                size as usize,
                                &mut self.output,
                            ) {
                                sink.write_all(&data).map_err(sink_error)?;
                                return Ok(size);
                            }
                        }
                        let mut input = Input::Pack {
                            pack: pack_ref,
                            pos: offset + prefetched as u64,
                            end,
                            pre: Some((data_start, prefetched)),
                        };
                        let mut output = std::mem::take(&mut self.output);
                        let result = self.inflate_with(&mut input, size, &mut output, |chunk| {
                            sink.write_all(chunk).map(|()| true)
                        });
                        self.output = output;
                        match result {
                            Ok(_) => Ok(size),
                            Err(InflateError::Sink(err)) => Err(sink_error(err)),
                            Err(err) => Err(self.inflate_error(err, id, &pack_ref.path)),
                        }
                    }
                    Header::Commit | Header::Tree | Header::Tag => Err(Error::UnexpectedKind {
                        id: id.to_owned(),
                        expected: Kind::Blob,
                        actual: header_kind(&entry.header),
                    }),
                    Header::OfsDelta { .. } | Header::RefDelta { .. } => {
                        let (kind, data) = self.read_packed(source, pack, offset, id, 0)?;
                        expect_kind(id, Kind::Blob, kind)?;
                        sink.write_all(&data).map_err(sink_error)?;
                        Ok(data.len() as u64)
                    }
                }
            }
            Location::Loose { file, path } => {
                let mut written = 0u64;
                self.read_loose(&file, &path, id, Some(Kind::Blob), &mut |chunk| {
                    written += chunk.len() as u64;
                    sink.write_all(chunk)
                })?;
                Ok(written)
            }
        }
    }

    /// Inflate the loose object in `file`, check its header and hand its content to `sink`.
    ///
    /// With `expect`, the kind is checked before any content reaches the sink, so a loose
    /// tree is never written out as if it were a blob.
    fn read_loose(
        &mut self,
        file: &std::fs::File,
        path: &Path,
        id: &oid,
        expect: Option<Kind>,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<Kind, Error> {
        let mut head: Vec<u8> = Vec::new();
        let mut header: Option<(Kind, u64)> = None;
        let mut wrong_kind = None;
        let mut produced = 0u64;
        let mut bad_header = None;
        let mut input = Input::File(file);
        let mut output = std::mem::take(&mut self.output);
        let result = self.inflate_with(&mut input, u64::MAX, &mut output, |mut chunk| {
            if header.is_none() {
                let before = head.len();
                head.extend_from_slice(chunk);
                let Some(nul) = head.iter().position(|&b| b == 0) else {
                    return Ok(head.len() < 64);
                };
                match gix_object::decode::loose_header(&head[..=nul]) {
                    Ok((kind, _, _)) if expect.is_some_and(|e| e != kind) => {
                        wrong_kind = Some(kind);
                        return Ok(false);
                    }
                    Ok((kind, size, _)) => header = Some((kind, size)),
                    Err(err) => {
                        bad_header = Some(err.to_string());
                        return Ok(false);
                    }
                }
                chunk = &chunk[nul + 1 - before..];
            }
            produced += chunk.len() as u64;
            if let Some((_, size)) = header
                && produced > size
            {
                bad_header = Some(format!(
                    "content is longer than the {size} bytes its header announces"
                ));
                return Ok(false);
            }
            sink(chunk)?;
            Ok(true)
        });
        self.output = output;
        match result {
            Ok(_) => {}
            Err(InflateError::Sink(source)) => {
                return Err(Error::Sink {
                    id: id.to_owned(),
                    source,
                });
            }
            Err(err) => return Err(self.inflate_error(err, id, path)),
        }
        if let (Some(expected), Some(actual)) = (expect, wrong_kind) {
            return Err(Error::UnexpectedKind {
                id: id.to_owned(),
                expected,
                actual,
            });
        }
        if let Some(message) = bad_header {
            return Err(corrupt(id, path, message));
        }
        let Some((kind, size)) = header else {
            return Err(corrupt(id, path, "no object header"));
        };
        if produced != size {
            return Err(corrupt(
                id,
                path,
                format!("content is {produced} bytes, its header announces {size}"),
            ));
        }
        Ok(kind)
    }

    /// Decode the pack entry at `offset`, resolving its delta chain; `depth` counts
    /// ref-delta bases that live in other packs.
    fn read_packed(
        &mut self,
        source: usize,
        pack: usize,
        offset: u64,
        id: &oid,
        depth: usize,
    ) -> Result<(Kind, Data), Error> {
        use gix_pack::data::entry::Header;
        let pack_ref = self.odb.pack(source, pack);
        let pack_key = pack_key(source, pack);
        // Walk down to a base we have (cached, or undeltified), remembering the deltas.
        let mut chain: Vec<(u64, gix_pack::data::Entry)> = Vec::new();
        let mut at = offset;
        let (kind, mut data) = loop {
            if let Some(hit) = self.cache.get(pack_key, at) {
                break hit;
            }
            if chain.len() > MAX_CHAIN {
                return Err(corrupt(id, &pack_ref.path, "delta chain too long"));
            }
            let (entry, _) = self.entry(pack_ref, at, id)?;
            match entry.header {
                Header::OfsDelta { base_distance } => {
                    let base = entry
                        .checked_base_pack_offset(base_distance)
                        .ok_or_else(|| {
                            corrupt(id, &pack_ref.path, "delta base offset out of range")
                        })?;
                    chain.push((at, entry));
                    at = base;
                }
                Header::RefDelta { base_id } => {
                    chain.push((at, entry));
                    match self.odb.locate(&base_id)? {
                        Location::Packed {
                            source: s,
                            pack: p,
                            offset: o,
                        } if (s, p) == (source, pack) => at = o,
                        _ if depth > 64 => {
                            return Err(corrupt(id, &pack_ref.path, "ref-delta chain too long"));
                        }
                        _ => {
                            let mut base = Vec::new();
                            let kind = self.read_base(&base_id, &mut base, depth + 1)?;
                            break (kind, Arc::new(base));
                        }
                    }
                }
                _ => {
                    let kind = header_kind(&entry.header);
                    let data = self.inflate_entry(pack_ref, at, &entry, id)?;
                    let data = Arc::new(data);
                    if !chain.is_empty() {
                        self.cache.put(pack_key, at, kind, data.clone());
                    }
                    break (kind, data);
                }
            }
        };
        // Apply the deltas from the base up.
        while let Some((at, entry)) = chain.pop() {
            let delta_bytes = self.inflate_entry(pack_ref, at, &entry, id)?;
            let mut result = Vec::new();
            delta::apply(&data, &delta_bytes, &mut result)
                .map_err(|e| corrupt(id, &pack_ref.path, e))?;
            data = Arc::new(result);
            if !chain.is_empty() {
                self.cache.put(pack_key, at, kind, data.clone());
            }
        }
        Ok((kind, data))
    }

    /// Read a ref-delta base that lives outside the pack of its delta.
    fn read_base(&mut self, id: &oid, out: &mut Vec<u8>, depth: usize) -> Result<Kind, Error> {
        match self.odb.locate(id)? {
            Location::Packed {
                source,
                pack,
                offset,
            } => {
                let (kind, data) = self.read_packed(source, pack, offset, id, depth)?;
                out.extend_from_slice(&data);
                Ok(kind)
            }
            Location::Loose { file, path } => {
                self.read_loose(&file, &path, id, None, &mut |chunk| {
                    out.extend_from_slice(chunk);
                    Ok(())
                })
            }
        }
    }

    /// Inflate the whole data of `entry` (an object, or a delta's instructions).
    fn inflate_entry(
        &mut self,
        pack: &Pack,
        offset: u64,
        entry: &gix_pack::data::Entry,
        id: &oid,
    ) -> Result<Vec<u8>, Error> {
        let size = entry.decompressed_size;
        let end = pack.entry_end(offset);
        // The announced size is only trusted as far as the entry's compressed bytes could
        // produce it (deflate expands at most ~1032:1), so a corrupt header cannot make us
        // allocate gigabytes.
        let compressed = end.saturating_sub(entry.data_offset);
        if size > compressed.saturating_mul(1032).saturating_add(64) {
            return Err(corrupt(
                id,
                &pack.path,
                "entry announces more data than it holds",
            ));
        }
        let compressed = end - entry.data_offset;
        if compressed <= CHUNK as u64 {
            let compressed = compressed as usize;
            let n = self.read_pack(pack, compressed, entry.data_offset)?;
            if n == compressed
                && let Some(data) = self.whole.inflate(&self.input[..n], size as usize)
            {
                return Ok(data);
            }
        }
        // Room beyond the announced size: a stream holding more shows up as corruption, and
        // zlib decodes with its fast loop only while this much room is left, so without it
        // the end of every small object (most trees) would take the slow one.
        let mut out = vec![0; size as usize + INFLATE_FAST_ROOM];
        let mut input = Input::Pack {
            pack,
            pos: entry.data_offset,
            end,
            pre: None,
        };
        match self.inflate_into(&mut input, &mut out) {
            Ok(filled) if filled as u64 == size => {
                out.truncate(filled);
                Ok(out)
            }
            Ok(filled) => Err(corrupt(
                id,
                &pack.path,
                format!("entry inflates to {filled} bytes, its header announces {size}"),
            )),
            Err(err) => Err(self.inflate_error(err, id, &pack.path)),
        }
    }

    /// Parse the header of the pack entry at `offset`, reading the start of its data along
    /// with it into `self.input`; returns the entry and how many bytes were read.
    fn entry(
        &mut self,
        pack: &Pack,
        offset: u64,
        id: &oid,
    ) -> Result<(gix_pack::data::Entry, usize), Error> {
        let want = (pack.entry_end(offset).saturating_sub(offset) as usize).clamp(64, CHUNK);
        let n = self.read_pack(pack, want, offset)?;
        if offset >= pack.len() || n == 0 {
            return Err(corrupt(
                id,
                &pack.path,
                format!("entry offset {offset} is beyond the end of the pack"),
            ));
        }
        let entry =
            gix_pack::data::Entry::from_bytes(&self.input[..n], offset, gix_hash::Kind::Sha1)
                .map_err(|e| corrupt(id, &pack.path, e))?;
        Ok((entry, n))
    }

    /// Read `len` bytes of `pack` at `offset` into `self.input`, through the read-ahead
    /// windows; fewer only at the end of the pack.
    fn read_pack(&mut self, pack: &Pack, len: usize, offset: u64) -> Result<usize, Error> {
        self.ahead
            .read(pack, &mut self.input[..len], offset)
            .map_err(|source| Error::Io {
                path: pack.path.clone(),
                source,
            })
    }

    /// Inflate the whole stream in `input` into `out`, returning how many bytes it produced;
    /// a stream that does not fit into `out` is corrupt.
    fn inflate_into(
        &mut self,
        input: &mut Input<'_>,
        out: &mut [u8],
    ) -> Result<usize, InflateError> {
        self.z.reset();
        let mut window = Window::new(input);
        let mut filled = 0;
        loop {
            let (status, consumed, written) =
                self.inflate_step(input, &mut window, &mut out[filled..])?;
            filled += written;
            if status == Status::StreamEnd {
                return Ok(filled);
            }
            if filled == out.len() {
                return Err(InflateError::Corrupt(
                    "stream holds more data than announced".into(),
                ));
            }
            if window.eof && consumed == 0 && written == 0 {
                return Err(InflateError::Corrupt("stream is truncated".into()));
            }
        }
    }

    /// One step of inflating: refill the input buffer from `input` if it is used up, then
    /// decompress what it holds into `out`. Returns the status and the bytes consumed and
    /// produced.
    fn inflate_step(
        &mut self,
        input: &mut Input<'_>,
        window: &mut Window,
        out: &mut [u8],
    ) -> Result<(Status, usize, usize), InflateError> {
        if window.start == window.end && !window.eof {
            window.start = 0;
            window.end = input
                .read(&mut self.ahead, &mut self.input)
                .map_err(InflateError::Read)?;
            window.eof = window.end == 0;
        }
        let before_in = self.z.total_in();
        let before_out = self.z.total_out();
        let flush = if window.eof {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let status = self
            .z
            .decompress(&self.input[window.start..window.end], out, flush)
            .map_err(|e| self.corrupt_stream(e))?;
        let consumed = (self.z.total_in() - before_in) as usize;
        let written = (self.z.total_out() - before_out) as usize;
        window.start += consumed;
        Ok((status, consumed, written))
    }

    fn corrupt_stream(&self, err: impl std::fmt::Display) -> InflateError {
        InflateError::Corrupt(
            self.z
                .error_message()
                .map_or_else(|| err.to_string(), String::from),
        )
    }

    /// Inflate `input`, handing each chunk of output to `sink` until it returns `false` or
    /// the stream ends; `expected` bounds the output (more is corruption).
    fn inflate(
        &mut self,
        input: &mut Input<'_>,
        expected: u64,
        sink: impl FnMut(&[u8]) -> io::Result<bool>,
    ) -> Result<u64, InflateError> {
        let mut output = std::mem::take(&mut self.output);
        let result = self.inflate_with(input, expected, &mut output, sink);
        self.output = output;
        result
    }

    fn inflate_with(
        &mut self,
        input: &mut Input<'_>,
        expected: u64,
        output: &mut Vec<u8>,
        mut sink: impl FnMut(&[u8]) -> io::Result<bool>,
    ) -> Result<u64, InflateError> {
        if output.len() < CHUNK {
            output.resize(CHUNK, 0);
        }
        self.z.reset();
        let mut window = Window::new(input);
        let mut total = 0u64;
        loop {
            let (status, consumed, written) = self.inflate_step(input, &mut window, output)?;
            total += written as u64;
            if total > expected {
                return Err(InflateError::Corrupt(
                    "stream holds more data than announced".into(),
                ));
            }
            if written > 0 && !sink(&output[..written]).map_err(InflateError::Sink)? {
                return Ok(total);
            }
            match status {
                Status::StreamEnd => {
                    if expected != u64::MAX && total != expected {
                        return Err(InflateError::Corrupt(format!(
                            "stream inflates to {total} bytes, its header announces {expected}"
                        )));
                    }
                    return Ok(total);
                }
                _ if window.eof && consumed == 0 && written == 0 => {
                    return Err(InflateError::Corrupt("stream is truncated".into()));
                }
                _ => {}
            }
        }
    }

    fn inflate_error(&self, err: InflateError, id: &oid, path: &Path) -> Error {
        match err {
            InflateError::Read(source) => Error::Io {
                path: path.to_owned(),
                source,
            },
            InflateError::Corrupt(message) => corrupt(id, path, message),
            InflateError::Sink(source) => Error::Sink {
                id: id.to_owned(),
                source,
            },
        }
    }
}

fn pack_key(source: usize, pack: usize) -> u32 {
    ((source as u32) << 20) | pack as u32
}

fn header_kind(header: &gix_pack::data::entry::Header) -> Kind {
    use gix_pack::data::entry::Header;
    match header {
        Header::Commit => Kind::Commit,
        Header::Tree => Kind::Tree,
        Header::Tag => Kind::Tag,
        _ => Kind::Blob,
    }
}

fn expect_kind(id: &oid, expected: Kind, actual: Kind) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::UnexpectedKind {
            id: id.to_owned(),
            expected,
            actual,
        })
    }
}

fn corrupt(id: &oid, path: &Path, message: impl ToString) -> Error {
    Error::Corrupt {
        id: id.to_owned(),
        path: path.to_owned(),
        message: message.to_string(),
    }
}
