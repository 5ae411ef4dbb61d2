//! Removing staging directories: an orphan's, whose owner is provably gone, and one's own.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use super::Platform;
use crate::cap::{Dir, Kind};

/// Whether `owner` has the shape of an owner a staging name carries (what
/// [`Platform::owner_is_gone`] is asked about).
pub(super) fn valid_owner(owner: &str) -> bool {
    !owner.is_empty()
        && owner.len() <= 64
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

/// Remove the staging directories in `parent` that begin with `prefix`, carry an owner,
/// and whose owner `platform` proves gone; returns how many were removed. Errors are
/// ignored: another run may be sweeping the same one, and what stays is tried again next
/// time.
pub(super) fn sweep(parent: &Dir, prefix: &OsStr, platform: &dyn Platform) -> usize {
    let Ok(names) = parent.entries(Path::new(".")) else {
        return 0;
    };
    let prefix = prefix.as_encoded_bytes();
    let mut swept = 0;
    for name in names {
        let Some(rest) = name.as_encoded_bytes().strip_prefix(prefix) else {
            continue;
        };
        // `<owner>-<8 hex digits>`; names without an owner (older versions, callers
        // without a platform) are never swept: nothing says whose they are.
        let Some((owner, nonce)) = std::str::from_utf8(rest)
            .ok()
            .and_then(|rest| rest.rsplit_once('-'))
        else {
            continue;
        };
        if nonce.len() != 8 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if !valid_owner(owner) || !platform.owner_is_gone(owner) {
            continue;
        }
        // Only a directory, as staging directories are; never a symlink by that name.
        if parent.kind(Path::new(&name)).ok().flatten() != Some(Kind::Dir) {
            continue;
        }
        if remove_all(parent, &name).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Remove the directory `name` in `parent` with everything in it, never following a
/// symlink. An entry that vanishes meanwhile (another process deleting the same tree, the
/// parent removed under us) does not stop it: the removal starts over, and what is already
/// gone counts as removed. Gives up on any other error.
pub(super) fn remove_all(parent: &Dir, name: &OsStr) -> io::Result<()> {
    let mut last = None;
    for _ in 0..64 {
        match parent.remove_dir_all(name) {
            Ok(()) => return Ok(()),
            Err(err) => {
                if parent.kind(Path::new(name)).ok() == Some(None) {
                    return Ok(());
                }
                if err.kind() != io::ErrorKind::NotFound {
                    return Err(err);
                }
                last = Some(err);
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("could not remove the staging directory")))
}
