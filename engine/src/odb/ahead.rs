//! A read-ahead window over one pack.
//!
//! A checkout reads the blobs of one directory after another, and git writes a pack's
//! entries in the order of a tree walk: most entries a reader asks for start where the
//! previous one ended. One positioned read of [`AHEAD`] bytes then serves dozens of entries,
//! instead of one or two reads each. This matters most under WASI, where every read is a
//! host call on top of the system call.

use std::io;

use super::pack::Pack;

/// How much one refill of the window reads.
const AHEAD: usize = 256 * 1024;

/// The bytes of one pack last read ahead, owned by one [`super::Reader`].
pub(super) struct ReadAhead {
    /// Allocated on first use, [`AHEAD`] bytes.
    buf: Vec<u8>,
    /// The pack the window holds bytes of, by address: compared, never dereferenced. Packs
    /// live as long as the `Odb` every reader borrows, so an address cannot be reused for
    /// another pack while the window exists.
    pack: usize,
    /// Where in the pack `buf[0]` is.
    start: u64,
    /// How many bytes of `buf` are valid.
    len: usize,
    /// The window ends at the end of the pack.
    eof: bool,
}

impl ReadAhead {
    pub(super) fn new() -> ReadAhead {
        ReadAhead {
            buf: Vec::new(),
            pack: 0,
            start: 0,
            len: 0,
            eof: false,
        }
    }

    /// Fill `out` from `pack` at `offset`, returning how many bytes were read: `out.len()`,
    /// or less only at the end of the pack. Served from the window when it holds them;
    /// reads of a whole chunk or more bypass it (large entries stream past it).
    pub(super) fn read(&mut self, pack: &Pack, out: &mut [u8], offset: u64) -> io::Result<usize> {
        let key = pack as *const Pack as usize;
        self.read_with(key, &|buf, at| pack.read_io(buf, at), out, offset)
    }

    /// [`ReadAhead::read`] from the source `key` (non-zero), read with `read_at`.
    fn read_with(
        &mut self,
        key: usize,
        read_at: &dyn Fn(&mut [u8], u64) -> io::Result<usize>,
        out: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        if key == self.pack && offset >= self.start && offset - self.start <= self.len as u64 {
            let from = (offset - self.start) as usize;
            let available = self.len - from;
            if available >= out.len() || self.eof {
                let n = available.min(out.len());
                out[..n].copy_from_slice(&self.buf[from..from + n]);
                return Ok(n);
            }
        }
        if out.len() >= super::CHUNK {
            return read_at(out, offset);
        }
        if self.buf.is_empty() {
            self.buf = vec![0; AHEAD];
        }
        // Invalidate first: a failed read must not leave stale bytes labelled as this range.
        self.pack = 0;
        let n = read_at(&mut self.buf, offset)?;
        (self.pack, self.start, self.len, self.eof) = (key, offset, n, n < AHEAD);
        let n = n.min(out.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn every_read_returns_the_sources_bytes_and_nearby_reads_share_one_fill() {
        let len = AHEAD * 2 + 1234;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let calls = Cell::new(0);
        let source = |buf: &mut [u8], at: u64| -> io::Result<usize> {
            calls.set(calls.get() + 1);
            let at = (at as usize).min(data.len());
            let n = buf.len().min(data.len() - at);
            buf[..n].copy_from_slice(&data[at..at + n]);
            Ok(n)
        };
        let mut ahead = ReadAhead::new();
        let mut check = |key: usize, offset: usize, want: usize| {
            let mut out = vec![0xAA; want];
            let n = ahead
                .read_with(key, &source, &mut out, offset as u64)
                .unwrap();
            let expected = &data[offset.min(len)..(offset + want).min(len)];
            assert_eq!(&out[..n], expected, "read of {want} at {offset}");
        };

        // Back-to-back entries: one fill serves them all.
        let mut at = 100;
        for size in [64, 300, 4096, 17, 9000, 64] {
            check(1, at, size);
            at += size;
        }
        assert_eq!(calls.get(), 1);
        // Across the end of the window: refilled from the new offset.
        check(1, 100 + AHEAD - 10, 100);
        assert_eq!(calls.get(), 2);
        // Backwards, outside the window: refilled.
        check(1, 5, 10);
        assert_eq!(calls.get(), 3);
        // The same range of another source is not served from this one's window.
        check(2, 5, 10);
        assert_eq!(calls.get(), 4);
        // A whole chunk bypasses the window, and leaves it intact.
        check(2, AHEAD + 1000, super::super::CHUNK);
        assert_eq!(calls.get(), 5);
        check(2, 20, 10);
        assert_eq!(calls.get(), 5);
        // At the end of the source: short reads, served from a window that holds the end.
        check(1, len - 50, 64);
        check(1, len - 20, 64);
        check(1, len, 64);
        assert_eq!(calls.get(), 6);
    }

    #[test]
    fn a_failed_fill_leaves_no_window_behind() {
        let mut ahead = ReadAhead::new();
        let good = |buf: &mut [u8], _at: u64| -> io::Result<usize> {
            buf.fill(1);
            Ok(buf.len())
        };
        let bad =
            |_buf: &mut [u8], _at: u64| -> io::Result<usize> { Err(io::Error::other("disk gone")) };
        let mut out = [0u8; 16];
        ahead.read_with(1, &good, &mut out, 0).unwrap();
        assert!(
            ahead
                .read_with(1, &bad, &mut out, AHEAD as u64 * 4)
                .is_err()
        );
        // The window of the earlier fill was dropped: this read goes to the source again.
        assert!(ahead.read_with(1, &bad, &mut out, 0).is_err());
    }
}
