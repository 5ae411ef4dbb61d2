//! Pack entries: their headers, delta chains and kinds, and blobs streamed from undeltified
//! entries.
//!
//! An entry is a header (kind, inflated size, and for a delta where its base is) followed by
//! a zlib stream; [`super::entry`] reads the header and as much of the stream as it can,
//! through the read-ahead windows ([`super::ahead`]). A blob stored whole streams to its sink through the
//! inflater's fixed buffer, or is decoded in one go when it is small and all of it was read
//! with its header. A deltified object is rebuilt from its base chain, with bases kept in
//! the delta-base cache.

use std::io::Write;
use std::sync::Arc;

use gix_hash::oid;
use gix_object::Kind;
use gix_pack::data::entry::Header;

use super::cache::Data;
use super::entry::{MAX_RATIO, PackInput, WHOLE_MAX, Want, fill_limit, read_entry, zlib_bound};
use super::inflate::CHUNK;
use super::location::Found;
use super::pack::Pack;
use super::verify::Hashing;
use super::{Error, Reader, delta};

/// The longest delta chain followed before the pack is called corrupt (git's default depth
/// is 50).
const MAX_CHAIN: usize = 10_000;
/// The most ref-delta bases in other packs (or loose) followed from one object.
const MAX_REF_DEPTH: usize = 64;

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
            "delta chain longer than 10 000 links, which unfurl refuses (git writes at most 4 095; a hand-made chain this long, or a cycle: repack the store with `git repack -a -d -f`)",
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
                return Err(Error::corrupt(
                    id,
                    &pack.path,
                    "delta chain longer than 10 000 links, which unfurl refuses (git writes at most 4 095; a hand-made chain this long, or a cycle: repack the store with `git repack -a -d -f`)",
                ));
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
                        return Err(Error::corrupt(
                            id,
                            &pack.path,
                            "ref-delta chain longer than 10 000 links (a cycle?)",
                        ));
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
