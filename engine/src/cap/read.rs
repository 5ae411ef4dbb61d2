//! Reading files: only regular ones (a FIFO would block the open, a device or socket is no
//! store file), and positioned reads that several workers share.

use std::fs::File;
use std::io;

use super::imp;

/// `file` if it is a regular file, else [`not_a_regular_file`].
pub(super) fn regular_file(file: File) -> io::Result<File> {
    match file.metadata()?.is_file() {
        true => Ok(file),
        false => Err(not_a_regular_file()),
    }
}

/// What opening something other than a regular file for reading fails with.
pub(super) fn not_a_regular_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (a FIFO, socket, device or directory where a file belongs)",
    )
}

/// Positioned reads on a shared file: several workers read one pack without a shared cursor.
#[derive(Debug)]
pub(crate) struct ReadAt {
    file: File,
    len: u64,
}

impl ReadAt {
    /// Wrap `file` for positioned reads.
    pub(crate) fn new(file: File) -> io::Result<ReadAt> {
        let len = file.metadata()?.len();
        Ok(ReadAt { file, len })
    }

    /// The file's length when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Read as many bytes as fit into `buf` from `offset`, fewer only at the end of the file.
    pub(crate) fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
        let mut total = 0;
        while !buf.is_empty() {
            match imp::read_at(&self.file, buf, offset) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    offset += n as u64;
                    buf = &mut buf[n..];
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(total)
    }
}
