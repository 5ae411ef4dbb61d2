//! Stage 2, plan: walk the tree and validate every entry before anything is written.
//!
//! The plan is the whole checkout as data: directories parents-first, files grouped by
//! directory, symlinks with their targets. Building it reads only tree objects and symlink
//! targets; nothing touches the destination until the whole tree has passed validation.
//!
//! It is built in passes, one module each:
//!
//! 1. `walk`: read every tree and validate every entry (names, modes, kinds, duplicates,
//!    symlink targets, depth), collecting directories, files and symlinks;
//! 2. `arena`: the directories, each a name and a parent (so memory stays linear in
//!    entries however deep the tree), with those holding nothing pruned as `git archive`
//!    prunes them;
//! 3. `placeholders`: where the runtime cannot spell a name (under WASI, one that is not
//!    UTF-8), the plan uses a placeholder and lists the entry for renaming once everything
//!    is written;
//!
//! and, in `work`, the plan as work: groups of files for the writers, and the operations
//! left to the end.

mod arena;
mod attributes;
mod function;
mod graft;
mod placeholders;
mod select;
mod walk;
mod work;

pub use function::plan;
pub(crate) use function::plan_with;
pub use select::Selection;
pub use work::GROUP_FILES;

use bstr::BString;
use gix_hash::ObjectId;

use crate::odb;

/// How deeply trees may nest: the root tree is at depth 1, `a/` at 2, `a/b/` at 3, so no
/// path in a checkout has more than this many components.
///
/// A deeper tree is refused with [`Error::TooDeep`] as soon as the walk reaches it, before
/// it is read, so a hostile store of nested trees costs little time and memory (a plan's
/// memory is linear in its entries in any case). The limit is the default git's
/// documentation long gave for `core.maxTreeDepth`; git itself refuses trees nested more
/// than 2048 below the root (512 when built with MSVC). Real repositories come nowhere
/// near either, and on Linux, where a path holds at most 4095 bytes, a chain of even
/// one-letter directories stops fitting after about 2000 levels.
pub const MAX_TREE_DEPTH: usize = 4096;

/// How many entries (files, symlinks, submodules and directories, counted as the walk
/// reads them) a tree may hold.
///
/// A tree of a few hundred bytes can name the same subtree twice at each of 30 levels: a
/// billion files. Walking it would grow the plan (about 100 bytes an entry) until memory
/// runs out (measured: 2.5 GB after two minutes), and then write a billion files. The largest repositories known hold a few
/// million files (by their projects' own published counts); a tree past
/// this limit is refused as soon as the walk reaches it, in bounded memory.
pub const MAX_TREE_ENTRIES: usize = 5_000_000;

/// A validated checkout, ready to be written.
///
/// Under the sandbox the planner guest sends it to the host, which hands its groups to the
/// writer guests; so it is data, and its parts are checked again where they are used.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Plan {
    /// Directories in walk order, so parents before children; `dirs[0]` is the root (empty
    /// name). Their paths are built on demand by [`Plan::dir_path`].
    pub(crate) dirs: Vec<Directory>,
    /// Regular files, grouped by directory in the order of `dirs`.
    pub(crate) files: Vec<File>,
    /// Symbolic links, with their targets already read, grouped by directory in the order
    /// of `dirs`.
    pub(crate) symlinks: Vec<Symlink>,
    /// Submodules (gitlinks), each an empty directory in the checkout.
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) submodules: Vec<Submodule>,
    /// Entries written under a placeholder name, to be renamed by the caller.
    pub(crate) renames: Vec<Rename>,
    /// With a [`Selection`] that keeps them: the entries outside it, not checked out, for
    /// an index that marks them skip-worktree. Empty otherwise.
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) outside: Vec<Outside>,
    /// The names of each object directory's packs, by the numbers the files' locations
    /// use, as the planner listed them: a writer in another process lists the store again,
    /// maybe after a repack renumbered its packs, and finds each pack by name.
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) packs: Vec<Vec<String>>,
}

impl Plan {
    /// How many regular files the checkout will have.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// How many directories the checkout will create, not counting its root.
    pub fn dirs(&self) -> usize {
        self.dirs.len().saturating_sub(1)
    }

    /// How many symbolic links the checkout will have.
    pub fn symlinks(&self) -> usize {
        self.symlinks.len()
    }

    /// The names of each object directory's packs, by the numbers the files' locations use
    /// (for [`Store::follow_pack_numbering`](crate::Store::follow_pack_numbering) in a
    /// writer that opens the store itself).
    pub fn pack_names(&self) -> &[Vec<String>] {
        &self.packs
    }

