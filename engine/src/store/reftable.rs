//! References kept in reftable (`extensions.refStorage = reftable`, git's default from
//! git 3.0): read, not written.
//!
//! A reftable store keeps its references in `reftable/`: `tables.list` names the tables,
//! oldest first, and a newer table's record of a name replaces an older one's (a deletion
//! record removes it). Each table is a file of blocks: a header, ref blocks of
//! prefix-compressed records sorted by name, optional index, object and log blocks, and a
//! footer that says where each section starts (git's
//! `Documentation/technical/reftable.adoc`). A checkout needs a handful of names, and a
//! `.git` lists branches and tags; both read every ref block once and keep the merged
//! names, which is simpler than the indexes and as fast for the stores installers keep.
//! `HEAD` lives in the tables; the `HEAD` file is a placeholder for older gits.
//!
//! Security: the tables come from the store, which may be hostile. Every length and
//! position is checked against the data before use (a bad one is a malformed-table error
//! naming the file, never a panic or a read outside it), every block moves the reading
//! position forward, table names from `tables.list` must be plain file names (no `/`, no
//! `..`: the file is opened in `reftable/` through the store's directory handle anyway),
//! and the footer's CRC-32 must match.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use super::Error;
use crate::cap::Dir;

/// What a reference holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// An object id (a tag's peeled target, which a table may also record, is not kept).
    Id(ObjectId),
    /// A symbolic reference to another name.
    Symref(BString),
}

/// The references of a reftable store, every table merged.
#[derive(Debug, Default)]
pub(super) struct Reftable {
    refs: BTreeMap<BString, Value>,
}

/// How often `tables.list` is read again when a table it names is gone (a concurrent
/// compaction replaced it), as git's readers do.
const ATTEMPTS: usize = 8;

impl Reftable {
    /// Read every table `reftable/tables.list` names in `git_dir`.
    pub(super) fn read(git_dir: &Dir) -> Result<Reftable, Error> {
        let list = Path::new("reftable/tables.list");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let names = git_dir.read(list).map_err(|source| Error::Io {
                path: list.into(),
                source,
            })?;
            match Reftable::read_tables(git_dir, &names) {
                // Compacted away since the list was read: read the list again.
                Err(Gone(path, source)) if source.kind() == io::ErrorKind::NotFound => {
                    if attempt == ATTEMPTS {
                        return Err(Error::Io { path, source });
                    }
                }
                Err(Gone(path, source)) => return Err(Error::Io { path, source }),
                Ok(tables) => return tables,
            }
        }
    }

    /// Read and merge the tables `list` names, oldest first; `Err` if one cannot be read.
    fn read_tables(git_dir: &Dir, list: &[u8]) -> Result<Result<Reftable, Error>, Gone> {
        let mut merged = BTreeMap::new();
        for name in list.lines().map(|l| l.trim_end_with(|c| c == '\r')) {
            if name.is_empty() {
                continue;
            }
            let path = PathBuf::from("reftable").join(match name.to_str() {
                Ok(name) if is_plain(name) => name,
                _ => {
                    return Ok(Err(Error::BadRef {
                        name: "reftable/tables.list".into(),
                        message: format!("{:?} is not a table's file name", name.as_bstr()),
                    }));
                }
            });
            let data = super::load_replaced_by_rename(git_dir, &path)
                .map_err(|e| Gone(path.clone(), e))?;
            let records = match records(&data) {
                Ok(records) => records,
                Err(message) => {
                    return Ok(Err(Error::BadRef {
                        name: path.to_string_lossy().into_owned().into(),
                        message,
                    }));
                }
            };
            for (name, value) in records {
                match value {
                    Some(value) => merged.insert(name, value),
                    // A deletion hides what older tables say.
                    None => merged.remove(&name),
                };
            }
        }
        Ok(Ok(Reftable { refs: merged }))
    }

    /// What `name` holds, if it exists.
    pub(super) fn get(&self, name: &[u8]) -> Option<&Value> {
        self.refs.get(name.as_bstr())
    }

    /// Every name under `prefix`, in order.
    pub(super) fn names_under<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a BStr> {
        self.refs
            .range::<BStr, _>((
                std::ops::Bound::Included(prefix.as_bstr()),
                std::ops::Bound::Unbounded,
            ))
            .map(|(name, _)| name.as_bstr())
            .take_while(move |name| name.starts_with(prefix))
    }
}

/// A table `tables.list` names that could not be read.
struct Gone(PathBuf, io::Error);

/// Whether `name` is a plain file name: not empty, no `/` or `\`, not `.` or `..`.
fn is_plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// The header's length and the footer's, by format version (SHA-1 tables only).
fn layout(data: &[u8]) -> Result<(usize, usize), String> {
    if data.len() < 24 || &data[..4] != b"REFT" {
        return Err("not a reftable (no REFT header)".into());
    }
    match data[4] {
        1 => Ok((24, 68)),
        2 => match data.get(24..28) {
            Some(b"sha1") => Ok((28, 72)),
            Some(b"s256") => Err("a SHA-256 table (only SHA-1 stores are supported)".into()),
            _ => Err("unknown hash in the header".into()),
        },
        version => Err(format!("unknown version {version}")),
    }
}

