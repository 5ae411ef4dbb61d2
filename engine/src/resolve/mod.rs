//! Stage 1, resolve: a revision as a user types it → a commit → its tree.
//!
//! Parsing is gix-revision's; every lookup it asks for is answered by this store's
//! references and object layer, so it works the same natively and under WASI.

mod function;
pub use function::resolve;
pub(crate) use function::resolve_verifying;

use gix_hash::ObjectId;
use gix_object::Kind;

use crate::{odb, store};

/// What a revision resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The commit, when the revision names one (directly, through a ref, or through a tag);
    /// `None` when it names a tree.
    pub commit: Option<ObjectId>,
    /// The tree to check out.
    pub tree: ObjectId,
}

/// Why a revision could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing in the store has that name.
    #[error("unknown revision '{rev}': no branch, tag or object of that name is in the store")]
    NotFound {
        /// The revision as given.
        rev: String,
    },
    /// A short object id matches several objects.
    #[error(
        "short object id '{prefix}' in '{rev}' is ambiguous: it matches {}; give more hex digits",
        describe(candidates)
    )]
    Ambiguous {
        /// The revision as given.
        rev: String,
        /// The ambiguous prefix.
        prefix: String,
        /// The objects it matches, with their kinds.
        candidates: Vec<(ObjectId, Kind)>,
    },
    /// The revision names something that has no tree.
    #[error(
        "revision '{rev}' is {kind} {id}, which has no tree to check out; name a commit, tag or tree"
    )]
    NotATree {
        /// The revision as given.
        rev: String,
        /// What it resolved to.
        id: ObjectId,
        /// Its kind.
        kind: Kind,
    },
    /// The objects the revision leads through are damaged: a corrupt tag or commit, tags
    /// that name each other in a cycle, history that comes back to a commit it left.
    #[error(
        "revision '{rev}': {message} (the store is damaged: re-fetch it, or run `git fsck` on it)"
    )]
    Corrupt {
        /// The revision as given.
        rev: String,
        /// What is wrong.
        message: String,
    },
    /// Navigation went somewhere that does not exist.
    #[error("revision '{rev}': {message}")]
    Navigation {
        /// The revision as given.
        rev: String,
        /// What did not work.
        message: String,
    },
    /// The revision uses syntax this engine does not support.
    #[error(
        "revision '{rev}': {what} is not supported; name a branch, tag, commit or tree (`main~2`, `v1^{{commit}}` and `main:dir` work)"
    )]
    Unsupported {
        /// The revision as given.
        rev: String,
        /// The unsupported feature.
        what: &'static str,
    },
    /// The revision is not well-formed.
    #[error("invalid revision '{rev}': {message}")]
    Syntax {
        /// The revision as given.
        rev: String,
        /// What the parser said.
        message: String,
    },
    /// Reading references failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Reading objects failed.
    #[error(transparent)]
    Object(#[from] odb::Error),
}

fn describe(candidates: &[(ObjectId, Kind)]) -> String {
    candidates
        .iter()
        .map(|(id, kind)| format!("{kind} {}", id.to_hex_with_len(12)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// The revision as given, without the rest of the message.
    pub fn revision(&self) -> Option<&str> {
        match self {
            Error::NotFound { rev }
            | Error::Ambiguous { rev, .. }
            | Error::NotATree { rev, .. }
            | Error::Navigation { rev, .. }
            | Error::Corrupt { rev, .. }
            | Error::Unsupported { rev, .. }
            | Error::Syntax { rev, .. } => Some(rev),
            Error::Store(_) | Error::Object(_) => None,
        }
    }
}
