//! The plan as work: groups of files for the writers, and the operations left to the end.

use std::ops::Range;

use bstr::BString;

use super::{Error, Plan};
use crate::write::{Deferred, Group, GroupFile};

/// The most files a group holds. A wider directory is dealt out as several groups, in
/// order, so that writers share it: real repositories put a fifth of their files or more in
/// one directory (git/git's `t/`), and as one group it kept one writer busy while the others
/// had nothing left to take. Smaller groups cost a claim each and, when two writers fill
/// one directory at once, contention on its lock. 256 is a first choice, not yet tuned by
/// measurement (`--group-files` exists to measure it).
pub const GROUP_FILES: usize = 256;

impl Plan {
    /// The plan's groups, as writers claim them: runs of files in one directory, in the
    /// plan's order, a wide directory's split into runs of at most [`GROUP_FILES`].
    pub fn groups(&self) -> Vec<Range<usize>> {
        self.groups_of(GROUP_FILES)
    }

    /// [`Plan::groups()`] with runs of at most `max` files (at least 1).
    pub fn groups_of(&self, max: usize) -> Vec<Range<usize>> {
        let max = max.max(1);
        let mut groups = Vec::new();
        let mut start = 0;
        for i in 1..=self.files.len() {
            if i == self.files.len()
                || self.files[i].dir != self.files[start].dir
                || i - start == max
            {
                groups.push(start..i);
                start = i;
            }
        }
        groups
    }

    /// The group of the files `range` (one of [`Plan::groups()`]), as a writer takes it.
    pub fn group(&self, range: Range<usize>) -> Group {
        let files = &self.files[range];
        Group {
            dir: files
                .first()
                .map_or_else(BString::default, |f| self.dir_path(f.dir)),
            files: files
                .iter()
                .map(|f| GroupFile {
                    name: f.name.clone(),
                    id: f.id,
                    executable: f.executable,
                    at: f.at,
                    conversion: f.conversion.as_deref().cloned(),
                })
                .collect(),
        }
    }

    /// What is done through the root handle once every file is written: the directories
    /// with no file anywhere below them (submodules, directories of only symlinks, and
    /// their parents), every symlink, and the
    /// renames of entries written under placeholders.
    pub fn finishing(&self) -> Vec<Deferred> {
        // A directory with a file anywhere below it exists by then: the writer of that
        // file created it on the way. Listing it again cost a `mkdir`, a `stat` and an
        // open per name of its path, serially after the writers (cargo: 1 900 calls).
        let mut made = vec![false; self.dirs.len()];
        for file in &self.files {
            let mut dir = file.dir;
            while dir != 0 && !made[dir] {
                made[dir] = true;
                dir = self.dirs[dir].parent;
            }
        }
        let dirs = (1..self.dirs.len())
            .filter(|&i| !made[i])
            .map(|i| Deferred::Dir {
                path: self.dir_path(i),
            });
        let links = self.symlinks.iter().map(|link| Deferred::Symlink {
            path: crate::write::join(self.dir_path(link.dir).as_ref(), link.name.as_ref()),
            target: link.target.to_vec(),
        });
        let renames = self.renames.iter().map(|rename| Deferred::Rename {
            path: crate::write::join(
                self.dir_path(rename.dir).as_ref(),
                rename.placeholder.as_ref(),
            ),
            name: rename.name.to_vec(),
        });
        dirs.chain(links).chain(renames).collect()
    }

