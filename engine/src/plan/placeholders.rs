//! Pass 3, placeholders: an entry whose name the runtime cannot spell (under WASI, a name
//! that is not UTF-8) is written under a placeholder, and listed in [`Plan::renames`] for
//! the caller to rename once everything is written. On Unix every name can be spelled, and
//! this pass only looks at each name once.

use std::collections::HashSet;

use bstr::BString;

use super::{Plan, Rename};
use crate::cap;

/// An entry of the plan that carries a name.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Dir(usize),
    File(usize),
    Symlink(usize),
}

impl Slot {
    /// Every named entry of `plan`: directories but the root, files, symlinks.
    fn all(plan: &Plan) -> impl Iterator<Item = Slot> + use<> {
        (1..plan.dirs.len())
            .map(Slot::Dir)
            .chain((0..plan.files.len()).map(Slot::File))
            .chain((0..plan.symlinks.len()).map(Slot::Symlink))
    }

    fn name(self, plan: &Plan) -> &BString {
        match self {
            Slot::Dir(i) => &plan.dirs[i].name,
            Slot::File(i) => &plan.files[i].name,
            Slot::Symlink(i) => &plan.symlinks[i].name,
        }
    }

    fn name_mut(self, plan: &mut Plan) -> &mut BString {
        match self {
            Slot::Dir(i) => &mut plan.dirs[i].name,
            Slot::File(i) => &mut plan.files[i].name,
            Slot::Symlink(i) => &mut plan.symlinks[i].name,
        }
    }

    /// The directory holding the entry.
    fn parent(self, plan: &Plan) -> usize {
        match self {
            Slot::Dir(i) => plan.dirs[i].parent,
            Slot::File(i) => plan.files[i].dir,
            Slot::Symlink(i) => plan.symlinks[i].dir,
        }
    }
}

/// Give every entry of `plan` whose name this runtime cannot spell a placeholder name.
pub(super) fn assign(plan: &mut Plan) {
    assign_with(plan, cap::representable);
}

/// [`assign`], with `representable` saying which names the runtime can spell.
///
/// A placeholder is `.unfurl-` and a hash of the real name, so every shard and every run
/// picks the same one, and differs from the name of every other entry of its directory (a
/// suffix is added on a clash): a placeholder must never meet another entry, or a file
/// could land in the wrong directory. Being UTF-8, it is also a valid name here.
fn assign_with(plan: &mut Plan, representable: impl Fn(&[u8]) -> bool) {
    let mut unspellable: Vec<Slot> = Slot::all(plan)
        .filter(|slot| !representable(slot.name(plan)))
        .collect();
    if unspellable.is_empty() {
        return;
    }
    // In an order of their own, so that clashes are settled the same way every time.
    unspellable.sort_by(|a, b| (a.parent(plan), a.name(plan)).cmp(&(b.parent(plan), b.name(plan))));
    let dirs: HashSet<usize> = unspellable.iter().map(|slot| slot.parent(plan)).collect();
    // Every name in those directories, and then every placeholder as it is picked.
    let mut taken: HashSet<(usize, BString)> = Slot::all(plan)
        .filter(|slot| dirs.contains(&slot.parent(plan)))
        .map(|slot| (slot.parent(plan), slot.name(plan).clone()))
        .collect();
    let mut picked = Vec::with_capacity(unspellable.len());
    for slot in unspellable {
        let dir = slot.parent(plan);
        let hash = fnv1a(slot.name(plan));
        let mut placeholder = BString::from(format!(".unfurl-{hash:016x}"));
        let mut n = 1;
        while taken.contains(&(dir, placeholder.clone())) {
            placeholder = format!(".unfurl-{hash:016x}-{n}").into();
            n += 1;
        }
        taken.insert((dir, placeholder.clone()));
        picked.push((slot, placeholder));
    }
    for (slot, placeholder) in picked {
        let dir = slot.parent(plan);
        let name = std::mem::replace(slot.name_mut(plan), placeholder.clone());
        plan.renames.push(Rename {
            dir,
            placeholder,
            name,
        });
    }
}

