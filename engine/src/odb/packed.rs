//! Pack entries: their headers, delta chains and kinds, and blobs streamed from undeltified
//! entries.
//!
//! An entry is a header (kind, inflated size, and for a delta where its base is) followed by
//! a zlib stream. Where an entry ends is not looked up (see `odb::pack`): reads are bounded
//! by the end of the pack's entries, and the zlib stream's own end and the announced size
//! decide where the entry stops.
//!
//! Reads go through the read-ahead windows ([`super::ahead`]), with the entry's header and
//! the start of its data in one read. A blob stored whole streams to its sink through the
//! inflater's fixed buffer, or is decoded in one go when it is small and all of it was read
//! with its header. A deltified object is rebuilt from its base chain, with bases kept in
//! the delta-base cache.

use std::io::{self, Read, Write};
use std::sync::Arc;

use gix_hash::oid;
use gix_object::Kind;
use gix_pack::data::entry::Header;

use super::ahead::ReadAhead;
use super::cache::Data;
use super::inflate::{CHUNK, Filled, Inflater, MAX_FILL};
use super::location::Found;
use super::pack::{self, Pack};
use super::verify::Hashing;
use super::{Error, Reader, delta};

/// The largest blob decoded whole in memory (see [`super::whole`]) rather than streamed
/// through a fixed buffer.
const WHOLE_MAX: u64 = 1 << 20;
/// The most input read at once for an object of at most [`WHOLE_MAX`] bytes: enough to
/// hold its stream whatever it compressed to, so that it can be decoded whole. Where an
/// entry ends is not known (see `odb::pack`), so this reads past a well-compressed entry
/// into the next ones; copying those bytes costs far less than streaming the entry through
/// zlib-rs instead of the whole-buffer decoder (libdeflate natively decodes about twice as
/// fast).
const WHOLE_INPUT: u64 = zlib_bound(WHOLE_MAX) + PEEK as u64;
const _: () = assert!(WHOLE_INPUT <= MAX_FILL as u64);
/// The longest delta chain followed before the pack is called corrupt (git's default depth
/// is 50).
const MAX_CHAIN: usize = 10_000;
/// The most ref-delta bases in other packs (or loose) followed from one object.
const MAX_REF_DEPTH: usize = 64;
/// How much is read to parse an entry's header: its longest is a ref-delta's, 30 bytes.
const PEEK: usize = 64;
/// The most data a deflate stream can produce per byte of input (~1032:1): an announced
/// size is trusted for an allocation only as far as the bytes that could hold the stream
/// could produce it, so a corrupt header cannot make us allocate gigabytes.
const MAX_RATIO: u64 = 1032;

/// How much of an entry to read along with its header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The header only.
    Header,
    /// The header and as much of the data as could be the whole entry (see [`fill_limit`]).
    Data,
}

/// A pack entry's header, and what is known of its extent.
struct Entry {
    inner: gix_pack::data::Entry,
    /// Where the entry ends at most: the end of the pack's entries.
    end: u64,
    /// The entry's data is held up to here, in the [`Filled`] returned with it.
    held_to: u64,
}

impl Entry {
    /// Whether the data held is the whole entry, as far as can be told: all of it up to
    /// its end, or, without the index, as many bytes as zlib could have needed to compress
    /// the announced size.
    fn held_whole(&self) -> bool {
        self.held_to >= self.end
            || self.held_to - self.inner.data_offset >= zlib_bound(self.inner.decompressed_size)
    }

    /// The rest of the entry's bytes, after those held.
    fn rest<'r>(&self, ahead: &'r mut ReadAhead, pack: &'r Pack) -> PackInput<'r> {
        PackInput {
            ahead,
            pack,
            pos: self.held_to,
            end: self.end,
        }
    }
}

/// The bytes of a pack from `pos` up to `end`, read through the read-ahead windows.
struct PackInput<'r> {
    ahead: &'r mut ReadAhead,
    pack: &'r Pack,
    pos: u64,
    end: u64,
}

