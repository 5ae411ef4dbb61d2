use super::*;

fn id(n: u8) -> gix_hash::ObjectId {
    gix_hash::ObjectId::from_bytes_or_panic(&[n; 20])
}

fn dir(path: &str, parent: usize) -> Directory {
    Directory {
        name: path.rsplit('/').next().unwrap_or(path).into(),
        parent,
    }
}

fn file(dir: usize, name: &str, n: u8) -> File {
    File {
        dir,
        name: name.into(),
        id: id(n),
        executable: false,
        at: None,
        conversion: None,
    }
}

#[test]
fn names_fold_to_simple_uppercase() {
    assert_eq!(fold(b"ReadMe.md".as_bstr()), "README.MD");
    assert_eq!(fold("ä-ö".as_bytes().as_bstr()), "Ä-Ö");
    assert_eq!(fold("straße".as_bytes().as_bstr()), "STRAßE");
    assert_eq!(fold(b"a\xffb".as_bstr()), b"A\xffB".as_bstr());
}

#[test]
fn two_files_differing_in_case_are_refused_or_the_later_wins() {
    let plan = Plan {
        dirs: vec![dir("", 0)],
        files: vec![file(0, "README", 1), file(0, "readme", 2), file(0, "x", 3)],
        ..Plan::default()
    };
    let err = fold_plan(&plan, CaseCollisions::Error).unwrap_err();
    assert_eq!(err, ("README".into(), "readme".into()));
    let folded = fold_plan(&plan, CaseCollisions::LastWins).unwrap();
    let kept = folded.plan.expect("a plan without the loser");
    let names: Vec<_> = kept.files.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(names, ["readme", "x"]);
    assert_eq!(
        folded.collisions,
        [CaseCollision {
            lost: "README".into(),
            kept: "readme".into()
        }]
    );
}

#[test]
fn directories_differing_in_case_merge_under_the_first_spelling() {
    // Planned `dir` before `Dir`: the merged directory is still spelled `Dir`.
    let plan = Plan {
        dirs: vec![dir("", 0), dir("dir", 0), dir("Dir", 0), dir("dir/sub", 1)],
        files: vec![file(1, "b", 1), file(2, "a", 2), file(3, "c", 3)],
        ..Plan::default()
    };
    assert!(fold_plan(&plan, CaseCollisions::Error).is_ok());
    let folded = fold_plan(&plan, CaseCollisions::LastWins).unwrap();
    assert!(folded.collisions.is_empty());
    let merged = folded.plan.expect("directories merged");
    let paths: Vec<_> = (0..merged.dirs.len())
        .map(|i| merged.dir_path(i).to_string())
        .collect();
    assert_eq!(paths, ["", "Dir", "Dir/sub"]);
    assert!(merged.files.iter().take(2).all(|f| f.dir == 1));
    assert_eq!(merged.files[2].dir, 2);
}

#[test]
fn a_file_and_a_directory_collide_and_the_later_in_index_order_wins() {
    // `FOO` < `foo/x`: the directory wins, and the file is left out.
    let plan = Plan {
        dirs: vec![dir("", 0), dir("foo", 0)],
        files: vec![file(0, "FOO", 1), file(1, "x", 2)],
        ..Plan::default()
    };
    assert_eq!(
        fold_plan(&plan, CaseCollisions::Error).unwrap_err(),
        ("FOO".into(), "foo/x".into())
    );
    let kept = fold_plan(&plan, CaseCollisions::LastWins)
        .unwrap()
        .plan
        .unwrap();
    assert_eq!(kept.files.len(), 1);
    assert_eq!(kept.files[0].name, "x");
    // `FOO/x` < `foo`: the file wins, and the directory goes with all it holds.
    let plan = Plan {
        dirs: vec![dir("", 0), dir("FOO", 0)],
        files: vec![file(0, "foo", 1), file(1, "x", 2)],
        symlinks: vec![Symlink {
            dir: 1,
            name: "y".into(),
            target: "x".into(),
            id: id(9),
        }],
        ..Plan::default()
    };
    let folded = fold_plan(&plan, CaseCollisions::LastWins).unwrap();
    let kept = folded.plan.unwrap();
    assert_eq!(kept.dirs.len(), 1, "{kept:?}");
    assert_eq!(kept.files.len(), 1);
    assert!(kept.symlinks.is_empty());
    let lost: Vec<_> = folded
        .collisions
        .iter()
        .map(|c| c.lost.to_string())
        .collect();
    assert_eq!(lost, ["FOO/x", "FOO/y"]);
}

#[test]
fn a_tree_without_collisions_is_left_alone() {
    let plan = Plan {
        dirs: vec![dir("", 0), dir("a", 0)],
        files: vec![file(0, "a.txt", 1), file(1, "A.txt", 2)],
        ..Plan::default()
    };
    let folded = fold_plan(&plan, CaseCollisions::Error).unwrap();
    assert!(folded.plan.is_none() && folded.collisions.is_empty());
}
