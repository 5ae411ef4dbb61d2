//! Applying a [`Conversion`] on the way from a blob to its file.
//!
//! Line endings stream: the blob goes through [`CrlfWriter`], which only ever inserts a CR
//! before an LF, so it needs one byte of memory. `text=auto` first streams the blob
//! through [`TextStats`] (git decides on the whole content), then again through the
//! writer. `ident` and `working-tree-encoding` hold the blob in memory, as git does: both
//! rewrite it as a whole (the `$Id$` expansion needs the blob's id, which is known, but an
//! encoder needs whole characters and the files concerned are small text files).

use std::io::{self, Write};

use gix_hash::oid;

use super::{Conversion, Eol};
use crate::odb;

/// Stream a blob (`read` writes it to the sink it is given, and may be called twice) to
/// `sink` through `conversion`; returns the bytes written to `sink`.
pub(crate) fn write_converted(
    conversion: &Conversion,
    id: &oid,
    read: &mut dyn FnMut(&mut dyn Write) -> Result<u64, odb::Error>,
    sink: &mut dyn Write,
) -> Result<u64, odb::Error> {
    if let Some(content) = &conversion.replace {
        sink.write_all(content).map_err(|source| odb::Error::Sink {
            id: id.to_owned(),
            source,
        })?;
        return Ok(content.len() as u64);
    }
    if conversion.ident || conversion.encoding.is_some() {
        let mut data = Vec::new();
        read(&mut data)?;
        if conversion.ident {
            data = ident(&data, id);
        }
        let mut converted = Vec::with_capacity(data.len() + data.len() / 16);
        let eol = match conversion.eol {
            Eol::Keep => false,
            Eol::Crlf => true,
            Eol::AutoCrlf => {
                let mut stats = TextStats::default();
                stats.update(&data);
                stats.converts()
            }
        };
        if eol {
            let mut writer = CrlfWriter::new(&mut converted);
            writer.write_all(&data).expect("a Vec takes every write");
        } else {
            converted = data;
        }
        if let Some(encoding) = &conversion.encoding {
            // As git: what cannot be encoded is written as it is (git says so on stderr).
            if let Some(encoded) = encode(&converted, encoding) {
                converted = encoded;
            }
        }
        sink.write_all(&converted)
            .map_err(|source| odb::Error::Sink {
                id: id.to_owned(),
                source,
            })?;
        return Ok(converted.len() as u64);
    }
    match conversion.eol {
        Eol::Keep => read(sink),
        Eol::AutoCrlf => {
            let mut stats = TextStats::default();
            read(&mut stats)?;
            if stats.converts() {
                crlf(read, sink)
            } else {
                read(sink)
            }
        }
        Eol::Crlf => crlf(read, sink),
    }
}

fn crlf(
    read: &mut dyn FnMut(&mut dyn Write) -> Result<u64, odb::Error>,
    sink: &mut dyn Write,
) -> Result<u64, odb::Error> {
    let mut writer = CrlfWriter::new(sink);
    read(&mut writer)?;
    Ok(writer.written)
}

/// Writes what it is given with a CR before every LF that has none (git's
/// `crlf_to_worktree`), counting what it writes.
pub(crate) struct CrlfWriter<'a> {
    inner: &'a mut dyn Write,
    /// Whether the last byte given was a CR.
    after_cr: bool,
    written: u64,
}

