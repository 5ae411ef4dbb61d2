//! A store: a git directory (bare, or the `.git` of a work tree) opened through a [`Dir`].
//!
//! The store reads its references (loose files and `packed-refs`, or reftable) and owns the
//! object layer. It never follows a path out of the git directory: alternates are opened by
//! the caller, who holds the authority to turn the paths they name into directory handles.

mod format;
mod packed;
mod refs;
mod reftable;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;

use crate::cap::{Dir, Kind};
use crate::odb::{self, Odb};
use format::{RefFormat, check_config};

/// Errors opening a store or reading its references.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory lacks what every git directory has.
    #[error(
        "not a git repository: {missing} is missing (expected a bare repository, or a work tree containing .git)"
    )]
    NotARepository {
        /// What was looked for and not found, relative to the git directory.
        missing: &'static str,
    },
    /// The repository uses a format this version cannot read.
    #[error("unsupported repository format: {what}")]
    Unsupported {
        /// What is unsupported, with what to do about it.
        what: String,
    },
    /// A file of the git directory could not be read.
    #[error("could not read {path} in the store")]
    Io {
        /// The file, relative to the git directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A reference file (a loose reference, `packed-refs`, `shallow`) is malformed.
    #[error("{name} in the store is malformed: {message}")]
    BadRef {
        /// The reference.
        name: BString,
        /// What is wrong with it.
        message: String,
    },
    /// A symbolic reference names one that does not exist: `HEAD` of a store made by
    /// `git init --bare` and filled by `git fetch` into `refs/remotes/`, whose branch was
    /// never created. Not corruption: the store is as git leaves it.
    #[error(
        "{name} in the store points to {target}, which does not exist (an unborn branch): name a branch, tag or commit instead"
    )]
    Unborn {
        /// The symbolic reference.
        name: BString,
        /// The reference it names.
        target: BString,
    },
    /// A loose reference is a symlink that leads outside the store: the store's handle does
    /// not follow it, so that nothing but the store is read.
    #[error(
        "{name} in the store is a symlink that leads outside the store, which unfurl does not follow (replace it with a file holding the object id it names)"
    )]
    RefOutsideStore {
        /// The reference.
        name: BString,
    },
    /// The object layer failed.
    #[error(transparent)]
    Object(#[from] odb::Error),
}

/// An object directory named by the store's `objects/info/alternates`, opened by the caller.
///
/// When the git directory's `objects` is a symlink that leads out of the git directory (git
/// accepts that), the handle of the git directory cannot follow it: the caller, who can,
/// opens its target and passes it as the *first* alternate (the host's `locate` does).
#[derive(Debug)]
pub struct Alternate {
    /// The alternate object directory.
    pub dir: Dir,
    /// Its path as the alternates file names it, for messages.
    pub path: PathBuf,
}

/// A local git store: references and objects.
pub struct Store {
    git_dir: Dir,
    odb: Odb,
    packed_refs: OnceLock<Result<packed::Packed, Error>>,
    shallow: OnceLock<Result<HashSet<ObjectId>, Error>>,
    /// Where Git LFS objects are read: set by the caller, or the git directory's
    /// `lfs/objects` (opened when first needed; `None` if there is none).
    lfs_objects: OnceLock<Option<Dir>>,
    /// How the store keeps its references.
    ref_format: RefFormat,
    /// A reftable store's references, read when first needed.
    reftable: OnceLock<Result<reftable::Reftable, Error>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Open the git directory `git_dir` (a bare repository, or a work tree's `.git`), with
    /// the object directories its alternates file names (see [`Store::alternates()`]).
    pub fn open(git_dir: Dir, alternates: Vec<Alternate>) -> Result<Store, Error> {
        let kind = |name: &'static str| {
            git_dir.kind(name.as_ref()).map_err(|source| Error::Io {
                path: name.into(),
                source,
            })
        };
        if kind("commondir")?.is_some() {
            return Err(Error::Unsupported {
                what: "this is the git directory of a linked worktree; pass the main repository instead".into(),
            });
        }
        if kind("HEAD")?.is_none() {
            return Err(Error::NotARepository { missing: "HEAD" });
        }
        if kind("objects")?.is_none() {
            return Err(Error::NotARepository {
                missing: "objects/",
            });
        }
        let ref_format = check_config(&git_dir)?;
        let mut alternates: Vec<(Dir, PathBuf)> =
            alternates.into_iter().map(|a| (a.dir, a.path)).collect();
        let (objects, label) = match git_dir.open_dir("objects".as_ref()) {
            Ok(objects) => (objects, PathBuf::from("objects")),
            // A symlink out of the git directory: its target is the first alternate (see
            // [`Alternate`]).
            Err(_) if kind("objects")? == Some(Kind::Symlink) && !alternates.is_empty() => {
                alternates.remove(0)
            }
            Err(source) if kind("objects")? == Some(Kind::Symlink) => {
                return Err(Error::Unsupported {
                    what: format!(
                        "objects/ is a symlink this directory handle cannot follow ({source}); \
                         open its target and pass it as the first alternate"
                    ),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: "objects".into(),
                    source,
                });
            }
        };
        let odb = Odb::open(objects, label, alternates)?;
        Ok(Store {
            git_dir,
            odb,
            packed_refs: OnceLock::new(),
            shallow: OnceLock::new(),
            lfs_objects: OnceLock::new(),
            ref_format,
            reftable: OnceLock::new(),
        })
    }

