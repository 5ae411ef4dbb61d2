//! Whether a file is what a checkout writes for a blob through a [`Conversion`]: how a
//! switch in place tells a converted file it wrote, whose `lstat` data changed (touched,
//! copied, restored from a backup), from one the user edited.
//!
//! A converted file never hashes to its blob, so the file is turned back into the blob it
//! would come from (CRLF to LF, `$Id: … $` to `$Id$`; for Git LFS, the pointer naming the
//! file's SHA-256), and that candidate must hash to the recorded blob id. Since the id
//! pins the blob, converting the candidate again and getting the file's exact bytes proves
//! the file is the checkout's own. A file that passes is byte for byte what a checkout
//! writes; one that does not counts as changed, which errs on the side of keeping the
//! user's work (a blob that itself held CRLF, a `working-tree-encoding`: reported as
//! changed, as before, and `--force` overwrites them).

use std::io::{self, Read, Write};

use gix_hash::oid;
use sha2::{Digest, Sha256};

use super::convert::write_converted;
use super::{Conversion, Eol};
use crate::verify::blob_of;

/// The largest converted file compared in memory (it is held twice, with its candidate
/// blob); a larger one counts as changed rather than taking memory in proportion to it.
/// Git LFS objects, which can be much larger, are hashed as a stream.
const MAX_IN_MEMORY: u64 = 64 << 20;

/// Whether the content `file` reads is what a checkout writes for blob `id` with
/// `conversion`.
pub(crate) fn is_written_form(
    conversion: &Conversion,
    id: &oid,
    file: &mut dyn Read,
) -> io::Result<bool> {
    if conversion.replace.is_some() || conversion.encoding.is_some() {
        return Ok(false);
    }
    if conversion.lfs.is_some() {
        // The file is the object; its blob, the pointer to it (read as a stream: objects
        // can be large).
        let mut hasher = Sha256::new();
        let size = io::copy(file, &mut HashWriter(&mut hasher))?;
        let pointer = crate::lfs::Pointer::canonical(&format!("{:x}", hasher.finalize()), size);
        return Ok(blob_of(pointer.as_bytes()) == id);
    }
    let mut disk = Vec::new();
    file.take(MAX_IN_MEMORY + 1).read_to_end(&mut disk)?;
    if disk.len() as u64 > MAX_IN_MEMORY {
        return Ok(false);
    }
    let mut candidate = disk.clone();
    if conversion.eol != Eol::Keep {
        candidate = crlf_to_lf(&candidate);
    }
    if conversion.ident {
        candidate = collapse_ident(&candidate);
    }
    if blob_of(&candidate) != id {
        return Ok(false);
    }
    let mut again = Vec::with_capacity(disk.len());
    let mut read = |sink: &mut dyn Write| {
        sink.write_all(&candidate)
            .map_err(|source| crate::odb::Error::Sink {
                id: id.to_owned(),
                source,
            })
            .map(|()| candidate.len() as u64)
    };
    Ok(write_converted(conversion, id, &mut read, &mut again).is_ok() && again == disk)
}

/// Feeds what is written to a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every CRLF as LF.
fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Every `$Id: … $` on one line as `$Id$` (git's `ident_to_git`).
fn collapse_ident(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(at) = rest.windows(4).position(|w| w == b"$Id:") {
        out.extend_from_slice(&rest[..at]);
        let after = &rest[at + 4..];
        match after.iter().position(|&b| b == b'$' || b == b'\n') {
            Some(end) if after[end] == b'$' => {
                out.extend_from_slice(b"$Id$");
                rest = &after[end + 1..];
            }
            _ => {
                out.extend_from_slice(b"$Id:");
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(conversion: &Conversion, blob: &[u8]) -> (gix_hash::ObjectId, Vec<u8>) {
        let id = blob_of(blob);
        let mut out = Vec::new();
        let mut read = |sink: &mut dyn Write| {
            sink.write_all(blob).unwrap();
            Ok(blob.len() as u64)
        };
        write_converted(conversion, &id, &mut read, &mut out).unwrap();
        (id, out)
    }

    fn check(conversion: &Conversion, id: &oid, file: &[u8]) -> bool {
        is_written_form(conversion, id, &mut &file[..]).unwrap()
    }

    #[test]
    fn a_converted_file_as_written_is_recognized_and_any_edit_is_not() {
        let crlf = Conversion {
            eol: Eol::Crlf,
            ..Conversion::default()
        };
        let ident = Conversion {
            ident: true,
            eol: Eol::Crlf,
            ..Conversion::default()
        };
        let auto = Conversion {
            eol: Eol::AutoCrlf,
            ..Conversion::default()
        };
        for (conversion, blob) in [
            (&crlf, &b"one\ntwo\n"[..]),
            (&crlf, b"no newline at the end"),
            (&ident, b"x $Id$ y\nz\n"),
            (&auto, b"text\nlines\n"),
            (&auto, b"binary\0\nstays\n"),
        ] {
            let (id, file) = written(conversion, blob);
            assert!(check(conversion, &id, &file), "{conversion:?} {blob:?}");
            // One byte more, one line ending changed, or the blob as stored.
            let mut more = file.clone();
            more.push(b'!');
            assert!(!check(conversion, &id, &more), "{conversion:?} {blob:?} +!");
            if let Some(cr) = file.iter().position(|&b| b == b'\r') {
                let mut lf = file.clone();
                lf.remove(cr);
                assert!(!check(conversion, &id, &lf), "{conversion:?} {blob:?} LF");
            }
            if file != blob {
                assert!(!check(conversion, &id, blob), "{conversion:?} {blob:?} raw");
            }
        }
    }

    #[test]
    fn a_blob_that_held_crlf_itself_counts_as_changed() {
        let crlf = Conversion {
            eol: Eol::Crlf,
            ..Conversion::default()
        };
        let (id, file) = written(&crlf, b"mixed\r\nendings\n");
        assert!(!check(&crlf, &id, &file));
    }

    #[test]
    fn an_lfs_object_is_recognized_by_the_pointer_naming_it() {
        let object = b"large content\n";
        let pointer = crate::lfs::Pointer::canonical(
            &format!("{:x}", Sha256::digest(object)),
            object.len() as u64,
        );
        let lfs = Conversion {
            lfs: crate::lfs::Pointer::parse(pointer.as_bytes()),
            ..Conversion::default()
        };
        let id = blob_of(pointer.as_bytes());
        assert!(check(&lfs, &id, object));
        assert!(!check(&lfs, &id, b"large content!\n"));
        assert!(!check(&lfs, &id, pointer.as_bytes()));
    }

    #[test]
    fn idents_collapse_only_on_one_line() {
        assert_eq!(collapse_ident(b"a $Id: x y $ b"), b"a $Id$ b");
        assert_eq!(collapse_ident(b"$Id: a\n$"), b"$Id: a\n$");
        assert_eq!(collapse_ident(b"$Id:$Id: q $"), b"$Id$Id: q $");
    }
}
