//! The object layer on real stores: packs written by git, and packs written byte by byte
//! to lie (delta loops, wrong sizes, absurd sizes), read by id and by location.

mod fixtures;
mod forged;
mod repacked;

use gix_object::Kind;

use super::{Error, ObjectLocation, Odb};
use fixtures::*;

// Reading by location

#[test]
fn blobs_are_read_by_location_without_the_pack_index_whole_or_as_offset_deltas() {
    let store = DeltaStore::new(300, true);
    let odb = open(&store.store);
    let reader = odb.reader(1 << 20);
    let locations: Vec<ObjectLocation> = store
        .blobs
        .iter()
        .map(|(id, _)| reader.locate(id).unwrap())
        .collect();
    for ((id, _), at) in store.blobs.iter().zip(&locations) {
        assert_eq!(
            *at,
            packed(store.listed(id).offset),
            "the location of {id} against verify-pack"
        );
    }
    drop(reader);
    // Another process, whose pack index could not even be read: every blob, by location.
    spoil_index(&store.pack);
    let blind = open(&store.store);
    for ((id, content), at) in store.blobs.iter().zip(&locations) {
        let out = write_at(&blind, id, *at)
            .unwrap_or_else(|e| panic!("blob {id} at {at} without the index: {e}"));
        assert!(
            out == *content,
            "blob {id} (delta depth {}): expected {} bytes as written, got {} different ones",
            store.listed(id).depth,
            content.len(),
            out.len()
        );
    }
    // Lookups by id need the index, and say which file is wrong, every time.
    for _ in 0..2 {
        let err = blind.reader(0).locate(&store.blobs[0].0).unwrap_err();
        assert!(
            matches!(&err, Error::CorruptFile { path, .. } if path.extension().is_some_and(|e| e == "idx")),
            "expected the spoiled index to be named, got {err:?}"
        );
    }
}

#[test]
fn reads_by_id_and_by_location_agree_with_git_with_the_index_loaded() {
    for ofs_deltas in [true, false] {
        let store = DeltaStore::new(300, ofs_deltas);
        let odb = open(&store.store);
        let mut reader = odb.reader(1 << 20);
        for (id, content) in &store.blobs {
            let mut out = Vec::new();
            assert_eq!(
                reader.write_blob(id, &mut out).unwrap(),
                content.len() as u64
            );
            assert!(out == *content, "write_blob of {id}");
            let (kind, data) = reader.read_shared(id).unwrap();
            assert!(
                kind == Kind::Blob && *data == *content,
                "read_shared of {id}"
            );
            assert_eq!(
                reader.header(id).unwrap(),
                (Kind::Blob, content.len() as u64),
                "header of {id}"
            );
            let at = reader.locate(id).unwrap();
            assert!(write_at(&odb, id, at).unwrap() == *content, "{id} at {at}");
        }
        let listed = store.listed(&store.tree);
        assert_eq!(
            reader.header(&store.tree).unwrap(),
            (Kind::Tree, listed.size)
        );
    }
}

#[test]
fn a_ref_delta_base_is_found_by_id_through_the_index_read_on_first_use() {
    let store = DeltaStore::new(300, false);
    let odb = open(&store.store);
    let reader = odb.reader(0);
    let locations: Vec<ObjectLocation> = store
        .blobs
        .iter()
        .map(|(id, _)| reader.locate(id).unwrap())
        .collect();
    drop(reader);
    // A fresh process: the index is read when the first ref-delta needs it.
    let fresh = open(&store.store);
    for ((id, content), at) in store.blobs.iter().zip(&locations) {
        assert!(
            write_at(&fresh, id, *at).unwrap() == *content,
            "{id} at {at}"
        );
    }
    // Without a readable index, whole blobs still read, ref-deltas fail naming the index.
    spoil_index(&store.pack);
    let blind = open(&store.store);
    for ((id, content), at) in store.blobs.iter().zip(&locations) {
        match (store.listed(id).depth, write_at(&blind, id, *at)) {
            (0, Ok(out)) => assert!(out == *content, "{id} at {at}"),
            (0, Err(err)) => panic!("whole blob {id} at {at}: {err}"),
            (_, Err(Error::CorruptFile { path, .. })) => {
                assert!(path.ends_with(store.pack.with_extension("idx").file_name().unwrap()))
            }
            (depth, other) => panic!(
                "ref-delta {id} (depth {depth}) with a spoiled index: expected the index named, got {other:?}"
            ),
        }
    }
}

