//! The destination: its parent becomes a capability; missing parents are created, and
//! removed again if the checkout fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir as CapDir;
use unfurl_engine::Dir;

use crate::{Error, shown};

/// The destination's parent, opened, and what we created to get there.
pub(crate) struct Dest {
    parent: Dir,
    parent_path: PathBuf,
    name: OsString,
    /// Parents that did not exist and were created, outermost first.
    created: Vec<PathBuf>,
    keep: bool,
}

impl Dest {
    /// Split `dest` into parent and name, create missing parents, open the parent.
    pub(crate) fn prepare(dest: &Path) -> Result<Dest, Error> {
        let unusable = |kind| {
            move |message: String| Error::Dest {
                path: dest.to_owned(),
                message,
                kind,
            }
        };
        let bad = unusable(unfurl_engine::ErrorKind::DestinationUnusable);
        let name = dest
            .file_name()
            .filter(|_| {
                !matches!(
                    dest.components().next_back(),
                    Some(std::path::Component::ParentDir)
                )
            })
            .ok_or_else(|| bad("must end in a directory name (not `/`, `.` or `..`)".into()))?
            .to_owned();
        let parent_path = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut missing = Vec::new();
        let mut cursor = parent_path.as_path();
        while std::fs::symlink_metadata(cursor).is_err() {
            missing.push(cursor.to_owned());
            match cursor.parent() {
                Some(p) if !p.as_os_str().is_empty() => cursor = p,
                _ => break,
            }
        }
        missing.reverse();
        let mut created = Vec::new();
        for dir in &missing {
            match std::fs::create_dir(dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    remove_created(&created);
                    return Err(bad(format!(
                        "cannot create parent directory {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
        let parent = CapDir::open_ambient_dir(&parent_path, ambient_authority()).map_err(|e| {
            remove_created(&created);
            bad(format!(
                "cannot open parent directory {}: {e}",
                shown(&parent_path)
            ))
        })?;
        let parent = Dir::from(parent);
        // Fail early, and with the same message in every runtime, on an unusable destination.
        if let Err(err) = unfurl_engine::publish::check_dest(&parent, &name) {
            remove_created(&created);
            use unfurl_engine::publish::Error as E;
            return Err(match err {
                E::NotEmpty { .. } => unusable(unfurl_engine::ErrorKind::DestinationNotEmpty)(
                    "already exists and is not empty; choose a new path or empty it first".into(),
                ),
                E::NotADirectory { what, .. } => bad(format!(
                    "already exists and is a {what}, not a directory; choose a new path"
                )),
                E::Inspect { source, .. } => {
                    unusable(unfurl_engine::ErrorKind::Io)(format!("cannot inspect it: {source}"))
                }
                err => bad(err.to_string()),
            });
        }
        Ok(Dest {
            parent,
            parent_path,
            name,
            created,
            keep: false,
        })
    }

    /// The destination's parent directory.
    pub(crate) fn parent(&self) -> &Dir {
        &self.parent
    }

    /// The parent's path, for handing to a runtime that needs one.
    pub(crate) fn parent_path(&self) -> &Path {
        &self.parent_path
    }

    /// The destination's name in its parent.
    pub(crate) fn name(&self) -> &std::ffi::OsStr {
        &self.name
    }

    /// The checkout succeeded: keep the parents we created.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Dest {
    fn drop(&mut self) {
        if !self.keep {
            remove_created(&self.created);
        }
    }
}

/// Remove directories we created, innermost first, and only while they are empty.
fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}
