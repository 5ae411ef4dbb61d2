//! The fast path for zlib streams held whole in memory whose inflated size the pack
//! announces: most trees, deltas and blobs of a pack are small enough to be read with their
//! entry header, and a whole-buffer decoder beats a streaming one on them.
//!
//! Which decoder is a choice per target, like zlib-rs's own choice of AVX2 code; the result
//! is the same either way:
//!
//! - natively, libdeflate. On the 20k store (one job, tmpfs) it cut user time by 28%
//!   against zlib-rs streaming through a fixed buffer, and by more against zune-inflate;
//!   much of zlib-rs's time on small objects went to rebuilding Huffman tables.
//! - under wasm, where libdeflate's C cannot be built without a wasm C toolchain, zune-inflate
//!   (safe Rust): 20% faster there than zlib-rs on blobs, as zlib-rs has no SIMD loop on that
//!   target. But zune builds large decoding tables for every stream, which costs more than
//!   decoding a small one: trees, deltas and delta bases under `ZUNE_MIN` compressed bytes
//!   (most trees and deltas) are left to zlib-rs. (libdeflate compiled to wasm with clang
//!   was measured too: no faster than zune, its bit buffer being a 32-bit word there.)
//!
//! Both check the stream's Adler-32 checksum and never write past the announced size. A
//! stream either one refuses, for any reason, is decoded again by the streaming zlib-rs path
//! (the [`super::inflate`] module), which has the last word (git accepts what zlib accepts) and
//! names what is wrong.
//!
//! Security: libdeflate is C, fed bytes from a store we do not trust. It is small, fuzzed
//! continuously (OSS-Fuzz) and used on untrusted input by many decompressors; it reads only
//! `compressed` and writes only into the slice it is given, whose length is the announced
//! size, so a hostile stream can at worst fail to decode.

/// The smallest stream zune-inflate decodes under wasm. The wasm tree walk of the 20k store
/// (1,667 trees, 1,454 of them deltified) took 44 ms with zune for every entry and 33 ms with
/// zlib-rs for every entry, where a third of the time had gone to zune's table building;
/// but the write phase, whose delta bases are whole blobs, got slower without zune.
#[cfg(target_family = "wasm")]
const ZUNE_MIN: usize = 1024;

/// A whole-buffer zlib decoder, one per reader (libdeflate's holds ~32 KiB of tables).
pub(super) struct Whole {
    #[cfg(not(target_family = "wasm"))]
    libdeflate: libdeflater::Decompressor,
}

impl Whole {
    pub(super) fn new() -> Whole {
        Whole {
            #[cfg(not(target_family = "wasm"))]
            libdeflate: libdeflater::Decompressor::new(),
        }
    }

    /// Inflate `compressed`, which must start with a complete zlib stream of exactly `size`
    /// bytes (what follows it is ignored), into a new buffer; `None` if it is not, or if the streaming decoder is the faster
    /// choice for a stream this small here.
    pub(super) fn inflate(&mut self, compressed: &[u8], size: usize) -> Option<Vec<u8>> {
        #[cfg(not(target_family = "wasm"))]
        {
            let mut out = vec![0; size];
            libdeflate_into(&mut self.libdeflate, compressed, &mut out).then_some(out)
        }
        #[cfg(target_family = "wasm")]
        {
            if compressed.len() < ZUNE_MIN {
                return None;
            }
            zune(compressed, size)
        }
    }

    /// Like [`inflate`](Self::inflate), but reusing `buf` (grown as needed, never shrunk)
    /// where the decoder allows: the inflated bytes.
    pub(super) fn inflate_reusing<'b>(
        &mut self,
        compressed: &[u8],
        size: usize,
        buf: &'b mut Vec<u8>,
    ) -> Option<std::borrow::Cow<'b, [u8]>> {
        #[cfg(not(target_family = "wasm"))]
        {
            if buf.len() < size {
                buf.resize(size, 0);
            }
            let out = &mut buf[..size];
            libdeflate_into(&mut self.libdeflate, compressed, out)
                .then_some(std::borrow::Cow::Borrowed(&*out))
        }
        #[cfg(target_family = "wasm")]
        {
            let _ = buf;
            zune(compressed, size).map(std::borrow::Cow::Owned)
        }
    }
}

