use std::collections::HashMap;

use super::*;

/// Objects in memory, written with git's formats: a test builds its trees bottom up.
#[derive(Default)]
pub(in crate::plan) struct MemoryObjects {
    objects: HashMap<ObjectId, (Kind, Vec<u8>)>,
}

/// Tree entry modes, as git writes them.
pub(in crate::plan) const FILE: &str = "100644";
pub(in crate::plan) const EXEC: &str = "100755";
pub(in crate::plan) const LINK: &str = "120000";
pub(in crate::plan) const DIR: &str = "40000";
pub(in crate::plan) const GITLINK: &str = "160000";

impl MemoryObjects {
    pub(in crate::plan) fn add(&mut self, kind: Kind, data: &[u8]) -> ObjectId {
        let id = gix_object::compute_hash(gix_hash::Kind::Sha1, kind, data)
            .expect("SHA-1 of a small object");
        self.objects.insert(id, (kind, data.to_vec()));
        id
    }

    pub(in crate::plan) fn blob(&mut self, data: &[u8]) -> ObjectId {
        self.add(Kind::Blob, data)
    }

    /// A tree with exactly these entries, in this order (valid or not).
    pub(in crate::plan) fn tree(&mut self, entries: &[(&str, &[u8], ObjectId)]) -> ObjectId {
        let mut data = Vec::new();
        for (mode, name, id) in entries {
            data.extend_from_slice(mode.as_bytes());
            data.push(b' ');
            data.extend_from_slice(name);
            data.push(0);
            data.extend_from_slice(id.as_bytes());
        }
        self.add(Kind::Tree, &data)
    }

    /// `depth` trees nested under the name `d`, the deepest holding one file: the root
    /// is returned.
    pub(in crate::plan) fn chain(&mut self, depth: usize) -> ObjectId {
        let blob = self.blob(b"bottom\n");
        let mut tree = self.tree(&[(FILE, b"bottom.txt", blob)]);
        for _ in 1..depth {
            tree = self.tree(&[(DIR, b"d", tree)]);
        }
        tree
    }
}

impl Objects for MemoryObjects {
    fn read(&mut self, id: &oid) -> Result<(Kind, Data), odb::Error> {
        self.objects
            .get(id)
            .map(|(kind, data)| (*kind, Arc::new(data.clone())))
            .ok_or(odb::Error::NotFound { id: id.to_owned() })
    }

    fn header(&mut self, id: &oid) -> Result<(Kind, u64), odb::Error> {
        self.read(id).map(|(kind, data)| (kind, data.len() as u64))
    }

    fn locate(&mut self, id: &oid) -> Result<Option<odb::ObjectLocation>, odb::Error> {
        self.read(id).map(|_| None)
    }
}

fn walk_tree(objects: &mut MemoryObjects, root: ObjectId) -> Result<Walked, Error> {
    walk(objects, root, &AtomicBool::new(false))
}

#[track_caller]
fn refused(objects: &mut MemoryObjects, root: ObjectId) -> Error {
    match walk_tree(objects, root) {
        Ok(_) => panic!("expected the tree to be refused, it was accepted"),
        Err(err) => err,
    }
}

/// Each file and symlink as `(directory path, name)`, in walk order.
fn listing(walked: &Walked) -> (Vec<String>, Vec<String>) {
    let show = |dir, name: &BString| walked.arena.entry_path(dir, name.as_ref()).to_string();
    (
        walked.files.iter().map(|f| show(f.dir, &f.name)).collect(),
        walked
            .symlinks
            .iter()
            .map(|l| show(l.dir, &l.name))
            .collect(),
    )
}

#[test]
fn files_come_grouped_by_directory_in_walk_order() {
    let mut o = MemoryObjects::default();
    let blob = o.blob(b"x\n");
    let deep = o.tree(&[(FILE, b"f", blob)]);
    let a = o.tree(&[(DIR, b"deep", deep), (FILE, b"f", blob)]);
    let b = o.tree(&[(FILE, b"f", blob)]);
    let root = o.tree(&[(DIR, b"a", a), (DIR, b"b", b), (FILE, b"top", blob)]);
    let walked = walk_tree(&mut o, root).expect("a valid tree");
    let (files, _) = listing(&walked);
    assert_eq!(
        files,
        ["top", "a/f", "a/deep/f", "b/f"],
        "files in depth-first order, each directory's together"
    );
    let dirs: Vec<usize> = walked.files.iter().map(|f| f.dir).collect();
    assert!(
        dirs.is_sorted(),
        "expected files in the order of their directories, got {dirs:?}"
    );
}

#[test]
fn kinds_modes_and_symlink_targets_are_read() {
    let mut o = MemoryObjects::default();
    let blob = o.blob(b"x\n");
    let target = o.blob(b"../up");
    let root = o.tree(&[
        ("100664", b"legacy", blob),
        (EXEC, b"run", blob),
        (LINK, b"link", target),
        (GITLINK, b"module", blob),
    ]);
    let walked = walk_tree(&mut o, root).expect("a valid tree");
    let exec: Vec<bool> = walked.files.iter().map(|f| f.executable).collect();
    assert_eq!(exec, [false, true], "100664 is plain, 100755 executable");
    assert_eq!(walked.symlinks.len(), 1, "one symlink");
    assert_eq!(walked.symlinks[0].target, "../up", "its target, as stored");
    assert_eq!(
        walked.arena.display_path(1),
        "module",
        "the submodule becomes a directory"
    );
}

