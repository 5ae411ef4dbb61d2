//! The checkout's `.git`: what git and build tools need to accept the checkout as a clone.
//!
//! Build backends ask git about the directory they build (setuptools-scm and hatch-vcs run
//! `git describe`, others `git rev-parse HEAD` or `git status`), so a checkout is more than
//! its files. This module writes, into the staging directory, before it is published with
//! the tree:
//!
//! - `HEAD`, detached at the commit; a `config` that says what the destination's filesystem
//!   can do (`core.symlinks`, `core.filemode`, `core.ignorecase`) and names the store as
//!   `origin`;
//! - the store's branches as `refs/remotes/origin/*` and its tags as `refs/tags/*`, in
//!   `packed-refs` with annotated tags peeled, as `git clone --local` makes them, so that
//!   `git describe --tags` answers as in a clone; and the store's `shallow` boundary;
//! - the objects, by [`Mode`]: named through `objects/info/alternates`, or copied;
//! - the index, with every entry's real `lstat` data, so that `git status` is clean without
//!   reading a single file.
//!
//! What the store holds (references, the shallow boundary) is read where the store is read:
//! natively, or inside the planner guest under the sandbox ([`StoreRefs`] travels in the
//! plan's reply). Everything here is written by the orchestrator through its own handle.

mod config;
mod index;
mod objects;
mod sparse;
#[cfg(not(target_os = "wasi"))]
pub(crate) use sparse::paths as sparse_paths_of;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;

use crate::cap::Dir;
use crate::plan::Plan;
use crate::store::Store;

pub use config::{Recorded, recorded, recorded_submodules};
pub(crate) use index::RealNames;
pub use index::{Entry as IndexEntry, EntryKind as IndexEntryKind, entries as index_entries};

/// How the checkout's `.git` gets its objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// No `.git`: the tree only. The library's default: an embedder that asks for files
    /// gets files, and nothing that ties the checkout to the store's location.
    #[default]
    None,
    /// A `.git` whose `objects/info/alternates` names the store's object directories:
    /// nothing is copied, and the checkout needs the store to stay where it is. The CLI's
    /// default, as installers keep their stores.
    Alternates,
    /// A self-contained `.git`: the store's packs and loose objects are copied (by
    /// `copy_file_range` or a reflink where the filesystem offers one, else streamed; never
    /// linked), so the checkout survives deleting the store.
    Copy,
}

/// What the `.git` needs besides the plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Whether and how to write a `.git`. Default: [`Mode::None`].
    pub mode: Mode,
    /// For [`Mode::Alternates`]: the store's object directories as git should find them
    /// (absolute paths: the store's own `objects`, then its alternates).
    pub object_paths: Vec<PathBuf>,
    /// For [`Mode::Copy`]: the store's object directories, opened, to copy from.
    pub object_dirs: Arc<Vec<Dir>>,
    /// The store's location, recorded as `remote.origin.url`; `None` to leave it out.
    pub origin: Option<String>,
    /// The paths checked out, when only some were ([`crate::Options::paths`], as the
    /// selection normalized them): sparse checkout is configured for them, non-cone (see
    /// `sparse.rs`). The orchestrator sets it. Default: empty, not sparse.
    pub sparse_paths: Vec<BString>,
    /// The submodules checked out directly within this checkout, by name with their URL:
    /// recorded as `submodule.<name>.url` and `.active`, as `git clone
    /// --recurse-submodules` records them, so that git sees them initialized. The
    /// orchestrator sets it. Default: empty.
    pub submodules: Vec<(BString, String)>,
    /// The line-ending settings the checkout was written with, recorded as
    /// `core.autocrlf` and `core.eol` where they are not the defaults, as git records
    /// `-c` given to a clone: so that git converts files back as they were written. The
    /// orchestrator sets it from [`crate::Options::attributes`]. Default: the defaults.
    pub line_endings: crate::attr::Options,
}

