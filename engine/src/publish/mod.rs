//! Stage 4, publish: build the tree in a staging directory next to the destination, then
//! rename it into place in one step.
//!
//! The staging directory is a sibling of the destination (same parent, so the same
//! filesystem, so the rename is atomic), named `.<dest>.unfurl-<owner>-<nonce>`. Nothing is
//! ever written inside the tree being materialized to mark it: a repository may commit a
//! file of any name, including a symlink named like a marker. If anything fails, or the
//! [`Staging`] is dropped unpublished, the staging directory is removed and the destination
//! is left exactly as it was.
//!
//! **A process that dies** (SIGKILL, a power cut) cannot remove its staging directory. So
//! the name carries its owner, a token that the caller's [`Platform`] makes (the host: pid,
//! process start time, and a tag of the machine's boot and pid namespace), and the next
//! [`Staging::create_with()`] for the same destination removes the staging directories
//! whose owner the platform can *prove* gone. Anything it cannot decide (another machine
//! sharing the filesystem, another pid namespace, an unreadable `/proc`, a name of another
//! shape) counts as alive and is kept: a live writer's directory is never removed.
//!
//! **An existing empty destination** is what the user made, with its mode, owner and ACLs.
//! `rename` replaces it by the staging directory, a new inode; so the [`Platform`] first
//! gives the staging directory what the destination would have given the files written
//! into it (its group, set-group-id bit and default ACL, right after creating it), and
//! just before the rename the destination's own mode, owner and access ACL. The destination
//! stays absent-or-complete: until the rename it is untouched, after it the checkout is
//! whole.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cap::{Dir, Kind};
use sweep::{remove_all, sweep, valid_owner};

