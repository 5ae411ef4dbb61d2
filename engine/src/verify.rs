//! Is a checkout on disk still what it claims to be? Compare it with a commit's tree:
//! content (hashed as git hashes blobs), exec bits, symlink targets, and missing and extra
//! entries. A top-level `.git` is the checkout's own repository and is not compared; a
//! sparse checkout's (its `info/sparse-checkout`) says which paths it selected.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;

use crate::cap::{self, Dir, Kind};
use crate::checkout::{Backend, Error, Native, Options, Planned};
use crate::store::Store;

/// How an entry differs from the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Change {
    /// In the commit, not on disk.
    Missing,
    /// On disk, not in the commit.
    Extra,
    /// A file whose content differs.
    Modified,
    /// A file whose exec bit differs.
    Mode,
    /// A symlink whose target differs.
    Target,
    /// Another kind of entry than the commit's (a file where a link or directory should be).
    Kind,
    /// A submodule checked out at another commit than the one its parent records (as its
    /// `.git/HEAD` says).
    Submodule,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Difference {
    /// The entry's path, `/`-separated (lossily UTF-8).
    pub path: String,
    /// How it differs.
    pub change: Change,
}

/// What [`verify()`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The commit compared with, if the revision named one.
    pub commit: Option<ObjectId>,
    /// The tree compared with.
    pub tree: ObjectId,
    /// Every difference, sorted by path. Empty: the checkout is exactly the commit.
    pub differences: Vec<Difference>,
}

/// What the commit says an entry is.
enum Expected {
    /// A regular file: `id`, the blob its content must hash to; for a Git LFS file, the
    /// conversion whose pointer (blob `id`) names the object the file must be.
    File {
        id: ObjectId,
        executable: bool,
        lfs: Option<crate::attr::Conversion>,
    },
    Symlink {
        target: BString,
    },
    Dir,
}

/// Compare the checkout below `root` with `rev` of `store`, on a filesystem that can do
/// what `capabilities` says (as the checkout's `.git/config` records it, see
/// [`crate::gitdir::recorded`]): exec bits are compared only where it keeps them
/// (`filemode`), symlinks as files holding their target where it has none (`symlinks`),
/// and where it ignores case (`ignorecase`) the tree is compared as such a filesystem
/// holds it: directories whose names differ only in case as one (spelled as the first in
/// byte order, as a checkout makes it), and of two entries that are one file there the
/// earlier counted `modified` (the later took its place). Files are converted as
/// `attributes` says (the line-ending settings the checkout was written with).
///
/// This is [`plan`] then [`compare`]; a caller that also verifies submodules plans with
/// their `.gitmodules` read and finds them from that plan.
pub fn verify(
    store: &Store,
    rev: &str,
    root: &Dir,
    capabilities: crate::gitdir::Capabilities,
    attributes: &crate::attr::Options,
) -> Result<Verified, Error> {
    let options = options(root, attributes, Default::default())?;
    let planned = plan(store, rev, &options)?;
    compare(store, &planned, root, capabilities, &())
}

/// The checkout options a checkout below `root` is planned with to be compared: no `.git`,
/// the line-ending settings it was written with, its selection if it is sparse, and
/// `submodules` (with [`submodule::Options::gitmodules`](crate::submodule::Options) set,
/// for a caller that finds its submodules from the plan).
pub fn options(
    root: &Dir,
    attributes: &crate::attr::Options,
    submodules: crate::submodule::Options,
) -> Result<Options, Error> {
    // A sparse checkout (`--path`) is compared with its selection, which its `.git` records
    // as `switch` reads it back; the index's entries outside it are not needed here.
    let mut options = Options::default();
    options.git.mode = crate::gitdir::Mode::None;
    options.attributes = *attributes;
    options.submodules = submodules;
    let sparse = Path::new(".git/info/sparse-checkout");
    match root.read(sparse) {
        Ok(patterns) => options.paths = crate::gitdir::sparse_paths_of(&patterns),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_error(".git/info/sparse-checkout", source)),
    }
    Ok(options)
}

/// Resolve `rev` and walk its tree as a checkout with `options` (see [`options()`]) would.
pub fn plan(store: &Store, rev: &str, options: &Options) -> Result<Planned, Error> {
    Native::new(store).plan(rev, options, &AtomicBool::new(false))
}

