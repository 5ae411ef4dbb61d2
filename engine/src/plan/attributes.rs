//! Pass 1b, attributes: read the tree's `.gitattributes` files, and give each file the
//! [`Conversion`] git would apply to it (see [`crate::attr`]);
//! for an archive, also leave out what is `export-ignore` and list what is
//! `export-subst`.
//!
//! It runs after the walk, so every `.gitattributes` of the tree is known and its
//! directory's path is at hand; nothing is read when the tree has none and the options
//! ask for nothing.

use bstr::{BString, ByteSlice};
use gix_object::Kind;

use super::Error;
use super::arena::Arena;
use super::walk::{Objects, Walked};
use crate::attr::{self, Conversion, Decision, MAX_FILE_SIZE, Rules};
use crate::lfs::{MAX_POINTER_SIZE, Pointer};

/// The name git reads attributes from, in every directory of the tree.
const ATTRIBUTES: &str = ".gitattributes";

/// Set the conversion of every file the walk found, from the tree's `.gitattributes`
/// files, `info` (the store's `info/attributes`) and `options`. With `archive`, leave out
/// every entry `export-ignore` names, and return the indices of the `export-subst` files.
pub(super) fn assign(
    objects: &mut impl Objects,
    walked: &mut Walked,
    options: &attr::Options,
    info: Option<Vec<u8>>,
    archive: bool,
) -> Result<Vec<usize>, Error> {
    if options.ignore {
        return Ok(Vec::new());
    }
    let Walked {
        arena,
        files,
        symlinks,
        submodules,
        ..
    } = walked;
    let mut sources = Vec::new();
    let dir_of = |dir: usize| {
        let mut path = arena.entry_path(dir, ATTRIBUTES.into());
        let len = path.len() - ATTRIBUTES.len();
        path.truncate(len);
        if path.ends_with(b"/") {
            path.pop();
        }
        path
    };
    for file in files.iter().filter(|f| f.name == ATTRIBUTES) {
        let (kind, size) = objects.header(&file.id)?;
        if kind != Kind::Blob || size > MAX_FILE_SIZE {
            continue;
        }
        let (_, data) = objects.read(&file.id)?;
        sources.push((dir_of(file.dir), data.to_vec()));
    }
    // A `.gitattributes` that is a symlink: git does not follow it in a work tree, but
    // reading attributes from a tree or an index (as `git archive` and the checkout of a
    // clone do) it takes the link's blob, its target text, as the file's content. The
    // same bytes as git's, then; nothing is followed (the target is text, never a path
    // opened).
    for link in symlinks.iter().filter(|l| l.name == ATTRIBUTES) {
        sources.push((dir_of(link.dir), link.target.to_vec()));
    }
    let Some(mut rules) = Rules::new(options, sources, info) else {
        return Ok(Vec::new());
    };
    if !archive {
        for file in files.iter_mut() {
            let path: BString = arena.entry_path(file.dir, file.name.as_bstr());
            let decision = rules.decide_file(path.as_bstr());
            file.conversion = conversion(objects, file, decision, options)?.map(Box::new);
        }
        return Ok(Vec::new());
    }
    // Directories (submodules among them) that are left out, with all they hold.
    let mut ignored = vec![false; arena.len()];
    for dir in 1..arena.len() {
        ignored[dir] = ignored[arena.parent(dir)]
            || rules
                .decide(arena.display_path(dir).as_bstr(), true)
                .export_ignore;
    }
    // git archive writes a directory before the first entry it holds that is not a
    // directory, before it checks whether that entry is `export-ignore`: a directory
    // holding only ignored files is kept, empty, while one holding only ignored
    // directories is not.
    let written: Vec<usize> = files
        .iter()
        .map(|f| f.dir)
        .chain(symlinks.iter().map(|l| l.dir))
        .chain(submodules.iter().map(|s| arena.parent(s.dir)))
        .filter(|&dir| !ignored[dir])
        .collect();
    let mut subst = Vec::new();
    let mut kept = Vec::with_capacity(files.len());
    for mut file in files.drain(..) {
        if ignored[file.dir] {
            continue;
        }
        let decision = rules.decide_file(arena.entry_path(file.dir, file.name.as_bstr()).as_bstr());
        if decision.export_ignore {
            continue;
        }
        if decision.export_subst {
            subst.push(kept.len());
        }
        file.conversion = conversion(objects, &file, decision, options)?.map(Box::new);
        kept.push(file);
    }
    *files = kept;
    symlinks.retain(|link| {
        !ignored[link.dir]
            && !rules
                .decide(
                    arena.entry_path(link.dir, link.name.as_bstr()).as_bstr(),
                    false,
                )
                .export_ignore
    });
    submodules.retain(|sub| !ignored[sub.dir]);
    let submodule_dirs = submodules.iter().map(|s| s.dir);
    remark(arena, written.into_iter().chain(submodule_dirs));
    Ok(subst)
}

/// The conversion `decision` gives `file`: a Git LFS object's content instead of its
/// blob, when its `filter` is `lfs` and its blob is a valid pointer (read here; pointers
/// are small), and the attributes' conversion otherwise.
fn conversion(
    objects: &mut impl Objects,
    file: &super::File,
    decision: Decision,
    options: &attr::Options,
) -> Result<Option<Conversion>, Error> {
    if decision.lfs && !options.lfs_pointers {
        let (kind, size) = objects.header(&file.id)?;
        if kind == Kind::Blob && size <= MAX_POINTER_SIZE {
            let (_, data) = objects.read(&file.id)?;
            if let Some(pointer) = Pointer::parse(&data) {
                return Ok(Some(Conversion {
                    lfs: Some(pointer),
                    ..Conversion::default()
                }));
            }
        }
    }
    Ok(decision.conversion)
}

/// Mark again the directories that hold something, so that those emptied by
/// `export-ignore` are pruned as empty trees are.
fn remark(arena: &mut Arena, dirs: impl Iterator<Item = usize>) {
    arena.unmark_all();
    for dir in dirs {
        arena.mark(dir);
    }
}
