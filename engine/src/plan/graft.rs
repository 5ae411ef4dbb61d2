//! A plan moved below a path: a submodule's checkout, written into its parent's staging
//! directory at the submodule's place.

use bstr::{BStr, BString, ByteSlice};

use super::{Directory, Plan};

impl Plan {
    /// This plan with its root at `path` (`/`-separated, below the root it is written into):
    /// the directories on the way come first, and every index is shifted past them. The
    /// path's components must be valid names: a submodule's path is one its parent's walk
    /// found, made of tree entries, none of them a symlink.
    pub(crate) fn grafted(&self, path: &BStr) -> Plan {
        let chain: Vec<BString> = path
            .split_str("/")
            .filter(|c| !c.is_empty())
            .map(|c| c.as_bstr().to_owned())
            .collect();
        let shift = chain.len();
        let moved = |dir: usize| if dir == 0 { shift } else { dir + shift };
        let mut dirs = vec![Directory {
            name: BString::default(),
            parent: 0,
        }];
        for (i, name) in chain.into_iter().enumerate() {
            dirs.push(Directory { name, parent: i });
        }
        dirs.extend(self.dirs.iter().skip(1).map(|d| Directory {
            name: d.name.clone(),
            parent: moved(d.parent),
        }));
        let mut plan = self.clone();
        plan.dirs = dirs;
        for file in &mut plan.files {
            file.dir = moved(file.dir);
        }
        for link in &mut plan.symlinks {
            link.dir = moved(link.dir);
        }
        for sub in &mut plan.submodules {
            sub.dir = moved(sub.dir);
        }
        for rename in &mut plan.renames {
            rename.dir = moved(rename.dir);
        }
        plan.outside.clear();
        plan
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use crate::plan::walk::tests::{DIR, FILE, LINK, MemoryObjects};

    #[test]
    fn a_grafted_plan_writes_everything_below_its_path() {
        let mut o = MemoryObjects::default();
        let blob = o.blob(b"x\n");
        let target = o.blob(b"f");
        let inner = o.tree(&[(FILE, b"f", blob), (LINK, b"l", target)]);
        let root = o.tree(&[(DIR, b"d", inner), (FILE, b"top", blob)]);
        let selection = crate::plan::Selection::all();
        let plan = super::super::function::plan_for_test(
            &mut o,
            root,
            &selection,
            &AtomicBool::new(false),
        );
        let grafted = plan.grafted("a/b".into());
        grafted
            .check_structure()
            .expect("a plan that holds together");
        let files: Vec<String> = grafted
            .files
            .iter()
            .map(|f| format!("{}/{}", grafted.dir_path(f.dir), f.name))
            .collect();
        assert_eq!(files, ["a/b/top", "a/b/d/f"], "files below the path");
        let finishing: Vec<String> = grafted
            .finishing()
            .iter()
            .map(|op| format!("{op:?}"))
            .collect();
        assert!(
            finishing.iter().any(|op| op.contains("a/b/d/l")),
            "the symlink below the path: {finishing:?}"
        );
    }
}
