//! A store repacked while it is open, as `git gc` (which `git fetch` starts in the
//! background) repacks it beside a checkout: loose objects packed and deleted, packs
//! replaced by a new one and deleted. Every object stays readable, by id and by the
//! locations handed out before.

use std::path::Path;

use gix_hash::ObjectId;

use super::super::packs::{FUTILE_REFRESHES, open_pack};
use super::super::{Error, ObjectLocation, Odb};
use super::fixtures::*;

/// `git repack -a -d` (with `-f`, deltas computed anew, so that offsets change) and
/// `git prune-packed`: every object in one new pack, the old packs and loose copies gone.
/// (`--keep-unreachable`: these stores have no references.)
fn repack_everything(store: &Path, anew: bool) {
    let mut args = vec!["repack", "-a", "-d", "-q", "--keep-unreachable"];
    if anew {
        args.push("-f");
    }
    git(store, &args, b"");
    git(store, &["prune-packed"], b"");
}

fn packs_in(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".pack"))
        .collect();
    names.sort();
    names
}

/// Blobs of `content`, some loose and some in a pack of their own: the store as a fetch
/// leaves it, before `git gc` runs.
fn store_with_loose_and_packed(tmp: &TempDir) -> (std::path::PathBuf, Vec<(ObjectId, Vec<u8>)>) {
    let store = init_bare(&tmp.0.join("store.git"));
    let blobs: Vec<(ObjectId, Vec<u8>)> = similar_blobs(40)
        .into_iter()
        .map(|content| (hash_object(&store, "blob", &content), content))
        .collect();
    let packed: Vec<ObjectId> = blobs[..3].iter().map(|(id, _)| *id).collect();
    pack(&store, &packed, true);
    // `pack` dropped the loose copies of the packed ones; write the rest loose again.
    for (_, content) in &blobs[3..] {
        hash_object(&store, "blob", content);
    }
    (store, blobs)
}

#[test]
fn objects_moved_into_a_new_pack_after_the_store_was_opened_are_found_by_id() {
    let tmp = TempDir::new("moved");
    let (store, blobs) = store_with_loose_and_packed(&tmp);
    let before = packs_in(&store);
    let odb = open(&store);
    // No index read yet: the old pack's index is deleted before its first use.
    repack_everything(&store, false);
    assert_ne!(packs_in(&store), before, "the repack replaced the pack");
    let mut reader = odb.reader(1 << 20);
    for (id, content) in &blobs {
        let mut out = Vec::new();
        reader
            .write_blob(id, &mut out)
            .unwrap_or_else(|e| panic!("{id}, moved by the repack: {e}"));
        assert!(out == *content, "{id}: the blob's content");
    }
}

#[test]
fn the_packed_object_count_is_the_one_the_store_was_opened_with() {
    let tmp = TempDir::new("count");
    let (store, blobs) = store_with_loose_and_packed(&tmp);
    let odb = open(&store);
    assert_eq!(odb.packed_objects(), 3, "the pack of three blobs");
    repack_everything(&store, false);
    // A loose blob is looked up: the miss lists the store again and adds the new pack,
    // which holds the three packed blobs a second time.
    let mut out = Vec::new();
    odb.reader(0)
        .write_blob(&blobs.last().unwrap().0, &mut out)
        .unwrap();
    assert!(
        odb.pack_names()[0].len() > 1,
        "the refresh added the new pack"
    );
    assert_eq!(odb.packed_objects(), 3, "counted once, as when opened");
}

#[test]
fn locations_handed_out_before_a_repack_still_read_their_blobs() {
    let tmp = TempDir::new("stale");
    let (store, blobs) = store_with_loose_and_packed(&tmp);
    let odb = open(&store);
    let locations: Vec<ObjectLocation> = blobs
        .iter()
        .map(|(id, _)| odb.reader(0).locate(id).unwrap())
        .collect();
    assert!(
        locations
            .iter()
            .any(|at| matches!(at, ObjectLocation::Loose { .. })),
        "some blobs were loose: {locations:?}"
    );
    repack_everything(&store, true);
    // In this process (a native checkout's writers share its store): the loose files are
    // gone, the old pack's data is still open.
    for ((id, content), at) in blobs.iter().zip(&locations) {
        let out = write_at(&odb, id, *at).unwrap_or_else(|e| panic!("{id} at {at}: {e}"));
        assert!(out == *content, "{id} at {at}: the blob's content");
    }
}

