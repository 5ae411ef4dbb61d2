//! Git LFS without git-lfs: a file whose attributes say `filter=lfs` and whose blob is a
//! valid LFS pointer is written from the LFS object the pointer names, streamed, its size
//! and SHA-256 checked.
//!
//! The objects are read from a directory laid out as git-lfs lays out
//! `.git/lfs/objects`: `aa/bb/<oid>` for the oid `aabb…`. By default it is the store's
//! `lfs/objects`; a caller may give another ([`crate::Store::set_lfs_objects`]). Nothing
//! is fetched: an installer that wants the objects fetches them first, and [`needed()`]
//! says which.
//!
//! A blob that is not a valid pointer (a bad oid, an absurd size, anything but the
//! pointer format) is written as stored, as git-lfs writes it; its content is never used
//! as a path. The planner finds every pointer, and checks that every object is there
//! before anything is written (`check_present`): the checkout fails once, listing each
//! missing object with its path. A writer that finds an object of the wrong size or hash
//! fails the checkout ([`Error::Mismatch`]), and the staging directory goes with it.

mod pointer;

pub use pointer::Pointer;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use bstr::BString;
use sha2::{Digest, Sha256};

use crate::cap::{Dir, Kind};
use crate::plan::Plan;
use crate::store::Store;

/// The largest blob read as a possible pointer (git-lfs's own limit).
pub(crate) const MAX_POINTER_SIZE: u64 = 1024;

/// One LFS object a checkout needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// The path in the tree, `/`-separated.
    pub path: BString,
    /// The pointer: the object's SHA-256 (hex) and size.
    pub pointer: Pointer,
}

/// Why an LFS object could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object file is not in the LFS objects directory.
    #[error(
        "LFS object {oid} is missing from the LFS objects directory (fetch it, e.g. with `git lfs fetch`)"
    )]
    Missing {
        /// The object's SHA-256.
        oid: String,
    },
    /// The object file could not be read.
    #[error("could not read LFS object {path}")]
    Read {
        /// The object's file, relative to the LFS objects directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The object file's content is not what the pointer says.
    #[error(
        "LFS object {oid} is corrupt: hash mismatch (expected {expected_size} bytes with SHA-256 {oid}, found {actual_size} bytes with SHA-256 {actual}); fetch it again"
    )]
    Mismatch {
        /// The pointer's SHA-256.
        oid: String,
        /// The pointer's size.
        expected_size: u64,
        /// The file's size.
        actual_size: u64,
        /// The file's SHA-256.
        actual: String,
    },
    /// The destination could not be written.
    #[error("could not write the content of LFS object {oid}")]
    Sink {
        /// The object's SHA-256.
        oid: String,
        /// What went wrong.
        source: io::Error,
    },
}

impl Error {
    /// The I/O error behind this error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Read { source, .. } | Error::Sink { source, .. } => Some(source),
            Error::Missing { .. } | Error::Mismatch { .. } => None,
        }
    }
}

/// Where the object `oid` lives below an LFS objects directory.
fn object_path(oid: &str) -> PathBuf {
    // `oid` is 64 lowercase hex digits (checked when the pointer was parsed, and again by
    // `Pointer::check` for a pointer from elsewhere): it names no other file.
    PathBuf::from(&oid[..2]).join(&oid[2..4]).join(oid)
}

/// Stream the object `pointer` names from `dir` to `sink`, checking its size and SHA-256;
/// returns the bytes written. On a mismatch the sink has received the object's bytes: the
/// caller discards it (the checkout fails).
pub(crate) fn write_object(
    dir: Option<&Dir>,
    pointer: &Pointer,
    sink: &mut dyn Write,
) -> Result<u64, Error> {
    pointer.check().map_err(|_| Error::Missing {
        oid: pointer.oid.clone(),
    })?;
    let path = object_path(&pointer.oid);
    let missing = || Error::Missing {
        oid: pointer.oid.clone(),
    };
    let dir = dir.ok_or_else(missing)?;
    let mut file = dir.open_file(&path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => missing(),
        _ => Error::Read {
            path: path.clone(),
            source,
        },
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut written = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Read { path, source });
            }
        };
        hasher.update(&buf[..n]);
        written += n as u64;
        // Stop writing past the promised size: a hostile objects directory cannot make a
        // checkout larger than its pointers say.
        if written > pointer.size {
            break;
        }
        sink.write_all(&buf[..n]).map_err(|source| Error::Sink {
            oid: pointer.oid.clone(),
            source,
        })?;
    }
    let actual = hex(&hasher.finalize());
    if written != pointer.size || actual != pointer.oid {
        return Err(Error::Mismatch {
            oid: pointer.oid.clone(),
            expected_size: pointer.size,
            actual_size: written,
            actual,
        });
    }
    Ok(written)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every LFS object the plan's files need, with its path.
pub(crate) fn pointers(plan: &Plan) -> Vec<Needed> {
    plan.files
        .iter()
        .filter_map(|f| {
            let pointer = f.conversion.as_ref()?.lfs.clone()?;
            Some(Needed {
                path: crate::write::join(plan.dir_path(f.dir).as_ref(), f.name.as_ref()),
                pointer,
            })
        })
        .collect()
}

/// Fail, listing every one, if any LFS object the plan needs is not in `store`'s LFS
/// objects directory.
pub(crate) fn check_present(store: &Store, plan: &Plan) -> Result<(), crate::plan::Error> {
    let needed = pointers(plan);
    if needed.is_empty() {
        return Ok(());
    }
    let dir = store.lfs_objects();
    let mut missing = Vec::new();
    for n in needed {
        let present = dir.is_some_and(|dir| {
            matches!(dir.kind(&object_path(&n.pointer.oid)), Ok(Some(Kind::File)))
        });
        if !present {
            missing.push((n.path, n.pointer.oid));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(crate::plan::Error::LfsObjectsMissing { objects: missing })
    }
}

/// The LFS objects a checkout of `rev` from `store` needs, as `options` would check it
/// out (its attributes decide which files are LFS files): each with its path, oid and
/// size, in the checkout's order. Whether the objects are present is not checked: this is
/// what an installer fetches before checking out.
pub fn needed(
    store: &Store,
    rev: &str,
    options: &crate::Options,
    interrupt: &AtomicBool,
) -> Result<Vec<Needed>, crate::Error> {
    let resolved = crate::resolve::resolve(store, rev)?;
    let selection = crate::plan::Selection::new(&options.paths)?;
    let plan = crate::plan::plan_with(
        store,
        resolved.tree,
        options.write.delta_cache_bytes,
        options.write.verify_objects,
        &selection,
        &options.attributes,
        options.archive.then_some(resolved.commit),
        interrupt,
    )?;
    Ok(pointers(&plan))
}
