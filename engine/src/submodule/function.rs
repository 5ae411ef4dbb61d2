use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use bstr::{BStr, BString, ByteSlice};

use super::gitmodules::{self, Declared};
use super::{Error, Lack, MAX_DEPTH, Module, Stores, url};
use crate::checkout::{Backend, Planned};
use crate::failure::ErrorKind;
use crate::gitdir::{IndexEntryKind, index_entries};

/// A submodule found: what it is, and, when it is to be checked out and its store holds its
/// commit, that store and the commit planned.
pub struct Found<'s> {
    /// The submodule.
    pub module: Module,
    /// Its store's backend and its commit, planned; `None` when it is skipped or missing.
    pub planned: Option<(Box<dyn Backend + 's>, Planned)>,
    /// What is missing, if anything.
    pub missing: Option<Lack>,
}

impl std::fmt::Debug for Found<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("module", &self.module)
            .field("planned", &self.planned.as_ref().map(|(_, p)| p))
            .field("missing", &self.missing)
            .finish()
    }
}

/// Every submodule of the checkout `top` (planned with `options`), and, when `recursive`,
/// of those within them, each planned from its store: depth first in index order, as
/// `git submodule status --recursive` lists them (so parents before children).
///
/// A store or commit that is missing is noted in [`Found::missing`] (and nothing below it
/// is found); whether that is an error is the caller's decision. Every other problem (a
/// hostile `.gitmodules`, a corrupt store) is.
pub fn discover<'s>(
    stores: &'s dyn Stores,
    top: &Planned,
    options: &crate::Options,
    recursive: bool,
    interrupt: &AtomicBool,
) -> Result<Vec<Found<'s>>, crate::Error> {
    if top.commit.is_none() {
        return Err(Error::NoCommit.into());
    }
    // A submodule is checked out whole, and tells its own submodules.
    let mut sub_options = options.clone();
    sub_options.paths.clear();
    sub_options.submodules.gitmodules = true;
    let base = options.submodules.url.as_deref();
    let mut pending: VecDeque<Module> = modules_of(top, "".into(), base, 0)?.into();
    let mut found = Vec::new();
    while let Some(module) = pending.pop_front() {
        if interrupt.load(Ordering::Relaxed) {
            return Err(crate::plan::Error::Interrupted.into());
        }
        let mut entry = Found {
            module,
            planned: None,
            missing: None,
        };
        if !entry.module.skipped {
            match stores.open(&entry.module.url)? {
                None => entry.missing = Some(Lack::Store),
                Some(backend) => {
                    let commit = entry.module.commit;
                    match backend.plan(&commit.to_string(), &sub_options, interrupt) {
                        Err(err) if err.kind() == ErrorKind::RevisionNotFound => {
                            entry.missing = Some(Lack::Commit);
                        }
                        Err(err) => return Err(err),
                        Ok(planned) if planned.commit != Some(commit) => {
                            return Err(Error::NotACommit {
                                path: entry.module.path.clone(),
                                commit,
                            }
                            .into());
                        }
                        Ok(planned) => {
                            if recursive {
                                let depth = entry.module.depth + 1;
                                let inner = modules_of(
                                    &planned,
                                    entry.module.path.as_ref(),
                                    Some(&entry.module.url),
                                    depth,
                                )?;
                                if let Some(first) = inner.first()
                                    && depth > MAX_DEPTH
                                {
                                    return Err(Error::TooDeep {
                                        path: first.path.clone(),
                                    }
                                    .into());
                                }
                                // Depth first, as git lists them: its own come next.
                                for inner in inner.into_iter().rev() {
                                    pending.push_front(inner);
                                }
                            }
                            entry.planned = Some((backend, planned));
                        }
                    }
                }
            }
        }
        found.push(entry);
    }
    Ok(found)
}

