//! Pass 2, the directory arena: every directory as a name and the index of its parent,
//! whether it holds anything, and the pruning of those that hold nothing.
//!
//! A directory never stores its path: with a path each, a chain of `n` nested trees would
//! take memory in `n²`. Paths are built from the chain of parents when one is needed (to
//! open a directory, or to name an entry in a message).

use bstr::{BStr, BString};

use super::{Directory, File, Submodule, Symlink};

/// The directories of a walk, in the order the walk created them: parents first.
pub(super) struct Arena {
    dirs: Vec<Directory>,
    /// Directories holding something (a file, a link, a submodule), so that empty trees are
    /// left out as `git archive` and `git checkout` leave them out.
    has_content: Vec<bool>,
}

impl Arena {
    /// An arena holding only the root, `0`.
    pub(super) fn new() -> Arena {
        Arena {
            dirs: vec![Directory {
                name: BString::default(),
                parent: 0,
            }],
            has_content: vec![false],
        }
    }

    /// Add the directory `name` inside `parent`, returning its index.
    pub(super) fn add(&mut self, parent: usize, name: BString) -> usize {
        debug_assert!(parent < self.dirs.len(), "parents come first");
        self.dirs.push(Directory { name, parent });
        self.has_content.push(false);
        self.dirs.len() - 1
    }

    /// How many directories there are, the root included.
    pub(super) fn len(&self) -> usize {
        self.dirs.len()
    }

    /// The parent of directory `dir`.
    pub(super) fn parent(&self, dir: usize) -> usize {
        self.dirs[dir].parent
    }

    /// Forget which directories hold something, to mark them again after entries were
    /// left out (an archive's `export-ignore`).
    pub(super) fn unmark_all(&mut self) {
        self.has_content.fill(false);
    }

    /// Mark `dir` and its ancestors as holding something.
    pub(super) fn mark(&mut self, mut dir: usize) {
        while !self.has_content[dir] {
            self.has_content[dir] = true;
            if dir == 0 {
                break;
            }
            dir = self.dirs[dir].parent;
        }
    }

    /// The path of the entry `name` in `dir`.
    pub(super) fn entry_path(&self, dir: usize, name: &BStr) -> BString {
        path(&self.dirs, dir, Some(name))
    }

    /// The path of `dir` for a message: `/` for the root.
    pub(super) fn display_path(&self, dir: usize) -> BString {
        if dir == 0 {
            "/".into()
        } else {
            path(&self.dirs, dir, None)
        }
    }

    /// The path of the entry `name` in `dir`, shortened to its first `keep` components, `…`
    /// and `name` when it has more than `keep + 2`: a message naming a very deep entry stays
    /// one short line.
    pub(super) fn short_entry_path(&self, dir: usize, name: &BStr, keep: usize) -> BString {
        let mut chain: Vec<usize> = ancestry(&self.dirs, dir).collect();
        if chain.len() < keep + 2 {
            return self.entry_path(dir, name);
        }
        chain.reverse();
        let mut short = BString::default();
        for &at in &chain[..keep] {
            short.extend_from_slice(&self.dirs[at].name);
            short.push(b'/');
        }
        short.extend_from_slice("…/".as_bytes());
        short.extend_from_slice(name);
        short
    }

    /// The directories that hold something, in the same order, with the indices in `files`
    /// and `symlinks` renumbered to match.
    pub(super) fn prune(
        self,
        files: &mut [File],
        symlinks: &mut [Symlink],
        submodules: &mut [Submodule],
    ) -> Vec<Directory> {
        let Arena {
            mut dirs,
            has_content,
        } = self;
        let kept = |i: usize| i == 0 || has_content[i];
        if (0..dirs.len()).all(kept) {
            return dirs;
        }
        let mut new_index = vec![usize::MAX; dirs.len()];
        let mut next = 0;
        for (i, index) in new_index.iter_mut().enumerate() {
            if kept(i) {
                *index = next;
                next += 1;
            }
        }
        let mut i = 0;
        dirs.retain(|_| {
            i += 1;
            kept(i - 1)
        });
        for dir in &mut dirs {
            // A kept directory's parent holds it, so it is kept too.
            dir.parent = new_index[dir.parent];
        }
        // Files and links mark their directory, so it is kept.
        for file in files {
            file.dir = new_index[file.dir];
        }
        for link in symlinks {
            link.dir = new_index[link.dir];
        }
        // A submodule marks its own directory.
        for sub in submodules {
            sub.dir = new_index[sub.dir];
        }
        dirs
    }
}