/// Every ref record of the table `data`, in order: a name and its value, `None` for a
/// deletion.
fn records(data: &[u8]) -> Result<Vec<(BString, Option<Value>)>, String> {
    let (header, footer_len) = layout(data)?;
    let footer_start = data
        .len()
        .checked_sub(footer_len)
        .filter(|&start| start >= header)
        .ok_or("shorter than its header and footer")?;
    let footer = &data[footer_start..];
    if footer[..header] != data[..header] {
        return Err("the footer does not repeat the header".into());
    }
    let (covered, crc) = footer.split_at(footer_len - 4);
    if crc32fast::hash(covered).to_be_bytes() != crc {
        return Err("the footer's checksum does not match".into());
    }
    let block_size = u24(data, 5)?;
    // The ref blocks end where the first other section starts (positions of absent
    // sections are 0).
    let positions = (0..5).map(|i| u64_at(footer, header + 8 * i));
    let mut refs_end = footer_start;
    for (i, position) in positions.enumerate() {
        // The object section's position shares its field with the id length.
        let position = if i == 1 { position? >> 5 } else { position? };
        if position != 0 {
            refs_end = refs_end.min(usize::try_from(position).unwrap_or(usize::MAX));
        }
    }
    let mut out = Vec::new();
    let mut pos = header;
    let mut first = true;
    while pos < refs_end && data[pos] == b'r' {
        let block_start = if first { 0 } else { pos };
        let block_end = block_start
            .checked_add(u24(data, pos + 1)?)
            .filter(|&end| end <= refs_end && end >= pos + 4 + 2)
            .ok_or("a ref block's length runs past its section")?;
        let restarts = usize::from(u16::from_be_bytes([
            data[block_end - 2],
            data[block_end - 1],
        ]));
        let records_end = (block_end - 2)
            .checked_sub(3 * restarts)
            .filter(|&end| end >= pos + 4)
            .ok_or("a ref block's restart table runs past its start")?;
        block_records(&data[..records_end], pos + 4, &mut out)?;
        let next = match block_size {
            0 => block_end,
            size => block_start + size,
        };
        if next < block_end {
            return Err("a ref block is longer than the table's block size".into());
        }
        pos = next;
        first = false;
    }
    Ok(out)
}

/// Decode the records of one ref block, `data[at..]`, appending them to `out`.
fn block_records(
    data: &[u8],
    mut at: usize,
    out: &mut Vec<(BString, Option<Value>)>,
) -> Result<(), String> {
    let mut name = BString::default();
    while at < data.len() {
        let prefix = varint(data, &mut at)?;
        let suffix_and_type = varint(data, &mut at)?;
        let (suffix, kind) = (suffix_and_type >> 3, suffix_and_type & 7);
        let prefix = usize::try_from(prefix)
            .ok()
            .filter(|&p| p <= name.len())
            .ok_or("a record shares more of a name than the one before it")?;
        let suffix = take(data, &mut at, suffix)?;
        name.truncate(prefix);
        name.extend_from_slice(suffix);
        varint(data, &mut at)?; // update_index_delta
        let value = match kind {
            0 => None,
            1 | 2 => {
                let id = ObjectId::try_from(take(data, &mut at, 20)?)
                    .map_err(|_| "an object id of the wrong length")?;
                if kind == 2 {
                    take(data, &mut at, 20)?; // The peeled target.
                }
                Some(Value::Id(id))
            }
            3 => {
                let len = varint(data, &mut at)?;
                Some(Value::Symref(take(data, &mut at, len)?.into()))
            }
            kind => return Err(format!("a record of reserved type {kind}")),
        };
        out.push((name.clone(), value));
    }
    Ok(())
}

/// `len` bytes of `data` at `*at`, moving past them.
fn take<'d>(data: &'d [u8], at: &mut usize, len: u64) -> Result<&'d [u8], String> {
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| at.checked_add(len))
        .filter(|&end| end <= data.len())
        .ok_or("a record runs past its block")?;
    let bytes = &data[*at..end];
    *at = end;
    Ok(bytes)
}

/// A varint as packs encode ofs-delta offsets, at `*at`, moving past it.
fn varint(data: &[u8], at: &mut usize) -> Result<u64, String> {
    let truncated = || "a record runs past its block".to_string();
    let mut byte = *data.get(*at).ok_or_else(truncated)?;
    *at += 1;
    let mut value = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        byte = *data.get(*at).ok_or_else(truncated)?;
        *at += 1;
        value = value
            .checked_add(1)
            .and_then(|v| v.checked_mul(128))
            .map(|v| v | u64::from(byte & 0x7f))
            .ok_or("a number too large for 64 bits")?;
    }
    Ok(value)
}