/// FNV-1a: stable across runs and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use gix_hash::ObjectId;

    use super::*;
    use crate::plan::{Directory, File, Symlink};

    /// What WASI can spell: UTF-8.
    fn utf8(name: &[u8]) -> bool {
        std::str::from_utf8(name).is_ok()
    }

    fn plan(dirs: &[(&[u8], usize)], files: &[(usize, &[u8])], links: &[(usize, &[u8])]) -> Plan {
        let mut plan = Plan::default();
        plan.dirs.push(Directory {
            name: BString::default(),
            parent: 0,
        });
        for (name, parent) in dirs {
            plan.dirs.push(Directory {
                name: (*name).into(),
                parent: *parent,
            });
        }
        for (dir, name) in files {
            plan.files.push(File {
                dir: *dir,
                name: (*name).into(),
                id: ObjectId::null(gix_hash::Kind::Sha1),
                executable: false,
                at: None,
                conversion: None,
            });
        }
        for (dir, name) in links {
            plan.symlinks.push(Symlink {
                dir: *dir,
                name: (*name).into(),
                target: "t".into(),
                id: ObjectId::null(gix_hash::Kind::Sha1),
            });
        }
        plan
    }

    #[test]
    fn spellable_names_are_left_alone() {
        let mut p = plan(&[(b"dir", 0)], &[(1, b"f")], &[(0, b"l")]);
        assign_with(&mut p, utf8);
        assert!(
            p.renames.is_empty(),
            "expected no renames, got {:?}",
            p.renames
        );
        assert_eq!(p.dir_path(1), "dir", "the directory keeps its name");
    }

    #[test]
    fn every_kind_of_entry_gets_a_placeholder_and_a_rename() {
        let mut p = plan(
            &[(b"dir-\xfe", 0), (b"inner-\xfb", 1)],
            &[(0, b"caf\xe9"), (2, b"leaf-\xfa"), (0, b"plain")],
            &[(1, b"up-\xfc")],
        );
        assign_with(&mut p, utf8);
        assert_eq!(
            p.renames.len(),
            5,
            "expected five renames, got {:?}",
            p.renames
        );
        let hash = fnv1a(b"dir-\xfe");
        let dir_placeholder = format!(".unfurl-{hash:016x}");
        assert_eq!(
            p.dirs[1].name, dir_placeholder,
            "the directory is written under its placeholder"
        );
        assert!(
            p.dir_path(2).starts_with(dir_placeholder.as_bytes()),
            "paths below it go through the placeholder, got {:?}",
            p.dir_path(2)
        );
        for rename in &p.renames {
            assert!(
                rename.placeholder.starts_with(b".unfurl-") && !utf8(&rename.name),
                "expected a placeholder for a non-UTF-8 name, got {rename:?}"
            );
        }
        let renamed: Vec<&[u8]> = p.renames.iter().map(|r| r.name.as_slice()).collect();
        assert_eq!(
            renamed,
            [
                &b"caf\xe9"[..],
                b"dir-\xfe",
                b"inner-\xfb",
                b"up-\xfc",
                b"leaf-\xfa"
            ],
            "the renames, by directory and then by name"
        );
        assert_eq!(p.files[2].name, "plain", "a UTF-8 name is kept");
    }

    #[test]
    fn a_placeholder_never_takes_a_siblings_name() {
        let hash = fnv1a(b"caf\xe9");
        let decoy = format!(".unfurl-{hash:016x}");
        let mut p = plan(&[], &[(0, b"caf\xe9"), (0, decoy.as_bytes())], &[]);
        assign_with(&mut p, utf8);
        assert_eq!(
            p.files[0].name,
            format!("{decoy}-1"),
            "expected a suffix beside the decoy"
        );
        assert_eq!(p.files[1].name, decoy, "the decoy keeps its name");
    }

    #[test]
    fn placeholders_are_the_same_whatever_the_order_of_entries() {
        let mut a = plan(&[], &[(0, b"x-\xff"), (0, b"y-\xff")], &[]);
        let mut b = plan(&[], &[(0, b"y-\xff"), (0, b"x-\xff")], &[]);
        assign_with(&mut a, utf8);
        assign_with(&mut b, utf8);
        let names = |p: &Plan| {
            let mut v: Vec<(BString, BString)> = p
                .renames
                .iter()
                .map(|r| (r.name.clone(), r.placeholder.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&a),
            names(&b),
            "the same names get the same placeholders"
        );
    }
}
