//! Whole files held for random access: memory-mapped natively, read into memory under WASI.
//!
//! A pack's index is held this way (see `odb::pack`), and `packed-refs` (see
//! `store::refs`: numpy's is 1.3 MB, of which a lookup compares the names). A lookup in an
//! index touches a few of its
//! pages; a checkout of git/git's 4,800 files from its full history looks up 5,000 ids in
//! an index of 24 MB. Reading such an index into memory copied all of it into freshly
//! faulted pages before the first lookup, about 18 ms on the critical path on this machine;
//! mapping it costs a few page-cache faults spread over the lookups. WASI preview 1 has no
//! `mmap`, so a guest reads the file, as does a native checkout where mapping fails (some
//! FUSE filesystems refuse it).

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;

/// The bytes of a file opened through a [`super::Dir`], for random access.
pub(crate) struct Bytes(Inner);

enum Inner {
    #[cfg(not(target_os = "wasi"))]
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl Bytes {
    /// Hold all of `file`: map it where the platform can, else read it.
    pub(crate) fn of(file: File) -> io::Result<Bytes> {
        if let Some(mapped) = map(&file, file.metadata()?.len()) {
            return Ok(Bytes(mapped));
        }
        read_all(file).map(|bytes| Bytes(Inner::Read(bytes)))
    }
}

#[cfg(any(test, not(unix)))]
impl Bytes {
    /// Bytes already in memory (a file read whole, or a test's made-up file).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> Bytes {
        Bytes(Inner::Read(bytes))
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            #[cfg(not(target_os = "wasi"))]
            Inner::Mapped(map) => map,
            Inner::Read(bytes) => bytes,
        }
    }
}

/// Read all of `file`, into one allocation sized from its length (not one that doubles and
/// copies as it grows: a pack index under WASI is tens of megabytes).
pub(super) fn read_all(mut file: File) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Map `file`, `len` bytes long, read-only; `None` if it is empty or cannot be mapped
/// (then it is read instead).
#[cfg(not(target_os = "wasi"))]
#[allow(unsafe_code)]
fn map(file: &File, len: u64) -> Option<Inner> {
    if len == 0 {
        // Mapping zero bytes fails on Linux; an empty index is refused as corrupt anyway.
        return None;
    }
    // SAFETY: `Mmap::map` is unsafe because the mapped file may change while it is mapped:
    // the bytes behind the `&[u8]` this hands out could then change under the reader, and a
    // file truncated below the mapping raises SIGBUS on access. Git never changes a pack's
    // index or `packed-refs` in place: it writes a new one under a temporary (lock) name and
    // renames it, and `git gc`/`repack` unlink old ones, which leaves an existing mapping
    // intact. A store whose owner rewrites such a file in place while a checkout reads it
    // can therefore make this process read inconsistent bytes or die of SIGBUS, but not
    // more: everything read from them is treated as untrusted input (every offset and count
    // of an index is bounds-checked by gix-pack and by `odb::pack`, every object found is
    // checked for its kind and size, and with `--verify-objects` its hash; a `packed-refs`
    // line that no longer parses when used is skipped, never trusted to have been checked),
    // and a process killed mid-checkout leaves only a staging directory that the next
    // checkout sweeps. gitoxide, git and libgit2 map pack indexes the same way.
    unsafe { memmap2::Mmap::map(file) }.ok().map(Inner::Mapped)
}

#[cfg(target_os = "wasi")]
fn map(_file: &File, _len: u64) -> Option<Inner> {
    None
}