#[test]
fn a_writer_listing_the_store_after_a_repack_follows_the_planners_numbering() {
    let tmp = TempDir::new("renumbered");
    let store = init_bare(&tmp.0.join("store.git"));
    let blobs: Vec<(ObjectId, Vec<u8>)> = similar_blobs(40)
        .into_iter()
        .map(|content| (hash_object(&store, "blob", &content), content))
        .collect();
    // Three packs of two blobs each, numbered by their names.
    for pair in blobs.chunks(2) {
        let ids: Vec<ObjectId> = pair.iter().map(|(id, _)| *id).collect();
        pack(&store, &ids, true);
    }
    let planner = open(&store);
    let locations: Vec<ObjectLocation> = blobs
        .iter()
        .map(|(id, _)| planner.reader(0).locate(id).unwrap())
        .collect();
    let names = planner.pack_names();
    assert_eq!(names[0].len(), 3, "three packs: {names:?}");
    // The first pack by name is replaced by one holding its blobs and a new one (so its
    // name is new, and sorts wherever its checksum puts it: the other two may be
    // renumbered), and deleted.
    let moved: Vec<ObjectId> = blobs
        .iter()
        .zip(&locations)
        .filter(|(_, at)| matches!(at, ObjectLocation::Packed { pack: 0, .. }))
        .map(|((id, _), _)| *id)
        .collect();
    let new = hash_object(&store, "blob", b"new in the repack\n");
    let list: String = moved
        .iter()
        .chain([&new])
        .map(|id| format!("{id}\n"))
        .collect();
    git(
        &store,
        &["pack-objects", "-q", "objects/pack/pack"],
        list.as_bytes(),
    );
    let first = store.join("objects/pack").join(&names[0][0]);
    for ext in ["pack", "idx"] {
        std::fs::remove_file(first.with_extension(ext)).unwrap();
    }
    assert_eq!(packs_in(&store).len(), 3, "{:?}", packs_in(&store));
    let mut writer = open(&store);
    writer.follow_numbering(&names);
    for ((id, content), at) in blobs.iter().zip(&locations) {
        let out = write_at(&writer, id, *at).unwrap_or_else(|e| panic!("{id} at {at}: {e}"));
        assert!(out == *content, "{id} at {at}: the blob's content");
    }
    // A number past the planner's list is refused, not guessed at.
    let beyond = ObjectLocation::Packed {
        source: 0,
        pack: 3,
        offset: 12,
    };
    let err = write_at(&writer, &blobs[0].0, beyond).unwrap_err();
    assert!(matches!(err, Error::BadLocation { .. }), "{err:?}");
}

#[test]
fn misses_stop_listing_the_store_again_after_a_few_that_find_nothing() {
    let tmp = TempDir::new("misses");
    let (store, _) = store_with_loose_and_packed(&tmp);
    let odb = open(&store);
    let absent = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
    for _ in 0..3 * FUTILE_REFRESHES {
        let err = odb.reader(0).locate(&absent).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
    assert!(!odb.refresh().unwrap(), "no more listings");
    assert_eq!(odb.futile_refreshes(), FUTILE_REFRESHES);
}

#[test]
fn a_pack_deleted_between_listing_and_opening_counts_as_gone() {
    let tmp = TempDir::new("gone");
    let (store, blobs) = store_with_loose_and_packed(&tmp);
    let odb: Odb = open(&store);
    // A listing names a pack whose files a repack has just deleted.
    let pack_dir = std::sync::Arc::new(dir(&store.join("objects/pack")));
    let opened = open_pack(
        &pack_dir,
        Path::new("objects"),
        "pack-0000000000000000000000000000000000000000",
        0,
        0,
    );
    assert!(opened.unwrap().is_none(), "a vanished pack is skipped");
    assert!(odb.reader(0).locate(&blobs[0].0).is_ok());
}
