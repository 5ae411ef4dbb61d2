//! `packed-refs`: the references `git pack-refs` gathers into one file, searched per lookup.

use std::io;

use bstr::{BStr, ByteSlice};
use gix_hash::ObjectId;

use super::Error;
use crate::cap::{self, Dir};

/// The contents of `packed-refs`, searched per lookup.
///
/// A store fetched from a busy project can pack tens of thousands of references (numpy's
/// mirror: 20,905 lines, 1.3 MB), and a checkout looks up one or two. Resolving `HEAD` on
/// numpy took 7 ms while it built a map of them all, and 2.6 ms checking every line and
/// scanning them per lookup. Now the file is mapped on Unix (git replaces it by renaming a
/// new one, never rewrites it in place) rather than read into fresh memory, and a file
/// whose header says it is `sorted` (every `git pack-refs` since 2017 writes that) is
/// searched by bisection, as git searches it, checking only the lines looked at. Any other
/// file has every line checked when read and is scanned per lookup.
pub(super) struct Packed {
    data: Option<cap::Bytes>,
    /// Where the references start, after the header, when the header says they are sorted.
    sorted: Option<usize>,
}

impl Packed {
    pub(super) fn read(git_dir: &Dir) -> Result<Packed, Error> {
        let data = match super::load_replaced_by_rename(git_dir, "packed-refs".as_ref()) {
            Ok(data) => data,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(Packed {
                    data: None,
                    sorted: None,
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: "packed-refs".into(),
                    source,
                });
            }
        };
        let sorted = sorted_from(&data);
        let packed = Packed {
            data: Some(data),
            sorted,
        };
        if packed.sorted.is_none() {
            packed.check()?;
        }
        Ok(packed)
    }

    /// Fail on the first line that is not `<object id> <name>` (or a header, a peeled id, a
    /// blank).
    fn check(&self) -> Result<(), Error> {
        for (number, line) in self.bytes().lines().enumerate() {
            let valid = match split(line) {
                None => false,
                Some(None) => true,
                Some(Some((hex, _))) => is_hex_id(hex),
            };
            if !valid {
                return Err(malformed(number + 1, line));
            }
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The object the packed reference `name` names, if it is listed (the last line
    /// naming it wins, as a map built line by line would have it).
    pub(super) fn get(&self, name: &[u8]) -> Result<Option<ObjectId>, Error> {
        let data = self.bytes();
        if let Some(start) = self.sorted {
            match search_sorted(data, start, name) {
                Search::Found(line) => {
                    // Only this line was looked at closely: check its id now.
                    let text = line_at(data, line);
                    let hex = match split(text) {
                        Some(Some((hex, _))) => hex,
                        _ => b"",
                    };
                    return match ObjectId::from_hex(hex) {
                        Ok(id) => Ok(Some(id)),
                        Err(_) => {
                            let number = data[..line].iter().filter(|&&b| b == b'\n').count();
                            Err(malformed(number + 1, text))
                        }
                    };
                }
                Search::Absent => return Ok(None),
                // Not as sorted as its header says: read it the slow way, all of it checked.
                Search::Unsorted => self.check()?,
            }
        }
        // Names are compared before ids are decoded: one id is decoded, not thousands.
        // Lines were checked when read; the file is mapped, so one rewritten in place since
        // (which git never does) is not trusted to still parse: such a line is skipped.
        let found = data
            .lines()
            .filter_map(|line| split(line).flatten())
            .rfind(|(_, listed)| *listed == name);
        Ok(found.and_then(|(hex, _)| ObjectId::from_hex(hex).ok()))
    }

    /// Every reference listed, in the file's order, with the object it names (unpeeled);
    /// every line checked first.
    pub(super) fn refs(&self) -> Result<impl Iterator<Item = (&BStr, ObjectId)>, Error> {
        if self.sorted.is_some() {
            self.check()?;
        }
        Ok(self
            .bytes()
            .lines()
            .filter_map(|line| parse(line).flatten()))
    }
}

/// The error for line `number` (from 1) of `packed-refs`, `line`.
fn malformed(number: usize, line: &[u8]) -> Error {
    Error::BadRef {
        name: "packed-refs".into(),
        message: format!(
            "line {number} is not `<object id> <name>`: {:?}",
            line.as_bstr()
        ),
    }
}

/// Where the references of `data` start, if its header line says they are sorted (git's
/// `# pack-refs with:` line, whose traits are each followed by a space).
fn sorted_from(data: &[u8]) -> Option<usize> {
    const HEADER: &[u8] = b"# pack-refs with:";
    let traits = data.strip_prefix(HEADER)?;
    let end = traits.find_byte(b'\n')?;
    let mut padded = traits[..end].to_vec();
    padded.push(b' ');
    padded.find(b" sorted ").map(|_| HEADER.len() + end + 1)
}

/// What a bisection of a sorted `packed-refs` found.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    /// The last line naming the reference starts at this offset.
    Found(usize),
    /// No line names it.
    Absent,
    /// A line looked at was not a reference (a comment, a blank, a peeled id out of
    /// place, no space): the file is not what its header says.
    Unsorted,
}

/// Find the reference `name` in `data` from `start` by bisection, as git's packed-refs
/// backend does: a record is a line `<id> <name>` and the `^<id>` line that may follow it.
///
/// Security: the file comes from the store, which may be hostile and may lie about being
/// sorted. Every step moves `lo` up or `hi` down strictly, within the data, so the search
/// ends after at most as many steps as there are bytes (in practice log2 of the lines);
/// a file out of order can make it miss a reference, as it makes git miss it, never loop
/// or read outside the data.
fn search_sorted(data: &[u8], start: usize, name: &[u8]) -> Search {
    let (mut lo, mut hi) = (start.min(data.len()), data.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The start of the line holding `mid`, and of the record if that is a peeled line.
        let mut record = line_start(data, lo, mid);
        if data[record] == b'^' && record > lo {
            record = line_start(data, lo, record - 1);
        }
        let Some(Some((_, listed))) = split(line_at(data, record)) else {
            return Search::Unsorted;
        };
        match listed.as_bytes().cmp(name) {
            std::cmp::Ordering::Less => lo = record_end(data, mid, hi),
            std::cmp::Ordering::Greater => hi = record,
            std::cmp::Ordering::Equal => {
                // Duplicates are neighbours in a sorted file: the last one wins.
                let mut found = record;
                loop {
                    let next = record_end(data, found, data.len());
                    match split(line_at(data, next)) {
                        Some(Some((_, again))) if next < data.len() && again == name => {
                            found = next;
                        }
                        _ => return Search::Found(found),
                    }
                }
            }
        }
    }
    Search::Absent
}

/// The start of the line holding `at`, not before `lo`.
fn line_start(data: &[u8], lo: usize, at: usize) -> usize {
    data[lo..at].rfind_byte(b'\n').map_or(lo, |n| lo + n + 1)
}

/// The line starting at `at`, without its newline.
fn line_at(data: &[u8], at: usize) -> &[u8] {
    let rest = &data[at.min(data.len())..];
    &rest[..rest.find_byte(b'\n').unwrap_or(rest.len())]
}

/// Where the record holding `at` ends (after its line and a `^<id>` line that follows),
/// not after `hi`.
fn record_end(data: &[u8], at: usize, hi: usize) -> usize {
    let after_line = |from: usize| data[from..hi].find_byte(b'\n').map_or(hi, |n| from + n + 1);
    let end = after_line(at);
    if end < hi && data[end] == b'^' {
        after_line(end)
    } else {
        end
    }
}

/// Whether `hex` is an object id in hex (decoding it is the fastest check: SIMD).
fn is_hex_id(hex: &[u8]) -> bool {
    ObjectId::from_hex(hex).is_ok()
}

/// One line of `packed-refs` in parts, its id not decoded: `None` if it has no space,
/// `Some(None)` for a line that names no reference (blank, the `# pack-refs with: …`
/// header, or `^<id>`, which peels the tag on the line before), else its hex id and name.
/// A byte search for the space: `split_once_str` builds a substring searcher per call,
/// which showed in profiles over 20,000 lines.
fn split(line: &[u8]) -> Option<Option<(&[u8], &BStr)>> {
    if line.is_empty() || line.starts_with(b"#") || line.starts_with(b"^") {
        return Some(None);
    }
    let at = line.find_byte(b' ')?;
    let name = line[at + 1..].trim_end_with(|c| c == '\r');
    Some(Some((&line[..at], name.as_bstr())))
}

/// One line of `packed-refs` read: `None` if it is malformed, `Some(None)` for a line that
/// names no reference, else the reference and its object.
fn parse(line: &[u8]) -> Option<Option<(&BStr, ObjectId)>> {
    match split(line)? {
        None => Some(None),
        Some((hex, name)) => Some(Some((name, ObjectId::from_hex(hex).ok()?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# pack-refs with: peeled fully-peeled sorted \n";

    /// A sorted `packed-refs` of `names`, each naming an id made of its position, every
    /// third one followed by a peeled line.
    fn sorted_file(names: &[String]) -> Vec<u8> {
        let mut out = HEADER.as_bytes().to_vec();
        for (i, name) in names.iter().enumerate() {
            out.extend(format!("{:040x} {name}\n", i + 1).bytes());
            if i % 3 == 0 {
                out.extend(format!("^{:040x}\n", 0xfff).bytes());
            }
        }
        out
    }

    fn found_id(data: &[u8], name: &str) -> Option<String> {
        let start = sorted_from(data).expect("a sorted header");
        match search_sorted(data, start, name.as_bytes()) {
            Search::Found(at) => Some(line_at(data, at)[..40].to_str().unwrap().to_owned()),
            Search::Absent => None,
            Search::Unsorted => panic!("{name}: the file is sorted"),
        }
    }

    #[test]
    fn every_reference_of_a_sorted_file_is_found_by_bisection() {
        for count in [0, 1, 2, 3, 10, 257] {
            let mut names: Vec<String> = (0..count).map(|i| format!("refs/tags/v{i}")).collect();
            names.sort();
            let data = sorted_file(&names);
            for (i, name) in names.iter().enumerate() {
                assert_eq!(
                    found_id(&data, name),
                    Some(format!("{:040x}", i + 1)),
                    "{name}"
                );
                // Names between, before and after the listed ones are absent.
                assert_eq!(found_id(&data, &format!("{name}-x")), None);
                // A prefix of a listed name is found only if it is listed itself.
                let prefix = &name[..name.len() - 1];
                let listed = names.iter().position(|n| n == prefix);
                let expected = listed.map(|i| format!("{:040x}", i + 1));
                assert_eq!(found_id(&data, prefix), expected, "{prefix}");
            }
            assert_eq!(found_id(&data, "refs/a"), None);
            assert_eq!(found_id(&data, "refs/z"), None);
        }
    }

    #[test]
    fn the_last_of_duplicate_lines_wins_as_in_a_scan() {
        let names: Vec<String> = ["refs/a", "refs/b", "refs/b", "refs/b", "refs/c"]
            .map(String::from)
            .to_vec();
        let data = sorted_file(&names);
        assert_eq!(found_id(&data, "refs/b"), Some(format!("{:040x}", 4)));
    }

    #[test]
    fn the_header_must_say_sorted() {
        assert_eq!(sorted_from(b"# pack-refs with: peeled sorted\nx"), Some(32));
        assert_eq!(sorted_from(b"# pack-refs with: peeled\n"), None);
        assert_eq!(sorted_from(b"# pack-refs with: unsorted \n"), None);
        assert_eq!(
            sorted_from(b"# pack-refs with: sorted"),
            None,
            "no end of line"
        );
        assert_eq!(
            sorted_from(b"0000 refs/x\n# pack-refs with: sorted \n"),
            None
        );
    }

    #[test]
    fn a_file_that_lies_about_being_sorted_ends_the_search_without_panicking() {
        // Out of order, lines without a space, comments and peeled lines in odd places,
        // no final newline: every name either is found at a line naming it, is absent, or
        // sends the lookup to the checked scan.
        let mut data = HEADER.as_bytes().to_vec();
        let mut seed = 0x2545_f491_u32;
        for i in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let line = match seed % 7 {
                0 => "^ffff\n".to_owned(),
                1 => "nospace\n".to_owned(),
                2 => "# comment\n".to_owned(),
                3 => "\n".to_owned(),
                _ => format!("{:040x} refs/r{}\n", i, seed % 50),
            };
            data.extend(line.bytes());
        }
        data.extend(b"00 refs/last");
        let start = sorted_from(&data).unwrap();
        for i in 0..60 {
            let name = format!("refs/r{i}");
            if let Search::Found(at) = search_sorted(&data, start, name.as_bytes()) {
                let line = line_at(&data, at);
                assert!(
                    line.ends_with(name.as_bytes()),
                    "{name}: {:?}",
                    line.as_bstr()
                );
            }
        }
        // The last line has no newline: found there, or the search ends without a panic.
        if let Search::Found(at) = search_sorted(&data, start, b"refs/last") {
            assert_eq!(line_at(&data, at), b"00 refs/last");
        }
    }

    #[test]
    fn a_malformed_line_found_by_bisection_is_reported_with_its_number() {
        let data = format!("{HEADER}{:040x} refs/a\nzz refs/b\n{:040x} refs/c\n", 1, 3);
        let packed = Packed {
            sorted: sorted_from(data.as_bytes()),
            data: Some(cap::Bytes::from_vec(data.into_bytes())),
        };
        assert!(packed.sorted.is_some());
        assert_eq!(
            packed.get(b"refs/c").unwrap(),
            Some(ObjectId::from_hex(format!("{:040x}", 3).as_bytes()).unwrap())
        );
        let err = packed.get(b"refs/b").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("zz refs/b"), "{err}");
        // Listing every reference checks every line.
        assert!(packed.refs().is_err());
    }
}