/// The path of directory `index` of `dirs`, followed by `name` if given, `/`-separated:
/// built from the names up the chain of parents into one buffer of the final length.
pub(super) fn path(dirs: &[Directory], index: usize, name: Option<&BStr>) -> BString {
    // The components, innermost first.
    let components = || {
        name.map(|n| n.as_ref())
            .into_iter()
            .chain(ancestry(dirs, index).map(|at| dirs[at].name.as_slice()))
    };
    let len = components()
        .map(|part| part.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let mut path = vec![b'/'; len];
    let mut end = len;
    for part in components() {
        path[end - part.len()..end].copy_from_slice(part);
        // Step over the separator, which is already there.
        end = (end - part.len()).saturating_sub(1);
    }
    path.into()
}

/// `dir` and its ancestors, innermost first, without the root.
fn ancestry(dirs: &[Directory], dir: usize) -> impl Iterator<Item = usize> + '_ {
    let mut at = dir;
    std::iter::from_fn(move || {
        (at != 0).then(|| {
            let this = at;
            at = dirs[at].parent;
            this
        })
    })
}

#[cfg(test)]
mod tests {
    use bstr::ByteSlice;
    use gix_hash::ObjectId;

    use super::*;

    fn file(dir: usize, name: &str) -> File {
        File {
            dir,
            name: name.into(),
            id: ObjectId::null(gix_hash::Kind::Sha1),
            executable: false,
            at: None,
            conversion: None,
        }
    }

    #[test]
    fn paths_are_built_from_names_and_parents() {
        let mut arena = Arena::new();
        let a = arena.add(0, "a".into());
        let b = arena.add(a, "b".into());
        let c = arena.add(0, "c".into());
        assert_eq!(path(&arena.dirs, 0, None), "", "the root's path");
        assert_eq!(
            path(&arena.dirs, b, None),
            "a/b",
            "a nested directory's path"
        );
        assert_eq!(
            path(&arena.dirs, c, None),
            "c",
            "a top-level directory's path"
        );
        assert_eq!(
            arena.entry_path(b, b"f".as_bstr()),
            "a/b/f",
            "an entry's path"
        );
        assert_eq!(
            arena.entry_path(0, b"f".as_bstr()),
            "f",
            "a root entry's path"
        );
        assert_eq!(arena.display_path(0), "/", "the root, shown");
        assert_eq!(arena.display_path(a), "a", "a directory, shown");
    }

    #[test]
    fn a_deep_path_is_shortened_to_its_first_components_and_its_name() {
        let mut arena = Arena::new();
        let mut dir = 0;
        for i in 0..10 {
            dir = arena.add(dir, format!("d{i}").into());
        }
        assert_eq!(
            arena.short_entry_path(dir, b"leaf".as_bstr(), 3),
            "d0/d1/d2/…/leaf",
            "a path of 11 components, keeping 3"
        );
        assert_eq!(
            arena.short_entry_path(3, b"leaf".as_bstr(), 3),
            "d0/d1/d2/leaf",
            "a path short enough to show whole"
        );
    }

    #[test]
    fn marking_a_directory_marks_its_ancestors_only() {
        let mut arena = Arena::new();
        let a = arena.add(0, "a".into());
        let b = arena.add(a, "b".into());
        let c = arena.add(0, "c".into());
        arena.mark(b);
        assert_eq!(
            arena.has_content,
            [true, true, true, false],
            "b, a and the root hold something; c does not"
        );
        let _ = c;
    }

    #[test]
    fn pruning_drops_empty_directories_and_renumbers_the_rest() {
        let mut arena = Arena::new();
        let empty = arena.add(0, "empty".into());
        let _inner_empty = arena.add(empty, "inner".into());
        let full = arena.add(0, "full".into());
        let deep = arena.add(full, "deep".into());
        let mut files = vec![file(0, "top"), file(deep, "leaf")];
        let mut links = vec![Symlink {
            dir: full,
            name: "link".into(),
            target: "leaf".into(),
            id: gix_hash::ObjectId::null(gix_hash::Kind::Sha1),
        }];
        arena.mark(0);
        arena.mark(deep);
        arena.mark(full);
        let dirs = arena.prune(&mut files, &mut links, &mut []);
        let names: Vec<&[u8]> = dirs.iter().map(|d| d.name.as_slice()).collect();
        assert_eq!(names, [&b""[..], b"full", b"deep"], "the kept directories");
        assert_eq!(
            dirs.iter().map(|d| d.parent).collect::<Vec<_>>(),
            [0, 0, 1],
            "parents renumbered"
        );
        assert_eq!(
            files.iter().map(|f| f.dir).collect::<Vec<_>>(),
            [0, 2],
            "files' directories renumbered"
        );
        assert_eq!(links[0].dir, 1, "the link's directory renumbered");
        assert_eq!(path(&dirs, 2, None), "full/deep", "paths after pruning");
    }

    #[test]
    fn pruning_keeps_the_root_even_when_empty() {
        let dirs = Arena::new().prune(&mut [], &mut [], &mut []);
        assert_eq!(dirs.len(), 1, "expected the root alone, got {dirs:?}");
    }
}
