//! The LFS pointer format (git-lfs's `docs/spec.md`).

use bstr::ByteSlice;

/// An LFS pointer: which object a file's content is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pointer {
    /// The object's SHA-256, 64 lowercase hex digits.
    pub oid: String,
    /// The object's size in bytes.
    pub size: u64,
}

/// The largest size a pointer may claim: git-lfs reads it as a signed 64-bit number.
const MAX_SIZE: u64 = i64::MAX as u64;

impl Pointer {
    /// The pointer as git-lfs's clean filter writes it (the one canonical form): what a
    /// blob holds for an object of SHA-256 `oid` (lowercase hex) and `size` bytes.
    pub fn canonical(oid: &str, size: u64) -> String {
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
    }

    /// Parse a blob as a pointer; `None` if it is not a valid one (then git-lfs writes the
    /// blob as it is, and so do we).
    ///
    /// The format: `version https://git-lfs.github.com/spec/v1` first, then `key value`
    /// lines in key order, each ending in a newline, with `oid sha256:<64 hex digits>`
    /// and `size <decimal>` among them.
    pub fn parse(data: &[u8]) -> Option<Pointer> {
        if data.len() as u64 > super::MAX_POINTER_SIZE || !data.ends_with(b"\n") {
            return None;
        }
        let mut lines = data[..data.len() - 1].split_str("\n");
        let version = lines.next()?;
        if version != b"version https://git-lfs.github.com/spec/v1"
            && version != b"version https://hawser.github.com/spec/v1"
        {
            return None;
        }
        let (mut oid, mut size) = (None, None);
        let mut last_key: &[u8] = b"";
        for line in lines {
            let (key, value) = line.split_once_str(" ")?;
            if key <= last_key || key.is_empty() {
                return None;
            }
            last_key = key;
            match key {
                b"oid" => {
                    let hex = value.strip_prefix(b"sha256:")?;
                    let valid = hex.len() == 64
                        && hex
                            .iter()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
                    oid = Some(valid.then(|| hex.to_str().ok())??.to_owned());
                }
                b"size" => {
                    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                        return None;
                    }
                    let n: u64 = value.to_str().ok()?.parse().ok()?;
                    size = Some((n <= MAX_SIZE).then_some(n)?);
                }
                _ if key.starts_with(b"ext-") => {}
                _ => return None,
            }
        }
        let pointer = Pointer {
            oid: oid?,
            size: size?,
        };
        Some(pointer)
    }

    /// Check a pointer received from elsewhere (a sandboxed planner): its oid must be 64
    /// lowercase hex digits, so that it names a file of the objects directory and nothing
    /// else.
    pub fn check(&self) -> Result<(), &'static str> {
        let valid = self.oid.len() == 64
            && self
                .oid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid
            .then_some(())
            .ok_or("its oid is not 64 lowercase hex digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    fn text(oid: &str, size: &str) -> Vec<u8> {
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
            .into_bytes()
    }

    #[test]
    fn valid_pointers_parse() {
        assert_eq!(
            Pointer::parse(&text(OID, "12345")),
            Some(Pointer {
                oid: OID.into(),
                size: 12345
            })
        );
        assert_eq!(
            Pointer::canonical(OID, 12345).as_bytes(),
            text(OID, "12345"),
            "the canonical form is the one parsed"
        );
    }

    #[test]
    fn invalid_pointers_are_not_pointers() {
        for (what, data) in [
            ("uppercase oid", text(&OID.to_uppercase(), "1")),
            ("short oid", text(&OID[1..], "1")),
            ("path-like oid", text(&format!("../../{}", &OID[6..]), "1")),
            ("absurd size", text(OID, "99999999999999999999")),
            ("negative size", text(OID, "-1")),
            ("no final newline", text(OID, "1")[..100].to_vec()),
            ("keys out of order", format!("version https://git-lfs.github.com/spec/v1\nsize 1\noid sha256:{OID}\n").into_bytes()),
            ("unknown key", format!("version https://git-lfs.github.com/spec/v1\nfoo bar\noid sha256:{OID}\nsize 1\n").into_bytes()),
            ("not a pointer", b"hello\n".to_vec()),
        ] {
            assert_eq!(Pointer::parse(&data), None, "{what}: expected no pointer");
        }
    }
}