#[test]
fn locations_out_of_range_or_of_the_wrong_object_are_refused() {
    let store = DeltaStore::new(40, true);
    let blob = &store.blobs[0].0;
    let pack_len = std::fs::metadata(store.pack.with_extension("pack"))
        .unwrap()
        .len();
    let data_end = pack_len - 20;
    for index_loaded in [false, true] {
        let odb = open(&store.store);
        if index_loaded {
            odb.reader(0).locate(blob).unwrap();
        }
        let bad = |at: ObjectLocation, what: &str| {
            let err = write_at(&odb, blob, at).unwrap_err();
            assert!(
                matches!(err, Error::BadLocation { location, .. } if location == at),
                "{what} (index loaded: {index_loaded}): expected BadLocation, got {err:?}"
            );
            assert!(err.to_string().contains(&blob.to_string()), "{err}");
        };
        for source in [1, 7, u32::MAX] {
            bad(
                ObjectLocation::Packed {
                    source,
                    pack: 0,
                    offset: 12,
                },
                "a pack of an object directory the store does not have",
            );
            bad(
                ObjectLocation::Loose { source },
                "a loose object in an object directory the store does not have",
            );
        }
        for pack in [1, u32::MAX] {
            bad(
                ObjectLocation::Packed {
                    source: 0,
                    pack,
                    offset: 12,
                },
                "a pack the store does not have",
            );
        }
        for offset in [0, 11, data_end, data_end + 1, pack_len, u64::MAX] {
            bad(packed(offset), &format!("offset {offset}"));
        }
        // A loose object that is packed (as `git gc` leaves it) is read from its pack.
        let content = &store.blobs[0].1;
        let out = write_at(&odb, blob, ObjectLocation::Loose { source: 0 }).unwrap();
        assert!(out == *content, "a packed blob said to be loose");
        // A tree's entry: the wrong kind, with or without the index.
        let tree_at = packed(store.listed(&store.tree).offset);
        match write_at(&odb, &store.tree, tree_at) {
            Err(Error::UnexpectedKind {
                actual: Kind::Tree, ..
            }) => {}
            other => panic!("a tree read as a blob: expected UnexpectedKind, got {other:?}"),
        }
        let err = write_at(&odb, blob, tree_at).unwrap_err();
        assert!(matches!(err, Error::UnexpectedKind { .. }), "{err:?}");
    }
}

#[test]
fn every_offset_of_a_pack_reads_its_blob_or_fails_cleanly() {
    let store = DeltaStore::new(12, true);
    let pack_len = std::fs::metadata(store.pack.with_extension("pack"))
        .unwrap()
        .len();
    let (id, content) = &store.blobs[2];
    let home = store.listed(id).offset;
    let loaded = open(&store.store);
    loaded.reader(0).locate(id).unwrap();
    // The other reader never has the index: a garbage header that reads as a ref-delta
    // would load it (and then every later offset would be checked against it).
    spoil_index(&store.pack);
    let blind = open(&store.store);
    let mut read = 0;
    for offset in 0..pack_len + 2 {
        for odb in [&blind, &loaded] {
            match write_at(odb, id, packed(offset)) {
                Ok(out) => {
                    // Without the index, another blob's entry is indistinguishable.
                    let at = store
                        .listed
                        .iter()
                        .find(|l| l.offset == offset)
                        .unwrap_or_else(|| {
                            panic!(
                                "offset {offset} is no entry, yet it read {} bytes",
                                out.len()
                            )
                        });
                    let expected = &store.blobs.iter().find(|(i, _)| *i == at.id).unwrap().1;
                    assert!(out == *expected, "the blob at {offset}");
                    read += 1;
                }
                Err(Error::Sink { .. } | Error::NotFound { .. }) => {
                    panic!("offset {offset}: an error of the wrong sort")
                }
                Err(_) => assert_ne!(offset, home, "{id} at its own offset failed"),
            }
        }
    }
    assert!(write_at(&blind, id, packed(home)).unwrap() == *content);
    // The index is not consulted for a location handed over: with or without it, every
    // blob's entry reads (as that blob; `--verify-objects` would tell them apart).
    let blobs = store.listed.iter().filter(|l| l.id != store.tree).count();
    assert_eq!(
        read,
        2 * blobs,
        "offsets read: {blobs} blobs' by each reader"
    );
}

