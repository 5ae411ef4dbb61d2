//! Finding and opening a store: the one place a store path becomes a capability.

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir as CapDir;
use unfurl_engine::{Alternate, Dir, Store};

use crate::{Error, shown};

/// How deep `objects/info/alternates` may chain (git allows 5).
const MAX_ALTERNATE_DEPTH: usize = 5;

/// Open the store at `path`: a bare repository, a `.git` directory, or a work tree whose
/// `.git` is a directory or a `gitdir:` file; with every object directory its alternates
/// name, recursively.
pub fn open_store(path: &Path) -> Result<Store, Error> {
    let git_dir = git_dir(path)?;
    let open = |p: &Path| CapDir::open_ambient_dir(p, ambient_authority());
    let cap = open(&git_dir)
        .map_err(|e| store_error(path, format!("cannot open store {}: {e}", shown(path))))?;
    let dir = Dir::from(cap);
    let alternates = alternates(path, &git_dir.join("objects"), &dir)?;
    Store::open(dir, alternates).map_err(|e| match e {
        unfurl_engine::store::Error::NotARepository { missing } => store_error(
            path,
            format!(
                "{} is not a git repository ({missing} is missing); pass a bare repository, or a work tree containing .git",
                shown(path)
            ),
        ),
        e => store_error(path, format!("cannot open store {}: {e}", shown(path))),
    })
}

/// The object directories `objects/info/alternates` names, opened, recursively.
fn alternates(store: &Path, objects: &Path, git_dir: &Dir) -> Result<Vec<Alternate>, Error> {
    let mut found = Vec::new();
    let mut queue: Vec<(PathBuf, Vec<Vec<u8>>, usize)> = vec![(
        objects.to_owned(),
        Store::alternates(git_dir)
            .map_err(|e| {
                store_error(
                    store,
                    format!("cannot read alternates of {}: {e}", shown(store)),
                )
            })?
            .into_iter()
            .map(Vec::from)
            .collect(),
        0,
    )];
    let mut seen = vec![
        objects
            .canonicalize()
            .unwrap_or_else(|_| objects.to_owned()),
    ];
    while let Some((base, lines, depth)) = queue.pop() {
        for line in lines {
            let listed = path_from_bytes(&line);
            // Relative entries are relative to the objects directory that lists them.
            let resolved = base.join(&listed);
            let canonical = resolved.canonicalize().map_err(|e| {
                store_error(
                    store,
                    format!(
                        "store {} names alternate object directory {} which cannot be opened: {e}",
                        shown(store),
                        resolved.display()
                    ),
                )
            })?;
            if seen.contains(&canonical) {
                continue;
            }
            if depth >= MAX_ALTERNATE_DEPTH {
                return Err(store_error(
                    store,
                    format!(
                        "alternates of {} nest more than {MAX_ALTERNATE_DEPTH} deep",
                        shown(store)
                    ),
                ));
            }
            seen.push(canonical.clone());
            let cap = CapDir::open_ambient_dir(&canonical, ambient_authority()).map_err(|e| {
                store_error(
                    store,
                    format!(
                        "cannot open alternate object directory {}: {e}",
                        canonical.display()
                    ),
                )
            })?;
            // An alternate's own alternates live in its `info/alternates`.
            let nested = match cap.read("info/alternates") {
                Ok(data) => data
                    .split(|b| *b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                    .map(<[u8]>::to_vec)
                    .collect(),
                Err(_) => Vec::new(),
            };
            if !nested.is_empty() {
                queue.push((canonical.clone(), nested, depth + 1));
            }
            found.push(Alternate {
                dir: Dir::from(cap),
                path: canonical,
            });
        }
    }
    Ok(found)
}

/// The git directory of the store at `path`.
fn git_dir(path: &Path) -> Result<PathBuf, Error> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            store_error(
                path,
                format!(
                    "store {} does not exist; pass the path of a bare repository or of a work tree containing .git",
                    shown(path)
                ),
            )
        } else {
            store_error(path, format!("cannot access store {}: {e}", shown(path)))
        }
    })?;
    if !meta.is_dir() {
        return Err(store_error(
            path,
            format!(
                "store {} is not a directory; pass the path of a bare repository or of a work tree containing .git",
                shown(path)
            ),
        ));
    }
    let dot_git = path.join(".git");
    match std::fs::metadata(&dot_git) {
        Ok(m) if m.is_dir() => Ok(dot_git),
        Ok(m) if m.is_file() => {
            // `gitdir: <path>`, as submodules and linked worktrees have.
            let content = std::fs::read(&dot_git).map_err(|e| {
                store_error(path, format!("cannot read {}: {e}", dot_git.display()))
            })?;
            let line = content.split(|b| *b == b'\n').next().unwrap_or_default();
            let target = line.strip_prefix(b"gitdir:").ok_or_else(|| {
                store_error(
                    path,
                    format!("{} is not a `gitdir:` file", dot_git.display()),
                )
            })?;
            let target = path_from_bytes(target.trim_ascii());
            Ok(path.join(target))
        }
        _ => Ok(path.to_owned()),
    }
}

fn store_error(path: &Path, message: String) -> Error {
    Error::Store {
        path: path.to_owned(),
        message,
    }
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}