/// The references of the store a `.git` repeats, read where the store is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoreRefs {
    /// Branches (`refs/heads/*`): full name and commit.
    pub branches: Vec<Ref>,
    /// Tags (`refs/tags/*`): full name, the object, and what an annotated tag peels to.
    pub tags: Vec<Ref>,
    /// The commits at the store's shallow boundary (its `shallow` file).
    #[cfg_attr(feature = "serde", serde(default))]
    pub shallow: Vec<Oid>,
}

/// An object id that crosses the wire as hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Oid(#[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))] pub ObjectId);

/// One reference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ref {
    /// Its full name, `refs/…`.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub name: BString,
    /// The object it names.
    pub id: Oid,
    /// For an annotated tag, the object it finally points to.
    #[cfg_attr(feature = "serde", serde(default))]
    pub peeled: Option<Oid>,
}

/// What a filesystem can do, as git's `core.*` settings say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Symlinks can be created (`core.symlinks`).
    pub symlinks: bool,
    /// Exec bits stick (`core.filemode`).
    pub filemode: bool,
    /// Names differing only in case are one (`core.ignorecase`).
    pub ignorecase: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            symlinks: true,
            filemode: true,
            ignorecase: false,
        }
    }
}

/// Why the `.git` could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the `.git`, or of the tree being indexed, could not be written or read.
    #[error("could not write the checkout's .git: {path}")]
    Io {
        /// The file, relative to the checkout root.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// An entry's path is longer than this system takes in one call (Linux: 4 096 bytes), so
    /// the index cannot record its `lstat` data. The files are written (one name at a time);
    /// only the index cannot be, and git could not use the checkout either.
    #[error(
        "could not index {shown}: its path is {len} bytes, longer than this system allows; \
         check out with --git none, which writes no index"
    )]
    PathTooLong {
        /// The entry, relative to the checkout root.
        path: PathBuf,
        /// The path shortened for the message: its first components and its name.
        shown: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The store's references could not be read.
    #[error("could not read the store's references for the checkout's .git")]
    Store(#[from] crate::store::Error),
    /// Alternates were asked for without the object directories' paths.
    #[error("a .git with alternates needs the store's object directory paths")]
    NoObjectPaths,
}

impl Error {
    /// The path involved, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::PathTooLong { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl Error {
    /// [`Error::Io`] for `path`, or [`Error::PathTooLong`] when that is what `source` says.
    #[cfg_attr(
        target_os = "wasi",
        expect(dead_code, reason = "only the native index writer names long paths")
    )]
    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        if source.kind() != io::ErrorKind::InvalidFilename {
            return Error::Io {
                path: path.to_owned(),
                source,
            };
        }
        let text = path.to_string_lossy();
        let parts: Vec<&str> = text.split('/').collect();
        let shown = match parts.as_slice() {
            [first @ .., last] if first.len() > 3 => format!("{}/…/{last}", first[..3].join("/")),
            _ => text.clone().into_owned(),
        };
        Error::PathTooLong {
            path: path.to_owned(),
            shown,
            len: text.len(),
        }
    }
}

/// The modification time files get when an index is written: the start of the previous
/// second. The index is written later, so in a later second than every entry, and no entry
/// is "racily clean" (as new as the index), even to a git that compares whole seconds;
/// otherwise git would read every such file again on the first `git status`.
pub fn settled_mtime() -> std::time::SystemTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.saturating_sub(1))
}

/// Read what a `.git` repeats of `store`: its branches and tags, and its shallow boundary.
pub fn store_refs(store: &Store) -> Result<StoreRefs, crate::store::Error> {
    let mut reader = store.odb().reader(1 << 20);
    let to_ref = |(name, id): (BString, ObjectId)| Ref {
        name,
        id: Oid(id),
        peeled: None,
    };
    let branches = store
        .refs_under("refs/heads/")?
        .into_iter()
        .map(to_ref)
        .collect();
    let mut tags: Vec<Ref> = store
        .refs_under("refs/tags/")?
        .into_iter()
        .map(to_ref)
        .collect();
    for tag in &mut tags {
        tag.peeled = peel(&mut reader, tag.id.0)?.map(Oid);
    }
    Ok(StoreRefs {
        branches,
        tags,
        shallow: store.shallow()?.into_iter().map(Oid).collect(),
    })
}

