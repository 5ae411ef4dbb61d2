//! Case collisions: entries of one tree that a case-insensitive filesystem takes for one.
//!
//! On such a filesystem `README` and `readme` are one file, and a file `FOO` and a
//! directory `foo/` are one name. Writing both would make the later overwrite the earlier
//! (git's behaviour, with a warning) or fail half-way. [`fold_plan()`] works out before
//! anything is written what a case-insensitive filesystem would make of the plan, by
//! walking its leaves (files, symlinks, submodules) in git's index order, as git's
//! checkout writes them, and either refuses the first collision or leaves the losers out.
//!
//! Directories whose names differ only in case (`Dir/a` and `dir/b`) are not a collision:
//! the filesystem merges them into one directory, as it does for git, and nothing is lost.
//! The merged directory takes the spelling that comes first in byte order (the one git
//! creates first), whichever writer gets there first.
//!
//! Names are compared after folding each character to its simple uppercase (one character
//! to one, as the upcase tables of exFAT and NTFS do: `ä` and `Ä` collide, `ß` and `SS` do
//! not), without Unicode normalization; a name that is not UTF-8 has its ASCII letters
//! folded only.

use std::collections::HashMap;

use bstr::{BStr, BString, ByteSlice};

use crate::plan::{Directory, File, Plan, Rename, Symlink};
use crate::write::join;

/// What to do with entries of the tree that name the same file on a case-insensitive
/// destination (`README` and `readme`, or a file `FOO` and a directory `foo/`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CaseCollisions {
    /// Fail before writing anything, naming both entries
    /// ([`ErrorKind::CaseCollision`](crate::ErrorKind::CaseCollision)). The default.
    #[default]
    Error,
    /// Do as git does: of two colliding entries, the later in git's index order (full
    /// paths compared as bytes) is written and the earlier is left out; each is reported in
    /// [`Fallbacks::case_collisions`](crate::Fallbacks::case_collisions).
    LastWins,
}

/// An entry of the tree left out because a later one takes its place on a case-insensitive
/// filesystem (see [`CaseCollisions::LastWins`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaseCollision {
    /// The entry left out (a file, a symlink or a submodule), as the tree names it.
    pub lost: BString,
    /// The later entry written in its place (or below it, when it was a directory).
    pub kept: BString,
}

/// What a case-insensitive filesystem makes of a plan.
#[derive(Debug)]
pub(crate) struct Folded {
    /// The plan to write instead, when it differs: losers left out, directories that
    /// differ only in case merged.
    pub(crate) plan: Option<Plan>,
    /// The plan for the index, when it differs: losers left out, every entry at its path in
    /// the tree (git's index records `src/b` below a directory written as `Src`; with
    /// `core.ignorecase` git finds it there).
    pub(crate) index: Option<Plan>,
    /// The entries left out.
    pub(crate) collisions: Vec<CaseCollision>,
}

/// A file, a symlink or a submodule: what git's index holds and its checkout writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    File(usize),
    Symlink(usize),
    Submodule(usize),
}

/// A name on the simulated filesystem: a directory, or a leaf written there.
#[derive(Debug, Clone, Copy)]
enum Node {
    Dir,
    Leaf(usize),
}

