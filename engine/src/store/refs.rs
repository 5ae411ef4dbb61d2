//! References: loose files under the git directory, and `packed-refs`.

use std::io;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::{Error, Store};
use crate::cap::{self, Dir};

/// The contents of `packed-refs`, every line checked when read, searched per lookup.
///
/// A store fetched from a busy project can pack tens of thousands of references (numpy's
/// mirror: 20,905 lines, 1.3 MB), and a checkout looks up one or two. Resolving `HEAD` on
/// numpy took 7 ms while it built a map of them all, 2.6 ms checking the lines and scanning
/// them per lookup; the file is now mapped on Unix (git replaces it by renaming a new one,
/// never rewrites it in place) rather than read into fresh memory.
pub(super) struct Packed(Option<cap::Bytes>);

impl Packed {
    pub(super) fn read(git_dir: &Dir) -> Result<Packed, Error> {
        let data = match load(git_dir) {
            Ok(data) => data,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Packed(None)),
            Err(source) => {
                return Err(Error::Io {
                    path: "packed-refs".into(),
                    source,
                });
            }
        };
        let packed = Packed(Some(data));
        for (number, line) in packed.bytes().lines().enumerate() {
            let valid = match split(line) {
                None => false,
                Some(None) => true,
                Some(Some((hex, _))) => is_hex_id(hex),
            };
            if !valid {
                return Err(Error::BadRef {
                    name: "packed-refs".into(),
                    message: format!(
                        "line {} is not `<object id> <name>`: {:?}",
                        number + 1,
                        line.as_bstr()
                    ),
                });
            }
        }
        Ok(packed)
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }

    /// The object the packed reference `name` names, if it is listed (the last line
    /// naming it wins, as a map built line by line would have it).
    fn get(&self, name: &[u8]) -> Option<ObjectId> {
        // Names are compared before ids are decoded: one id is decoded, not thousands.
        // Lines were checked when read; the file is mapped, so one rewritten in place since
        // (which git never does) is not trusted to still parse: such a line is skipped.
        let (hex, _) = self
            .bytes()
            .lines()
            .filter_map(|line| split(line).flatten())
            .rfind(|(_, listed)| *listed == name)?;
        ObjectId::from_hex(hex).ok()
    }

    /// Every reference listed, in the file's order, with the object it names (unpeeled).
    fn refs(&self) -> impl Iterator<Item = (&BStr, ObjectId)> {
        self.bytes()
            .lines()
            .filter_map(|line| parse(line).flatten())
    }
}

/// `packed-refs`, mapped where a mapping does not keep git from replacing the file.
#[cfg(unix)]
fn load(git_dir: &Dir) -> io::Result<cap::Bytes> {
    git_dir.map("packed-refs".as_ref())
}

/// `packed-refs`, read: Windows refuses to rename a file over one that is mapped, and git
/// replaces `packed-refs` by renaming (git itself copies it out of a mapping there).
#[cfg(not(unix))]
fn load(git_dir: &Dir) -> io::Result<cap::Bytes> {
    git_dir
        .read("packed-refs".as_ref())
        .map(cap::Bytes::from_vec)
}

/// Whether `hex` is an object id in hex (decoding it is the fastest check: SIMD).
fn is_hex_id(hex: &[u8]) -> bool {
    ObjectId::from_hex(hex).is_ok()
}

/// One line of `packed-refs` in parts, its id not decoded: `None` if it has no space,
/// `Some(None)` for a line that names no reference (blank, the `# pack-refs with: …`
/// header, or `^<id>`, which peels the tag on the line before), else its hex id and name.
/// A byte search for the space: `split_once_str` builds a substring searcher per call,
/// which showed in profiles over 20,000 lines.
fn split(line: &[u8]) -> Option<Option<(&[u8], &BStr)>> {
    if line.is_empty() || line.starts_with(b"#") || line.starts_with(b"^") {
        return Some(None);
    }
    let at = line.find_byte(b' ')?;
    let name = line[at + 1..].trim_end_with(|c| c == '\r');
    Some(Some((&line[..at], name.as_bstr())))
}

/// One line of `packed-refs` read: `None` if it is malformed, `Some(None)` for a line that
/// names no reference, else the reference and its object.
fn parse(line: &[u8]) -> Option<Option<(&BStr, ObjectId)>> {
    match split(line)? {
        None => Some(None),
        Some((hex, name)) => Some(Some((name, ObjectId::from_hex(hex).ok()?))),
    }
}

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
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let Some(content) = content else {
        return Ok(store.packed()?.get(name));
    };
    let content = content.trim();
    if let Some(target) = content.strip_prefix(b"ref:") {
        let target = target.trim();
        return match resolve(store, target.as_bstr(), depth + 1)? {
            Some(id) => Ok(Some(id)),
            None => Err(Error::BadRef {
                name: name.to_owned(),
                message: format!(
                    "it points to {}, which does not exist (an unborn branch?)",
                    target.as_bstr()
                ),
            }),
        };
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

/// Every reference under `prefix` (`refs/heads/`, `refs/tags/`), loose and packed, with the
/// object each points to (symbolic refs followed), sorted by name. A loose reference wins
/// over a packed one of the same name, as in git.
pub(super) fn list(store: &Store, prefix: &str) -> Result<Vec<(BString, ObjectId)>, Error> {
    let mut found: std::collections::BTreeMap<BString, ObjectId> = store
        .packed()?
        .refs()
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
                    // A lock file or an invalid name is not a reference.
                    if let Some(id) = resolve(store, full.as_ref(), 0)? {
                        found.insert(full, id);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found.into_iter().collect())
}
