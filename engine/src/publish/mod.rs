//! Stage 4, publish: build the tree in a staging directory next to the destination, then
//! rename it into place in one step.
//!
//! The staging directory is a sibling of the destination (same parent, so the same
//! filesystem, so the rename is atomic), named `.<dest>.unfurl-<nonce>`. Nothing is ever
//! written inside the tree being materialized to mark it: a repository may commit a file of
//! any name, including a symlink named like a marker. If anything fails, or the
//! [`Staging`] is dropped unpublished, the staging directory is removed and the destination
//! is left exactly as it was.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cap::{Dir, Kind};

/// Why the destination cannot be prepared or published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The destination exists and holds something.
    #[error(
        "destination {dest:?} already exists and is not empty; choose a new path or empty it first"
    )]
    NotEmpty {
        /// The destination's name in its parent.
        dest: PathBuf,
    },
    /// The destination exists and is not a directory.
    #[error(
        "destination {dest:?} already exists and is a {what}, not a directory; choose a new path"
    )]
    NotADirectory {
        /// The destination's name in its parent.
        dest: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// The destination name is not a single path component.
    #[error("destination name {dest:?} must be a single path component")]
    BadName {
        /// The name given.
        dest: PathBuf,
    },
    /// The staging directory could not be created.
    #[error("could not create staging directory {path:?} next to the destination")]
    CreateStaging {
        /// The staging directory's name in the destination's parent.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// Inspecting the destination failed.
    #[error("could not inspect destination {dest:?}")]
    Inspect {
        /// The destination's name in its parent.
        dest: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The final rename failed.
    #[error("could not move the checkout into place at {dest:?}")]
    Rename {
        /// The destination's name in its parent.
        dest: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// A staging directory next to the destination; removed on drop unless published.
pub struct Staging<'a> {
    parent: &'a Dir,
    name: OsString,
    dest: OsString,
    dir: Option<Dir>,
    published: bool,
}

impl std::fmt::Debug for Staging<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("name", &self.name)
            .field("dest", &self.dest)
            .finish_non_exhaustive()
    }
}

impl<'a> Staging<'a> {
    /// Check that `dest` in `parent` is absent or an empty directory, then create a fresh
    /// staging directory beside it.
    pub fn create(parent: &'a Dir, dest: &OsStr) -> Result<Staging<'a>, Error> {
        let dest_path = Path::new(dest);
        let mut components = dest_path.components();
        if !matches!(
            (components.next(), components.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            return Err(Error::BadName { dest: dest.into() });
        }
        check_dest(parent, dest)?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let nonce = nonce() ^ COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut name = OsString::from(".");
            name.push(dest);
            name.push(format!(".unfurl-{nonce:016x}"));
            match parent.create_dir(Path::new(&name)) {
                Ok(()) => {
                    let dir =
                        parent
                            .open_dir(Path::new(&name))
                            .map_err(|source| Error::CreateStaging {
                                path: name.clone().into(),
                                source,
                            });
                    let mut staging = Staging {
                        parent,
                        name,
                        dest: dest.to_owned(),
                        dir: None,
                        published: false,
                    };
                    staging.dir = Some(dir?);
                    return Ok(staging);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1
                }
                Err(source) => {
                    return Err(Error::CreateStaging {
                        path: name.into(),
                        source,
                    });
                }
            }
        }
    }

    /// The staging directory, to write the checkout into.
    pub fn dir(&self) -> &Dir {
        self.dir.as_ref().expect("present until published")
    }

    /// The staging directory's name in the destination's parent.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// Move the staging directory into place as the destination.
    ///
    /// `rename` replaces an empty directory and refuses a non-empty one, so a destination
    /// that gained content since [`Staging::create()`] is never overwritten.
    pub fn publish(mut self) -> Result<(), Error> {
        drop(self.dir.take());
        check_dest(self.parent, &self.dest)?;
        self.parent
            .rename(&self.name, &self.dest)
            .map_err(|source| Error::Rename {
                dest: self.dest.clone().into(),
                source,
            })?;
        self.published = true;
        Ok(())
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.published {
            drop(self.dir.take());
            // Best effort: the error that got us here is the one worth reporting.
            let _ = self.parent.remove_dir_all(&self.name);
        }
    }
}

/// Check that `dest` in `parent` is absent or an empty directory, as [`Staging::create()`]
/// and [`Staging::publish()`] do; callers use it to fail early, before resolving anything.
pub fn check_dest(parent: &Dir, dest: &OsStr) -> Result<(), Error> {
    let inspect = |source| Error::Inspect {
        dest: dest.into(),
        source,
    };
    match parent.kind(Path::new(dest)).map_err(inspect)? {
        None => Ok(()),
        Some(Kind::Dir) => {
            if parent.entries(Path::new(dest)).map_err(inspect)?.is_empty() {
                Ok(())
            } else {
                Err(Error::NotEmpty { dest: dest.into() })
            }
        }
        Some(kind) => Err(Error::NotADirectory {
            dest: dest.into(),
            what: match kind {
                Kind::File => "file",
                Kind::Symlink => "symlink",
                _ => "special file",
            },
        }),
    }
}

/// A value unlikely to repeat across processes: clock nanoseconds mixed with a stack address.
fn nonce() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ addr.rotate_left(32)
}