    /// The object directories `objects/info/alternates` in `git_dir` names, one per line,
    /// exactly as written: absolute, or relative to `objects/`. Empty if there is no such file.
    ///
    /// Turning them into [`Dir`]s takes ambient authority, so that is the caller's job.
    pub fn alternates(git_dir: &Dir) -> Result<Vec<BString>, Error> {
        let path = "objects/info/alternates";
        match git_dir.read(path.as_ref()) {
            Ok(data) => Ok(Self::parse_alternates(&data)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(Error::Io {
                path: path.into(),
                source,
            }),
        }
    }

    /// The lines of an alternates file that name object directories: without blank lines,
    /// comments and line ends, otherwise exactly as written.
    pub fn parse_alternates(data: &[u8]) -> Vec<BString> {
        data.lines()
            .map(|l| l.trim_end_with(|c| c == '\r'))
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .map(BString::from)
            .collect()
    }

    /// Every reference under `prefix` (for example `refs/tags/`), loose and packed, with
    /// the object it points to, sorted by name.
    pub fn refs_under(&self, prefix: &str) -> Result<Vec<(BString, ObjectId)>, Error> {
        self.refs_readable()?;
        refs::list(self, prefix)
    }

    /// Fail if this store's references cannot be read (see [`RefFormat::Unreadable`]).
    fn refs_readable(&self) -> Result<(), Error> {
        match &self.ref_format {
            RefFormat::Unreadable(what) => Err(Error::Unsupported { what: what.clone() }),
            RefFormat::Files | RefFormat::Reftable => Ok(()),
        }
    }

    /// The store's reftable, read once, if it keeps its references in one.
    fn reftable(&self) -> Result<Option<&reftable::Reftable>, Error> {
        if self.ref_format != RefFormat::Reftable {
            return Ok(None);
        }
        let table = self
            .reftable
            .get_or_init(|| reftable::Reftable::read(&self.git_dir));
        table.as_ref().map(Some).map_err(Error::again)
    }

    /// The commits at the store's shallow boundary (its `shallow` file): their parents are
    /// not in the store. Empty for a complete store.
    pub fn shallow(&self) -> Result<Vec<ObjectId>, Error> {
        let data = match self.git_dir.read("shallow".as_ref()) {
            Ok(data) => data,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: "shallow".into(),
                    source,
                });
            }
        };
        data.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                ObjectId::from_hex(l.trim()).map_err(|_| Error::BadRef {
                    name: "shallow".into(),
                    message: format!("malformed line {:?}", l.as_bstr()),
                })
            })
            .collect()
    }

    /// The object layer.
    pub(crate) fn odb(&self) -> &Odb {
        &self.odb
    }

    /// Read the locations a plan hands over in the numbering of `packs`, the planner's
    /// listing of this store ([`Plan::pack_names`](crate::plan::Plan::pack_names)), for a
    /// writer that opened the store itself: a repack between the two listings may have
    /// renumbered the packs, or deleted some (their blobs are then looked up by id).
    pub fn follow_pack_numbering(&mut self, packs: &[Vec<String>]) {
        self.odb.follow_numbering(packs);
    }

    /// The store's `info/attributes`, if it has one no larger than git reads (a larger one
    /// is ignored, as git ignores it).
    pub(crate) fn info_attributes(&self) -> Result<Option<Vec<u8>>, odb::Error> {
        let path = std::path::Path::new("info/attributes");
        let io = |source| odb::Error::Io {
            path: path.into(),
            source,
        };
        if self.git_dir.kind(path).map_err(io)? != Some(Kind::File) {
            return Ok(None);
        }
        // Read at most one byte past the limit: a hostile store's huge file costs nothing.
        let read = || {
            use std::io::Read;
            let mut data = Vec::new();
            self.git_dir
                .open_file(path)?
                .take(crate::attr::MAX_FILE_SIZE + 1)
                .read_to_end(&mut data)?;
            Ok(data)
        };
        let data = read().map_err(io)?;
        Ok((data.len() as u64 <= crate::attr::MAX_FILE_SIZE).then_some(data))
    }

    /// Read Git LFS objects from `dir` (laid out as `.git/lfs/objects`: `aa/bb/<oid>`)
    /// instead of the store's own `lfs/objects`.
    pub fn set_lfs_objects(&mut self, dir: Dir) {
        self.lfs_objects = OnceLock::from(Some(dir));
    }

    /// The directory Git LFS objects are read from, if there is one.
    pub(crate) fn lfs_objects(&self) -> Option<&Dir> {
        self.lfs_objects
            .get_or_init(|| self.git_dir.open_dir("lfs/objects".as_ref()).ok())
            .as_ref()
    }

    /// The branch `HEAD` names (`refs/heads/main`), when it is a symbolic reference.
    pub(crate) fn head_target(&self) -> Option<BString> {
        self.refs_readable().ok()?;
        // A reftable store's `HEAD` file is a placeholder (`refs/heads/.invalid`): its
        // `HEAD` is in the tables.
        if let Some(table) = self.reftable().ok()? {
            return match table.get(b"HEAD")? {
                reftable::Value::Symref(target) => Some(target.clone()),
                reftable::Value::Id(_) => None,
            };
        }
        let data = self.git_dir.read("HEAD".as_ref()).ok()?;
        Some(data.strip_prefix(b"ref: ")?.trim().into())
    }

    /// The object `name` refers to, trying it as git does: as given, then under `refs/`,
    /// `refs/tags/`, `refs/heads/`, `refs/remotes/` and `refs/remotes/<name>/HEAD`.
    /// Symbolic refs are followed; tags are not peeled.
    pub(crate) fn find_ref(&self, name: &[u8]) -> Result<Option<(BString, ObjectId)>, Error> {
        self.refs_readable()?;
        refs::find(self, name)
    }

    fn packed(&self) -> Result<&packed::Packed, Error> {
        let packed = self
            .packed_refs
            .get_or_init(|| packed::Packed::read(&self.git_dir));
        // Read once; a failure is kept and handed out again as it was, not wrapped.
        packed.as_ref().map_err(Error::again)
    }

    /// Whether `id` is a shallow boundary: a commit whose parents the store does not have,
    /// as its `shallow` file lists them (a `git clone --depth` store). Its history ends
    /// there, as it does for git.
    pub(crate) fn is_shallow_boundary(&self, id: &gix_hash::oid) -> Result<bool, Error> {
        let shallow = self.shallow.get_or_init(|| read_shallow(&self.git_dir));
        match shallow {
            Ok(ids) => Ok(ids.contains(id)),
            Err(err) => Err(err.again()),
        }
    }
}