#[test]
fn packs_are_numbered_by_name_and_their_indexes_read_only_when_searched() {
    let tmp = TempDir::new("numbering");
    let store = init_bare(&tmp.0.join("store.git"));
    let mut packs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = hash_object(&store, "blob", format!("blob {i}\n").as_bytes());
        packs.push(pack(&store, &[id], true));
        ids.push(id);
    }
    let mut by_name = packs.clone();
    by_name.sort();
    let expected: Vec<u32> = packs
        .iter()
        .map(|p| by_name.iter().position(|q| q == p).unwrap() as u32)
        .collect();
    let first = open(&store);
    let second = open(&store);
    for (i, id) in ids.iter().enumerate() {
        let at = first.reader(0).locate(id).unwrap();
        assert_eq!(
            at,
            second.reader(0).locate(id).unwrap(),
            "two opens of one store"
        );
        assert!(
            matches!(at, ObjectLocation::Packed { source: 0, pack, offset: 12 } if pack == expected[i]),
            "blob {i} in pack {} by name, got {at}",
            expected[i]
        );
    }
    // The last pack by name has a spoiled index: the others' objects are found without it
    // (the store opens, and searches stop at the pack that has the object).
    spoil_index(by_name.last().unwrap());
    let odb = open(&store);
    for (i, id) in ids.iter().enumerate() {
        let result = odb.reader(0).locate(id);
        if expected[i] < 2 {
            assert!(result.is_ok(), "blob {i}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(Error::CorruptFile { .. })),
                "blob {i}: {result:?}"
            );
        }
    }
}

#[test]
fn threads_reading_at_once_load_each_index_once_and_agree() {
    let store = DeltaStore::new(300, false);
    let odb = open(&store.store);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut reader = odb.reader(1 << 20);
                for (id, content) in &store.blobs {
                    let mut out = Vec::new();
                    reader.write_blob(id, &mut out).unwrap();
                    assert!(out == *content, "{id}");
                }
            });
        }
    });
}

#[test]
fn loose_objects_and_alternates_are_located_and_read() {
    let tmp = TempDir::new("loose");
    let alternate = init_bare(&tmp.0.join("alternate.git"));
    let shared = hash_object(&alternate, "blob", b"in the alternate\n");
    pack(&alternate, &[shared], true);
    let store = init_bare(&tmp.0.join("store.git"));
    let loose = hash_object(&store, "blob", b"loose\n");
    let tree = hash_object(&store, "tree", b"");
    let odb = Odb::open(
        dir(&store.join("objects")),
        "objects".into(),
        vec![(dir(&alternate.join("objects")), alternate.join("objects"))],
    )
    .unwrap();
    let reader = odb.reader(0);
    assert_eq!(
        reader.locate(&loose).unwrap(),
        ObjectLocation::Loose { source: 0 }
    );
    assert_eq!(
        reader.locate(&shared).unwrap(),
        ObjectLocation::Packed {
            source: 1,
            pack: 0,
            offset: 12
        }
    );
    for (id, expected) in [(loose, &b"loose\n"[..]), (shared, b"in the alternate\n")] {
        let at = reader.locate(&id).unwrap();
        assert!(write_at(&odb, &id, at).unwrap() == expected, "{id} at {at}");
    }
    let err = write_at(&odb, &tree, ObjectLocation::Loose { source: 0 }).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedKind {
                actual: Kind::Tree,
                ..
            }
        ),
        "{err:?}"
    );
    // Said to be loose in the alternate, it is found where it is.
    let out = write_at(&odb, &loose, ObjectLocation::Loose { source: 1 }).unwrap();
    assert!(out == b"loose\n", "{out:?}");
}