/// What the annotated tag `id` finally points to, or `None` if `id` is not a tag.
fn peel(
    reader: &mut crate::odb::Reader<'_>,
    id: ObjectId,
) -> Result<Option<ObjectId>, crate::store::Error> {
    let mut current = id;
    for _ in 0..16 {
        let (kind, data) = reader.read_shared(&current)?;
        if kind != gix_object::Kind::Tag {
            return Ok((current != id).then_some(current));
        }
        match gix_object::TagRef::from_bytes(&data, gix_hash::Kind::Sha1) {
            Ok(tag) => current = tag.target(),
            Err(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// The file that marks a `.git` as unfurl's: only a checkout that has it is ever switched
/// in place, so a user's own clone is never rewritten.
pub(crate) const MARKER: &str = "unfurl";

/// Write the `.git` of a checkout of `commit` whose tree, as planned by `plan`, is written
/// below `root`.
pub fn write(
    root: &Dir,
    commit: Option<ObjectId>,
    plan: &Plan,
    refs: &StoreRefs,
    options: &Options,
    capabilities: Capabilities,
) -> Result<(), Error> {
    let files = Files {
        root,
        replace: false,
    };
    files.dirs()?;
    files.refs(refs, options, capabilities)?;
    match options.mode {
        Mode::None => {}
        Mode::Alternates => files.alternates(options)?,
        Mode::Copy => objects::copy(&options.object_dirs, root, None)?,
    }
    index::write(root, plan, capabilities, "index")?;
    files.head(commit)
}

/// Bring the `.git` of a checkout switched in place (below `root`) to `commit`, whose tree
/// `plan` is now on disk. Every file is replaced whole (written beside, then renamed), and
/// HEAD last: until then the `.git` still names the commit it had. Objects a copied `.git`
/// lacks are copied into `scratch` (a staging directory on the same filesystem) first, then
/// renamed in, so no object file is ever seen half-written.
#[cfg(not(target_os = "wasi"))]
pub(crate) fn update(
    root: &Dir,
    scratch: &Dir,
    commit: Option<ObjectId>,
    plan: &Plan,
    refs: Option<&StoreRefs>,
    options: &Options,
    capabilities: Capabilities,
) -> Result<(), Error> {
    let files = Files {
        root,
        replace: true,
    };
    files.dirs()?;
    // Without the store's references (no `.git` mode asked for), they stay as they were.
    if let Some(refs) = refs {
        files.refs(refs, options, capabilities)?;
    }
    match options.mode {
        Mode::None => {}
        Mode::Alternates => files.alternates(options)?,
        Mode::Copy => {
            objects::copy(&options.object_dirs, root, Some(scratch))?;
            // Self-contained now, whatever the checkout was written with.
            files.remove("objects/info/alternates")?;
        }
    }
    let new = "index.unfurl-new";
    let _ = root.remove_file(Path::new(".git").join(new).as_os_str());
    index::write(root, plan, capabilities, new)?;
    root.rename(
        Path::new(".git").join(new).as_os_str(),
        Path::new(".git/index").as_os_str(),
    )
    .map_err(|source| Error::Io {
        path: ".git/index".into(),
        source,
    })?;
    files.head(commit)
}

/// Writes the files of a `.git` below `root`: new ones, or replacing what is there.
struct Files<'a> {
    root: &'a Dir,
    replace: bool,
}

impl Files<'_> {
    fn io_error(name: &str) -> impl Fn(io::Error) -> Error {
        let path = PathBuf::from(".git").join(name);
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    }

    fn dirs(&self) -> Result<(), Error> {
        for dir in [
            ".git",
            ".git/objects",
            ".git/objects/info",
            ".git/objects/pack",
            ".git/refs",
            ".git/refs/heads",
            ".git/refs/tags",
            ".git/info",
        ] {
            match self.root.create_dir(Path::new(dir)) {
                Err(e) if self.replace && e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other.map_err(Files::io_error(dir))?,
            }
        }
        Ok(())
    }

    /// Write `.git/name`; when replacing, beside it first and renamed over it, so a reader
    /// (or a crash) sees the old file or the new one, whole.
    fn put(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        let path = Path::new(".git").join(name);
        if !self.replace {
            return self
                .root
                .write_new(&path, data)
                .map_err(Files::io_error(name));
        }
        let new = Path::new(".git").join(format!("{name}.unfurl-new"));
        let _ = self.root.remove_file(new.as_os_str());
        self.root
            .write_new(&new, data)
            .and_then(|()| self.root.rename(new.as_os_str(), path.as_os_str()))
            .map_err(Files::io_error(name))
    }

    /// Remove `.git/name` if it is there.
    fn remove(&self, name: &str) -> Result<(), Error> {
        match self
            .root
            .remove_file(Path::new(".git").join(name).as_os_str())
        {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Files::io_error(name)(e)),
            _ => Ok(()),
        }
    }

    /// The configuration, the references, the shallow boundary and the marker.
    fn refs(
        &self,
        refs: &StoreRefs,
        options: &Options,
        capabilities: Capabilities,
    ) -> Result<(), Error> {
        let mut config = config::text(options, capabilities);
        if options.sparse_paths.is_empty() {
            self.remove("info/sparse-checkout")?;
        } else {
            config.push_str(sparse::CONFIG);
            self.put(
                "info/sparse-checkout",
                &sparse::patterns(&options.sparse_paths),
            )?;
        }
        self.put("config", config.as_bytes())?;
        self.put("packed-refs", &packed_refs(refs))?;
        if refs.shallow.is_empty() {
            self.remove("shallow")?;
        } else {
            let mut shallow = String::new();
            for id in &refs.shallow {
                shallow.push_str(&format!("{}\n", id.0));
            }
            self.put("shallow", shallow.as_bytes())?;
        }
        self.put(MARKER, b"unfurl checkout 1\n")
    }

    fn alternates(&self, options: &Options) -> Result<(), Error> {
        if options.object_paths.is_empty() {
            return Err(Error::NoObjectPaths);
        }
        let mut list = BString::default();
        for path in &options.object_paths {
            list.extend_from_slice(path.as_os_str().as_encoded_bytes());
            list.push(b'\n');
        }
        self.put("objects/info/alternates", &list)
    }

    /// HEAD, detached at `commit`. A tree (`REV^{tree}`) has no commit: HEAD stays unborn
    /// on a branch of no name.
    fn head(&self, commit: Option<ObjectId>) -> Result<(), Error> {
        let head = match commit {
            Some(commit) => format!("{commit}\n"),
            None => "ref: refs/heads/main\n".to_owned(),
        };
        self.put("HEAD", head.as_bytes())
    }
}

/// `packed-refs` as `git clone` writes it: branches as remote-tracking refs, tags with
/// their peeled objects, sorted by name.
fn packed_refs(refs: &StoreRefs) -> Vec<u8> {
    let mut lines: Vec<(BString, &Ref)> = Vec::new();
    for branch in &refs.branches {
        let Some(short) = branch.name.strip_prefix(b"refs/heads/") else {
            continue;
        };
        let mut name = BString::from("refs/remotes/origin/");
        name.extend_from_slice(short);
        lines.push((name, branch));
    }
    for tag in &refs.tags {
        lines.push((tag.name.clone(), tag));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = b"# pack-refs with: peeled fully-peeled sorted \n".to_vec();
    for (name, r) in lines {
        // A name with a line break would forge another line: refs from the store are
        // validated names, so this only guards against a malformed list.
        if name.contains(&b'\n') || gix_validate::reference::name(name.as_bstr()).is_err() {
            continue;
        }
        out.extend_from_slice(format!("{} ", r.id.0).as_bytes());
        out.extend_from_slice(&name);
        out.push(b'\n');
        if let Some(peeled) = r.peeled {
            out.extend_from_slice(format!("^{}\n", peeled.0).as_bytes());
        }
    }
    out
}
