//! Read-ahead windows over packs.
//!
//! A checkout reads the blobs of one directory after another, and git writes a pack's
//! entries in the order of a tree walk: most entries a reader asks for start where the
//! previous one ended. A few positioned reads, growing to [`AHEAD`] bytes, then serve dozens
//! of entries, instead of one or two reads each. This matters most under WASI, where every read is a
//! host call on top of the system call.
//!
//! Two windows, because a deltified object alternates between two places: its delta and
//! its base, often far apart. A read that jumps refills only [`NEAR`] bytes, from a little
//! before it (delta chains step backwards), so jumping around does not copy bytes nobody
//! uses.

use std::io;

use super::pack::Pack;

/// The most a refill reads while the reader moves forward through the pack: each fill that
/// continues a window reads twice what the last one did, up to this.
const AHEAD: usize = 128 * 1024;
/// How much a refill reads after a jump: a reader that jumps around would otherwise copy
/// a whole [`AHEAD`] of bytes it never uses for every entry it reads.
const NEAR: usize = 16 * 1024;
/// How much of a jump's refill lies before the read: the next link of a delta chain is
/// usually just before the last.
const BEHIND: u64 = 4 * 1024;
/// How far past a window's end a read still counts as moving forward from it (entries are
/// often read with a little more than their own bytes, and skipped entries are small).
const FORWARD_GAP: u64 = 4 * 1024;

/// A stretch of one pack's bytes.
struct Window {
    /// Grown on first use, up to [`AHEAD`] bytes.
    buf: Vec<u8>,
    /// The pack the window holds bytes of, by address: compared, never dereferenced. Packs
    /// live as long as the `Odb` every reader borrows, so an address cannot be reused for
    /// another pack while the window exists. Zero: holds nothing.
    pack: usize,
    /// Where in the pack `buf[0]` is.
    start: u64,
    /// How many bytes of `buf` are valid.
    len: usize,
    /// The window ends at the end of the pack.
    eof: bool,
    /// How much its last fill asked for: doubled by each fill that moves forward.
    size: usize,
}

impl Window {
    const EMPTY: Window = Window {
        buf: Vec::new(),
        pack: 0,
        start: 0,
        len: 0,
        eof: false,
        size: 0,
    };

    /// Copy the bytes at `offset` into `out` if this window holds them (all of them, or
    /// all there are up to the end of the pack).
    fn serve(&self, key: usize, out: &mut [u8], offset: u64) -> Option<usize> {
        if key != self.pack || offset < self.start || offset - self.start > self.len as u64 {
            return None;
        }
        let from = (offset - self.start) as usize;
        let available = self.len - from;
        if available < out.len() && !self.eof {
            return None;
        }
        let n = available.min(out.len());
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        Some(n)
    }

    /// Whether a read at `offset` continues forward from this window.
    fn continued_by(&self, key: usize, offset: u64) -> bool {
        key == self.pack
            && offset >= self.start
            && offset <= self.start + self.len as u64 + FORWARD_GAP
    }
}

/// The pack bytes a [`super::Reader`] read last, in two windows.
pub(super) struct ReadAhead {
    windows: [Window; 2],
    /// Which window served or was filled last.
    recent: usize,
}

impl ReadAhead {
    pub(super) fn new() -> ReadAhead {
        ReadAhead {
            windows: [Window::EMPTY, Window::EMPTY],
            recent: 0,
        }
    }

    /// Fill `out` from `pack` at `offset`, returning how many bytes were read: `out.len()`,
    /// or less only at the end of the pack. Served from a window when one holds them;
    /// reads of a whole chunk or more bypass the windows (large entries stream past).
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
        for (i, window) in self.windows.iter().enumerate() {
            if let Some(n) = window.serve(key, out, offset) {
                self.recent = i;
                return Ok(n);
            }
        }
        if out.len() >= super::inflate::CHUNK {
            return read_at(out, offset);
        }
        // Moving forward from a window: refill that one, reading twice as far as last time.
        // A jump: refill the other one (least recently used) near the read, from a little
        // before it. Either way the fill covers all of `out`.
        let (i, start, size) = match (0..2).find(|&i| self.windows[i].continued_by(key, offset)) {
            Some(i) => (i, offset, (self.windows[i].size * 2).clamp(NEAR, AHEAD)),
            None => (1 - self.recent, offset.saturating_sub(BEHIND), NEAR),
        };
        let size = size.max((offset - start) as usize + out.len());
        let window = &mut self.windows[i];
        if window.buf.len() < size {
            window.buf.resize(size, 0);
        }
        // Invalidate first: a failed read must not leave stale bytes labelled as this range.
        window.pack = 0;
        let n = read_at(&mut window.buf[..size], start)?;
        (window.pack, window.start, window.len, window.eof) = (key, start, n, n < size);
        window.size = size;
        self.recent = i;
        // The window starts at or before `offset` and holds what `out` wants, unless the
        // pack ends before `offset`: then there is nothing to read there.
        Ok(window.serve(key, out, offset).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// A source of `len` bytes that records every read it serves, and fails while `failing`.
    struct Source {
        data: Vec<u8>,
        reads: RefCell<Vec<(u64, usize)>>,
        failing: Cell<bool>,
    }

    impl Source {
        fn new(len: usize) -> Source {
            Source {
                data: (0..len).map(|i| (i * 7 % 251) as u8).collect(),
                reads: RefCell::new(Vec::new()),
                failing: Cell::new(false),
            }
        }

        fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
            if self.failing.get() {
                return Err(io::Error::other("disk gone"));
            }
            self.reads.borrow_mut().push((at, buf.len()));
            let at = (at as usize).min(self.data.len());
            let n = buf.len().min(self.data.len() - at);
            buf[..n].copy_from_slice(&self.data[at..at + n]);
            Ok(n)
        }

        /// Read `want` bytes at `offset` through `ahead` and check them against the data.
        fn check(&self, ahead: &mut ReadAhead, key: usize, offset: u64, want: usize) {
            let mut out = vec![0xAA; want];
            let n = ahead
                .read_with(key, &|b, at| self.read_at(b, at), &mut out, offset)
                .unwrap();
            let len = self.data.len();
            let expected =
                &self.data[(offset as usize).min(len)..(offset as usize + want).min(len)];
            assert_eq!(&out[..n], expected, "read of {want} at {offset}");
        }

        fn count(&self) -> usize {
            self.reads.borrow().len()
        }
    }

