//! Git's delta format: a base size, a result size, then copy and insert instructions.
//!
//! See git's `Documentation/gitformat-pack.txt`, "Deltified representation". Every read is
//! bounds-checked: a corrupt delta is an error, never a panic or an out-of-bounds copy.

/// Why a delta could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Error {
    #[error("delta is truncated")]
    Truncated,
    #[error("delta expects a base of {expected} bytes, the base has {actual}")]
    BaseSize { expected: u64, actual: u64 },
    #[error("delta copies bytes {offset}..{end} from a base of {len} bytes")]
    CopyOutOfBounds { offset: u64, end: u64, len: u64 },
    #[error("delta uses the reserved instruction 0")]
    ReservedInstruction,
    #[error("delta produced {actual} bytes but announced {expected}")]
    ResultSize { expected: u64, actual: u64 },
}

/// Read a size: little-endian base-128, seven bits a byte.
fn varint(data: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *data.get(*pos).ok_or(Error::Truncated)?;
        *pos += 1;
        if shift < 64 {
            value |= u64::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        if shift > 70 {
            return Err(Error::Truncated);
        }
    }
}

/// The size of the object `delta` produces, read from its header.
pub(crate) fn result_size(delta: &[u8]) -> Result<u64, Error> {
    let mut pos = 0;
    varint(delta, &mut pos)?;
    varint(delta, &mut pos)
}

/// Apply `delta` to `base`, replacing the contents of `out` with the result.
pub(crate) fn apply(base: &[u8], delta: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut pos = 0;
    let base_size = varint(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(Error::BaseSize {
            expected: base_size,
            actual: base.len() as u64,
        });
    }
    let size = varint(delta, &mut pos)?;
    out.clear();
    // Never trust an announced size for an allocation larger than the instructions could
    // possibly produce: each instruction byte yields at most 64 KiB.
    let bound = (delta.len() as u64).saturating_mul(0x10000);
    out.reserve(size.min(bound) as usize);
    while pos < delta.len() {
        let cmd = delta[pos];
        pos += 1;
        if cmd & 0x80 != 0 {
            let mut offset = 0u64;
            let mut len = 0u64;
            for i in 0..4 {
                if cmd & (1 << i) != 0 {
                    offset |= u64::from(*delta.get(pos).ok_or(Error::Truncated)?) << (8 * i);
                    pos += 1;
                }
            }
            for i in 0..3 {
                if cmd & (0x10 << i) != 0 {
                    len |= u64::from(*delta.get(pos).ok_or(Error::Truncated)?) << (8 * i);
                    pos += 1;
                }
            }
            if len == 0 {
                len = 0x10000;
            }
            let end = offset + len;
            if end > base.len() as u64 {
                return Err(Error::CopyOutOfBounds {
                    offset,
                    end,
                    len: base.len() as u64,
                });
            }
            out.extend_from_slice(&base[offset as usize..end as usize]);
        } else if cmd != 0 {
            let end = pos + usize::from(cmd);
            let data = delta.get(pos..end).ok_or(Error::Truncated)?;
            out.extend_from_slice(data);
            pos = end;
        } else {
            return Err(Error::ReservedInstruction);
        }
        if out.len() as u64 > size {
            break;
        }
    }
    if out.len() as u64 != size {
        return Err(Error::ResultSize {
            expected: size,
            actual: out.len() as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(base_len: u8, result_len: u8, ops: &[u8]) -> Vec<u8> {
        let mut d = vec![base_len, result_len];
        d.extend_from_slice(ops);
        d
    }

    #[test]
    fn copy_and_insert_instructions_rebuild_the_result() {
        let base = b"hello world";
        // copy offset 6 len 5 ("world"), insert " hello"
        let d = delta(
            11,
            11,
            &[
                0x80 | 0x01 | 0x10,
                6,
                5,
                6,
                b' ',
                b'h',
                b'e',
                b'l',
                b'l',
                b'o',
            ],
        );
        let mut out = Vec::new();
        apply(base, &d, &mut out).unwrap();
        assert_eq!(
            out, b"world hello",
            "expected the rebuilt object, got {:?}",
            out
        );
        assert_eq!(result_size(&d).unwrap(), 11);
    }

    #[test]
    fn copies_outside_the_base_are_rejected() {
        let d = delta(3, 5, &[0x80 | 0x01 | 0x10, 1, 5]);
        let err = apply(b"abc", &d, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, Error::CopyOutOfBounds { .. }), "got {err:?}");
    }

    #[test]
    fn wrong_base_size_truncation_and_reserved_opcodes_are_errors() {
        let mut out = Vec::new();
        assert_eq!(
            apply(b"ab", &delta(3, 1, &[1, b'x']), &mut out),
            Err(Error::BaseSize {
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            apply(b"abc", &delta(3, 2, &[2, b'x']), &mut out),
            Err(Error::Truncated)
        );
        assert_eq!(
            apply(b"abc", &delta(3, 1, &[0]), &mut out),
            Err(Error::ReservedInstruction)
        );
        assert_eq!(
            apply(b"abc", &delta(3, 4, &[1, b'x']), &mut out),
            Err(Error::ResultSize {
                expected: 4,
                actual: 1
            })
        );
    }
}