/// Compare the checkout below `root` with `planned`, a plan of `store` (see [`verify`]; the
/// plan's conversions carry the line-ending settings it was made with), telling `progress`
/// each entry compared (every file is read and hashed: long for a large checkout).
pub fn compare(
    store: &Store,
    planned: &Planned,
    root: &Dir,
    capabilities: crate::gitdir::Capabilities,
    progress: &dyn crate::Progress,
) -> Result<Verified, Error> {
    let crate::gitdir::Capabilities {
        symlinks,
        filemode: exec_bits,
        ignorecase,
    } = capabilities;
    let mut differences = BTreeSet::new();
    // Where names differ only in case, the tree as such a filesystem holds it (what a
    // checkout there wrote, and what git's checkout writes).
    let folded = match ignorecase {
        true => Some(crate::checkout::case::fold_plan(
            &planned.plan,
            crate::checkout::case::CaseCollisions::LastWins,
        )),
        false => None,
    };
    let plan = match &folded {
        Some(Ok(folded)) => {
            for lost in &folded.collisions {
                differences.insert(difference(&lost.lost, Change::Modified));
            }
            folded.plan.as_ref().unwrap_or(&planned.plan)
        }
        _ => &planned.plan,
    };
    let mut expected: BTreeMap<BString, Expected> = BTreeMap::new();
    for i in 1..plan.dirs.len() {
        expected.insert(plan.dir_path(i), Expected::Dir);
    }
    let mut reader = store.odb().reader(8 << 20);
    for file in &plan.files {
        let path = crate::write::join(plan.dir_path(file.dir).as_ref(), file.name.as_ref());
        let lfs = file.conversion.as_deref().filter(|c| c.lfs.is_some());
        let id = match &file.conversion {
            None => file.id,
            // A Git LFS file is the object its pointer names: checked by its SHA-256 and
            // size (streamed, objects can be large; the store's copy is not needed).
            Some(_) if lfs.is_some() => file.id,
            // A converted file is compared with the blob as its attributes write it (held
            // in memory here: such files are text files).
            Some(conversion) => {
                let mut converted = Vec::new();
                let mut read = |sink: &mut dyn std::io::Write| reader.write_blob(&file.id, sink);
                crate::attr::write_converted(conversion, &file.id, &mut read, &mut converted)
                    .map_err(|source| Error::Plan(crate::plan::Error::Object(source)))?;
                gix_object::compute_hash(gix_hash::Kind::Sha1, gix_object::Kind::Blob, &converted)
                    .map_err(|e| io_error(&path, std::io::Error::other(e.to_string())))?
            }
        };
        let e = Expected::File {
            id,
            executable: file.executable,
            lfs: lfs.cloned(),
        };
        expected.insert(path, e);
    }
    for link in &plan.symlinks {
        let path = crate::write::join(plan.dir_path(link.dir).as_ref(), link.name.as_ref());
        expected.insert(
            path,
            Expected::Symlink {
                target: link.target.clone(),
            },
        );
    }
    // A submodule is its own checkout: its directory is expected, what lies in it is not
    // the parent's (it is compared with the submodule's own commit and store, if at all),
    // but where it has a `.git`, that must name the commit the parent records.
    let mut gitlinks = BTreeMap::new();
    for module in &plan.submodules {
        gitlinks.insert(plan.dir_path(module.dir), module.id);
    }
    let mut found = BTreeSet::new();
    walk(root, BString::default(), &gitlinks, &mut found).map_err(|source| io_error("", source))?;
    for (path, commit) in &gitlinks {
        if !found.contains(path) {
            continue;
        }
        let head = crate::write::join(path.as_ref(), b".git/HEAD".as_bstr());
        let head = cap::os_str(&head).map_err(|source| io_error(&head, source))?;
        match root.read(Path::new(head)) {
            Ok(head) => {
                let names = head
                    .trim()
                    .to_str()
                    .ok()
                    .and_then(|h| ObjectId::from_hex(h.as_bytes()).ok());
                if names != Some(*commit) {
                    differences.insert(difference(path, Change::Submodule));
                }
            }
            // Not checked out (an empty directory, as without `--recurse-submodules`), or
            // checked out without a `.git`.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => return Err(io_error(path, source)),
        }
    }
    for path in found.iter().filter(|p| !expected.contains_key(*p)) {
        differences.insert(difference(path, Change::Extra));
    }
    progress.comparing(expected.len() as u64);
    for (path, want) in &expected {
        progress.compared();
        if !found.contains(path) {
            differences.insert(difference(path, Change::Missing));
            continue;
        }
        let rel = cap::os_str(path)
            .map(Path::new)
            .map_err(|source| io_error(path, source))?;
        let kind = root.kind(rel).map_err(|source| io_error(path, source))?;
        let change = match (want, kind) {
            (Expected::Dir, Some(Kind::Dir)) => None,
            (Expected::Symlink { target }, Some(Kind::Symlink)) if symlinks => {
                let on_disk = root
                    .read_link(rel)
                    .map_err(|source| io_error(path, source))?;
                (on_disk != target.as_slice()).then_some(Change::Target)
            }
            (Expected::Symlink { target }, Some(Kind::File)) if !symlinks => {
                let on_disk = root.read(rel).map_err(|source| io_error(path, source))?;
                (on_disk != target.as_slice()).then_some(Change::Target)
            }
            (
                Expected::File {
                    id,
                    executable,
                    lfs,
                },
                Some(Kind::File),
            ) => {
                let stat = root.stat(rel).map_err(|source| io_error(path, source))?;
                let same = match lfs {
                    Some(conversion) => root
                        .open_file(rel)
                        .and_then(|mut f| crate::attr::is_written_form(conversion, id, &mut f)),
                    None => blob_id(root, rel).map(|on_disk| on_disk == *id),
                };
                if !same.map_err(|source| io_error(path, source))? {
                    Some(Change::Modified)
                } else if exec_bits && (stat.mode & 0o100 != 0) != *executable {
                    Some(Change::Mode)
                } else {
                    None
                }
            }
            _ => Some(Change::Kind),
        };
        if let Some(change) = change {
            differences.insert(difference(path, change));
        }
    }
    Ok(Verified {
        commit: planned.commit,
        tree: planned.tree,
        differences: differences.into_iter().collect(),
    })
}

