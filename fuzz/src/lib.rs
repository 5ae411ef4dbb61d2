//! Helpers shared by the fuzz targets: build a small store on disk from fuzzed bytes.
//!
//! Each target reuses one temporary directory per process (a fresh one per input would
//! cost more than the parsing being fuzzed) and rewrites what it needs each time.

use std::path::{Path, PathBuf};

use cap_std::{ambient_authority, fs::Dir as CapDir};
use unfurl_engine::{Dir, Store};

/// A scratch git directory for this process, emptied of objects and refs.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("unfurl-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("objects/pack")).expect("scratch store");
    std::fs::create_dir_all(dir.join("refs/heads")).expect("scratch store");
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").expect("scratch store");
    dir
}

/// Open the store at `dir` as the CLI would.
pub fn open(dir: &Path) -> Result<Store, String> {
    let cap = CapDir::open_ambient_dir(dir, ambient_authority()).map_err(|e| e.to_string())?;
    Store::open(Dir::from(cap), Vec::new()).map_err(|e| e.to_string())
}

/// `data` as a zlib stream of stored (uncompressed) blocks: valid zlib, no compressor
/// needed.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// Write `raw` (header and content) as the loose object `id` of the store at `dir`.
pub fn write_loose(dir: &Path, id: &gix_hash::ObjectId, file: &[u8]) {
    let hex = id.to_string();
    let fan = dir.join("objects").join(&hex[..2]);
    std::fs::create_dir_all(&fan).expect("fan-out directory");
    std::fs::write(fan.join(&hex[2..]), file).expect("loose object");
}

/// The id git gives an object of `kind` holding `data`.
pub fn hash(kind: gix_object::Kind, data: &[u8]) -> gix_hash::ObjectId {
    gix_object::compute_hash(gix_hash::Kind::Sha1, kind, data).expect("sha1")
}

/// Write a pack holding `entries` (each an entry's raw bytes: header and zlib data) and a
/// version 2 index giving them the ids `ids` (sorted), at the offsets they land on.
pub fn write_pack(dir: &Path, ids: &[gix_hash::ObjectId], entries: &[&[u8]]) {
    let mut pack = b"PACK".to_vec();
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    let mut offsets = Vec::new();
    for entry in entries {
        offsets.push(pack.len() as u32);
        pack.extend_from_slice(entry);
    }
    pack.extend_from_slice(&[0u8; 20]);
    let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
    for first in 0..=255u8 {
        let count = ids.iter().filter(|id| id.as_bytes()[0] <= first).count() as u32;
        idx.extend_from_slice(&count.to_be_bytes());
    }
    for id in ids {
        idx.extend_from_slice(id.as_bytes());
    }
    for _ in ids {
        idx.extend_from_slice(&0u32.to_be_bytes());
    }
    for offset in &offsets {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(&[0u8; 40]);
    let packs = dir.join("objects/pack");
    std::fs::write(packs.join("pack-fuzz.pack"), pack).expect("pack");
    std::fs::write(packs.join("pack-fuzz.idx"), idx).expect("index");
}
