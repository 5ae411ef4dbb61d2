//! Submodules: each gitlink of the checkout materialized at the commit its parent records,
//! from a local store for that submodule, recursively.
//!
//! What is read is the `.gitmodules` of the commit being checked out (its names, paths,
//! URLs and `update = none`), validated as git validates it:
//!
//! - a name with a `..` component (either separator) is refused: git keeps a submodule's
//!   repository under `.git/modules/<name>`, and such a name escaped it (CVE-2018-11235).
//!   Names with `/` are legal and common (`numpy/core/src/umath/svml`), so they stay;
//! - a submodule is checked out only at the path of a gitlink of the parent's tree, as the
//!   walk found it, so its path is made of validated tree entry names (never `.git` in any
//!   spelling) and of directories, never of a symlink (CVE-2024-32002): a `.gitmodules` path
//!   that is not a gitlink names nothing to check out;
//! - two names with one path are refused, and so is a gitlink that no name maps;
//! - URLs starting with `-` or holding control characters are refused, as git refuses them.
//!
//! Where the stores are is the caller's business ([`Stores`]): the engine has no paths.
//! Every store and commit is found before anything is written; all that are missing are
//! reported at once ([`Error::Missing`]), so that an installer fetches them in one round.

pub(crate) mod config;
mod function;
mod gitmodules;
mod url;

pub use config::origin_url;
pub use function::{Found, discover};
pub(crate) use function::{within, write_gitdir};
pub use url::{is_relative, resolve as resolve_url, store_key};

pub(crate) use gitmodules::read as read_gitmodules;

use std::sync::Arc;

use bstr::BString;
use gix_hash::ObjectId;

use crate::checkout::Backend;

/// The most levels of submodules within submodules that are checked out.
pub const MAX_DEPTH: usize = 32;

/// The largest `.gitmodules` read.
pub const MAX_GITMODULES: u64 = 1 << 20;

/// Where the stores of submodules are: implemented by the caller, which alone turns
/// locations into capabilities (natively, a store opened in this process; under the
/// sandbox, a planner and writers that are given that store and nothing else).
pub trait Stores: Send + Sync + std::fmt::Debug {
    /// A backend reading the store for the submodule whose resolved URL is `url`, or
    /// `None` when there is no store for it.
    fn open(&self, url: &str) -> Result<Option<Box<dyn Backend + '_>>, crate::Error>;

    /// For a checkout with a `.git`: that `.git`'s options for a submodule checked out
    /// from the store for `url` (its object directories, its origin), in `mode`. By
    /// default, only the mode (which suits [`gitdir::Mode::None`](crate::gitdir::Mode)).
    fn git(
        &self,
        url: &str,
        mode: crate::gitdir::Mode,
    ) -> Result<crate::gitdir::Options, crate::Error> {
        let _ = url;
        Ok(crate::gitdir::Options {
            mode,
            ..crate::gitdir::Options::default()
        })
    }
}

/// Whether and how submodules are checked out.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Check out every submodule from these stores, recursively (`--recurse-submodules`).
    /// Default: `None`, gitlinks stay empty directories as in `git archive`.
    pub stores: Option<Arc<dyn Stores>>,
    /// The superproject's URL, against which relative submodule URLs resolve (the store's
    /// `remote.origin.url`, or what the caller knows it was fetched from). Default: `None`,
    /// and a relative URL is an error saying so.
    pub url: Option<String>,
    /// Whether the planner also reads the commit's `.gitmodules` (see
    /// [`Planned::gitmodules`](crate::Planned::gitmodules)). The orchestrator sets it when
    /// `stores` is set; a sandboxed planner gets it from its request. Default: `false`.
    pub gitmodules: bool,
}

/// A submodule of the checkout, as its parent's tree and `.gitmodules` declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its path from the root of the whole checkout, `/`-separated.
    pub path: BString,
    /// Its name in its parent's `.gitmodules`.
    pub name: BString,
    /// Its URL, resolved against its parent's.
    pub url: String,
    /// The commit its parent records.
    pub commit: ObjectId,
    /// Whether `.gitmodules` says `update = none`: then it stays an empty directory, as in
    /// `git clone --recurse-submodules`.
    pub skipped: bool,
    /// How many submodules it is nested in (0 for one of the top checkout).
    pub depth: usize,
}

/// What a checkout needs and cannot find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lack {
    /// No store is known for the submodule's URL.
    Store,
    /// Its store lacks the commit.
    Commit,
}

/// A submodule whose store or commit is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingModule {
    /// The submodule.
    pub module: Module,
    /// What is missing.
    pub lack: Lack,
}

