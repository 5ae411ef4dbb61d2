//! Packs that lie: written entry by entry, with an index of their own making.

use std::path::Path;

use gix_hash::ObjectId;
use gix_object::Kind;

use super::fixtures::*;
use crate::odb::{Error, Odb};

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
        (3, loop_a, None, "delta chain longer than"),
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