    #[test]
    fn every_read_returns_the_sources_bytes() {
        let source = Source::new(AHEAD * 3 + 1234);
        let len = source.data.len() as u64;
        let mut ahead = ReadAhead::new();
        // A deterministic walk of forward runs, backward steps, far jumps and the end.
        let mut state = 12345u64;
        let mut at = 0u64;
        for _ in 0..5000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = state >> 33;
            let want = [64, 300, 2500, 9000, 40_000, 70_000][(r % 6) as usize];
            at = match (r >> 8) % 6 {
                0 => r % len,                     // a jump anywhere
                1 => at.saturating_sub(r % 3000), // a delta chain's step back
                2 => len - (r % 100),             // the end of the pack
                _ => (at + r % 5000).min(len),    // onwards
            };
            source.check(&mut ahead, 1 + (r % 2) as usize, at, want);
        }
    }

    #[test]
    fn neighbours_share_a_fill_and_a_delta_and_its_base_keep_a_window_each() {
        let source = Source::new(1 << 20);
        let mut ahead = ReadAhead::new();
        // Back-to-back entries: one fill serves them all.
        let mut at = 100_000;
        for size in [64, 300, 4096, 17, 3000, 64] {
            source.check(&mut ahead, 1, at, size);
            at += size as u64;
        }
        assert_eq!(source.count(), 1);
        // A step back within a few KiB (the next link of a delta chain): no read.
        source.check(&mut ahead, 1, 100_000 - 3000, 500);
        assert_eq!(source.count(), 1);
        // A far base, then back and forth between the delta and its base: two fills in all.
        for _ in 0..3 {
            source.check(&mut ahead, 1, 700_000, 200);
            source.check(&mut ahead, 1, 100_010, 200);
        }
        assert_eq!(source.count(), 2);
        // The same range of another pack is not served from this one's windows.
        source.check(&mut ahead, 2, 100_010, 200);
        assert_eq!(source.count(), 3);
        // A whole chunk bypasses the windows.
        source.check(&mut ahead, 2, 300_000, super::super::inflate::CHUNK);
        assert_eq!(source.count(), 4);
        assert_eq!(
            source.reads.borrow()[3],
            (300_000, super::super::inflate::CHUNK)
        );
    }

    #[test]
    fn a_reader_moving_forward_reads_far_ahead_and_one_that_jumps_reads_near() {
        let source = Source::new(AHEAD * 4);
        let mut ahead = ReadAhead::new();
        let mut at = 50_000;
        while at < 50_000 + AHEAD as u64 {
            source.check(&mut ahead, 1, at, 3000);
            at += 3000;
        }
        // A jump first (a near fill from a little before), then fills that move forward,
        // each from the read that went past the last and twice as large, up to AHEAD. The
        // near fill, 45_904..62_288, holds the reads at 50_000 up to 59_000; the one at
        // 62_000 goes past it, and so on.
        let start = 50_000 - BEHIND;
        assert_eq!(
            *source.reads.borrow(),
            vec![
                (start, NEAR),
                (62_000, 2 * NEAR),
                (92_000, 4 * NEAR),
                (155_000, AHEAD),
            ]
        );
        // A jump back reads near again.
        source.check(&mut ahead, 1, 10, 100);
        assert_eq!(source.reads.borrow().last(), Some(&(0, NEAR)));
    }

    #[test]
    fn a_read_past_the_end_of_the_pack_reads_nothing() {
        let source = Source::new(10_000);
        let mut ahead = ReadAhead::new();
        for offset in [10_000, 10_001, 14_000, 1 << 40] {
            let mut out = [0u8; 100];
            let n = ahead
                .read_with(1, &|b, at| source.read_at(b, at), &mut out, offset)
                .unwrap();
            assert_eq!(n, 0, "a read at {offset} of a 10,000-byte pack");
        }
        source.check(&mut ahead, 1, 9_950, 100);
    }

    #[test]
    fn a_failed_fill_leaves_no_stale_window_behind() {
        let source = Source::new(AHEAD * 8);
        let mut ahead = ReadAhead::new();
        source.check(&mut ahead, 1, 0, 16);
        source.check(&mut ahead, 1, 500_000, 16);
        source.failing.set(true);
        let mut out = [0u8; 16];
        let far = AHEAD as u64 * 4;
        assert!(
            ahead
                .read_with(1, &|b, at| source.read_at(b, at), &mut out, far)
                .is_err()
        );
        source.failing.set(false);
        // The window the failed fill was meant for holds nothing now: the read goes to the
        // source and returns its bytes, not what the window held before.
        let before = source.count();
        source.check(&mut ahead, 1, far, 16);
        assert_eq!(source.count(), before + 1);
    }
}