/// Why submodules cannot be checked out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `.gitmodules` is not a config file.
    #[error("{path:?} is malformed at line {line}: {what}")]
    Gitmodules {
        /// The `.gitmodules` file, from the checkout's root.
        path: BString,
        /// The line.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// `.gitmodules` is not a regular file, or is too large.
    #[error("refusing {path:?}: {reason}")]
    GitmodulesFile {
        /// The `.gitmodules` file, from the checkout's root.
        path: BString,
        /// What is wrong.
        reason: &'static str,
    },
    /// A submodule name git refuses.
    #[error(
        "refusing submodule name {name:?} in {path:?}: {reason} (the .gitmodules is hostile or corrupt)"
    )]
    BadName {
        /// The `.gitmodules` file.
        path: BString,
        /// The name.
        name: BString,
        /// Why.
        reason: &'static str,
    },
    /// A submodule URL git refuses.
    #[error("refusing the URL of submodule {name:?}: {reason}")]
    BadUrl {
        /// The name.
        name: BString,
        /// Why.
        reason: &'static str,
    },
    /// A submodule path that could not be a gitlink's: hostile.
    #[error("refusing submodule {name:?}: its path {path:?} {reason} (the .gitmodules is hostile)")]
    BadPath {
        /// The name.
        name: BString,
        /// The path, from the checkout's root.
        path: BString,
        /// Why.
        reason: &'static str,
    },
    /// A gitlink that no name of `.gitmodules` maps.
    #[error(
        "no submodule of .gitmodules has the path {path:?}, where the tree records commit {commit}"
    )]
    Unmapped {
        /// The gitlink's path.
        path: BString,
        /// Its commit.
        commit: ObjectId,
    },
    /// Two names of `.gitmodules` with one path.
    #[error("submodules {first:?} and {second:?} both have the path {path:?}")]
    DuplicatePath {
        /// The path.
        path: BString,
        /// One name.
        first: BString,
        /// The other.
        second: BString,
    },
    /// A submodule without a URL.
    #[error("submodule {name:?} at {path:?} has no url in .gitmodules")]
    NoUrl {
        /// The name.
        name: BString,
        /// Its path.
        path: BString,
    },
    /// A relative URL, and no URL to resolve it against.
    #[error(
        "submodule {path:?} has the relative URL {url:?}, and the superproject's URL is unknown: its store has no remote.origin.url; pass the URL it was fetched from (--url)"
    )]
    RelativeUrl {
        /// The submodule's path.
        path: BString,
        /// Its URL.
        url: String,
    },
    /// Submodules need a commit (its `.gitmodules`), not a tree.
    #[error(
        "submodules are checked out from a commit's .gitmodules, and this revision names a tree; name a commit, or leave out --recurse-submodules"
    )]
    NoCommit,
    /// A submodule's store holds something else than a commit under the recorded id.
    #[error("the store for submodule {path:?} has no commit {commit} (it names something else)")]
    NotACommit {
        /// The submodule's path.
        path: BString,
        /// The commit recorded.
        commit: ObjectId,
    },
    /// Submodules nested deeper than [`MAX_DEPTH`].
    #[error("submodule {path:?} is nested more than {MAX_DEPTH} submodules deep")]
    TooDeep {
        /// The submodule's path.
        path: BString,
    },
    /// Stores or commits missing: every one.
    #[error("{} submodule(s) cannot be checked out: {}{} (fetch them, and name each store with --submodule-store URL=DIR or --submodule-stores DIR)", modules.len(), describe(modules), if modules.len() > 3 { ", …" } else { "" })]
    Missing {
        /// Every submodule whose store or commit is missing.
        modules: Vec<MissingModule>,
    },
}

impl Error {
    /// The path the error is about, if any.
    pub fn path(&self) -> Option<&bstr::BStr> {
        match self {
            Error::Gitmodules { path, .. }
            | Error::GitmodulesFile { path, .. }
            | Error::BadName { path, .. }
            | Error::Unmapped { path, .. }
            | Error::BadPath { path, .. }
            | Error::DuplicatePath { path, .. }
            | Error::NoUrl { path, .. }
            | Error::RelativeUrl { path, .. }
            | Error::NotACommit { path, .. }
            | Error::TooDeep { path } => Some(path.as_ref()),
            Error::Missing { modules } => modules.first().map(|m| m.module.path.as_ref()),
            Error::BadUrl { .. } | Error::NoCommit => None,
        }
    }
}

fn describe(modules: &[MissingModule]) -> String {
    modules
        .iter()
        .take(3)
        .map(|m| {
            let what = match m.lack {
                Lack::Store => "no store",
                Lack::Commit => "commit missing from its store",
            };
            format!(
                "{} ({} at {}: {what})",
                m.module.path, m.module.url, m.module.commit
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
