//! The object layer on real stores: packs written by git, and packs written byte by byte
//! to lie (delta loops, wrong sizes, absurd sizes), read by id and by location.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use gix_hash::ObjectId;
use gix_object::Kind;

use super::{Error, ObjectLocation, Odb};
use crate::cap::Dir;

// Fixtures

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "unfurl-odb-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run git in `dir` with a config-free environment, `input` on stdin; its trimmed stdout.
fn git(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start git {args:?}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "expected git {args:?} to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn init_bare(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "-q", "--bare"], b"");
    path.to_owned()
}

fn hash_object(store: &Path, kind: &str, content: &[u8]) -> ObjectId {
    let hex = git(
        store,
        &["hash-object", "-t", kind, "--literally", "-w", "--stdin"],
        content,
    );
    ObjectId::from_hex(hex.as_bytes()).unwrap()
}

/// Blobs alike enough for git to store most of them as deltas of one another, `lines` long.
fn similar_blobs(lines: usize) -> Vec<Vec<u8>> {
    let base: Vec<String> = (0..lines)
        .map(|i| format!("line {i}: unfurl materializes a checkout, one blob at a time\n"))
        .collect();
    (0..6)
        .map(|variant| {
            let mut lines = base.clone();
            for (i, line) in lines.iter_mut().enumerate() {
                if i % 7 == variant {
                    *line = format!("line {i} changed in variant {variant}\n");
                }
            }
            lines.concat().into_bytes()
        })
        .collect()
}

/// Pack `ids` of `store` into one new pack (offset deltas or ref deltas), drop the loose
/// copies; the pack's path without extension.
fn pack(store: &Path, ids: &[ObjectId], ofs_deltas: bool) -> PathBuf {
    let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let mut args = vec!["pack-objects", "-q", "--window=20", "--depth=20"];
    if ofs_deltas {
        args.push("--delta-base-offset");
    }
    args.push("objects/pack/pack");
    let hash = git(store, &args, list.as_bytes());
    git(store, &["prune-packed"], b"");
    store.join(format!("objects/pack/pack-{hash}"))
}

/// One line of `git verify-pack -v`.
#[derive(Debug, Clone)]
struct Listed {
    id: ObjectId,
    size: u64,
    offset: u64,
    depth: usize,
}

fn verify_pack(store: &Path, pack: &Path) -> Vec<Listed> {
    let idx = pack.with_extension("idx");
    git(store, &["verify-pack", "-v", idx.to_str().unwrap()], b"")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Kind::from_bytes(fields.get(1)?.as_bytes()).ok()?;
            Some(Listed {
                id: ObjectId::from_hex(fields[0].as_bytes()).unwrap(),
                size: fields[2].parse().unwrap(),
                offset: fields[4].parse().unwrap(),
                depth: fields.get(5).map_or(0, |d| d.parse().unwrap()),
            })
        })
        .collect()
}

fn dir(path: &Path) -> Dir {
    Dir::from(cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap())
}

fn open(store: &Path) -> Odb {
    Odb::open(dir(&store.join("objects")), "objects".into(), Vec::new()).unwrap()
}

/// Replace a pack's index with bytes that are no index at all.
/// Replace the index of `pack` with garbage, as git replaces files: a new file renamed over
/// the old one, so an index an `Odb` has mapped already stays intact for it.
fn spoil_index(pack: &Path) {
    let new = pack.with_extension("idx-new");
    std::fs::write(&new, b"not an index").unwrap();
    std::fs::rename(&new, pack.with_extension("idx")).unwrap();
}

/// A store of similar blobs (most deltified), a tree and a tiny blob, in one pack.
struct DeltaStore {
    _tmp: TempDir,
    store: PathBuf,
    pack: PathBuf,
    listed: Vec<Listed>,
    blobs: Vec<(ObjectId, Vec<u8>)>,
    tree: ObjectId,
}

impl DeltaStore {
    fn new(lines: usize, ofs_deltas: bool) -> DeltaStore {
        let tmp = TempDir::new("delta");
        let store = init_bare(&tmp.0.join("store.git"));
        let mut blobs: Vec<(ObjectId, Vec<u8>)> = similar_blobs(lines)
            .into_iter()
            .map(|content| (hash_object(&store, "blob", &content), content))
            .collect();
        for content in [&b""[..], b"x"] {
            blobs.push((hash_object(&store, "blob", content), content.to_vec()));
        }
        let mut tree = Vec::new();
        for (i, (id, _)) in blobs.iter().enumerate() {
            tree.extend_from_slice(format!("100644 f{i}\0").as_bytes());
            tree.extend_from_slice(id.as_bytes());
        }
        let tree = hash_object(&store, "tree", &tree);
        let mut ids: Vec<ObjectId> = blobs.iter().map(|(id, _)| *id).collect();
        ids.push(tree);
        let pack = pack(&store, &ids, ofs_deltas);
        let listed = verify_pack(&store, &pack);
        let deltas = listed.iter().filter(|l| l.depth > 0).count();
        assert!(
            deltas >= 3,
            "expected git to deltify at least 3 of the blobs, it did {deltas}: {listed:?}"
        );
        DeltaStore {
            _tmp: tmp,
            store,
            pack,
            listed,
            blobs,
            tree,
        }
    }

