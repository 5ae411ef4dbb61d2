//! Loose objects: one zlib stream per file, `<kind> <size>\0` then the content.
//!
//! A loose object is always streamed: its header is parsed from the first inflated bytes,
//! and the content goes on to its sink chunk by chunk, so a large loose blob never sits in
//! memory whole.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use gix_hash::oid;
use gix_object::Kind;

use super::verify::Hashing;
use super::{Error, Reader};

/// The longest loose header read before it is called corrupt (`commit 18446744073709551615\0`
/// is 28 bytes).
const MAX_HEADER: usize = 64;

impl Reader<'_> {
    /// The kind and size of the loose object in `file`, inflating only its header.
    pub(super) fn loose_header(
        &mut self,
        mut file: &File,
        path: &Path,
        id: &oid,
    ) -> Result<(Kind, u64), Error> {
        let mut head = Vec::new();
        self.inflater
            .stream(&mut file, None, |chunk| {
                head.extend_from_slice(chunk);
                Ok(!head.contains(&0) && head.len() < MAX_HEADER)
            })
            .map_err(|e| e.into_error(id, path))?;
        let (kind, size, _) =
            gix_object::decode::loose_header(&head).map_err(|e| Error::corrupt(id, path, e))?;
        Ok((kind, size))
    }

    /// Write the loose blob in `file` to `sink`, streaming it, and return its size.
    pub(super) fn write_loose_blob(
        &mut self,
        file: &File,
        path: &Path,
        id: &oid,
        sink: &mut dyn Write,
    ) -> Result<u64, Error> {
        let mut written = 0u64;
        self.read_loose(file, path, id, Some(Kind::Blob), &mut |chunk| {
            written += chunk.len() as u64;
            sink.write_all(chunk)
        })?;
        Ok(written)
    }

    /// Decode the whole loose object in `file`, returning its kind and content.
    pub(super) fn read_loose_whole(
        &mut self,
        file: &File,
        path: &Path,
        id: &oid,
        out: &mut Vec<u8>,
    ) -> Result<Kind, Error> {
        self.read_loose(file, path, id, None, &mut |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })
    }

    /// Inflate the loose object in `file`, check its header and hand its content to `sink`.
    ///
    /// With `expect`, the kind is checked before any content reaches the sink, so a loose
    /// tree is never written out as if it were a blob.
    fn read_loose(
        &mut self,
        mut file: &File,
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
        let mut hashing: Option<Hashing> = None;
        let verify = self.verify;
        let result = self.inflater.stream(&mut file, None, |mut chunk| {
            if header.is_none() {
                let before = head.len();
                head.extend_from_slice(chunk);
                let Some(nul) = head.iter().position(|&b| b == 0) else {
                    return Ok(head.len() < MAX_HEADER);
                };
                match gix_object::decode::loose_header(&head[..=nul]) {
                    Ok((kind, _, _)) if expect.is_some_and(|e| e != kind) => {
                        wrong_kind = Some(kind);
                        return Ok(false);
                    }
                    Ok((kind, size, _)) => {
                        header = Some((kind, size));
                        hashing = verify.then(|| Hashing::new(kind, size));
                    }
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
            if let Some(hashing) = &mut hashing {
                hashing.update(chunk);
            }
            sink(chunk)?;
            Ok(true)
        });
        result.map_err(|e| e.into_error(id, path))?;
        if let (Some(expected), Some(actual)) = (expect, wrong_kind) {
            return Err(Error::UnexpectedKind {
                id: id.to_owned(),
                expected,
                actual,
            });
        }
        if let Some(message) = bad_header {
            return Err(Error::corrupt(id, path, message));
        }
        let Some((kind, size)) = header else {
            return Err(Error::corrupt(id, path, "no object header"));
        };
        if produced != size {
            return Err(Error::corrupt(
                id,
                path,
                format!("content is {produced} bytes, its header announces {size}"),
            ));
        }
        if let Some(hashing) = hashing {
            hashing.check(id, path)?;
        }
        Ok(kind)
    }
}