fn u24(data: &[u8], at: usize) -> Result<usize, String> {
    match data.get(at..at + 3) {
        Some(b) => Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2])),
        None => Err("a block header runs past the end".into()),
    }
}

fn u64_at(data: &[u8], at: usize) -> Result<u64, String> {
    data.get(at..at + 8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| "the footer is too short".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 table, unaligned, of `blocks` ref blocks, each a list of records (name,
    /// value), restarts at each block's first record.
    fn table(blocks: &[&[(&str, Option<Value>)]]) -> Vec<u8> {
        let mut header = b"REFT\x01\0\0\0".to_vec();
        header.extend(1u64.to_be_bytes());
        header.extend(1u64.to_be_bytes());
        let mut data = header.clone();
        for (i, records) in blocks.iter().enumerate() {
            let start = if i == 0 { 0 } else { data.len() };
            let at = data.len();
            data.extend(b"r\0\0\0");
            let first = data.len();
            let mut prior: &[u8] = b"";
            for (name, value) in records.iter() {
                let name = name.as_bytes();
                let prefix = prior.iter().zip(name).take_while(|(a, b)| a == b).count();
                let kind = match value {
                    None => 0,
                    Some(Value::Id(_)) => 1,
                    Some(Value::Symref(_)) => 3,
                };
                data.push(prefix as u8);
                data.push((((name.len() - prefix) << 3) | kind) as u8);
                data.extend(&name[prefix..]);
                data.push(0);
                match value {
                    Some(Value::Id(id)) => data.extend(id.as_bytes()),
                    Some(Value::Symref(target)) => {
                        data.push(target.len() as u8);
                        data.extend(target.iter());
                    }
                    None => {}
                }
                prior = name;
            }
            data.extend(&(first as u32).to_be_bytes()[1..]);
            data.extend(1u16.to_be_bytes());
            let len = (data.len() - start) as u32;
            data[at + 1..at + 4].copy_from_slice(&len.to_be_bytes()[1..]);
        }
        let mut footer = header;
        footer.extend([0; 40]);
        footer.extend(crc32fast::hash(&footer).to_be_bytes());
        data.extend(footer);
        data
    }

    fn id(byte: u8) -> Option<Value> {
        Some(Value::Id(ObjectId::from_bytes_or_panic(&[byte; 20])))
    }

    #[test]
    fn records_are_read_across_blocks_with_their_names_rebuilt() {
        let data = table(&[
            &[
                ("HEAD", Some(Value::Symref("refs/heads/main".into()))),
                ("refs/heads/main", id(1)),
                ("refs/heads/mainline", id(2)),
            ],
            &[("refs/tags/v1", id(3)), ("refs/tags/v2", None)],
        ]);
        let read = records(&data).unwrap();
        let names: Vec<&str> = read.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "HEAD",
                "refs/heads/main",
                "refs/heads/mainline",
                "refs/tags/v1",
                "refs/tags/v2"
            ]
        );
        assert_eq!(read[2].1, id(2));
        assert_eq!(read[4].1, None);
        assert_eq!(records(&table(&[])).unwrap(), [], "an empty table");
    }

    #[test]
    fn damaged_tables_are_errors_never_panics() {
        let data = table(&[
            &[
                ("HEAD", Some(Value::Symref("refs/heads/main".into()))),
                ("refs/heads/main", id(1)),
            ],
            &[("refs/tags/v1", id(3))],
        ]);
        for len in 0..data.len() {
            assert!(records(&data[..len]).is_err(), "cut to {len} bytes");
        }
        // Every byte changed: an error, or records read from the bytes there.
        for at in 0..data.len() {
            for value in [0x00, 0x07, 0x80, 0xff] {
                let mut bad = data.clone();
                bad[at] = value;
                let _ = records(&bad);
            }
        }
        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(records(&bad).unwrap_err().contains("checksum"));
        let mut sha256 = data.clone();
        sha256[4] = 2;
        assert!(records(&sha256).is_err());
    }

    #[test]
    fn varints_decode_as_git_writes_them_and_overflow_is_an_error() {
        for (bytes, value) in [(&[0x05][..], 5), (&[0x80, 0x00], 128), (&[0x81, 0x7f], 383)] {
            let mut at = 0;
            assert_eq!(varint(bytes, &mut at), Ok(value), "{bytes:?}");
            assert_eq!(at, bytes.len());
        }
        let mut at = 0;
        assert!(varint(&[0xff; 12], &mut at).is_err());
    }

    #[test]
    fn only_plain_names_are_tables() {
        for name in ["0x01-0x02-abcd.ref", "a"] {
            assert!(is_plain(name), "{name}");
        }
        for name in ["", ".", "..", "../config", "a/b", "a\\b"] {
            assert!(!is_plain(name), "{name}");
        }
    }
}
