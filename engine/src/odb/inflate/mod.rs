//! The inflater: zlib streams decoded through buffers it owns.
//!
//! An [`Inflater`] holds a zlib state, a chunk of compressed input, a chunk of output and
//! the whole-buffer decoder ([`Whole`]), one set per reader. Its users borrow it for one
//! stream at a time and hand it what differs: where more input comes from (any
//! [`io::Read`]: a stretch of a pack, a loose object's file) and where the output goes (a
//! sink called with each chunk, or a vector of the announced size).
//!
//! The input buffer also serves to parse what precedes a stream: [`Inflater::fill`] reads
//! a pack entry's header along with the start of its data, and the [`Filled`] it returns
//! holds on to those bytes until the stream that starts with them is decoded, so they are
//! read once. A `Filled` borrows the inflater, so bytes read for one entry can never be
//! mistaken for the start of another's stream.

use std::borrow::Cow;
use std::io::{self, Read};

use gix_zlib::{Decompress, FlushDecompress, Status};

use super::whole::Whole;

/// How much compressed input is read at a time, and the size of the streaming output buffer.
pub(super) const CHUNK: usize = 64 * 1024;
/// The most one [`Inflater::fill`] reads: an entry of up to 1 MiB that is to be decoded
/// whole, whatever it compressed to (see `odb::packed`). The input buffer of a reader that
/// met such an entry keeps this size.
pub(super) const MAX_FILL: usize = 1088 * 1024;
/// Output room zlib's fast decoding loop needs (its longest match, 258, and some): without
/// it, the end of every small object (most trees) would be decoded by the slow loop.
const FAST_ROOM: usize = 320;

/// Why inflating failed.
#[derive(Debug)]
pub(super) enum InflateError {
    /// Reading the input failed.
    Read(io::Error),
    /// The stream is corrupt, truncated, or longer or shorter than announced.
    Corrupt(String),
    /// The sink refused the data.
    Sink(io::Error),
}

/// A zlib decoder with its own input and output buffers; one per reader.
pub(super) struct Inflater {
    z: Decompress,
    whole: Whole,
    /// Compressed input: one chunk at a time when streaming, up to [`MAX_FILL`] for an
    /// entry decoded whole.
    input: Vec<u8>,
    /// Inflated output on its way to a sink; grown by [`Filled::whole_reusing`].
    output: Vec<u8>,
    /// Bytes inflated so far, by every way of decoding: what a checkout read from the
    /// store, for [`Stats::inflated`](crate::write::Stats::inflated).
    inflated: u64,
}

/// Bytes [`Inflater::fill`] read into the inflater's input buffer: `input[start..end]`, the
/// start of the next stream once the caller has [skipped](Filled::skip) what precedes it.
pub(super) struct Filled<'i> {
    inflater: &'i mut Inflater,
    start: usize,
    end: usize,
}

/// The part of the input buffer not yet consumed, and whether the input is exhausted.
struct Pending {
    start: usize,
    end: usize,
    eof: bool,
}

impl Inflater {
    pub(super) fn new() -> Inflater {
        Inflater {
            z: Decompress::new(),
            whole: Whole::new(),
            input: vec![0; CHUNK],
            output: vec![0; CHUNK],
            inflated: 0,
        }
    }

    /// Bytes inflated so far.
    pub(super) fn inflated(&self) -> u64 {
        self.inflated
    }

    /// Read up to `len` bytes (at most [`MAX_FILL`]) with `read` into the input buffer,
    /// which grows to hold them; the bytes stay there for the stream that starts with them.
    pub(super) fn fill(
        &mut self,
        len: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Filled<'_>> {
        let len = len.min(MAX_FILL);
        if len > self.input.len() {
            self.input.resize(len, 0);
        }
        let n = read(&mut self.input[..len])?.min(len);
        Ok(Filled {
            inflater: self,
            start: 0,
            end: n,
        })
    }

    /// Inflate the stream `input` holds; see [`Filled::stream`].
    pub(super) fn stream(
        &mut self,
        input: &mut (impl Read + ?Sized),
        expected: Option<u64>,
        sink: impl FnMut(&[u8]) -> io::Result<bool>,
    ) -> Result<u64, InflateError> {
        self.empty().stream(input, expected, sink)
    }