    fn listed(&self, id: &ObjectId) -> &Listed {
        self.listed.iter().find(|l| l.id == *id).unwrap()
    }
}

fn write_at(odb: &Odb, id: &ObjectId, at: ObjectLocation) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let size = odb.reader(1 << 20).write_blob_at(id, at, &mut out)?;
    assert_eq!(
        size,
        out.len() as u64,
        "write_blob_at returned {size}, wrote {} bytes",
        out.len()
    );
    Ok(out)
}

fn packed(offset: u64) -> ObjectLocation {
    ObjectLocation::Packed {
        source: 0,
        pack: 0,
        offset,
    }
}

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
        bad(
            ObjectLocation::Loose { source: 0 },
            "a loose object that is packed",
        );
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
    let err = write_at(&odb, &loose, ObjectLocation::Loose { source: 1 }).unwrap_err();
    assert!(matches!(err, Error::BadLocation { .. }), "{err:?}");
}

// Packs that lie

/// A pack written entry by entry, with an index of its own making.
struct Forge {
    data: Vec<u8>,
    entries: Vec<(ObjectId, u64)>,
}

const BLOB: u8 = 3;
const TREE: u8 = 2;
const OFS_DELTA: u8 = 6;
const REF_DELTA: u8 = 7;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; compressor.zlib_compress_bound(data.len())];
    let n = compressor.zlib_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// A delta: base size, result size, then one insert of `insert`.
fn delta(base_len: u64, result_len: u64, insert: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut n in [base_len, result_len] {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 {
                break;
            }
        }
    }
    out.push(insert.len() as u8);
    out.extend_from_slice(insert);
    out
}

impl Forge {
    fn new() -> Forge {
        Forge {
            data: b"PACK\0\0\0\x02\0\0\0\0".to_vec(),
            entries: Vec::new(),
        }
    }

    /// Add an entry for `id` of type `kind` announcing `size`, with `base` (an ofs-delta's
    /// base offset or a ref-delta's base id) and the raw `stream`; its offset.
    fn raw(&mut self, id: u8, kind: u8, size: u64, base: Base, stream: &[u8]) -> u64 {
        let offset = self.data.len() as u64;
        let mut byte = (kind << 4) | (size & 0xf) as u8;
        let mut rest = size >> 4;
        while rest > 0 {
            self.data.push(byte | 0x80);
            byte = (rest & 0x7f) as u8;
            rest >>= 7;
        }
        self.data.push(byte);
        match base {
            Base::None => {}
            Base::Offset(base) => {
                let mut distance = offset - base;
                let mut bytes = vec![(distance & 0x7f) as u8];
                distance >>= 7;
                while distance > 0 {
                    distance -= 1;
                    bytes.push(0x80 | (distance & 0x7f) as u8);
                    distance >>= 7;
                }
                bytes.reverse();
                self.data.extend_from_slice(&bytes);
            }
            Base::Id(base) => self.data.extend_from_slice(&[base; 20]),
        }
        self.data.extend_from_slice(stream);
        self.entries.push((ObjectId::from([id; 20]), offset));
        offset
    }

    fn entry(&mut self, id: u8, kind: u8, content: &[u8], base: Base) -> u64 {
        self.raw(id, kind, content.len() as u64, base, &zlib(content))
    }

    /// Write `objects/pack/pack-….{pack,idx}` under `objects`.
    fn write(mut self, objects: &Path) {
        let count = self.entries.len() as u32;
        self.data[8..12].copy_from_slice(&count.to_be_bytes());
        let checksum = [0xAB; 20];
        self.data.extend_from_slice(&checksum);
        let mut sorted = self.entries.clone();
        sorted.sort();
        let mut idx = b"\xfftOc\0\0\0\x02".to_vec();
        for byte in 0..=255u8 {
            let n = sorted
                .iter()
                .filter(|(id, _)| id.as_bytes()[0] <= byte)
                .count() as u32;
            idx.extend_from_slice(&n.to_be_bytes());
        }
        for (id, _) in &sorted {
            idx.extend_from_slice(id.as_bytes());
        }
        idx.extend(std::iter::repeat_n(0, 4 * sorted.len()));
        for (_, offset) in &sorted {
            idx.extend_from_slice(&(*offset as u32).to_be_bytes());
        }
        idx.extend_from_slice(&checksum);
        idx.extend_from_slice(&[0; 20]);
        let dir = objects.join("pack");
        std::fs::create_dir_all(&dir).unwrap();
        let stem = format!("pack-{}", "7".repeat(40));
        std::fs::write(dir.join(format!("{stem}.pack")), &self.data).unwrap();
        std::fs::write(dir.join(format!("{stem}.idx")), idx).unwrap();
    }
}

