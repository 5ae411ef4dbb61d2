//! References: resolving and listing them, from loose files under the git directory and
//! `packed-refs` ([`super::packed`]), or from reftable ([`super::reftable`]).

use std::io;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::reftable::Value;
use super::{Error, Store};
use crate::cap;

/// Try `name` with git's rules for abbreviated reference names.
pub(super) fn find(store: &Store, name: &[u8]) -> Result<Option<(BString, ObjectId)>, Error> {
    let name = name.as_bstr();
    let candidates: Vec<BString> = if name.starts_with(b"refs/") || is_pseudo_ref(name) {
        vec![name.to_owned()]
    } else {
        ["refs/", "refs/tags/", "refs/heads/", "refs/remotes/"]
            .iter()
            .map(|prefix| {
                let mut full = BString::from(*prefix);
                full.extend_from_slice(name);
                full
            })
            .chain(std::iter::once({
                let mut full = BString::from("refs/remotes/");
                full.extend_from_slice(name);
                full.extend_from_slice(b"/HEAD");
                full
            }))
            .collect()
    };
    for full in candidates {
        if let Some(id) = resolve(store, full.as_ref(), 0)? {
            return Ok(Some((full, id)));
        }
    }
    Ok(None)
}

/// `HEAD`, `FETCH_HEAD` and friends: all-caps names at the top of the git directory.
fn is_pseudo_ref(name: &BStr) -> bool {
    !name.is_empty() && name.iter().all(|b| b.is_ascii_uppercase() || *b == b'_')
}

/// The longest loose reference file read: git writes 41 bytes, or `ref: ` and a name.
const MAX_REF_FILE: usize = 4096;

/// The object the full reference `name` points to, following symbolic refs.
fn resolve(store: &Store, name: &BStr, depth: usize) -> Result<Option<ObjectId>, Error> {
    if depth > 5 {
        return Err(Error::BadRef {
            name: name.to_owned(),
            message: "symbolic references nest too deeply (a loop?)".into(),
        });
    }
    // A name that is not a valid reference name is simply not a reference. Validation also
    // keeps the lookup inside the git directory: no `..`, no absolute paths.
    if !is_pseudo_ref(name) && gix_validate::reference::name(name).is_err() {
        return Ok(None);
    }
    if let Some(table) = store.reftable()? {
        match table.get(name) {
            Some(Value::Id(id)) => return Ok(Some(*id)),
            Some(Value::Symref(target)) => return follow(store, name, target.as_ref(), depth),
            // Pseudo references other than `HEAD` (`FETCH_HEAD`, `MERGE_HEAD`) stay files
            // in a reftable store.
            None if is_pseudo_ref(name) && name != "HEAD" => {}
            None => return Ok(None),
        }
    }
    let Ok(path) = cap::os_str(name) else {
        return Ok(None);
    };
    let path = Path::new(path);
    let content = match store.git_dir.read(path) {
        Ok(content) => Some(content),
        // No loose file by that name, or a name no file can have (a component longer than
        // the filesystem allows): then only packed-refs can hold it, as git would see it.
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::InvalidFilename
            ) =>
        {
            None
        }
        // A directory where a file was expected reads as an error on some platforms.
        Err(_) if store.git_dir.kind(path).ok().flatten() == Some(cap::Kind::Dir) => None,
        // A loose reference may be a symlink (git's format before 1.4). One whose target
        // is in the store reads through the store's handle; one that leads out of the
        // store is refused by that handle (natively by cap-std, under WASI by the
        // runtime), which is what keeps this process from reading anything but the store.
        // Say that, rather than the handle's bare "not permitted".
        Err(_) if store.git_dir.kind(path).ok().flatten() == Some(cap::Kind::Symlink) => {
            return Err(Error::RefOutsideStore {
                name: name.to_owned(),
            });
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let Some(content) = content else {
        return store.packed()?.get(name);
    };
    // A reference is an id or `ref: <name>`, a few dozen bytes; a file of megabytes is not
    // one, and naming what it points to would make a message of megabytes.
    if content.len() > MAX_REF_FILE {
        return Err(Error::BadRef {
            name: name.to_owned(),
            message: format!(
                "it is {} bytes long, not a reference (an object id or `ref: <name>`)",
                content.len()
            ),
        });
    }
    let content = content.trim();
    if let Some(target) = content.strip_prefix(b"ref:") {
        return follow(store, name, target.trim().as_bstr(), depth);
    }
    // FETCH_HEAD and the like carry more after the id.
    let hex = content
        .split(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or_default();
    ObjectId::from_hex(hex)
        .map(Some)
        .map_err(|_| Error::BadRef {
            name: name.to_owned(),
            message: format!(
                "expected an object id or `ref: <name>`, found {:?}",
                content.as_bstr()
            ),
        })
}

/// The object the symbolic reference `name`, pointing to `target`, finally names.
fn follow(
    store: &Store,
    name: &BStr,
    target: &BStr,
    depth: usize,
) -> Result<Option<ObjectId>, Error> {
    match resolve(store, target, depth + 1)? {
        Some(id) => Ok(Some(id)),
        None => Err(Error::Unborn {
            name: name.to_owned(),
            target: target.to_owned(),
        }),
    }
}

/// Every reference under `prefix` (`refs/heads/`, `refs/tags/`), loose and packed, with the
/// object each points to (symbolic refs followed), sorted by name. A loose reference wins
/// over a packed one of the same name, as in git.
pub(super) fn list(store: &Store, prefix: &str) -> Result<Vec<(BString, ObjectId)>, Error> {
    if let Some(table) = store.reftable()? {
        let mut found = Vec::new();
        for name in table.names_under(prefix.as_bytes()) {
            match resolve(store, name, 0) {
                Ok(Some(id)) => found.push((name.to_owned(), id)),
                Ok(None) | Err(Error::Unborn { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        return Ok(found);
    }
    let mut found: std::collections::BTreeMap<BString, ObjectId> = store
        .packed()?
        .refs()?
        .filter(|(name, _)| name.starts_with(prefix.as_bytes()))
        .map(|(name, id)| (name.to_owned(), id))
        .collect();
    let mut pending = vec![BString::from(prefix.trim_end_matches('/'))];
    while let Some(dir) = pending.pop() {
        let Ok(path) = cap::os_str(&dir) else {
            continue;
        };
        let names = match store.git_dir.entries(Path::new(path)) {
            Ok(names) => names,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: path.into(),
                    source,
                });
            }
        };
        for name in names {
            let Some(name) = name.to_str() else { continue };
            let mut full = dir.clone();
            full.push(b'/');
            full.extend_from_slice(name.as_bytes());
            let Ok(full_path) = cap::os_str(&full) else {
                continue;
            };
            match store.git_dir.kind(Path::new(full_path)) {
                Ok(Some(cap::Kind::Dir)) => pending.push(full),
                Ok(Some(cap::Kind::File)) => {
                    // A lock file or an invalid name is not a reference; a symbolic one
                    // whose target does not exist names nothing (git lists neither).
                    match resolve(store, full.as_ref(), 0) {
                        Ok(Some(id)) => {
                            found.insert(full, id);
                        }
                        Ok(None) | Err(Error::Unborn { .. }) => {}
                        Err(err) => return Err(err),
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found.into_iter().collect())
}