pub mod durable;
mod sweep;

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
    /// The destination is an empty directory on which another filesystem is mounted: a
    /// checkout is put in place by renaming it onto the destination, which the kernel
    /// refuses for a mount point (`EBUSY`).
    #[error(
        "destination {dest:?} is a mount point, which a checkout cannot be renamed onto; check out into a new directory inside it"
    )]
    MountPoint {
        /// The destination's name in its parent.
        dest: PathBuf,
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
    /// The existing empty destination's mode, owner or ACLs could not be given to the
    /// checkout that replaces it.
    #[error(
        "could not give the checkout the mode, owner and ACLs of the existing directory {dest:?}"
    )]
    KeepAttributes {
        /// The destination's name in its parent.
        dest: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// With [`Options::fsync`]: a file or directory could not be synced to disk.
    #[error("could not sync {path:?} to disk")]
    Sync {
        /// The entry, relative to the destination's parent (below the staging directory
        /// before the rename).
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// What the engine cannot learn or do through directory handles, and its caller (who holds
/// ambient authority) can: who this process is, whether another is gone, and a
/// directory's owner and ACLs. Every method has a safe default: no owner, nobody gone,
/// nothing kept.
///
/// The names given are entries of the destination's parent, the directory the caller
/// handed to [`Staging::create_with()`]; an implementation acts on that same directory,
/// through a handle of its own, never following a symlink.
pub trait Platform: Send + Sync {
    /// This process as a token for staging names: ASCII letters, digits and `.` only, or
    /// `None` (then staging names carry no owner and no run ever removes them).
    fn owner(&self) -> Option<String> {
        None
    }

    /// Whether the process that `owner` (another process's [`Platform::owner()`]) names
    /// has certainly exited. `false` whenever in doubt: its staging directory is then kept.
    fn owner_is_gone(&self, owner: &str) -> bool {
        let _ = owner;
        false
    }

    /// The destination `dest` exists (an empty directory) and the new staging directory
    /// `staging` will replace it: give `staging` now what `dest` gives new entries (its
    /// group, set-group-id bit and default ACL), so what is written into it gets what it
    /// would have got in `dest`.
    fn inherit(&self, dest: &OsStr, staging: &OsStr) -> io::Result<()> {
        let _ = (dest, staging);
        Ok(())
    }

    /// Just before `staging` replaces the existing empty directory `dest`: give it `dest`'s
    /// mode, owner and group (where permitted) and ACLs.
    fn adopt(&self, dest: &OsStr, staging: &OsStr) -> io::Result<()> {
        let _ = (dest, staging);
        Ok(())
    }
}

/// How staging directories are named, swept and finished.
#[derive(Clone, Default)]
pub struct Options {
    /// Who owns staging directories, and how an existing empty destination's attributes
    /// are kept (see [`Platform`]). Default: none: staging names carry no owner, orphans
    /// are never removed, and an existing empty destination is replaced without keeping its
    /// mode, owner or ACLs.
    pub platform: Option<Arc<dyn Platform>>,
    /// Sync every file and directory of the checkout to disk before the publishing rename
    /// (deepest first, the staging directory last), and the parent directory after it (see
    /// [`durable`]). Without it, a power cut soon after a successful publish can leave
    /// files empty or missing in a tree that looks complete. Default: `false`: the rename
    /// is atomic for every other process, durable only once the kernel writes back.
    pub fsync: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("platform", &self.platform.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A staging directory next to the destination; removed on drop unless published.
pub struct Staging<'a> {
    parent: &'a Dir,
    name: OsString,
    dest: OsString,
    dir: Option<Dir>,
    published: bool,
    platform: Option<Arc<dyn Platform>>,
    swept: usize,
    fsync: bool,
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
    /// [`Staging::create_with()`] with default options: no owner in the name, no sweep.
    pub fn create(parent: &'a Dir, dest: &OsStr) -> Result<Staging<'a>, Error> {
        Staging::create_with(parent, dest, &Options::default())
    }

    /// Check that `dest` in `parent` is absent or an empty directory, remove the staging
    /// directories beside it that dead processes left (see the [module docs](self)), then
    /// create a fresh staging directory named after this process.
    pub fn create_with(
        parent: &'a Dir,
        dest: &OsStr,
        options: &Options,
    ) -> Result<Staging<'a>, Error> {
        check_name(dest)?;
        let existing = check_dest(parent, dest)?;
        Staging::create_inner(parent, dest, options, existing)
    }

    /// A staging directory beside `dest`, which may hold anything (a checkout being
    /// switched in place): nothing of `dest` is inspected or inherited, and the staging
    /// directory is only ever removed, never published as `dest`. Orphans of dead processes
    /// are swept as by [`Staging::create_with()`].
    pub fn beside(parent: &'a Dir, dest: &OsStr, options: &Options) -> Result<Staging<'a>, Error> {
        check_name(dest)?;
        Staging::create_inner(parent, dest, options, false)
    }

    fn create_inner(
        parent: &'a Dir,
        dest: &OsStr,
        options: &Options,
        existing: bool,
    ) -> Result<Staging<'a>, Error> {
        let platform = options.platform.clone();
        let owner = platform
            .as_ref()
            .and_then(|p| p.owner())
            .filter(|o| valid_owner(o));
        let prefix = prefix(dest);
        let swept = match &platform {
            Some(platform) => sweep(parent, &prefix, platform.as_ref()),
            None => 0,
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let nonce = nonce() ^ COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut name = prefix.clone();
            match &owner {
                Some(owner) => name.push(format!("{owner}-{:08x}", nonce as u32)),
                None => name.push(format!("{nonce:016x}")),
            }
            match parent.create_dir(Path::new(&name)) {
                Ok(()) => {
                    // From here on, dropping `staging` removes the directory.
                    let mut staging = Staging {
                        parent,
                        name,
                        dest: dest.to_owned(),
                        dir: None,
                        published: false,
                        platform,
                        swept,
                        fsync: options.fsync,
                    };
                    if existing && let Some(platform) = &staging.platform {
                        platform.inherit(dest, &staging.name).map_err(|source| {
                            Error::KeepAttributes {
                                dest: dest.into(),
                                source,
                            }
                        })?;
                    }
                    let dir = parent
                        .open_dir(Path::new(&staging.name))
                        .map_err(|source| Error::CreateStaging {
                            path: staging.name.clone().into(),
                            source,
                        })?;
                    staging.dir = Some(dir);
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

    /// How many staging directories of dead processes were removed before this one was
    /// created.
    pub fn swept(&self) -> usize {
        self.swept
    }

    /// Move the staging directory into place as the destination.
    ///
    /// `rename` replaces an empty directory and refuses a non-empty one, so a destination
    /// that gained content since [`Staging::create()`] is never overwritten. An empty one
    /// hands its mode, owner and ACLs to the checkout first (see [`Platform::adopt()`]).
    pub fn publish(mut self) -> Result<(), Error> {
        if self.fsync {
            durable::sync_tree(self.dir(), Path::new(&self.name))?;
        }
        drop(self.dir.take());
        let existing = check_dest(self.parent, &self.dest)?;
        if existing && let Some(platform) = &self.platform {
            platform
                .adopt(&self.dest, &self.name)
                .map_err(|source| Error::KeepAttributes {
                    dest: self.dest.clone().into(),
                    source,
                })?;
        }
        self.parent
            .rename(&self.name, &self.dest)
            .map_err(|source| match source.kind() {
                // A mount point [`check_dest`] could not see: a bind mount of the same
                // filesystem (same device), or one mounted since.
                io::ErrorKind::ResourceBusy if existing => Error::MountPoint {
                    dest: self.dest.clone().into(),
                },
                _ => Error::Rename {
                    dest: self.dest.clone().into(),
                    source,
                },
            })?;
        self.published = true;
        if self.fsync {
            // The rename is a change to the parent: durable once the parent is synced.
            durable::sync_dir(self.parent, Path::new("."))?;
        }
        Ok(())
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.published {
            drop(self.dir.take());
            // Best effort: the error that got us here is the one worth reporting. What
            // cannot be removed (a directory made unwritable under us) carries our owner in
            // its name, and the next run into this destination removes it once we are gone.
            let _ = remove_all(self.parent, &self.name);
        }
    }
}

/// `.<dest>.unfurl-`: how every staging directory for `dest` begins. A long `dest` is cut
/// and a hash of the whole name added, so the staging name stays within the 255 bytes a
/// name may have.
fn prefix(dest: &OsStr) -> OsString {
    const LONGEST: usize = 120;
    let mut prefix = OsString::from(".");
    if dest.len() <= LONGEST {
        prefix.push(dest);
    } else {
        let lossy = dest.to_string_lossy();
        let mut cut = 96;
        while !lossy.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.push(format!(
            "{}~{:016x}",
            &lossy[..cut],
            fnv1a(dest.as_encoded_bytes())
        ));
    }
    prefix.push(".unfurl-");
    prefix
}

/// `dest` must be one plain name in its parent.
fn check_name(dest: &OsStr) -> Result<(), Error> {
    let mut components = Path::new(dest).components();
    if matches!(
        (components.next(), components.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) {
        Ok(())
    } else {
        Err(Error::BadName { dest: dest.into() })
    }
}

/// FNV-1a, 64 bits: a short, stable digest for names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Check that `dest` in `parent` is absent or an empty directory, as [`Staging::create()`]
/// and [`Staging::publish()`] do; callers use it to fail early, before resolving anything.
/// `true` if it exists (empty).
pub fn check_dest(parent: &Dir, dest: &OsStr) -> Result<bool, Error> {
    let inspect = |source| Error::Inspect {
        dest: dest.into(),
        source,
    };
    match parent.kind(Path::new(dest)).map_err(inspect)? {
        None => Ok(false),
        Some(Kind::Dir) => {
            if !parent.entries(Path::new(dest)).map_err(inspect)?.is_empty() {
                return Err(Error::NotEmpty { dest: dest.into() });
            }
            // An empty destination is replaced by a rename, which fails on a mount point
            // after all the writing: say so before any. Another filesystem mounted there
            // shows as another device (a bind mount of the same one does not, and is
            // caught at the rename).
            let device = |path: &str| parent.stat(Path::new(path)).map(|s| s.dev);
            let here = device(".").map_err(inspect)?;
            let there = parent.stat(Path::new(dest)).map_err(inspect)?.dev;
            if here != there {
                return Err(Error::MountPoint { dest: dest.into() });
            }
            Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_prefix_fits_in_a_name_however_long_the_destination() {
        let short = prefix(OsStr::new("pkg"));
        assert_eq!(
            short,
            OsStr::new(".pkg.unfurl-"),
            "expected the name kept whole"
        );
        let long = "é".repeat(127); // 254 bytes
        let cut = prefix(OsStr::new(&long));
        // With the longest owner token (64) and a dash and 8 hex digits.
        assert!(
            cut.len() + 64 + 1 + 8 <= 255,
            "expected a prefix short enough for a 255-byte name, got {} bytes",
            cut.len()
        );
        assert_ne!(
            cut,
            prefix(OsStr::new(&"é".repeat(126))),
            "expected different long names to give different prefixes"
        );
    }

    #[test]
    fn an_owner_is_letters_digits_and_dots_only() {
        for good in ["123.456.0123456789abcdef", "a.b"] {
            assert!(valid_owner(good), "expected {good:?} accepted");
        }
        for bad in ["", "1-2", "../x", "a/b", "x y", &"1".repeat(65)] {
            assert!(!valid_owner(bad), "expected {bad:?} refused");
        }
    }
}