    /// Nothing read yet: the stream starts with the input's first byte.
    fn empty(&mut self) -> Filled<'_> {
        Filled {
            inflater: self,
            start: 0,
            end: 0,
        }
    }
}

impl<'i> Filled<'i> {
    /// Replace the bytes held by what `read` reads now; see [`Inflater::fill`].
    pub(super) fn refill(
        self,
        len: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Filled<'i>> {
        self.inflater.fill(len, read)
    }

    /// The bytes read and not skipped.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.inflater.input[self.start..self.end]
    }

    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Drop the first `n` bytes: what precedes the stream (a pack entry's header).
    pub(super) fn skip(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Keep only the first `len` bytes: the rest belongs to whatever follows the stream.
    pub(super) fn truncate(&mut self, len: usize) {
        self.end = self.end.min(self.start + len);
    }

    /// Decode the bytes held as one whole zlib stream of exactly `size` bytes, into a new
    /// buffer; `None` if they are not one (the stream goes on, or is corrupt), or if the
    /// streaming decoder is the better choice here. The bytes stay held either way.
    pub(super) fn whole(&mut self, size: usize) -> Option<Vec<u8>> {
        let inflater = &mut *self.inflater;
        let out = inflater
            .whole
            .inflate(&inflater.input[self.start..self.end], size);
        if out.is_some() {
            inflater.inflated += size as u64;
        }
        out
    }

    /// [`whole`](Self::whole), decoding into the inflater's output buffer where the decoder
    /// allows.
    pub(super) fn whole_reusing(&mut self, size: usize) -> Option<Cow<'_, [u8]>> {
        let inflater = &mut *self.inflater;
        let out = inflater.whole.inflate_reusing(
            &inflater.input[self.start..self.end],
            size,
            &mut inflater.output,
        );
        if out.is_some() {
            inflater.inflated += size as u64;
        }
        out
    }

    /// Inflate the stream that starts with the bytes held and goes on in `input`, handing
    /// each chunk of output to `sink` until it returns `false` or the stream ends; returns
    /// how many bytes were inflated. With `expected`, a stream that inflates to more or
    /// fewer bytes is corrupt (more is caught before it reaches the sink).
    pub(super) fn stream(
        self,
        input: &mut (impl Read + ?Sized),
        expected: Option<u64>,
        mut sink: impl FnMut(&[u8]) -> io::Result<bool>,
    ) -> Result<u64, InflateError> {
        let Inflater {
            z,
            input: buf,
            output,
            inflated,
            ..
        } = self.inflater;
        let mut pending = Pending {
            start: self.start,
            end: self.end,
            eof: false,
        };
        if output.len() < CHUNK {
            output.resize(CHUNK, 0);
        }
        z.reset();
        let limit = expected.unwrap_or(u64::MAX);
        let mut total = 0u64;
        loop {
            let (status, consumed, written) = step(z, buf, &mut pending, input, output)?;
            total += written as u64;
            *inflated += written as u64;
            if total > limit {
                return Err(InflateError::Corrupt(format!(
                    "stream holds more data than the {limit} bytes announced"
                )));
            }
            if written > 0 && !sink(&output[..written]).map_err(InflateError::Sink)? {
                return Ok(total);
            }
            if status == Status::StreamEnd {
                if expected.is_some_and(|expected| total != expected) {
                    return Err(InflateError::Corrupt(format!(
                        "stream inflates to {total} bytes, {limit} were announced"
                    )));
                }
                return Ok(total);
            }
            stalled(&pending, consumed, written)?;
        }
    }

    /// Inflate the stream that starts with the bytes held and goes on in `input` into a new
    /// buffer, which it must fill to exactly `size` bytes.
    ///
    /// At most `capacity` bytes (and some room) are allocated before any output exists: the
    /// buffer grows beyond that only as the stream really produces data, so an absurd
    /// announced size costs no more memory than the stream's real content.
    pub(super) fn into_vec(
        self,
        input: &mut (impl Read + ?Sized),
        size: u64,
        capacity: u64,
    ) -> Result<Vec<u8>, InflateError> {
        let too_large = || {
            InflateError::Corrupt(format!(
                "{size} bytes are announced, more than this platform can hold"
            ))
        };
        // Room beyond the announced size: a stream holding more shows up as corruption, and
        // zlib's fast loop stays in use to the end.
        let limit = usize::try_from(size)
            .ok()
            .and_then(|size| size.checked_add(FAST_ROOM))
            .ok_or_else(too_large)?;
        let initial = usize::try_from(capacity.min(size)).map_err(|_| too_large())? + FAST_ROOM;
        let mut out = vec![0; initial];
        let Inflater {
            z,
            input: buf,
            inflated,
            ..
        } = self.inflater;
        let mut pending = Pending {
            start: self.start,
            end: self.end,
            eof: false,
        };
        z.reset();
        let mut filled = 0;
        loop {
            let (status, consumed, written) =
                step(z, buf, &mut pending, input, &mut out[filled..])?;
            filled += written;
            *inflated += written as u64;
            if status == Status::StreamEnd {
                if filled as u64 != size {
                    return Err(InflateError::Corrupt(format!(
                        "stream inflates to {filled} bytes, {size} were announced"
                    )));
                }
                out.truncate(filled);
                return Ok(out);
            }
            if filled == out.len() {
                if out.len() >= limit {
                    return Err(InflateError::Corrupt(format!(
                        "stream holds more data than the {size} bytes announced"
                    )));
                }
                out.resize(out.len().saturating_mul(2).min(limit), 0);
                continue;
            }
            stalled(&pending, consumed, written)?;
        }
    }
}