/// Inflate into `out`, which the stream must fill exactly.
#[cfg(not(target_family = "wasm"))]
fn libdeflate_into(
    decoder: &mut libdeflater::Decompressor,
    compressed: &[u8],
    out: &mut [u8],
) -> bool {
    // Fails with `InsufficientSpace` on a stream holding more than `out.len()` bytes, and
    // with `BadData` on a corrupt one or a wrong checksum.
    decoder
        .zlib_decompress(compressed, out)
        .is_ok_and(|n| n == out.len())
}

#[cfg(any(target_family = "wasm", test))]
fn zune(compressed: &[u8], size: usize) -> Option<Vec<u8>> {
    let options = zune_inflate::DeflateOptions::default()
        .set_limit(size)
        .set_size_hint(size)
        .set_confirm_checksum(true);
    let data = zune_inflate::DeflateDecoder::new_with_options(compressed, options)
        .decode_zlib()
        .ok()?;
    (data.len() == size).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` as a zlib stream of one stored (uncompressed) block.
    fn stored_zlib(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01, 0x01];
        let len = data.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in data {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    /// `data` compressed with dynamic Huffman blocks, as git writes most objects.
    fn compressed_zlib(data: &[u8]) -> Vec<u8> {
        let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0; compressor.zlib_compress_bound(data.len())];
        let n = compressor.zlib_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// Text-like content with repeats, so the stream has matches and a dynamic block.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 64 < 40 {
                    b"fn main() { println!(\"unfurl\"); }\n"[i % 34]
                } else {
                    b'a' + (state % 26) as u8
                }
            })
            .collect()
    }

    /// A decoder under test: stream and announced size in, content out.
    type Decode<'a> = &'a mut dyn FnMut(&[u8], usize) -> Option<Vec<u8>>;

    /// What every decoder must do: accept an intact stream of the announced size, refuse
    /// anything else.
    fn check(decode: Decode<'_>) {
        for (data, stream) in [
            (b"hello, unfurl".to_vec(), stored_zlib(b"hello, unfurl")),
            (b"".to_vec(), stored_zlib(b"")),
            (sample(100_000), compressed_zlib(&sample(100_000))),
        ] {
            assert_eq!(decode(&stream, data.len()).as_deref(), Some(&data[..]));
            // Followed by other bytes (the next entries of a pack, read without its index).
            let mut followed = stream.clone();
            followed.extend_from_slice(&stored_zlib(b"the next entry"));
            assert_eq!(decode(&followed, data.len()).as_deref(), Some(&data[..]));
            // Longer or shorter than announced.
            if !data.is_empty() {
                assert_eq!(decode(&stream, data.len() - 1), None);
            }
            assert_eq!(decode(&stream, data.len() + 1), None);
            // A flipped byte in the content or the checksum.
            for at in [stream.len() / 2, stream.len() - 1] {
                let mut corrupt = stream.clone();
                corrupt[at] ^= 0x20;
                assert_eq!(decode(&corrupt, data.len()), None, "flipped byte {at}");
            }
            // Truncated: the checksum, then the content, are missing.
            for cut in [stream.len() - 1, stream.len() - 4, stream.len() / 2, 2, 0] {
                assert_eq!(decode(&stream[..cut], data.len()), None, "cut at {cut}");
            }
        }
        // Not zlib at all.
        assert_eq!(decode(b"\x00\x01garbage-garbage", 5), None);
    }

    #[test]
    fn the_native_decoder_accepts_only_an_intact_stream_of_the_announced_size() {
        let mut whole = Whole::new();
        check(&mut |stream, size| whole.inflate(stream, size));
        let mut buf = Vec::new();
        check(&mut |stream, size| {
            whole
                .inflate_reusing(stream, size, &mut buf)
                .map(|data| data.into_owned())
        });
    }

    #[test]
    fn the_wasm_decoder_accepts_only_an_intact_stream_of_the_announced_size() {
        check(&mut zune);
    }
}
