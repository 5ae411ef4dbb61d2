//! The checkout's index (`.git/index`): every entry with its real `lstat` data.
//!
//! git trusts an index entry whose recorded `lstat` data (times, size, inode, owner) still
//! matches the file, and only then skips reading it. So every entry is stat'ed after the
//! whole tree is written, and the index is written after that, with a modification time
//! later than every entry's: an entry as new as its index is "racily clean", and git would
//! read it again to be sure. Nothing of this changes when the staging directory is renamed
//! into place.

use std::collections::HashMap;
use std::path::Path;

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::{Capabilities, Error};
use crate::cap;
use crate::plan::Plan;

/// One entry of the index: a path, what git records for it, and its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path, `/`-separated, as git names it (the tree's bytes).
    pub path: BString,
    /// The object: a blob, or a submodule's commit.
    pub id: ObjectId,
    /// Its kind, as the tree's mode says.
    pub kind: EntryKind,
}

/// What an index entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// An executable regular file.
    Executable,
    /// A symbolic link (written as a plain file where links cannot be made).
    Symlink,
    /// A submodule (gitlink): an empty directory.
    Submodule,
}

/// Every entry of `plan`, by its real path (placeholders replaced by the names they stand
/// for), sorted as git sorts an index.
pub fn entries(plan: &Plan) -> Vec<Entry> {
    let names = RealNames::new(plan);
    let mut out = Vec::with_capacity(plan.files() + plan.symlinks());
    for file in &plan.files {
        out.push(Entry {
            path: names.path(plan, file.dir, file.name.as_ref()),
            id: file.id,
            kind: if file.executable {
                EntryKind::Executable
            } else {
                EntryKind::File
            },
        });
    }
    for link in &plan.symlinks {
        out.push(Entry {
            path: names.path(plan, link.dir, link.name.as_ref()),
            id: link.id,
            kind: EntryKind::Symlink,
        });
    }
    for sub in &plan.submodules {
        out.push(Entry {
            path: names.dir_path(plan, sub.dir),
            id: sub.id,
            kind: EntryKind::Submodule,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

pub(super) use native::write;

/// Writing the index: natively only, as the orchestrator that writes it runs natively in
/// every runtime (it is the host under the sandbox).
#[cfg(not(target_os = "wasi"))]
mod native {
    use std::path::{Path, PathBuf};

    use super::{Capabilities, EntryKind, Error, entries, os_path};
    use crate::cap::{Dir, Stat};
    use crate::plan::Plan;

    /// Write `.git/<name>` (the index, or a new one to rename over it) for the checkout of
    /// `plan` written below `root`.
    pub(in crate::gitdir) fn write(
        root: &Dir,
        plan: &Plan,
        capabilities: Capabilities,
        name: &str,
    ) -> Result<(), Error> {
        let entries = entries(plan);
        let mut lstat = crate::cap::Lstat::new(root);
        let mut state = gix_index::State::new(gix_hash::Kind::Sha1);
        // Sized up front, here and for the file below: grown by doubling, the buffers of a
        // 100 000-file index took 17 MB more than they hold.
        let paths: usize = entries.iter().map(|e| e.path.len()).sum::<usize>()
            + plan.outside.iter().map(|o| o.path.len()).sum::<usize>();
        state.return_path_backing(Vec::with_capacity(paths));
        let mut newest = (0i64, 0u32);
        for entry in &entries {
            let (stat, mode) = match entry.kind {
                EntryKind::Submodule => (Stat::default(), gix_index::entry::Mode::COMMIT),
                kind => {
                    let path = os_path(entry.path.as_ref())?;
                    if kind == EntryKind::Symlink {
                        // Files got their time as they were written; links are made last,
                        // by the orchestrator, and get theirs here (see `settled_mtime`).
                        root.set_mtime_nofollow(path, crate::gitdir::settled_mtime())
                            .map_err(|source| Error::io(path, source))?;
                    }
                    let stat = lstat
                        .stat(entry.path.as_ref())
                        .and_then(|stat| {
                            stat.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
                        })
                        .map_err(|source| Error::io(path, source))?;
                    newest = newest.max(stat.mtime);
                    let mode = match kind {
                        EntryKind::Executable => gix_index::entry::Mode::FILE_EXECUTABLE,
                        EntryKind::Symlink => gix_index::entry::Mode::SYMLINK,
                        _ => gix_index::entry::Mode::FILE,
                    };
                    (stat, mode)
                }
            };
            // Where exec bits do not stick, git (core.filemode=false) compares only content:
            // the mode recorded is still the tree's.
            let _ = capabilities;
            state.dangerously_push_entry(
                index_stat(&stat),
                entry.id,
                gix_index::entry::Flags::empty(),
                mode,
                entry.path.as_ref(),
            );
        }
        let count = entries.len() + plan.outside.len();
        // The index holds them now (the list's paths are a copy: 4 MB at 100 000 files).
        drop(entries);
        // Entries outside the selected paths (`--path`): not in the work tree, so no stat
        // data; skip-worktree tells git not to look for them (an extended flag: the index
        // is then written as version 3).
        for outside in &plan.outside {
            let mode = match outside.mode {
                0o100755 => gix_index::entry::Mode::FILE_EXECUTABLE,
                0o120000 => gix_index::entry::Mode::SYMLINK,
                0o160000 => gix_index::entry::Mode::COMMIT,
                _ => gix_index::entry::Mode::FILE,
            };
            state.dangerously_push_entry(
                gix_index::entry::Stat::default(),
                outside.id,
                gix_index::entry::Flags::EXTENDED | gix_index::entry::Flags::SKIP_WORKTREE,
                mode,
                outside.path.as_ref(),
            );
        }
        state.sort_entries();
        let file = gix_index::File::from_state(state, PathBuf::from(".git/index"));
        // Each entry: 62 bytes, its path, up to 8 of padding, 2 of extended flags.
        let mut data = Vec::with_capacity(12 + count * 72 + paths + 64);
        file.write_to(&mut data, gix_index::write::Options::default())
            .map_err(|e| Error::Io {
                path: ".git/index".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        let index_path = &Path::new(".git").join(name);
        let io = |source| Error::Io {
            path: index_path.to_owned(),
            source,
        };
        root.write_new(index_path, &data).map_err(io)?;
        // An entry modified in the same clock tick as the index is racily clean, and git would
        // read it again: make the index newer than every entry (a few milliseconds at most).
        for _ in 0..100 {
            let written = root.stat(index_path).map_err(io)?;
            if written.mtime > newest {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            let git = root.open_dir(Path::new(".git")).map_err(io)?;
            git.remove_file(std::ffi::OsStr::new(name)).map_err(io)?;
            root.write_new(index_path, &data).map_err(io)?;
        }
        Ok(())
    }

    fn index_stat(stat: &Stat) -> gix_index::entry::Stat {
        let time = |(secs, nsecs): (i64, u32)| gix_index::entry::stat::Time {
            secs: secs as u32,
            nsecs,
        };
        gix_index::entry::Stat {
            mtime: time(stat.mtime),
            ctime: time(stat.ctime),
            dev: stat.dev as u32,
            ino: stat.ino as u32,
            uid: stat.uid,
            gid: stat.gid,
            size: stat.size as u32,
        }
    }
}

#[cfg(target_os = "wasi")]
mod native {
    use super::{Capabilities, Error};
    use crate::cap::Dir;
    use crate::plan::Plan;

    /// The orchestrator, which writes the index, never runs under WASI.
    pub(in crate::gitdir) fn write(
        _root: &Dir,
        _plan: &Plan,
        _capabilities: Capabilities,
        _name: &str,
    ) -> Result<(), Error> {
        Err(Error::Io {
            path: ".git/index".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the index is written by the host",
            ),
        })
    }
}

#[cfg_attr(target_os = "wasi", allow(dead_code))]
fn os_path(path: &BStr) -> Result<&Path, Error> {
    cap::os_str(path)
        .map(Path::new)
        .map_err(|source| Error::Io {
            path: path.to_str_lossy().into_owned().into(),
            source,
        })
}

/// The names placeholders stand for, by directory and placeholder.
pub(crate) struct RealNames<'p> {
    renames: HashMap<(usize, &'p BStr), &'p BStr>,
}

impl<'p> RealNames<'p> {
    pub(crate) fn new(plan: &'p Plan) -> RealNames<'p> {
        RealNames {
            renames: plan
                .renames
                .iter()
                .map(|r| ((r.dir, r.placeholder.as_ref()), r.name.as_ref()))
                .collect(),
        }
    }

    fn name<'a>(&'a self, dir: usize, name: &'a BStr) -> &'a BStr {
        self.renames.get(&(dir, name)).copied().unwrap_or(name)
    }

    /// The real path of directory `dir`.
    pub(crate) fn dir_path(&self, plan: &Plan, dir: usize) -> BString {
        let mut chain = Vec::new();
        let mut at = dir;
        while at != 0 {
            let d = &plan.dirs[at];
            chain.push(self.name(d.parent, d.name.as_ref()));
            at = d.parent;
        }
        let mut path = BString::default();
        for name in chain.into_iter().rev() {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
        }
        path
    }

    /// The real path of the entry `name` in `dir`.
    pub(crate) fn path(&self, plan: &Plan, dir: usize, name: &BStr) -> BString {
        let mut path = self.dir_path(plan, dir);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(self.name(dir, name));
        path
    }
}