impl Error {
    /// The same error once more, for one read once and kept (an I/O error keeps its kind
    /// and text, not its OS code).
    fn again(&self) -> Error {
        match self {
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::BadRef { name, message } => Error::BadRef {
                name: name.clone(),
                message: message.clone(),
            },
            other => Error::Unsupported {
                what: other.to_string(),
            },
        }
    }
}

/// The commits listed in the git directory's `shallow` file, one id per line; none when
/// there is no such file.
fn read_shallow(git_dir: &Dir) -> Result<HashSet<ObjectId>, Error> {
    let data = match git_dir.read("shallow".as_ref()) {
        Ok(data) => data,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => {
            return Err(Error::Io {
                path: "shallow".into(),
                source,
            });
        }
    };
    data.lines()
        .map(|l| l.trim_end_with(|c| c == '\r'))
        .filter(|l| !l.is_empty())
        .map(|line| {
            ObjectId::from_hex(line).map_err(|_| Error::BadRef {
                name: "shallow".into(),
                message: format!("line {:?} is not an object id", line.as_bstr()),
            })
        })
        .collect()
}

/// A file of the git directory that git replaces by renaming a new one over it and never
/// rewrites in place (`packed-refs`, reftable tables): mapped on Unix rather than read into
/// fresh memory.
#[cfg(unix)]
fn load_replaced_by_rename(git_dir: &Dir, path: &Path) -> io::Result<crate::cap::Bytes> {
    git_dir.map(path)
}

/// Read elsewhere: Windows refuses to rename a file over one that is mapped, or to delete
/// one (git compacts reftables by deleting them), and git itself copies such files out of a
/// mapping there.
#[cfg(not(unix))]
fn load_replaced_by_rename(git_dir: &Dir, path: &Path) -> io::Result<crate::cap::Bytes> {
    git_dir.read(path).map(crate::cap::Bytes::from_vec)
}