    /// The path of directory `index` relative to the checkout root, `/`-separated, as it is
    /// written (with placeholders where names were replaced); empty for the root.
    pub(crate) fn dir_path(&self, index: usize) -> BString {
        arena::path(&self.dirs, index, None)
    }
}

/// A directory to create.
///
/// It holds its name, not its path: a path per directory would make a plan's memory grow
/// with the square of the depth.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Directory {
    /// Its name in its parent (a placeholder if the runtime cannot spell the tree's);
    /// empty for the root.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub(crate) name: BString,
    /// Index into [`Plan::dirs`] of its parent; `0` (itself) for the root.
    pub(crate) parent: usize,
}

/// An entry whose name this runtime cannot spell (under WASI, a name that is not UTF-8):
/// the plan names it `placeholder` instead, in files, links and directories alike, and
/// the caller renames it to `name` once everything is written (see
/// [`Deferred::Rename`](crate::write::Deferred::Rename)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Rename {
    /// Index into [`Plan::dirs`] of the directory holding it.
    pub(crate) dir: usize,
    /// Its name as written: `.unfurl-` and a hash of `name`, unlike any sibling's name.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub(crate) placeholder: BString,
    /// Its name in the tree.
    pub(crate) name: BString,
}

/// An entry of the tree outside the selected paths: not checked out, listed in the index
/// as skip-worktree. Its blob is never read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Outside {
    /// Its path from the checkout root, `/`-separated.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub(crate) path: BString,
    /// Its object: a blob, or a submodule's commit.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))]
    pub(crate) id: ObjectId,
    /// Its mode as git records it: `0o100644`, `0o100755`, `0o120000` or `0o160000`.
    pub(crate) mode: u32,
}

/// A regular file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct File {
    /// Index into [`Plan::dirs`] of its directory.
    pub(crate) dir: usize,
    /// Its name in that directory.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub(crate) name: BString,
    /// The blob holding its content.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))]
    pub(crate) id: ObjectId,
    /// Whether the tree marks it executable (mode 100755).
    pub(crate) executable: bool,
    /// Where the blob is in the store, when the planner located it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) at: Option<odb::ObjectLocation>,
    /// What its attributes do to its content on the way to the file; `None` writes the
    /// blob as stored.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    ///
    /// Boxed: most files have none, and a plan holds every file at once (the sandbox's
    /// host parses it whole), so the common case is 8 bytes, not the ~100 of a conversion.
    pub(crate) conversion: Option<Box<crate::attr::Conversion>>,
}

/// A symbolic link to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Symlink {
    /// Index into [`Plan::dirs`] of its directory.
    pub(crate) dir: usize,
    /// Its name in that directory.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::utf8"))]
    pub(crate) name: BString,
    /// The target, exactly as stored.
    pub(crate) target: BString,
    /// The blob holding the target.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))]
    pub(crate) id: ObjectId,
}

/// A submodule (a gitlink): written as an empty directory, recorded in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Submodule {
    /// Index into [`Plan::dirs`] of the directory standing for it.
    pub(crate) dir: usize,
    /// The commit the tree records for it.
    #[cfg_attr(feature = "serde", serde(with = "crate::wire::hex"))]
    pub(crate) id: ObjectId,
}