impl<'a> CrlfWriter<'a> {
    pub(crate) fn new(inner: &'a mut dyn Write) -> CrlfWriter<'a> {
        CrlfWriter {
            inner,
            after_cr: false,
            written: 0,
        }
    }
}

impl Write for CrlfWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b != b'\n' {
                continue;
            }
            let preceded = if i == 0 {
                self.after_cr
            } else {
                buf[i - 1] == b'\r'
            };
            if !preceded {
                self.inner.write_all(&buf[start..i])?;
                self.inner.write_all(b"\r")?;
                self.written += (i - start) as u64 + 1;
                start = i;
            }
        }
        self.inner.write_all(&buf[start..])?;
        self.written += (buf.len() - start) as u64;
        if let Some(&last) = buf.last() {
            self.after_cr = last == b'\r';
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// git's `gather_stats`, over a stream: what `text=auto` decides on.
#[derive(Debug, Default)]
pub(crate) struct TextStats {
    nul: u64,
    lone_cr: u64,
    lone_lf: u64,
    crlf: u64,
    printable: u64,
    nonprintable: u64,
    /// A CR was the last byte seen: whether it is lone depends on the next.
    pending_cr: bool,
    last: Option<u8>,
}

impl TextStats {
    pub(crate) fn update(&mut self, buf: &[u8]) {
        for &c in buf {
            if self.pending_cr {
                self.pending_cr = false;
                if c == b'\n' {
                    self.crlf += 1;
                    continue;
                }
                self.lone_cr += 1;
            }
            match c {
                b'\r' => self.pending_cr = true,
                b'\n' => self.lone_lf += 1,
                127 => self.nonprintable += 1,
                // BS, HT, ESC and FF count as printable.
                8 | 9 | 27 | 12 => self.printable += 1,
                0 => {
                    self.nul += 1;
                    self.nonprintable += 1;
                }
                c if c < 32 => self.nonprintable += 1,
                _ => self.printable += 1,
            }
        }
        if let Some(&last) = buf.last() {
            self.last = Some(last);
        }
    }

    /// Whether `text=auto` with CRLF output converts this content (git's
    /// `will_convert_lf_to_crlf`): it has an LF without CR, no CR at all, and does not look
    /// binary.
    pub(crate) fn converts(&self) -> bool {
        let lone_cr = self.lone_cr + u64::from(self.pending_cr);
        // A final ^Z (DOS end of file) is not counted as non-printable.
        let nonprintable = self.nonprintable - u64::from(self.last == Some(0x1a));
        let binary = lone_cr > 0 || self.nul > 0 || (self.printable >> 7) < nonprintable;
        self.lone_lf > 0 && lone_cr == 0 && self.crlf == 0 && !binary
    }
}

impl Write for TextStats {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// git's `ident_to_worktree`: `$Id$` and `$Id: … $` (one line, no inner space before the
/// last character) become `$Id: <id> $`.
fn ident(src: &[u8], id: &oid) -> Vec<u8> {
    let replacement = format!("Id: {} $", id.to_hex());
    let mut out = Vec::with_capacity(src.len());
    let mut rest = src;
    while let Some(dollar) = rest.iter().position(|&b| b == b'$') {
        out.extend_from_slice(&rest[..=dollar]);
        rest = &rest[dollar + 1..];
        if rest.len() < 3 || &rest[..2] != b"Id" {
            continue;
        }
        if rest[2] == b'$' {
            rest = &rest[3..];
        } else if rest[2] == b':' {
            let Some(end) = rest[3..].iter().position(|&b| b == b'$').map(|p| p + 3) else {
                break;
            };
            if rest[3..end].contains(&b'\n') {
                continue;
            }
            let space = rest
                .get(4..end)
                .and_then(|s| s.iter().position(|&b| b == b' '))
                .map(|p| p + 4);
            if space.is_some_and(|s| s + 1 < end) {
                continue;
            }
            rest = &rest[end + 1..];
        } else {
            continue;
        }
        out.extend_from_slice(replacement.as_bytes());
    }
    out.extend_from_slice(rest);
    out
}

/// `data` (UTF-8) in `encoding` as git spells it, as git's `reencode_string_len` with
/// glibc's iconv on a little-endian machine writes it; `None` where that fails (then git
/// writes the file as it is).
fn encode(data: &[u8], encoding: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    // git's `same_utf_encoding`: `UTF16LE` is `utf-16le`.
    let upper = encoding.to_ascii_uppercase();
    let utf = upper
        .strip_prefix("UTF")
        .map(|rest| rest.strip_prefix('-').unwrap_or(rest));
    let units16 = |le: bool, bom: bool| {
        let mut out = Vec::with_capacity(data.len() * 2 + 2);
        let mut push =
            |u: u16| out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        if bom {
            push(0xfeff);
        }
        text.encode_utf16().for_each(&mut push);
        out
    };
    let units32 = |le: bool, bom: bool| {
        let mut out = Vec::with_capacity(data.len() * 4 + 4);
        let mut push =
            |u: u32| out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        if bom {
            push(0xfeff);
        }
        text.chars().for_each(|c| push(c as u32));
        out
    };
    match utf {
        Some("16") => Some(units16(true, true)),
        Some("16LE") => Some(units16(true, false)),
        Some("16BE") => Some(units16(false, false)),
        Some("16LE-BOM") => Some(units16(true, true)),
        Some("16BE-BOM") => Some(units16(false, true)),
        Some("32") => Some(units32(true, true)),
        Some("32LE") => Some(units32(true, false)),
        Some("32BE") => Some(units32(false, false)),
        _ => {
            let encoding = encoding_rs::Encoding::for_label(encoding.as_bytes())?;
            if encoding.output_encoding() != encoding {
                // UTF-16 spellings encoding_rs would write as UTF-8.
                return None;
            }
            let (out, _, unmappable) = encoding.encode(text);
            (!unmappable).then(|| out.into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf_of(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = CrlfWriter::new(&mut out);
        for c in chunks {
            w.write_all(c).unwrap();
        }
        let written = w.written;
        assert_eq!(written, out.len() as u64, "counted what was written");
        out
    }

    #[test]
    fn lone_lfs_get_a_cr_across_chunk_boundaries() {
        assert_eq!(crlf_of(&[b"a\nb\r\nc\n"]), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf_of(&[b"a\r", b"\nb", b"\n", b"\n"]), b"a\r\nb\r\n\r\n");
        assert_eq!(crlf_of(&[b"\n"]), b"\r\n");
        assert_eq!(crlf_of(&[b"no newline"]), b"no newline");
    }

    fn stats(data: &[u8]) -> bool {
        let mut s = TextStats::default();
        for chunk in data.chunks(3) {
            s.update(chunk);
        }
        s.converts()
    }

    #[test]
    fn auto_converts_only_plain_lf_text() {
        assert!(stats(b"a\nb\n"), "plain text");
        assert!(!stats(b"a\r\nb\n"), "mixed endings stay");
        assert!(!stats(b"a\rb\n"), "lone CR stays");
        assert!(!stats(b"a\0b\n"), "NUL is binary");
        assert!(!stats(b"no newline"), "nothing to convert");
        assert!(stats(b"a\nb\x1a"), "a final ^Z is not binary");
    }

    #[test]
    fn ident_expands_as_git_does() {
        let id = gix_hash::ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        let want = b"x $Id: 0123456789012345678901234567890123456789 $ y";
        assert_eq!(ident(b"x $Id$ y", &id), want);
        assert_eq!(ident(b"x $Id: old $ y", &id), want);
        assert_eq!(ident(b"x $Id: two words $ y", &id), b"x $Id: two words $ y");
        assert_eq!(ident(b"$Id: a\nb$", &id), b"$Id: a\nb$");
        assert_eq!(ident(b"$Id", &id), b"$Id");
    }

    #[test]
    fn encodings_follow_glibc() {
        assert_eq!(encode(b"hi", "UTF-16").unwrap(), b"\xff\xfeh\0i\0");
        assert_eq!(encode(b"hi", "utf16be").unwrap(), b"\0h\0i");
        assert_eq!(encode(b"hi", "UTF-16LE-BOM").unwrap(), b"\xff\xfeh\0i\0");
        assert_eq!(encode("é".as_bytes(), "ISO-8859-1").unwrap(), b"\xe9");
        assert_eq!(encode(b"\xff", "UTF-16"), None, "not UTF-8");
        assert_eq!(encode(b"x", "no-such-encoding"), None);
    }
}
