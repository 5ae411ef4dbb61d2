use std::sync::atomic::AtomicBool;

use gix_hash::ObjectId;

use super::walk::{self, Objects, Walked};
use super::{Error, Plan, Selection, attributes, placeholders};
use crate::attr;
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
    plan_with(
        store,
        tree,
        cache_bytes,
        verify,
        &Selection::all(),
        &attr::Options::default(),
        None,
        interrupt,
    )
}

/// [`plan_with_cache()`] (`verify` as there) of only the paths `selection` selects (see [`Selection`]), with the
/// attributes applied as `attributes` says; with `archive`, as `git archive` of the commit
/// it holds (if the revision named one) applies them.
#[allow(clippy::too_many_arguments)] // Each is one option of the walk; callers name them all.
pub(crate) fn plan_with(
    store: &Store,
    tree: ObjectId,
    cache_bytes: usize,
    verify: bool,
    selection: &Selection,
    attributes: &attr::Options,
    archive: Option<Option<ObjectId>>,
    interrupt: &AtomicBool,
) -> Result<Plan, Error> {
    let info = match attributes.ignore {
        true => None,
        false => store.info_attributes()?,
    };
    let mut objects = store.odb().reader(cache_bytes).verifying(verify);
    let (mut plan, subst) = plan_objects(
        &mut objects,
        tree,
        selection,
        attributes,
        info,
        archive.is_some(),
        interrupt,
    )?;
    if let Some(Some(commit)) = archive {
        crate::archive::expand(store, commit, &mut plan, &subst)?;
    }
    Ok(plan)
}

/// The passes, in order, reading from `objects`.
fn plan_objects(
    objects: &mut impl Objects,
    tree: ObjectId,
    selection: &Selection,
    attributes: &attr::Options,
    info: Option<Vec<u8>>,
    archive: bool,
    interrupt: &AtomicBool,
) -> Result<(Plan, Vec<usize>), Error> {
    let mut walked = walk::walk_selected(objects, tree, selection, interrupt)?;
    let subst = attributes::assign(objects, &mut walked, attributes, info, archive)?;
    let Walked {
        arena,
        mut files,
        mut symlinks,
        mut submodules,
        outside,
    } = walked;
    let dirs = arena.prune(&mut files, &mut symlinks, &mut submodules);
    let mut plan = Plan {
        dirs,
        files,
        symlinks,
        submodules,
        renames: Vec::new(),
        outside,
        packs: Vec::new(),
    };
    placeholders::assign(&mut plan);
    Ok((plan, subst))
}

/// [`plan_objects`] for tests of other passes.
#[cfg(test)]
pub(super) fn plan_for_test(
    objects: &mut impl Objects,
    tree: ObjectId,
    selection: &Selection,
    interrupt: &AtomicBool,
) -> Plan {
    plan_objects(
        objects,
        tree,
        selection,
        &attr::Options::default(),
        None,
        false,
        interrupt,
    )
    .expect("a valid tree")
    .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::walk::tests::{DIR, FILE, GITLINK, LINK, MemoryObjects};

    fn plan_of(objects: &mut MemoryObjects, tree: ObjectId) -> Plan {
        plan_objects(
            objects,
            tree,
            &Selection::all(),
            &attr::Options::default(),
            None,
            false,
            &AtomicBool::new(false),
        )
        .expect("a valid tree")
        .0
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

    /// Objects that count how often each is read, to show what a selection leaves alone.
    fn selected(
        o: &mut MemoryObjects,
        root: ObjectId,
        paths: &[&str],
        keep_outside: bool,
    ) -> Result<Plan, Error> {
        let selection = Selection::new(paths)
            .expect("valid paths")
            .keeping_outside(keep_outside);
        plan_objects(
            o,
            root,
            &selection,
            &attr::Options::default(),
            None,
            false,
            &AtomicBool::new(false),
        )
        .map(|(plan, _)| plan)
    }

    fn entries(plan: &Plan) -> Vec<String> {
        let mut out: Vec<String> = plan
            .files
            .iter()
            .map(|f| format!("{}:{}", plan.dir_path(f.dir), f.name))
            .chain(
                plan.symlinks
                    .iter()
                    .map(|l| format!("{}:{}@", plan.dir_path(l.dir), l.name)),
            )
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_selection_plans_only_its_paths_and_reads_nothing_else() {
        let mut o = MemoryObjects::default();
        let root = sample(&mut o);
        let plan = selected(&mut o, root, &["b/l", "a"], false).expect("both exist");
        assert_eq!(
            entries(&plan),
            ["a:f", "a:g", "b:l@"],
            "only `a/` and `b/l`"
        );
        assert_eq!(dir_paths(&plan), ["", "a", "b"], "their directories only");
        assert!(plan.outside.is_empty(), "outside entries not kept");
        let plan = selected(&mut o, root, &["m"], false).expect("a submodule path");
        assert_eq!(
            dir_paths(&plan),
            ["", "m"],
            "the submodule's empty directory"
        );
        assert_eq!(plan.submodules.len(), 1, "the submodule");
        // A tree outside the selection that does not even exist is never read.
        let missing = ObjectId::from_hex(b"3333333333333333333333333333333333333333").unwrap();
        let blob = o.blob(b"y\n");
        let keep = o.tree(&[(FILE, b"k", blob)]);
        let root = o.tree(&[(DIR, b"gone", missing), (DIR, b"keep", keep)]);
        let plan = selected(&mut o, root, &["keep"], false).expect("`gone` is not read");
        assert_eq!(entries(&plan), ["keep:k"], "only `keep/`");
        let err = selected(&mut o, root, &["keep"], true).unwrap_err();
        assert!(
            matches!(err, Error::Object(_)),
            "keeping the outside reads `gone`, which is missing: got {err:?}"
        );
    }

    #[test]
    fn kept_outside_entries_are_every_other_entry_with_its_mode() {
        let mut o = MemoryObjects::default();
        let root = sample(&mut o);
        let plan = selected(&mut o, root, &["a/f"], true).expect("a file path");
        assert_eq!(entries(&plan), ["a:f"], "only the file");
        let outside: Vec<String> = plan
            .outside
            .iter()
            .map(|e| format!("{}:{:o}", e.path, e.mode))
            .collect();
        assert_eq!(
            outside,
            [
                "file:100644",
                "m:160000",
                "a/g:100644",
                "b/f:100644",
                "b/l:120000"
            ],
            "every other entry, with git's modes"
        );
    }

    #[test]
    fn paths_that_name_nothing_are_all_reported() {
        let mut o = MemoryObjects::default();
        let root = sample(&mut o);
        for paths in [&["a", "nope", "file/x"][..], &["a/y"], &["m/x"]] {
            let err = selected(&mut o, root, paths, false).unwrap_err();
            let expected: Vec<&str> = paths.iter().copied().filter(|p| *p != "a").collect();
            assert!(
                matches!(&err, Error::PathNotFound { paths } if *paths == expected),
                "expected {expected:?} reported as naming nothing, got {err:?}"
            );
        }
    }
}
