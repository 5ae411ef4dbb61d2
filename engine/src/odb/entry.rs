//! One pack entry's header and extent, read through the read-ahead windows.
//!
//! Where an entry ends is not looked up (see `odb::pack`): its reads are bounded by the end
//! of the pack's entries, and by as many bytes as its zlib stream could take.

use std::io::{self, Read};

use gix_hash::oid;

use super::Error;
use super::ahead::ReadAhead;
use super::inflate::{CHUNK, Filled, Inflater, MAX_FILL};
use super::pack::{self, Pack};

/// The largest blob decoded whole in memory (see [`super::whole`]) rather than streamed
/// through a fixed buffer.
pub(super) const WHOLE_MAX: u64 = 1 << 20;
/// The most input read at once for an object of at most [`WHOLE_MAX`] bytes: enough to
/// hold its stream whatever it compressed to, so that it can be decoded whole. Where an
/// entry ends is not known (see `odb::pack`), so this reads past a well-compressed entry
/// into the next ones; copying those bytes cost less than streaming the entry through
/// zlib-rs instead of the whole-buffer decoder (see `odb::whole`): git/git, warm, 115 ->
/// 110 ms.
pub(super) const WHOLE_INPUT: u64 = zlib_bound(WHOLE_MAX) + PEEK as u64;
const _: () = assert!(WHOLE_INPUT <= MAX_FILL as u64);
/// How much is read to parse an entry's header: its longest is a ref-delta's, 30 bytes.
pub(super) const PEEK: usize = 64;
/// The most data a deflate stream can produce per byte of input (~1032:1): an announced
/// size is trusted for an allocation only as far as the bytes that could hold the stream
/// could produce it, so a corrupt header cannot make us allocate gigabytes.
pub(super) const MAX_RATIO: u64 = 1032;

/// How much of an entry to read along with its header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// The header only.
    Header,
    /// The header and as much of the data as could be the whole entry (see [`fill_limit`]).
    Data,
}

/// A pack entry's header, and what is known of its extent.
pub(super) struct Entry {
    pub(super) inner: gix_pack::data::Entry,
    /// Where the entry ends at most: the end of the pack's entries.
    pub(super) end: u64,
    /// The entry's data is held up to here, in the [`Filled`] returned with it.
    pub(super) held_to: u64,
}

impl Entry {
    /// Whether the data held is the whole entry, as far as can be told: all of it up to
    /// its end, or, without the index, as many bytes as zlib could have needed to compress
    /// the announced size.
    pub(super) fn held_whole(&self) -> bool {
        self.held_to >= self.end
            || self.held_to - self.inner.data_offset >= zlib_bound(self.inner.decompressed_size)
    }

    /// The rest of the entry's bytes, after those held.
    pub(super) fn rest<'r>(&self, ahead: &'r mut ReadAhead, pack: &'r Pack) -> PackInput<'r> {
        PackInput {
            ahead,
            pack,
            pos: self.held_to,
            end: self.end,
        }
    }
}

/// The bytes of a pack from `pos` up to `end`, read through the read-ahead windows.
pub(super) struct PackInput<'r> {
    pub(super) ahead: &'r mut ReadAhead,
    pub(super) pack: &'r Pack,
    pub(super) pos: u64,
    pub(super) end: u64,
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
pub(super) const fn zlib_bound(size: u64) -> u64 {
    size.saturating_add(size >> 5)
        .saturating_add(size >> 7)
        .saturating_add(size >> 11)
        .saturating_add(13)
}

/// The most input read at once for an entry of `size` inflated bytes: all it could take for
/// one that is decoded whole, else one [`CHUNK`] to start streaming.
pub(super) fn fill_limit(size: u64) -> u64 {
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
pub(super) fn read_entry<'i>(
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