impl Read for PackInput<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.end.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        let n = self.ahead.read(self.pack, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The most bytes zlib produces compressing `size` bytes, at any setting (its
/// `deflateBound` for stored blocks, the worst case, with the zlib wrapper).
const fn zlib_bound(size: u64) -> u64 {
    size.saturating_add(size >> 5)
        .saturating_add(size >> 7)
        .saturating_add(size >> 11)
        .saturating_add(13)
}

/// The most input read at once for an entry of `size` inflated bytes: all it could take for
/// one that is decoded whole, else one [`CHUNK`] to start streaming.
fn fill_limit(size: u64) -> u64 {
    if size <= WHOLE_MAX {
        WHOLE_INPUT
    } else {
        CHUNK as u64
    }
}

/// Parse the header of the entry at `offset` of `pack`, reading along with it what `want`
/// asks for into `inflater`'s input; the [`Filled`] returned holds the data read after the
/// header.
///
/// A function of the reader's parts rather than a method, so that the `Filled` borrows the
/// inflater alone and the read-ahead windows stay free to read the rest of the entry.
fn read_entry<'i>(
    inflater: &'i mut Inflater,
    ahead: &mut ReadAhead,
    pack: &Pack,
    offset: u64,
    id: &oid,
    want: Want,
) -> Result<(Entry, Filled<'i>), Error> {
    let data_end = pack.data_end();
    if !(pack::HEADER_LEN..data_end).contains(&offset) {
        return Err(Error::corrupt(
            id,
            &pack.path,
            format!(
                "entry offset {offset} is outside the pack's entries ({}..{data_end})",
                pack::HEADER_LEN
            ),
        ));
    }
    let room = data_end - offset;
    let first = (PEEK as u64).min(room) as usize;
    let io = |source| Error::Io {
        path: pack.path.clone(),
        source,
    };
    let mut filled = inflater
        .fill(first, |buf| ahead.read(pack, buf, offset))
        .map_err(io)?;
    if filled.len() == 0 {
        return Err(Error::corrupt(
            id,
            &pack.path,
            format!("entry offset {offset} is beyond the end of the pack"),
        ));
    }
    let inner = gix_pack::data::Entry::from_bytes(filled.bytes(), offset, gix_hash::Kind::Sha1)
        .map_err(|err| {
            Error::corrupt(id, &pack.path, format!("entry at offset {offset}: {err}"))
        })?;
    let header_len = (inner.data_offset - offset) as usize;
    if want == Want::Data {
        // Read as much as could be this entry's stream, if it fits.
        let wanted = (header_len as u64)
            .saturating_add(zlib_bound(inner.decompressed_size))
            .min(fill_limit(inner.decompressed_size))
            .min(room) as usize;
        if wanted > filled.len() {
            filled = filled
                .refill(wanted, |buf| ahead.read(pack, buf, offset))
                .map_err(io)?;
        } else {
            filled.truncate(wanted);
        }
    }
    filled.skip(header_len);
    let held_to = inner.data_offset + filled.len() as u64;
    Ok((
        Entry {
            inner,
            end: data_end,
            held_to,
        },
        filled,
    ))
}

impl Reader<'_> {
    /// The kind and size of the object at `offset` of pack `number`.
    pub(super) fn packed_header(
        &mut self,
        number: usize,
        offset: u64,
        id: &oid,
    ) -> Result<(Kind, u64), Error> {
        let pack = self.odb.pack(number);
        let (entry, _) = read_entry(
            &mut self.inflater,
            &mut self.ahead,
            pack,
            offset,
            id,
            Want::Header,
        )?;
        let size = match entry.inner.header {
            Header::OfsDelta { .. } | Header::RefDelta { .. } => {
                // The result size is the second number of the delta's own header.
                let (entry, filled) = read_entry(
                    &mut self.inflater,
                    &mut self.ahead,
                    pack,
                    offset,
                    id,
                    Want::Data,
                )?;
                let mut head = Vec::new();
                let limit = entry.inner.decompressed_size.min(32) as usize;
                let mut rest = entry.rest(&mut self.ahead, pack);
                filled
                    .stream(&mut rest, Some(entry.inner.decompressed_size), |chunk| {
                        head.extend_from_slice(chunk);
                        Ok(head.len() < limit)
                    })
                    .map_err(|e| e.into_error(id, &pack.path))?;
                delta::result_size(&head).map_err(|e| Error::corrupt(id, &pack.path, e))?
            }
            _ => entry.inner.decompressed_size,
        };
        let kind = self.packed_kind(number, offset, id)?;
        Ok((kind, size))
    }

    /// Follow the delta chain at `offset` of pack `number` down to its base to learn the
    /// object's kind.
    fn packed_kind(&mut self, mut number: usize, mut offset: u64, id: &oid) -> Result<Kind, Error> {
        let odb = self.odb;
        for _ in 0..MAX_CHAIN {
            let pack = odb.pack(number);
            let (entry, _) = read_entry(
                &mut self.inflater,
                &mut self.ahead,
                pack,
                offset,
                id,
                Want::Header,
            )?;
            let entry = entry.inner;
            match entry.header {
                Header::Commit => return Ok(Kind::Commit),
                Header::Tree => return Ok(Kind::Tree),
                Header::Blob => return Ok(Kind::Blob),
                Header::Tag => return Ok(Kind::Tag),
                Header::OfsDelta { base_distance } => {
                    offset = base_offset(&entry, base_distance, id, pack)?;
                }
                Header::RefDelta { base_id } => {
                    if let Some(base) = pack.offset_of(&base_id)? {
                        offset = base;
                        continue;
                    }
                    match odb
                        .find(&base_id)
                        .map_err(|e| missing_base(e, &base_id, id, pack))?
                    {
                        Found::Packed { pack, offset: at } => (number, offset) = (pack, at),
                        Found::Loose { file, path, .. } => {
                            return Ok(self.loose_header(&file, &path, &base_id)?.0);
                        }
                    }
                }
            }
        }
        Err(Error::corrupt(
            id,
            &odb.pack(number).path,
            "delta chain too long",
        ))
    }

    /// Write the blob at `offset` of pack `number` to `sink`, streaming it when it is stored
    /// whole, and return its size.
    pub(super) fn write_packed_blob(
        &mut self,
        number: usize,
        offset: u64,
        id: &oid,
        sink: &mut dyn Write,
    ) -> Result<u64, Error> {
        let pack = self.odb.pack(number);
        let sink_error = |source| Error::Sink {
            id: id.to_owned(),
            source,
        };
        let (entry, mut filled) = read_entry(
            &mut self.inflater,
            &mut self.ahead,
            pack,
            offset,
            id,
            Want::Data,
        )?;
        match entry.inner.header {
            Header::Blob => {
                let size = entry.inner.decompressed_size;
                // A small entry read whole along with its header: decode it in one go.
                if size <= WHOLE_MAX
                    && entry.held_whole()
                    && let Some(data) = filled.whole_reusing(size as usize)
                {
                    if self.verify {
                        super::verify::check(Kind::Blob, &data, id, &pack.path)?;
                    }
                    sink.write_all(&data).map_err(sink_error)?;
                    return Ok(size);
                }
                let mut hashing = self.verify.then(|| Hashing::new(Kind::Blob, size));
                let mut rest = entry.rest(&mut self.ahead, pack);
                filled
                    .stream(&mut rest, Some(size), |chunk| {
                        if let Some(hashing) = &mut hashing {
                            hashing.update(chunk);
                        }
                        sink.write_all(chunk).map(|()| true)
                    })
                    .map_err(|e| e.into_error(id, &pack.path))?;
                if let Some(hashing) = hashing {
                    hashing.check(id, &pack.path)?;
                }
                Ok(size)
            }
            Header::Commit | Header::Tree | Header::Tag => Err(Error::UnexpectedKind {
                id: id.to_owned(),
                expected: Kind::Blob,
                actual: header_kind(&entry.inner.header),
            }),
            Header::OfsDelta { .. } | Header::RefDelta { .. } => {
                let (kind, data) = self.read_packed(number, offset, id, 0)?;
                if self.verify {
                    super::verify::check(kind, &data, id, &pack.path)?;
                }
                if kind != Kind::Blob {
                    return Err(Error::UnexpectedKind {
                        id: id.to_owned(),
                        expected: Kind::Blob,
                        actual: kind,
                    });
                }
                sink.write_all(&data).map_err(sink_error)?;
                Ok(data.len() as u64)
            }
        }
    }

    /// Decode the entry at `offset` of pack `number`, resolving its delta chain; `depth`
    /// counts ref-delta bases followed into other packs.
    pub(super) fn read_packed(
        &mut self,
        number: usize,
        offset: u64,
        id: &oid,
        depth: usize,
    ) -> Result<(Kind, Data), Error> {
        let pack = self.odb.pack(number);
        // Walk down to a base we have (cached, or undeltified), remembering the deltas.
        let mut chain: Vec<(u64, gix_pack::data::Entry)> = Vec::new();
        let mut at = offset;
        let (kind, mut data) = loop {
            if let Some(hit) = self.cache.get(number, at) {
                break hit;
            }
            if chain.len() > MAX_CHAIN {
                return Err(Error::corrupt(id, &pack.path, "delta chain too long"));
            }
            let (entry, _) = read_entry(
                &mut self.inflater,
                &mut self.ahead,
                pack,
                at,
                id,
                Want::Header,
            )?;
            let entry = entry.inner;
            match entry.header {
                Header::OfsDelta { base_distance } => {
                    let base = base_offset(&entry, base_distance, id, pack)?;
                    chain.push((at, entry));
                    at = base;
                }
                Header::RefDelta { base_id } => {
                    chain.push((at, entry));
                    // The base is most often in the same pack: ask its index first (read
                    // now, if this is its first use).
                    if let Some(base) = pack.offset_of(&base_id)? {
                        at = base;
                        continue;
                    }
                    if depth > MAX_REF_DEPTH {
                        return Err(Error::corrupt(id, &pack.path, "ref-delta chain too long"));
                    }
                    break self
                        .read_base(&base_id, depth + 1)
                        .map_err(|e| missing_base(e, &base_id, id, pack))?;
                }
                _ => {
                    let kind = header_kind(&entry.header);
                    let data = Arc::new(self.inflate_entry(pack, &entry, id)?);
                    if !chain.is_empty() {
                        self.cache.put(number, at, kind, data.clone());
                    }
                    break (kind, data);
                }
            }
        };
        // Apply the deltas from the base up.
        while let Some((at, entry)) = chain.pop() {
            let delta_bytes = self.inflate_entry(pack, &entry, id)?;
            let mut result = Vec::new();
            delta::apply(&data, &delta_bytes, &mut result)
                .map_err(|e| Error::corrupt(id, &pack.path, e))?;
            data = Arc::new(result);
            if !chain.is_empty() {
                self.cache.put(number, at, kind, data.clone());
            }
        }
        Ok((kind, data))
    }

    /// Read a ref-delta base that lives outside the pack of its delta.
    fn read_base(&mut self, id: &oid, depth: usize) -> Result<(Kind, Data), Error> {
        match self.odb.find(id)? {
            Found::Packed { pack, offset } => self.read_packed(pack, offset, id, depth),
            Found::Loose { file, path, .. } => {
                let mut out = Vec::new();
                let kind = self.read_loose_whole(&file, &path, id, &mut out)?;
                Ok((kind, Arc::new(out)))
            }
        }
    }

    /// Inflate the whole data of `entry`, an entry of `pack` (an object, or a delta's
    /// instructions).
    fn inflate_entry(
        &mut self,
        pack: &Pack,
        entry: &gix_pack::data::Entry,
        id: &oid,
    ) -> Result<Vec<u8>, Error> {
        let size = entry.decompressed_size;
        let end = pack.data_end();
        let available = end.saturating_sub(entry.data_offset);
        if size > available.saturating_mul(MAX_RATIO).saturating_add(64) {
            return Err(Error::corrupt(
                id,
                &pack.path,
                "entry announces more data than it holds",
            ));
        }
        // As many bytes as could be its stream.
        let want = available.min(zlib_bound(size));
        let mut filled = self
            .inflater
            .fill(want.min(fill_limit(size)) as usize, |buf| {
                self.ahead.read(pack, buf, entry.data_offset)
            })
            .map_err(|source| Error::Io {
                path: pack.path.clone(),
                source,
            })?;
        let held_to = entry.data_offset + filled.len() as u64;
        if filled.len() as u64 == want
            && let Some(data) = filled.whole(size as usize)
        {
            return Ok(data);
        }
        // The announced size is trusted for an allocation only as far as one chunk of input
        // could produce it; the buffer grows with the real output.
        let capacity = size.min(CHUNK as u64 * MAX_RATIO);
        let mut rest = PackInput {
            ahead: &mut self.ahead,
            pack,
            pos: held_to,
            end,
        };
        filled
            .into_vec(&mut rest, size, capacity)
            .map_err(|e| e.into_error(id, &pack.path))
    }
}

/// Where the base of the ofs-delta `entry` starts: strictly before it (gix refuses a
/// distance of 0) and after the pack's header, so that a chain of them always ends.
fn base_offset(
    entry: &gix_pack::data::Entry,
    distance: u64,
    id: &oid,
    pack: &Pack,
) -> Result<u64, Error> {
    entry
        .checked_base_pack_offset(distance)
        .ok_or_else(|| Error::corrupt(id, &pack.path, "delta base offset out of range"))
}

/// `err`, unless it says that `base`, the ref-delta base of `id` in `pack`, is missing:
/// then `id` is what cannot be read, and its pack names the base (or, read from a wrong
/// location, what looked like one).
fn missing_base(err: Error, base: &oid, id: &oid, pack: &Pack) -> Error {
    match err {
        Error::NotFound { id: missing } if missing == base => Error::corrupt(
            id,
            &pack.path,
            format!("its delta base {base} is missing from the store"),
        ),
        err => err,
    }
}

fn header_kind(header: &Header) -> Kind {
    match header {
        Header::Commit => Kind::Commit,
        Header::Tree => Kind::Tree,
        Header::Tag => Kind::Tag,
        _ => Kind::Blob,
    }
}