/// The submodules of the checkout `planned`, which sits at `prefix` in the whole checkout,
/// its URL `base`: each gitlink of its plan, mapped by `.gitmodules`.
fn modules_of(
    planned: &Planned,
    prefix: &BStr,
    base: Option<&str>,
    depth: usize,
) -> Result<Vec<Module>, Error> {
    let join = |path: &[u8]| -> BString {
        let mut out = BString::from(prefix);
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(path);
        out
    };
    let gitlinks: Vec<_> = index_entries(&planned.plan)
        .into_iter()
        .filter(|e| e.kind == IndexEntryKind::Submodule)
        .collect();
    if gitlinks.is_empty() {
        return Ok(Vec::new());
    }
    let file = join(b".gitmodules");
    let declared = gitmodules::declared(
        planned.gitmodules.as_deref().unwrap_or_default(),
        file.as_ref(),
    )?;
    for (i, a) in declared.iter().enumerate() {
        if let Some(b) = declared[i + 1..]
            .iter()
            .find(|b| a.path.is_some() && b.path == a.path)
        {
            return Err(Error::DuplicatePath {
                path: join(a.path.as_ref().map_or(&[][..], |p| p.as_slice())),
                first: a.name.clone(),
                second: b.name.clone(),
            });
        }
    }
    // A path that could not be a gitlink's is hostile, not stale: one that names `.git`
    // (in any spelling) or climbs, or one through a symlink of the tree (CVE-2024-32002:
    // git wrote a submodule through such a link). Nothing would be written there anyway
    // (a submodule goes only where the walk found a gitlink); refusing says so.
    let links: Vec<BString> = index_entries(&planned.plan)
        .into_iter()
        .filter(|e| e.kind == IndexEntryKind::Symlink)
        .map(|e| e.path)
        .collect();
    for d in &declared {
        let Some(path) = &d.path else { continue };
        let bad = |reason| Error::BadPath {
            name: d.name.clone(),
            path: join(path),
            reason,
        };
        let options = gix_validate::path::component::Options {
            protect_windows: cfg!(windows),
            protect_hfs: true,
            protect_ntfs: true,
        };
        if path
            .split_str("/")
            .any(|c| gix_validate::path::component(c.as_bstr(), None, options).is_err())
        {
            return Err(bad(
                "is not a plain path inside the checkout (`..`, `.git`, an empty or absolute name)",
            ));
        }
        let mut at = 0;
        while let Some(slash) = path[at..].find_byte(b'/') {
            let prefix = &path[..at + slash];
            if links.iter().any(|l| l == prefix) {
                return Err(bad("leads through a symlink of the tree"));
            }
            at += slash + 1;
        }
    }
    let mut modules = Vec::with_capacity(gitlinks.len());
    for gitlink in gitlinks {
        let path = join(&gitlink.path);
        let Some(d) = declared
            .iter()
            .find(|d| d.path.as_ref() == Some(&gitlink.path))
        else {
            return Err(Error::Unmapped {
                path,
                commit: gitlink.id,
            });
        };
        let url = module_url(d, &path, base)?;
        modules.push(Module {
            path,
            name: d.name.clone(),
            url,
            commit: gitlink.id,
            skipped: d.skipped,
            depth,
        });
    }
    Ok(modules)
}

/// The resolved URL of `d`, at `path`; empty for a skipped submodule without one.
fn module_url(d: &Declared, path: &BString, base: Option<&str>) -> Result<String, Error> {
    let Some(raw) = &d.url else {
        if d.skipped {
            return Ok(String::new());
        }
        return Err(Error::NoUrl {
            name: d.name.clone(),
            path: path.clone(),
        });
    };
    let raw = gitmodules::check_url(raw.as_bstr()).map_err(|reason| Error::BadUrl {
        name: d.name.clone(),
        reason,
    })?;
    url::resolve(raw, base).ok_or_else(|| Error::RelativeUrl {
        path: path.clone(),
        url: raw.to_owned(),
    })
}

/// The submodules among `modules` directly within `parent` (the top checkout if `None`),
/// by name with their URL, for its `.git`'s config.
pub(crate) fn within(modules: &[&Module], parent: Option<&Module>) -> Vec<(BString, String)> {
    modules
        .iter()
        .filter(|m| match parent {
            None => m.depth == 0,
            Some(p) => {
                m.depth == p.depth + 1
                    && m.path.starts_with(&p.path)
                    && m.path.get(p.path.len()) == Some(&b'/')
            }
        })
        .map(|m| (m.name.clone(), m.url.clone()))
        .collect()
}

/// Write the `.git` of `module`, checked out as `planned` below `root`, in `mode`: its own
/// repository, as a clone's submodule is, so that `git status` in it and in its parent is
/// clean.
pub(crate) fn write_gitdir(
    root: &crate::Dir,
    module: &Module,
    planned: &Planned,
    within: Vec<(BString, String)>,
    stores: &dyn Stores,
    mode: crate::gitdir::Mode,
    capabilities: crate::gitdir::Capabilities,
) -> Result<(), crate::Error> {
    let io = |source| crate::gitdir::Error::Io {
        path: std::path::PathBuf::from(module.path.to_str_lossy().into_owned()),
        source,
    };
    let path = crate::cap::os_str(module.path.as_ref()).map_err(io)?;
    let dir = root.open_dir(std::path::Path::new(path)).map_err(io)?;
    let mut options = stores.git(&module.url, mode)?;
    options.submodules = within;
    let refs = planned.refs.clone().unwrap_or_default();
    crate::gitdir::write(
        &dir,
        planned.commit,
        &planned.plan,
        &refs,
        &options,
        capabilities,
    )?;
    Ok(())
}
