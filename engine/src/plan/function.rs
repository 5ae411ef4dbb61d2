use std::sync::atomic::AtomicBool;

use gix_hash::ObjectId;

use super::walk::{self, Objects, Walked};
use super::{Error, Plan, placeholders};
use crate::store::Store;

/// Walk `tree` in `store` and validate every entry, producing the plan of the checkout.
///
/// Every name is checked the way git's `verify_path` checks it with `core.protectNTFS` and
/// `core.protectHFS` on, on every platform: no `.`, `..` or empty names, no `/` inside a
/// name, no `.git` in any case or disguise (`.git.`, `git~1`, `.g\u{200c}it`, …), no symlinked
/// `.gitmodules`. Windows device names (`CON`, `aux.c`) are refused only on Windows, where
/// they mean something; real Linux repositories contain them. Malformed trees (two entries
/// with one name) are refused instead of silently resolved, and so are trees nested deeper
/// than [`MAX_TREE_DEPTH`](super::MAX_TREE_DEPTH).
pub fn plan(store: &Store, tree: ObjectId, interrupt: &AtomicBool) -> Result<Plan, Error> {
    plan_with_cache(store, tree, 8 << 20, false, interrupt)
}

/// [`plan()`], caching up to `cache_bytes` of decoded delta bases (trees are often
/// deltified) while walking, and with `verify`, hashing every tree read and failing on one
/// whose content is not its id (`--verify-objects`).
pub(crate) fn plan_with_cache(
    store: &Store,
    tree: ObjectId,
    cache_bytes: usize,
    verify: bool,
    interrupt: &AtomicBool,
) -> Result<Plan, Error> {
    let mut reader = store.odb().reader(cache_bytes).verifying(verify);
    plan_objects(&mut reader, tree, interrupt)
}

/// The passes, in order, reading from `objects`.
fn plan_objects(
    objects: &mut impl Objects,
    tree: ObjectId,
    interrupt: &AtomicBool,
) -> Result<Plan, Error> {
    let Walked {
        arena,
        mut files,
        mut symlinks,
        mut submodules,
    } = walk::walk(objects, tree, interrupt)?;
    let dirs = arena.prune(&mut files, &mut symlinks, &mut submodules);
    let mut plan = Plan {
        dirs,
        files,
        symlinks,
        submodules,
        renames: Vec::new(),
    };
    placeholders::assign(&mut plan);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::walk::tests::{DIR, FILE, GITLINK, LINK, MemoryObjects};

    fn plan_of(objects: &mut MemoryObjects, tree: ObjectId) -> Plan {
        plan_objects(objects, tree, &AtomicBool::new(false)).expect("a valid tree")
    }

    /// `root` holds `a/` (two files and an empty tree), `b/` (one file, a link), an empty
    /// `e/`, a submodule `m` and a file: every shape the passes treat differently.
    fn sample(o: &mut MemoryObjects) -> ObjectId {
        let blob = o.blob(b"x\n");
        let target = o.blob(b"f");
        let empty = o.tree(&[]);
        let a = o.tree(&[(FILE, b"f", blob), (FILE, b"g", blob), (DIR, b"z", empty)]);
        let b = o.tree(&[(FILE, b"f", blob), (LINK, b"l", target)]);
        let only_empty = o.tree(&[(DIR, b"inner", empty)]);
        o.tree(&[
            (DIR, b"a", a),
            (DIR, b"b", b),
            (DIR, b"e", only_empty),
            (FILE, b"file", blob),
            (GITLINK, b"m", blob),
        ])
    }

    fn dir_paths(plan: &Plan) -> Vec<String> {
        (0..plan.dirs.len())
            .map(|i| plan.dir_path(i).to_string())
            .collect()
    }

    #[test]
    fn the_passes_give_directories_parents_first_and_files_in_their_order() {
        let mut o = MemoryObjects::default();
        let root = sample(&mut o);
        let plan = plan_of(&mut o, root);
        assert_eq!(
            dir_paths(&plan),
            ["", "m", "a", "b"],
            "empty trees pruned, the submodule kept, in walk order"
        );
        for (i, dir) in plan.dirs.iter().enumerate().skip(1) {
            assert!(
                dir.parent < i,
                "expected parents first, got {:?}",
                plan.dirs
            );
        }
        let files: Vec<String> = plan
            .files
            .iter()
            .map(|f| format!("{}:{}", plan.dir_path(f.dir), f.name))
            .collect();
        assert_eq!(files, [":file", "a:f", "a:g", "b:f"], "every file");
        assert!(
            plan.files.is_sorted_by_key(|f| f.dir),
            "expected files in directory order, got {:?}",
            plan.files
        );
        assert_eq!(
            (plan.files(), plan.dirs(), plan.symlinks()),
            (4, 3, 1),
            "counts"
        );
        assert!(plan.renames.is_empty(), "no renames on Unix");
    }
}