/// Why the tree cannot be checked out. Every variant names the offending path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that could escape the destination or reach into a `.git` directory.
    #[error("refusing to check out {path:?}: {reason} (the tree is hostile or corrupt)")]
    UnsafeName {
        /// The path of the entry, `/`-separated.
        path: BString,
        /// Why the name is refused.
        reason: String,
    },
    /// Two entries of one tree share a name; git would silently pick one.
    #[error("malformed tree: {path:?} appears more than once{}", if *.file_and_dir { " (as a file and as a directory)" } else { "" })]
    DuplicateName {
        /// The duplicated path.
        path: BString,
        /// Whether one is a directory and another is not.
        file_and_dir: bool,
    },
    /// An entry with a mode git does not write.
    #[error(
        "malformed tree: {path:?} has mode {mode:o}, which is not a file, directory, symlink or submodule"
    )]
    BadMode {
        /// The entry.
        path: BString,
        /// Its mode.
        mode: u32,
    },
    /// A symlink whose target cannot be a symlink target.
    #[error("refusing to check out symlink {path:?}: {reason}")]
    BadSymlink {
        /// The symlink.
        path: BString,
        /// What is wrong with the target.
        reason: &'static str,
    },
    /// A tree object could not be parsed.
    #[error("malformed tree object {id} at {path:?}: {message}")]
    BadTree {
        /// The tree object.
        id: ObjectId,
        /// Where it sits in the checkout.
        path: BString,
        /// What the parser said.
        message: String,
    },
    /// The entry's object is not of the kind its mode says.
    #[error("malformed tree: {path:?} should be a {expected} but object {id} is a {actual}")]
    KindMismatch {
        /// The entry.
        path: BString,
        /// Its object.
        id: ObjectId,
        /// The kind its mode implies.
        expected: gix_object::Kind,
        /// The object's kind.
        actual: gix_object::Kind,
    },
    /// Trees nested deeper than [`MAX_TREE_DEPTH`].
    #[error(
        "refusing to check out {path:?}: it is nested {depth} trees deep, past the limit of {limit} (the tree is hostile or corrupt; git refuses such trees too, see core.maxTreeDepth)"
    )]
    TooDeep {
        /// The first tree too deep, shortened to its first components, `…` and its name.
        path: BString,
        /// Its depth, counting the root tree as 1.
        depth: usize,
        /// The limit, [`MAX_TREE_DEPTH`].
        limit: usize,
    },
    /// The tree holds more entries than [`MAX_TREE_ENTRIES`].
    #[error(
        "refusing to check out a tree of more than {limit} entries (it names the same trees over and over, or is far larger than any real repository: a tree bomb?)"
    )]
    TooMany {
        /// The limit, [`MAX_TREE_ENTRIES`].
        limit: usize,
    },
    /// Reading a tree or symlink target failed.
    #[error(transparent)]
    Object(#[from] odb::Error),
    /// The store lacks blobs the checkout needs (a partial clone, or an incomplete fetch).
    #[error("the store lacks {count} blob(s) this checkout needs: {}{} (fetch them into the store, or re-fetch it whole)", describe_missing(objects), if *count > objects.len().min(3) { ", …" } else { "" })]
    MissingObjects {
        /// Each missing blob with the path that needs it (all of them, up to 100,000).
        objects: Vec<(BString, ObjectId)>,
        /// How many are missing.
        count: usize,
    },
    /// A plan received from elsewhere (a sandboxed planner) does not hold together.
    #[error("the sandboxed planner sent a malformed plan: {what}")]
    Malformed {
        /// What is wrong with it.
        what: String,
    },
    /// The caller asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// Selected paths (`--path`) that name nothing in the tree.
    #[error("{} in the tree: {} (paths are relative to the tree checked out, as `git archive REV PATH…` takes them)", if paths.len() == 1 { "this path is not" } else { "these paths are not" }, paths.iter().map(|p| format!("{:?}", p)).collect::<Vec<_>>().join(", "))]
    PathNotFound {
        /// Every selected path that named nothing, as given (without a trailing `/`).
        paths: Vec<BString>,
    },
    /// A selected path (`--path`) that cannot name anything in a tree.
    #[error("cannot select {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: BString,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Git LFS objects the checkout needs are not in the LFS objects directory.
    #[error("the LFS objects directory lacks {} object(s) this checkout needs: {} (fetch them, e.g. with `git lfs fetch`, or give their directory with --lfs-objects; --lfs pointers writes the pointers instead)", objects.len(), describe_lfs(objects))]
    LfsObjectsMissing {
        /// Each missing object: the path that needs it and its SHA-256 (every one).
        objects: Vec<(BString, String)>,
    },
}

impl Error {
    /// The offending path in the tree, when the error is about one entry.
    pub fn path(&self) -> Option<&bstr::BStr> {
        match self {
            Error::UnsafeName { path, .. }
            | Error::DuplicateName { path, .. }
            | Error::BadMode { path, .. }
            | Error::BadSymlink { path, .. }
            | Error::BadTree { path, .. }
            | Error::KindMismatch { path, .. }
            | Error::TooDeep { path, .. }
            | Error::BadPath { path, .. } => Some(path.as_ref()),
            Error::PathNotFound { paths } => paths.first().map(|p| p.as_ref()),
            Error::MissingObjects { objects, .. } => objects.first().map(|(p, _)| p.as_ref()),
            Error::LfsObjectsMissing { objects } => objects.first().map(|(p, _)| p.as_ref()),
            Error::Object(_)
            | Error::Malformed { .. }
            | Error::Interrupted
            | Error::TooMany { .. } => None,
        }
    }
}

/// Every missing LFS object, for the one-line message: `path (oid)`.
fn describe_lfs(objects: &[(BString, String)]) -> String {
    objects
        .iter()
        .map(|(path, oid)| format!("{path} ({oid})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first few missing blobs, for the one-line message: `path (id)`.
fn describe_missing(objects: &[(BString, ObjectId)]) -> String {
    objects
        .iter()
        .take(3)
        .map(|(path, id)| format!("{path} ({id})"))
        .collect::<Vec<_>>()
        .join(", ")
}
