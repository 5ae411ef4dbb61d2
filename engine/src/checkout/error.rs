//! The pipeline's error: by stage, classified by a stable [`ErrorKind`], and as data
//! ([`Failure`]) to cross a process boundary or print as JSON.

use crate::failure::{ErrorKind, Failure};
use crate::{gitdir, odb, plan, publish, resolve, store, submodule, write};

/// An error of a [`Backend`](super::Backend) itself, rather than of the engine it runs: for the sandbox, a
/// guest that ran out of memory or time, or a runtime that broke down.
pub trait BackendError: std::error::Error + Send + Sync + 'static {
    /// How to classify it.
    fn kind(&self) -> ErrorKind;
}

/// Any error of the pipeline, by stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The revision could not be resolved.
    #[error(transparent)]
    Resolve(#[from] resolve::Error),
    /// The tree failed validation.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// Writing the tree failed.
    #[error(transparent)]
    Write(#[from] write::Error),
    /// Preparing or publishing the destination failed.
    #[error(transparent)]
    Publish(#[from] publish::Error),
    /// Writing the checkout's `.git` failed.
    #[error(transparent)]
    Git(#[from] gitdir::Error),
    /// Reading a checkout on disk (to verify it) failed.
    #[error("could not read {path:?} in the checkout")]
    Read {
        /// The entry, relative to the checkout root.
        path: bstr::BString,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The engine failed where it ran, elsewhere (in a sandboxed guest): its failure as
    /// data, kind, path and object kept.
    #[error(transparent)]
    Remote(Box<Failure>),
    /// The backend itself failed.
    #[error("{0}")]
    Backend(Box<dyn BackendError>),
    /// The destination's filesystem could not be probed (see [`Filesystem`](crate::Filesystem)).
    #[error("could not find out what the destination's filesystem can hold, in {staging:?}")]
    Probe {
        /// The staging directory probed, in the destination's parent.
        staging: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Two entries of the tree would be one file on the destination, whose filesystem
    /// ignores case, and [`Options::case_collisions`](super::Options::case_collisions) says to fail.
    #[error(
        "{first:?} and {second:?} would be the same file here: the destination's filesystem ignores case; check out onto a case-sensitive filesystem, or keep the later entry as git does (`--case-collisions=last-wins`)"
    )]
    CaseCollision {
        /// The earlier entry, in git's index order, as the tree names it.
        first: bstr::BString,
        /// The later entry.
        second: bstr::BString,
    },
    /// Switching a checkout in place failed.
    #[error(transparent)]
    Switch(#[from] crate::switch::Error),
    /// Submodules could not be checked out.
    #[error(transparent)]
    Submodule(#[from] submodule::Error),
}

impl Error {
    /// The stable classification of this error (see [`ErrorKind`]); the same input gives
    /// the same kind in every runtime.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => store_kind(e),
            Error::Resolve(e) => match e {
                resolve::Error::NotFound { .. } | resolve::Error::Navigation { .. } => {
                    ErrorKind::RevisionNotFound
                }
                resolve::Error::Store(e) => store_kind(e),
                resolve::Error::Object(e) => object_kind(e),
                resolve::Error::Corrupt { .. } => ErrorKind::StoreCorrupt,
                _ => ErrorKind::RevisionInvalid,
            },
            Error::Plan(e) => match e {
                plan::Error::Object(e) => object_kind(e),
                plan::Error::MissingObjects { .. } => ErrorKind::ObjectsMissing,
                plan::Error::Interrupted => ErrorKind::Interrupted,
                plan::Error::Malformed { .. } => ErrorKind::Sandbox,
                plan::Error::PathNotFound { .. } => ErrorKind::PathNotFound,
                plan::Error::BadPath { .. } => ErrorKind::InvalidOptions,
                plan::Error::LfsObjectsMissing { .. } => ErrorKind::LfsObjectsMissing,
                _ => ErrorKind::TreeRejected,
            },
            Error::Write(e) => match e {
                write::Error::Object { source, .. } => object_kind(source),
                write::Error::Interrupted => ErrorKind::Interrupted,
                write::Error::Refused { .. } => ErrorKind::Sandbox,
                write::Error::Lfs { source, .. } => match source {
                    crate::lfs::Error::Missing { .. } => ErrorKind::LfsObjectsMissing,
                    crate::lfs::Error::Mismatch { .. } => ErrorKind::StoreCorrupt,
                    _ => ErrorKind::Io,
                },
                _ => ErrorKind::Io,
            },
            Error::Publish(e) => match e {
                publish::Error::NotEmpty { .. } => ErrorKind::DestinationNotEmpty,
                publish::Error::NotADirectory { .. }
                | publish::Error::BadName { .. }
                | publish::Error::MountPoint { .. } => ErrorKind::DestinationUnusable,
                _ => ErrorKind::Io,
            },
            Error::Git(gitdir::Error::Store(e)) => store_kind(e),
            Error::Git(_) | Error::Read { .. } => ErrorKind::Io,
            Error::Remote(failure) => failure.kind,
            Error::Backend(e) => e.kind(),
            Error::Probe { .. } => ErrorKind::Io,
            Error::CaseCollision { .. } => ErrorKind::CaseCollision,
            Error::Switch(e) => match e {
                crate::switch::Error::LocalChanges { .. } => ErrorKind::LocalChanges,
                crate::switch::Error::Unreadable { .. } => ErrorKind::DestinationUnusable,
                crate::switch::Error::Unsupported { .. } => ErrorKind::InvalidOptions,
                _ => ErrorKind::Io,
            },
            Error::Submodule(e) => match e {
                submodule::Error::Missing { .. } => ErrorKind::SubmodulesMissing,
                submodule::Error::RelativeUrl { .. } | submodule::Error::NoCommit => {
                    ErrorKind::InvalidOptions
                }
                submodule::Error::NotACommit { .. } => ErrorKind::StoreCorrupt,
                _ => ErrorKind::TreeRejected,
            },
        }
    }

    /// Whether the error is about the tree's content (a hostile or malformed tree) rather
    /// than the store, the revision or the destination.
    pub fn is_tree_rejected(&self) -> bool {
        self.kind() == ErrorKind::TreeRejected
    }

    /// Whether the caller interrupted the checkout.
    pub fn is_interrupted(&self) -> bool {
        self.kind() == ErrorKind::Interrupted
    }

    /// This error as data, to send across a process boundary or print as JSON.
    pub fn failure(&self) -> Failure {
        if let Error::Remote(failure) = self {
            return (**failure).clone();
        }
        let (path, object) = match self {
            Error::Store(e) | Error::Resolve(resolve::Error::Store(e)) => store_subject(e),
            Error::Resolve(resolve::Error::Object(e)) | Error::Plan(plan::Error::Object(e)) => {
                object_subject(e)
            }
            Error::Plan(e) => (e.path().map(|p| p.to_string()), None),
            Error::Write(write::Error::Object { path, source }) => {
                (Some(path.to_string()), object_subject(source).1)
            }
            Error::Write(e) => (e.path().map(|p| p.to_string()), None),
            Error::Publish(e) => (publish_subject(e), None),
            Error::Git(e) => (e.path().map(|p| p.display().to_string()), None),
            Error::Read { path, .. } => (Some(path.to_string()), None),
            Error::Probe { staging, .. } => (Some(staging.display().to_string()), None),
            Error::CaseCollision { first, .. } => (Some(first.to_string()), None),
            Error::Switch(e) => (e.path().map(|p| p.to_string()), None),
            Error::Submodule(e) => (e.path().map(|p| p.to_string()), None),
            _ => (None, None),
        };
        let missing = match self {
            Error::Plan(plan::Error::MissingObjects { objects, .. }) => objects
                .iter()
                .map(|(path, id)| crate::failure::MissingObject {
                    path: path.to_string(),
                    object: id.to_string(),
                    url: None,
                    lack: None,
                })
                .collect(),
            Error::Submodule(submodule::Error::Missing { modules }) => modules
                .iter()
                .map(|m| crate::failure::MissingObject {
                    path: m.module.path.to_string(),
                    object: m.module.commit.to_string(),
                    url: Some(m.module.url.clone()),
                    lack: Some(
                        match m.lack {
                            submodule::Lack::Store => "store",
                            submodule::Lack::Commit => "commit",
                        }
                        .to_owned(),
                    ),
                })
                .collect(),
            Error::Plan(plan::Error::LfsObjectsMissing { objects }) => objects
                .iter()
                .map(|(path, oid)| crate::failure::MissingObject {
                    path: path.to_string(),
                    object: oid.clone(),
                    url: None,
                    lack: None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let object = object.or_else(|| missing.first().map(|m| m.object.clone()));
        let changed = match self {
            Error::Switch(crate::switch::Error::LocalChanges { paths }) => {
                paths.iter().map(|p| p.to_string()).collect()
            }
            _ => Vec::new(),
        };
        Failure {
            kind: self.kind(),
            message: crate::failure::one_line(self),
            path,
            object,
            missing,
            changed,
        }
    }
}

fn store_kind(e: &store::Error) -> ErrorKind {
    match e {
        store::Error::NotARepository { .. }
        | store::Error::Unsupported { .. }
        | store::Error::RefOutsideStore { .. } => ErrorKind::StoreUnusable,
        store::Error::Io { .. } => ErrorKind::Io,
        store::Error::BadRef { .. } => ErrorKind::StoreCorrupt,
        store::Error::Unborn { .. } => ErrorKind::RevisionNotFound,
        store::Error::Object(e) => object_kind(e),
    }
}

fn object_kind(e: &odb::Error) -> ErrorKind {
    match e {
        odb::Error::Io { .. } | odb::Error::Sink { .. } => ErrorKind::Io,
        _ => ErrorKind::StoreCorrupt,
    }
}

fn store_subject(e: &store::Error) -> (Option<String>, Option<String>) {
    match e {
        store::Error::Io { path, .. } => (Some(path.display().to_string()), None),
        store::Error::BadRef { name, .. }
        | store::Error::RefOutsideStore { name }
        | store::Error::Unborn { name, .. } => (Some(name.to_string()), None),
        store::Error::Object(e) => object_subject(e),
        _ => (None, None),
    }
}

fn object_subject(e: &odb::Error) -> (Option<String>, Option<String>) {
    match e {
        odb::Error::NotFound { id } => (None, Some(id.to_string())),
        odb::Error::Io { path, .. } | odb::Error::CorruptFile { path, .. } => {
            (Some(path.display().to_string()), None)
        }
        odb::Error::Corrupt { id, path, .. } => {
            (Some(path.display().to_string()), Some(id.to_string()))
        }
        odb::Error::UnexpectedKind { id, .. }
        | odb::Error::Sink { id, .. }
        | odb::Error::BadLocation { id, .. } => (None, Some(id.to_string())),
    }
}

fn publish_subject(e: &publish::Error) -> Option<String> {
    let path = match e {
        publish::Error::NotEmpty { dest }
        | publish::Error::NotADirectory { dest, .. }
        | publish::Error::BadName { dest }
        | publish::Error::MountPoint { dest }
        | publish::Error::Inspect { dest, .. }
        | publish::Error::Rename { dest, .. }
        | publish::Error::KeepAttributes { dest, .. } => dest,
        publish::Error::CreateStaging { path, .. } | publish::Error::Sync { path, .. } => path,
    };
    Some(path.display().to_string())
}
