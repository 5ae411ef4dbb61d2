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
    open_located(path, &locate(path)?)
}

/// Where a store's git directory and alternate object directories are.
pub(crate) struct Located {
    /// The git directory.
    pub(crate) git_dir: PathBuf,
    /// The object directories the store reads besides the git directory's own, canonical,
    /// in search order: when `objects` is a symlink out of the git directory, its target
    /// first (the engine takes it as the store's own object directory, see
    /// [`unfurl_engine::Alternate`]), then the alternates.
    pub(crate) alternates: Vec<PathBuf>,
    /// The Git LFS objects directory the caller gave (`--lfs-objects`), if any.
    pub(crate) lfs_objects: Option<PathBuf>,
}

/// Find the git directory of the store at `path`, where its objects are, and the
/// alternates it names.
///
/// Every directory found here becomes readable by the checkout (under `--runtime wasm`, a
/// read-only preopen of every guest), and a store is not trusted to decide that: each must
/// have the shape of a git object directory (see [`check_object_dir`]).
pub(crate) fn locate(path: &Path) -> Result<Located, Error> {
    let git_dir = git_dir(path)?;
    let handle = CapDir::open_ambient_dir(&git_dir, ambient_authority())
        .map_err(|e| store_error(path, format!("cannot open store {}: {e}", shown(path))))?;
    let link = git_dir.join("objects");
    // git accepts `objects` as a symlink. One that the git directory's handle cannot follow
    // (absolute, or leading out of the git directory; wasmtime follows exactly what cap-std
    // does) is opened as a directory of its own, passed first among the alternates.
    let objects = match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() && handle.open_dir("objects").is_err() => {
            let target = dunce::canonicalize(&link).map_err(|e| {
                store_error(
                    path,
                    format!(
                        "store {}: objects is a symlink to {}, which cannot be opened: {e}",
                        shown(path),
                        std::fs::read_link(&link)
                            .map_or_else(|_| "?".into(), |t| t.display().to_string())
                    ),
                )
            })?;
            Some(target)
        }
        _ => None,
    };
    let objects_dir = objects.clone().unwrap_or_else(|| link.clone());
    let listed = read_alternates(path, &objects_dir)?;
    let mut found = Vec::new();
    if let Some(target) = objects {
        check_object_dir(path, &target, "objects (a symlink)")?;
        found.push(target);
    }
    found.extend(alternates(path, &objects_dir, listed)?);
    Ok(Located {
        git_dir,
        alternates: found,
        lfs_objects: None,
    })
}

/// The lines of `objects/info/alternates` in the object directory `objects`.
fn read_alternates(store: &Path, objects: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let file = objects.join("info/alternates");
    match std::fs::read(&file) {
        Ok(data) => Ok(Store::parse_alternates(&data)
            .into_iter()
            .map(Vec::from)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(store_error(
            store,
            format!(
                "cannot read {} of store {}: {e}",
                file.display(),
                shown(store)
            ),
        )),
    }
}

/// Refuse `dir` (canonical) unless it has the shape of a git object directory: a `pack`
/// directory, or a loose-object fan-out directory (two lowercase hex digits). `/` never
/// qualifies.
///
/// Why: whatever a store lists in `objects/info/alternates` becomes readable by the
/// checkout, and under `--runtime wasm` a preopen of every guest. A hostile store could
/// list `/`, `/etc` or `../../..` and widen the sandbox to them. A real object directory
/// always has one of these (`git init` creates `pack/`), and one without any holds no
/// object, so refusing it loses nothing.
fn check_object_dir(store: &Path, dir: &Path, named: &str) -> Result<(), Error> {
    let fan_out = |name: &std::ffi::OsStr| {
        name.to_str().is_some_and(|n| {
            n.len() == 2
                && n.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    };
    let shaped = dir.parent().is_some()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                (name == "pack" || fan_out(&name)) && entry.file_type().is_ok_and(|t| t.is_dir())
            })
        });
    if shaped {
        return Ok(());
    }
    Err(store_error(
        store,
        format!(
            "store {} names {} as an object directory in {named}, but it is not one (it has \
             no pack/ and no loose-object directories); the checkout would be able to read \
             it, so unfurl refuses: fix or remove that entry",
            shown(store),
            dir.display()
        ),
    ))
}

fn open_git_dir(path: &Path, git_dir: &Path) -> Result<Dir, Error> {
    CapDir::open_ambient_dir(git_dir, ambient_authority())
        .map(Dir::from)
        .map_err(|e| store_error(path, format!("cannot open store {}: {e}", shown(path))))
}

/// Open the store `located` describes (`path` is the store as given, for messages).
pub(crate) fn open_located(path: &Path, located: &Located) -> Result<Store, Error> {
    let dir = open_git_dir(path, &located.git_dir)?;
    let alternates = located
        .alternates
        .iter()
        .map(|alt| {
            CapDir::open_ambient_dir(alt, ambient_authority())
                .map(|cap| Alternate {
                    dir: Dir::from(cap),
                    path: alt.clone(),
                })
                .map_err(|e| {
                    store_error(
                        path,
                        format!(
                            "cannot open alternate object directory {}: {e}",
                            alt.display()
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut store = Store::open(dir, alternates).map_err(|e| match e {
        unfurl_engine::store::Error::NotARepository { missing } => store_error(
            path,
            format!(
                "{} is not a git repository ({missing} is missing); pass a bare repository, or a work tree containing .git",
                shown(path)
            ),
        ),
        // Anything else keeps its kind (an unreadable file is `io`, a bad index
        // `store-corrupt`): the CLI names the store in its context.
        e => Error::Engine(e.into()),
    })?;
    if let Some(lfs) = &located.lfs_objects {
        let dir = CapDir::open_ambient_dir(lfs, ambient_authority()).map_err(|e| {
            store_error(
                path,
                format!("cannot open LFS objects directory {}: {e}", lfs.display()),
            )
        })?;
        store.set_lfs_objects(Dir::from(dir));
    }
    Ok(store)
}

/// The object directories named by `listed` (the lines of `objects`' alternates file),
/// and those their own `info/alternates` name, canonical, without repeats.
fn alternates(store: &Path, objects: &Path, listed: Vec<Vec<u8>>) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    let mut queue: Vec<(PathBuf, Vec<Vec<u8>>, usize)> = vec![(objects.to_owned(), listed, 0)];
    let mut seen = vec![dunce::canonicalize(objects).unwrap_or_else(|_| objects.to_owned())];
    while let Some((base, lines, depth)) = queue.pop() {
        for line in lines {
            // Relative entries are relative to the objects directory that lists them.
            let resolved = base.join(path_from_bytes(&line));
            let canonical = dunce::canonicalize(&resolved).map_err(|e| {
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
            check_object_dir(
                store,
                &canonical,
                &format!("{}", base.join("info/alternates").display()),
            )?;
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
            // An alternate's own alternates live in its `info/alternates`.
            let nested = read_alternates(store, &canonical)?;
            if !nested.is_empty() {
                queue.push((canonical.clone(), nested, depth + 1));
            }
            found.push(canonical);
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