/// Work out what a case-insensitive filesystem makes of `plan`: with
/// [`CaseCollisions::Error`] the first collision, as `(earlier, later)` tree paths; with
/// [`CaseCollisions::LastWins`] the plan without the losers.
pub(crate) fn fold_plan(plan: &Plan, mode: CaseCollisions) -> Result<Folded, (BString, BString)> {
    // Names as the tree spells them: under WASI the plan writes some under placeholders.
    let renamed: HashMap<(usize, &BStr), &BStr> = plan
        .renames
        .iter()
        .map(|r| ((r.dir, r.placeholder.as_ref()), r.name.as_ref()))
        .collect();
    let real_name = |dir: usize, name: &BStr| -> BString {
        renamed
            .get(&(dir, name))
            .copied()
            .unwrap_or(name)
            .to_owned()
    };
    let mut real_dirs: Vec<BString> = Vec::with_capacity(plan.dirs.len());
    let mut folded_dirs: Vec<BString> = Vec::with_capacity(plan.dirs.len());
    let mut has_children = vec![false; plan.dirs.len()];
    for (i, dir) in plan.dirs.iter().enumerate() {
        if i == 0 {
            real_dirs.push(BString::default());
            folded_dirs.push(BString::default());
            continue;
        }
        has_children[dir.parent] = true;
        let name = real_name(dir.parent, dir.name.as_bstr());
        real_dirs.push(join(real_dirs[dir.parent].as_ref(), name.as_ref()));
        folded_dirs.push(join(
            folded_dirs[dir.parent].as_ref(),
            fold(name.as_ref()).as_ref(),
        ));
    }
    for file in &plan.files {
        has_children[file.dir] = true;
    }
    for link in &plan.symlinks {
        has_children[link.dir] = true;
    }

    // Every leaf with its path in the tree, in git's index order.
    let mut leaves: Vec<(Leaf, BString)> = Vec::new();
    for (i, file) in plan.files.iter().enumerate() {
        let name = real_name(file.dir, file.name.as_ref());
        leaves.push((
            Leaf::File(i),
            join(real_dirs[file.dir].as_ref(), name.as_ref()),
        ));
    }
    for (i, link) in plan.symlinks.iter().enumerate() {
        let name = real_name(link.dir, link.name.as_ref());
        leaves.push((
            Leaf::Symlink(i),
            join(real_dirs[link.dir].as_ref(), name.as_ref()),
        ));
    }
    for (i, path) in real_dirs.iter().enumerate().skip(1) {
        if !has_children[i] {
            leaves.push((Leaf::Submodule(i), path.clone()));
        }
    }
    leaves.sort_by(|a, b| a.1.cmp(&b.1));

    // Write the leaves in that order on a simulated case-insensitive filesystem, as git's
    // checkout does: a leaf replaces whatever has its name (a file, or a directory with
    // everything in it), and a directory replaces a leaf on its way.
    let mut names: HashMap<BString, Node> = HashMap::new();
    let mut lost: Vec<Option<usize>> = vec![None; leaves.len()];
    let mut collisions: Vec<(usize, usize)> = Vec::new();
    for (at, (_, path)) in leaves.iter().enumerate() {
        let mut folded = BString::default();
        let components: Vec<&[u8]> = path.split_str("/").collect();
        for (k, component) in components.iter().enumerate() {
            if k > 0 {
                folded.push(b'/');
            }
            folded.extend_from_slice(&fold(component.as_bstr()));
            let last = k + 1 == components.len();
            match names.get(&folded).copied() {
                Some(Node::Leaf(earlier)) => {
                    lost[earlier] = Some(at);
                    collisions.push((earlier, at));
                }
                Some(Node::Dir) if last => {
                    // Everything below that directory goes.
                    let mut below = folded.clone();
                    below.push(b'/');
                    let mut gone: Vec<usize> = Vec::new();
                    names.retain(|name, node| {
                        if !name.starts_with(below.as_slice()) {
                            return true;
                        }
                        if let Node::Leaf(earlier) = node {
                            gone.push(*earlier);
                        }
                        false
                    });
                    gone.sort_unstable();
                    for earlier in gone {
                        lost[earlier] = Some(at);
                        collisions.push((earlier, at));
                    }
                }
                Some(Node::Dir) => continue,
                None => {}
            }
            names.insert(
                folded.clone(),
                if last { Node::Leaf(at) } else { Node::Dir },
            );
        }
    }
    let report = |(earlier, later): (usize, usize)| CaseCollision {
        lost: leaves[earlier].1.clone(),
        kept: leaves[later].1.clone(),
    };
    if mode == CaseCollisions::Error
        && let Some(&first) = collisions.first()
    {
        let collision = report(first);
        return Err((collision.lost, collision.kept));
    }

    // Which directories still hold something, and which plan directories become one.
    let mut alive = vec![false; plan.dirs.len()];
    alive[0] = true;
    let mut mark = |mut dir: usize| {
        while !alive[dir] {
            alive[dir] = true;
            dir = plan.dirs[dir].parent;
        }
    };
    let mut kept_files = vec![false; plan.files.len()];
    let mut kept_links = vec![false; plan.symlinks.len()];
    for ((leaf, _), lost) in leaves.iter().zip(&lost) {
        if lost.is_some() {
            continue;
        }
        match *leaf {
            Leaf::File(i) => {
                kept_files[i] = true;
                mark(plan.files[i].dir);
            }
            Leaf::Symlink(i) => {
                kept_links[i] = true;
                mark(plan.symlinks[i].dir);
            }
            Leaf::Submodule(i) => mark(i),
        }
    }
    // One directory per folded path, spelled as the first in byte order (git creates it
    // for its first leaf) and placed where the first of its spellings was in the plan, so
    // that parents still come before children.
    let mut spelling: HashMap<&BStr, usize> = HashMap::new();
    for (i, folded) in folded_dirs.iter().enumerate() {
        if alive[i] {
            spelling
                .entry(folded.as_bstr())
                .and_modify(|first| {
                    if real_dirs[i] < real_dirs[*first] {
                        *first = i;
                    }
                })
                .or_insert(i);
        }
    }
    let mut merged = false;
    let mut new_index: Vec<Option<usize>> = vec![None; plan.dirs.len()];
    let mut by_folded: HashMap<&BStr, usize> = HashMap::new();
    let mut dirs: Vec<Directory> = Vec::new();
    for (i, folded) in folded_dirs.iter().enumerate() {
        if !alive[i] {
            continue;
        }
        if let Some(&index) = by_folded.get(folded.as_bstr()) {
            merged = true;
            new_index[i] = Some(index);
            continue;
        }
        let index = dirs.len();
        if i == 0 {
            dirs.push(Directory {
                name: BString::default(),
                parent: 0,
            });
        } else {
            let parent = new_index[plan.dirs[i].parent].expect("parents come first");
            let named = &plan.dirs[spelling[folded.as_bstr()]];
            dirs.push(Directory {
                name: named.name.clone(),
                parent,
            });
        }
        by_folded.insert(folded.as_bstr(), index);
        new_index[i] = Some(index);
    }
    if collisions.is_empty() && !merged {
        return Ok(Folded {
            plan: None,
            index: None,
            collisions: Vec::new(),
        });
    }
    // What the index records: the entries kept, each in its own directory.
    let index = Plan {
        dirs: plan.dirs.clone(),
        files: plan
            .files
            .iter()
            .zip(&kept_files)
            .filter(|(_, kept)| **kept)
            .map(|(file, _)| file.clone())
            .collect(),
        symlinks: plan
            .symlinks
            .iter()
            .zip(&kept_links)
            .filter(|(_, kept)| **kept)
            .map(|(link, _)| link.clone())
            .collect(),
        submodules: plan
            .submodules
            .iter()
            .filter(|sub| alive[sub.dir])
            .cloned()
            .collect(),
        renames: plan.renames.clone(),
        outside: plan.outside.clone(),
        packs: plan.packs.clone(),
    };

    // What is written: the same entries, in the merged directories.
    let files: Vec<File> = index
        .files
        .iter()
        .map(|file| File {
            dir: new_index[file.dir].expect("a kept file's directory is kept"),
            ..file.clone()
        })
        .collect();
    let symlinks: Vec<Symlink> = index
        .symlinks
        .iter()
        .map(|link| Symlink {
            dir: new_index[link.dir].expect("a kept link's directory is kept"),
            ..link.clone()
        })
        .collect();
    // A placeholder is renamed if its entry is still written under it: a kept file or
    // link, or a directory that kept its own spelling.
    let kept_names: std::collections::HashSet<(usize, &BStr)> = plan
        .files
        .iter()
        .zip(&kept_files)
        .filter(|(_, kept)| **kept)
        .map(|(f, _)| (f.dir, f.name.as_ref()))
        .chain(
            plan.symlinks
                .iter()
                .zip(&kept_links)
                .filter(|(_, kept)| **kept)
                .map(|(l, _)| (l.dir, l.name.as_ref())),
        )
        .chain(
            // Directories that kept their own spelling.
            plan.dirs
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, _)| alive[*i] && spelling.get(folded_dirs[*i].as_bstr()) == Some(i))
                .map(|(_, d)| (d.parent, d.name.as_ref())),
        )
        .collect();
    let renames: Vec<Rename> = plan
        .renames
        .iter()
        .filter_map(|rename| {
            let dir = new_index[rename.dir]?;
            kept_names
                .contains(&(rename.dir, rename.placeholder.as_ref()))
                .then(|| Rename {
                    dir,
                    ..rename.clone()
                })
        })
        .collect();
    let mut submodules: Vec<crate::plan::Submodule> = plan
        .submodules
        .iter()
        .filter_map(|sub| {
            let dir = new_index[sub.dir]?;
            Some(crate::plan::Submodule { dir, id: sub.id })
        })
        .collect();
    submodules.dedup_by_key(|sub| sub.dir);
    Ok(Folded {
        index: Some(index),
        plan: Some(Plan {
            dirs,
            files,
            symlinks,
            submodules,
            renames,
            outside: plan.outside.clone(),
            packs: plan.packs.clone(),
        }),
        collisions: collisions.into_iter().map(report).collect(),
    })
}

/// `name` as a case-insensitive filesystem compares it: each character's simple uppercase
/// (kept as it is where uppercasing gives more than one character), or, for a name that is
/// not UTF-8, its ASCII letters uppercased. A path folds component by component (`/` is
/// its own uppercase).
pub(crate) fn fold(name: &BStr) -> BString {
    match std::str::from_utf8(name) {
        Ok(text) => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(u), None) => out.push(u),
                    _ => out.push(c),
                }
            }
            out.into()
        }
        Err(_) => name.to_ascii_uppercase().into(),
    }
}

#[cfg(test)]
mod tests;