#[test]
fn unsafe_names_are_refused_with_their_path() {
    for name in [&b".."[..], b".", b"", b"a/b", b".git", b".GIT", b"git~1"] {
        let mut o = MemoryObjects::default();
        let blob = o.blob(b"x\n");
        let sub = o.tree(&[(FILE, name, blob)]);
        let root = o.tree(&[(DIR, b"sub", sub)]);
        let err = refused(&mut o, root);
        let mut expected = BString::from("sub/");
        expected.extend_from_slice(name);
        assert!(
            matches!(&err, Error::UnsafeName { path, .. } if *path == expected),
            "expected {expected:?} refused as unsafe, got {err:?}"
        );
    }
}

#[test]
fn a_symlinked_gitmodules_is_refused() {
    let mut o = MemoryObjects::default();
    let target = o.blob(b"/etc/passwd");
    let root = o.tree(&[(LINK, b".gitmodules", target)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(err, Error::UnsafeName { .. }),
        "expected an unsafe name, got {err:?}"
    );
}

#[test]
fn duplicate_names_are_refused_even_apart() {
    let mut o = MemoryObjects::default();
    let blob = o.blob(b"x\n");
    let sub = o.tree(&[(FILE, b"f", blob)]);
    // A file `a`, a file `a.c`, then a tree `a`: the two `a` are not neighbours.
    let root = o.tree(&[(FILE, b"a", blob), (FILE, b"a.c", blob), (DIR, b"a", sub)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::DuplicateName { path, file_and_dir: true } if path == "a"),
        "expected `a` refused as a file and a directory, got {err:?}"
    );
    let root = o.tree(&[(FILE, b"b", blob), (FILE, b"b", blob)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::DuplicateName { path, file_and_dir: false } if path == "b"),
        "expected `b` refused as a duplicate, got {err:?}"
    );
}

#[test]
fn unknown_modes_and_wrong_kinds_are_refused() {
    let mut o = MemoryObjects::default();
    let blob = o.blob(b"x\n");
    let root = o.tree(&[("60000", b"odd", blob)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::BadMode { path, mode: 0o60000 } if path == "odd"),
        "expected mode 60000 (a block device) refused, got {err:?}"
    );
    let root = o.tree(&[(DIR, b"not-a-tree", blob)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::KindMismatch { path, expected: Kind::Tree, .. } if path == "not-a-tree"),
        "expected a blob used as a tree refused, got {err:?}"
    );
    let tree = o.tree(&[]);
    let root = o.tree(&[(LINK, b"link", tree)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::KindMismatch { path, expected: Kind::Blob, .. } if path == "link"),
        "expected a tree used as a link target refused, got {err:?}"
    );
    let err = refused(&mut o, blob);
    assert!(
        matches!(&err, Error::KindMismatch { path, .. } if path == "/"),
        "expected a root that is not a tree refused, got {err:?}"
    );
}

#[test]
fn bad_symlink_targets_are_refused() {
    for (target, reason) in [
        (&b""[..], "empty"),
        (b"a\0b", "NUL"),
        (&[b'x'; 4097][..], "longer"),
    ] {
        let mut o = MemoryObjects::default();
        let blob = o.blob(target);
        let root = o.tree(&[(LINK, b"link", blob)]);
        let err = refused(&mut o, root);
        assert!(
            matches!(&err, Error::BadSymlink { path, reason: r } if path == "link" && r.contains(reason)),
            "expected a target refused as {reason}, got {err:?}"
        );
    }
}

#[test]
fn a_missing_object_is_a_store_error() {
    let mut o = MemoryObjects::default();
    let missing = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
    let root = o.tree(&[(DIR, b"gone", missing)]);
    let err = refused(&mut o, root);
    assert!(
        matches!(err, Error::Object(odb::Error::NotFound { id }) if id == missing),
        "expected the missing tree reported, got {err:?}"
    );
}

#[test]
fn trees_nested_to_the_limit_are_walked() {
    let mut o = MemoryObjects::default();
    let root = o.chain(MAX_TREE_DEPTH);
    let walked = walk_tree(&mut o, root).expect("a tree exactly at the limit");
    assert_eq!(walked.files.len(), 1, "expected the one file at the bottom");
    let dir = walked.files[0].dir;
    assert_eq!(
        walked.arena.entry_path(dir, "bottom.txt".into()).len(),
        2 * (MAX_TREE_DEPTH - 1) + "bottom.txt".len(),
        "expected its path to have {MAX_TREE_DEPTH} components"
    );
}

#[test]
fn a_tree_nested_past_the_limit_is_refused_before_it_is_read() {
    let mut o = MemoryObjects::default();
    let root = o.chain(MAX_TREE_DEPTH + 1);
    let err = refused(&mut o, root);
    assert!(
        matches!(&err, Error::TooDeep { path, depth, limit }
            if path == "d/d/d/…/d" && *depth == MAX_TREE_DEPTH + 1 && *limit == MAX_TREE_DEPTH),
        "expected the chain refused as too deep, got {err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&MAX_TREE_DEPTH.to_string()) && message.len() < 300,
        "expected a short message naming the limit, got {message:?}"
    );
    // The deepest trees need not even exist: the walk stops at the limit.
    let missing = ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap();
    let mut tree = o.tree(&[(DIR, b"d", missing)]);
    for _ in 0..MAX_TREE_DEPTH {
        tree = o.tree(&[(DIR, b"d", tree)]);
    }
    let err = refused(&mut o, tree);
    assert!(
        matches!(err, Error::TooDeep { .. }),
        "expected the depth refused before the missing tree is read, got {err:?}"
    );
}

#[test]
fn an_interrupt_stops_the_walk() {
    let mut o = MemoryObjects::default();
    let root = o.chain(3);
    let err = walk(&mut o, root, &AtomicBool::new(true)).err();
    assert!(
        matches!(err, Some(Error::Interrupted)),
        "expected the walk interrupted, got {err:?}"
    );
}