fn difference(path: &BString, change: Change) -> Difference {
    Difference {
        path: path.to_str_lossy().into_owned(),
        change,
    }
}

/// Reading the checkout failed.
fn io_error(path: impl AsRef<[u8]>, source: std::io::Error) -> Error {
    Error::Read {
        path: path.as_ref().into(),
        source,
    }
}

/// Every entry below `root` (directories included), but a top-level `.git` and what lies
/// in a submodule's directory (one of `gitlinks`).
fn walk(
    root: &Dir,
    dir: BString,
    gitlinks: &BTreeMap<BString, ObjectId>,
    out: &mut BTreeSet<BString>,
) -> std::io::Result<()> {
    let rel = if dir.is_empty() {
        Path::new(".")
    } else {
        Path::new(cap::os_str(&dir)?)
    };
    for name in root.entries(rel)? {
        let name = name.into_encoded_bytes();
        if dir.is_empty() && name == b".git" {
            continue;
        }
        let path = crate::write::join(dir.as_ref(), name.as_bstr());
        let kind = root.kind(Path::new(cap::os_str(&path)?))?;
        out.insert(path.clone());
        if kind == Some(Kind::Dir) && !gitlinks.contains_key(&path) {
            walk(root, path, gitlinks, out)?;
        }
    }
    Ok(())
}

/// The id git gives `data` as a blob; the null id (which no entry has) if SHA-1 collision
/// detection refuses it.
pub(crate) fn blob_of(data: &[u8]) -> ObjectId {
    gix_object::compute_hash(gix_hash::Kind::Sha1, gix_object::Kind::Blob, data)
        .unwrap_or_else(|_| ObjectId::null(gix_hash::Kind::Sha1))
}

/// The id git gives the file at `path` as a blob: SHA-1 of `blob <size>\0` and the bytes.
pub(crate) fn blob_id(root: &Dir, path: &Path) -> std::io::Result<ObjectId> {
    let mut file = root.open_file(path)?;
    let size = file.metadata()?.len();
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    hasher.update(format!("blob {size}\0").as_bytes());
    let mut buf = vec![0; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != size {
        // The file changed while being read: it is not what the index recorded.
        return Ok(ObjectId::null(gix_hash::Kind::Sha1));
    }
    hasher.try_finalize().map_err(std::io::Error::other)
}