    /// Check that a plan received from elsewhere (a sandboxed planner) holds together: the
    /// root first, every directory after its parent, every index in range. Names and paths
    /// are checked where they are used, by the writers and [`apply_deferred()`].
    ///
    /// [`apply_deferred()`]: crate::write::apply_deferred
    pub fn check_structure(&self) -> Result<(), Error> {
        let bad = |what: String| Error::Malformed { what };
        let dirs = self.dirs.len();
        match self.dirs.first() {
            Some(root) if root.name.is_empty() && root.parent == 0 => {}
            _ => return Err(bad("its first directory is not the root".into())),
        }
        for (i, dir) in self.dirs.iter().enumerate().skip(1) {
            if dir.parent >= i || dir.name.is_empty() {
                return Err(bad(format!("directory {i} does not follow its parent")));
            }
        }
        let in_range = |dir: usize, what: &str| {
            (dir < dirs)
                .then_some(())
                .ok_or_else(|| bad(format!("a {what} names directory {dir} of {dirs}")))
        };
        for file in &self.files {
            in_range(file.dir, "file")?;
        }
        for link in &self.symlinks {
            in_range(link.dir, "symlink")?;
        }
        for rename in &self.renames {
            in_range(rename.dir, "rename")?;
        }
        for sub in &self.submodules {
            in_range(sub.dir, "submodule")?;
        }
        // Entries outside the selection go straight into the index, where a later git
        // command could write them: each must be a plain relative path, as a tree holds.
        let options = gix_validate::path::component::Options {
            protect_windows: cfg!(windows),
            protect_hfs: true,
            protect_ntfs: true,
        };
        for entry in &self.outside {
            let plain = entry
                .path
                .split(|&b| b == b'/')
                .all(|c| gix_validate::path::component(c.into(), None, options).is_ok());
            if !plain || !matches!(entry.mode, 0o100644 | 0o100755 | 0o120000 | 0o160000) {
                return Err(bad(format!(
                    "an entry outside the selection, {:?}, is not a plain path and mode",
                    entry.path
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Directory, File, Symlink};
    use super::*;

    fn id(n: u8) -> gix_hash::ObjectId {
        gix_hash::ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn sample() -> Plan {
        let dir = |name: &str, parent| Directory {
            name: name.into(),
            parent,
        };
        let file = |dir, name: &str| File {
            dir,
            name: name.into(),
            id: id(dir as u8),
            executable: false,
            at: None,
            conversion: None,
        };
        Plan {
            dirs: vec![dir("", 0), dir("a", 0), dir("sub", 1), dir("b", 0)],
            files: vec![file(0, "x"), file(0, "y"), file(1, "z"), file(3, "w")],
            symlinks: vec![Symlink {
                dir: 1,
                name: "link".into(),
                target: "../x".into(),
                id: id(9),
            }],
            submodules: Vec::new(),
            renames: Vec::new(),
            outside: Vec::new(),
            packs: Vec::new(),
        }
    }

    #[test]
    fn groups_are_runs_of_one_directory() {
        let plan = sample();
        assert_eq!(plan.groups(), vec![0..2, 2..3, 3..4]);
        let group = plan.group(2..3);
        assert_eq!(group.dir, "a");
        assert_eq!(group.files.len(), 1);
        assert_eq!(group.files[0].name, "z");
        assert!(Plan::default().groups().is_empty());
    }

    #[test]
    fn a_wide_directory_is_dealt_out_in_runs_of_at_most_group_files() {
        let mut plan = sample();
        let wide = plan.files[0].clone();
        let n = 2 * GROUP_FILES + 10;
        plan.files = (0..n)
            .map(|i| File {
                name: format!("f{i}").into(),
                ..wide.clone()
            })
            .chain(std::iter::once(plan.files[3].clone()))
            .collect();
        assert_eq!(
            plan.groups(),
            vec![
                0..GROUP_FILES,
                GROUP_FILES..2 * GROUP_FILES,
                2 * GROUP_FILES..n,
                n..n + 1
            ]
        );
    }

    #[test]
    fn finishing_makes_empty_dirs_and_links() {
        let ops = sample().finishing();
        assert_eq!(
            ops,
            vec![
                Deferred::Dir {
                    path: "a/sub".into()
                },
                Deferred::Symlink {
                    path: "a/link".into(),
                    target: b"../x".to_vec()
                },
            ]
        );
    }

    #[test]
    fn finishing_leaves_out_directories_a_writer_creates() {
        // `a` holds only `a/sub`, `b` only a link, `b/c` nothing; `d` holds only `d/e`,
        // which holds a file: the writer of `d/e/f` creates `d` and `d/e` on its way.
        let mut plan = sample();
        plan.dirs = ["", "a", "sub", "b", "c", "d", "e"]
            .iter()
            .zip([0, 0, 1, 0, 3, 0, 5])
            .map(|(name, parent)| Directory {
                name: (*name).into(),
                parent,
            })
            .collect();
        plan.files = vec![plan.files[0].clone(), plan.files[0].clone()];
        plan.files[1].dir = 6;
        plan.symlinks[0].dir = 3;
        let dirs: Vec<String> = plan
            .finishing()
            .iter()
            .filter_map(|op| match op {
                Deferred::Dir { path } => Some(path.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(dirs, ["a", "a/sub", "b", "b/c"]);
    }

    #[test]
    fn a_plan_that_does_not_hold_together_is_refused() {
        assert!(sample().check_structure().is_ok());
        let mut plan = sample();
        plan.files[0].dir = 9;
        assert!(plan.check_structure().is_err());
        let mut plan = sample();
        plan.dirs[2].parent = 3;
        assert!(plan.check_structure().is_err());
        let mut plan = sample();
        plan.symlinks[0].dir = 4;
        assert!(plan.check_structure().is_err());
        assert!(Plan::default().check_structure().is_err());
    }
}