#[derive(Clone, Copy)]
enum Base {
    None,
    Offset(u64),
    Id(u8),
}

fn id(byte: u8) -> ObjectId {
    ObjectId::from([byte; 20])
}

#[test]
fn a_forged_pack_that_lies_fails_cleanly_by_id_and_by_location() {
    let tmp = TempDir::new("forged");
    let objects = tmp.0.join("objects");
    let mut forge = Forge::new();
    let good = forge.entry(1, BLOB, b"hello, unfurl\n", Base::None);
    let good_delta = forge.entry(2, OFS_DELTA, &delta(14, 5, b"hello"), Base::Offset(good));
    // Ref-deltas that are each other's base.
    let loop_a = forge.entry(3, REF_DELTA, &delta(5, 5, b"loopy"), Base::Id(4));
    forge.entry(4, REF_DELTA, &delta(5, 5, b"loopy"), Base::Id(3));
    // Sizes that lie: too small, absurd, for a blob and for a delta.
    let short = forge.raw(5, BLOB, 10, Base::None, &zlib(b"twenty bytes of text"));
    let absurd = forge.raw(6, BLOB, 1 << 50, Base::None, &zlib(b"tiny"));
    let absurd_delta = forge.raw(
        7,
        OFS_DELTA,
        1 << 50,
        Base::Offset(good),
        &zlib(&delta(14, 1, b"x")),
    );
    let delta_says_absurd =
        forge.entry(8, OFS_DELTA, &delta(14, 1 << 40, b"x"), Base::Offset(good));
    // A delta of a tree, read as a blob.
    let tree = forge.entry(9, TREE, b"", Base::None);
    let tree_delta = forge.entry(10, OFS_DELTA, &delta(0, 1, b"x"), Base::Offset(tree));
    // Not zlib; an unknown entry type.
    let garbage = forge.raw(11, BLOB, 5, Base::None, b"\x78\x9c\xde\xad\xbe\xef garbage");
    let bad_type = forge.raw(12, 5, 5, Base::None, &zlib(b"12345"));
    // An ofs-delta whose base would be the pack's header.
    let into_header = forge.raw(13, OFS_DELTA, 5, Base::Offset(4), &zlib(b"x"));
    forge.write(&objects);
    let cases: [(u8, u64, Option<&[u8]>, &str); 12] = [
        (1, good, Some(b"hello, unfurl\n"), ""),
        (2, good_delta, Some(b"hello"), ""),
        (3, loop_a, None, "too long"),
        (5, short, None, "more data"),
        (6, absurd, None, ""),
        (7, absurd_delta, None, "announces more data"),
        (8, delta_says_absurd, None, "delta"),
        (10, tree_delta, None, "is a tree"),
        (11, garbage, None, ""),
        (12, bad_type, None, "unsupported"),
        (13, into_header, None, "out of range"),
        (9, tree, None, "is a tree"),
    ];
    for index_loaded in [false, true] {
        let odb = Odb::open(dir(&objects), "objects".into(), Vec::new()).unwrap();
        if index_loaded {
            odb.reader(0).locate(&id(1)).unwrap();
        }
        for (byte, offset, expected, needle) in cases {
            let result = write_at(&odb, &id(byte), packed(offset));
            let by_id = {
                let mut out = Vec::new();
                odb.reader(1 << 20)
                    .write_blob(&id(byte), &mut out)
                    .map(|_| out)
            };
            let read = odb.reader(1 << 20).read_shared(&id(byte));
            let header = odb.reader(1 << 20).header(&id(byte));
            match expected {
                Some(content) => {
                    assert_eq!(result.as_deref().ok(), Some(content), "entry {byte}");
                    assert_eq!(by_id.as_deref().ok(), Some(content), "entry {byte} by id");
                    assert_eq!(read.unwrap().1.as_slice(), content, "entry {byte} read");
                    assert_eq!(
                        header.unwrap(),
                        (Kind::Blob, content.len() as u64),
                        "entry {byte} header"
                    );
                }
                None => {
                    let err = result.expect_err("a lying entry");
                    assert!(
                        matches!(err, Error::Corrupt { .. } | Error::UnexpectedKind { .. }),
                        "entry {byte} (index loaded: {index_loaded}): {err:?}"
                    );
                    let message = err.to_string();
                    assert!(
                        message.contains(needle),
                        "entry {byte}: expected {needle:?} in {message:?}"
                    );
                    assert!(by_id.is_err(), "entry {byte} by id: {by_id:?}");
                    // Trees (9, and 10, a delta of one) decode; they are no blobs.
                    match read {
                        Ok((Kind::Tree, _)) if byte == 9 || byte == 10 => {}
                        Ok((kind, data)) => panic!(
                            "entry {byte} read_shared: expected an error, got a {kind} of {} bytes",
                            data.len()
                        ),
                        Err(_) => {}
                    }
                }
            }
        }
    }
}