/// One step of inflating: refill `buf` from `input` if the pending input is used up, then
/// decompress what it holds into `out`. Returns the status and the bytes consumed and
/// produced. It takes the inflater's fields one by one, so that its output buffer can be
/// handed to a sink between steps.
fn step(
    z: &mut Decompress,
    buf: &mut [u8],
    pending: &mut Pending,
    input: &mut (impl Read + ?Sized),
    out: &mut [u8],
) -> Result<(Status, usize, usize), InflateError> {
    if pending.start == pending.end && !pending.eof {
        pending.start = 0;
        pending.end = loop {
            match input.read(buf) {
                Ok(n) => break n.min(buf.len()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(InflateError::Read(err)),
            }
        };
        pending.eof = pending.end == 0;
    }
    let before_in = z.total_in();
    let before_out = z.total_out();
    let flush = if pending.eof {
        FlushDecompress::Finish
    } else {
        FlushDecompress::None
    };
    let status = z
        .decompress(&buf[pending.start..pending.end], out, flush)
        .map_err(|err| {
            InflateError::Corrupt(
                z.error_message()
                    .map_or_else(|| err.to_string(), String::from),
            )
        })?;
    let consumed = (z.total_in() - before_in) as usize;
    let written = (z.total_out() - before_out) as usize;
    pending.start += consumed;
    Ok((status, consumed, written))
}

/// Whether a step that did not end the stream leaves it stuck: the input is exhausted and
/// nothing moved (truncated), or input and output room were there and nothing moved (zlib
/// always consumes input it is given while it has room to write; a decoder that does not
/// would otherwise be called forever).
fn stalled(pending: &Pending, consumed: usize, written: usize) -> Result<(), InflateError> {
    if consumed > 0 || written > 0 {
        Ok(())
    } else if pending.eof {
        Err(InflateError::Corrupt("stream is truncated".into()))
    } else if pending.start < pending.end {
        Err(InflateError::Corrupt("stream makes no progress".into()))
    } else {
        Ok(())
    }
}

impl InflateError {
    /// This error as the object layer's, for object `id` read from `path`.
    pub(super) fn into_error(self, id: &gix_hash::oid, path: &std::path::Path) -> super::Error {
        match self {
            InflateError::Read(source) => super::Error::Io {
                path: path.to_owned(),
                source,
            },
            InflateError::Corrupt(message) => super::Error::corrupt(id, path, message),
            InflateError::Sink(source) => super::Error::Sink {
                id: id.to_owned(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests;
