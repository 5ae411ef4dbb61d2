use super::*;

/// Text-like content with repeats and noise, so the stream has dynamic blocks.
fn sample(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if i % 50 < 30 {
                b"let unfurl = inflate(stream);\n"[i % 30]
            } else {
                (state % 251) as u8
            }
        })
        .collect()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; compressor.zlib_compress_bound(data.len())];
    let n = compressor.zlib_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// A reader handing out `data` a few bytes at a time, then failing if `fail_at_end`.
struct Trickle<'d> {
    data: &'d [u8],
    step: usize,
    reads: usize,
    fail_at_end: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.data.is_empty() && self.fail_at_end {
            return Err(io::Error::other("disk gone"));
        }
        // Vary the size of each read: 1, 2, … `step` bytes.
        let n = (self.reads % self.step + 1)
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn trickle(data: &[u8], step: usize) -> Trickle<'_> {
    Trickle {
        data,
        step,
        reads: 0,
        fail_at_end: false,
    }
}

/// Stream `data` from `stream` read in trickles, starting with `prefix` bytes already filled.
fn stream_all(
    inflater: &mut Inflater,
    stream: &[u8],
    prefix: usize,
    expected: Option<u64>,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let filled = inflater
        .fill(prefix, |buf| {
            buf[..prefix].copy_from_slice(&stream[..prefix]);
            Ok(prefix)
        })
        .unwrap();
    filled.stream(&mut trickle(&stream[prefix..], 977), expected, |chunk| {
        out.extend_from_slice(chunk);
        Ok(true)
    })?;
    Ok(out)
}

fn corrupt_message(err: InflateError) -> String {
    match err {
        InflateError::Corrupt(message) => message,
        other => panic!("expected a corrupt stream, got {other:?}"),
    }
}

#[test]
fn a_good_stream_read_in_small_chunks_inflates_to_its_content() {
    let mut inflater = Inflater::new();
    for len in [0, 1, 300, CHUNK - 1, CHUNK, 3 * CHUNK + 17] {
        let data = sample(len);
        let stream = zlib(&data);
        for prefix in [0, 2, stream.len().min(100)] {
            let out = stream_all(&mut inflater, &stream, prefix, Some(len as u64))
                .unwrap_or_else(|e| panic!("{len} bytes, prefix {prefix}: {e:?}"));
            assert!(out == data, "{len} bytes, prefix {prefix}: content differs");
            // Unannounced (a loose object's size is inside the stream).
            let out = stream_all(&mut inflater, &stream, prefix, None).unwrap();
            assert!(out == data, "{len} bytes unannounced: content differs");
        }
        let filled = inflater.fill(0, |_| Ok(0)).unwrap();
        let out = filled
            .into_vec(&mut trickle(&stream, 5000), len as u64, 10)
            .unwrap();
        assert!(
            out == data,
            "{len} bytes into a vector grown from 10: differs"
        );
    }
}

#[test]
fn a_truncated_stream_is_corrupt() {
    let mut inflater = Inflater::new();
    let data = sample(100_000);
    let stream = zlib(&data);
    for cut in [
        0,
        1,
        2,
        stream.len() / 2,
        stream.len() - 4,
        stream.len() - 1,
    ] {
        let err = stream_all(&mut inflater, &stream[..cut], 0, Some(100_000))
            .expect_err("a truncated stream");
        let message = corrupt_message(err);
        assert!(
            message.contains("truncated"),
            "cut at {cut}: expected 'truncated', got {message:?}"
        );
        let err = inflater
            .fill(0, |_| Ok(0))
            .unwrap()
            .into_vec(&mut trickle(&stream[..cut], 100), 100_000, 100_000)
            .expect_err("a truncated stream into a vector");
        assert!(corrupt_message(err).contains("truncated"));
    }
}

#[test]
fn a_stream_longer_or_shorter_than_announced_is_corrupt_and_the_excess_never_reaches_the_sink() {
    let mut inflater = Inflater::new();
    let data = sample(200_000);
    let stream = zlib(&data);
    for announced in [0u64, 1, 65_535, 199_999] {
        let mut seen = 0u64;
        let err = inflater
            .stream(&mut trickle(&stream, 3000), Some(announced), |chunk| {
                seen += chunk.len() as u64;
                Ok(true)
            })
            .expect_err("a stream longer than announced");
        let message = corrupt_message(err);
        assert!(
            message.contains("more data"),
            "announced {announced}: {message:?}"
        );
        assert!(
            seen <= announced,
            "announced {announced}, the sink saw {seen} bytes"
        );
        let err = inflater
            .fill(0, |_| Ok(0))
            .unwrap()
            .into_vec(&mut trickle(&stream, 3000), announced, announced)
            .expect_err("a stream longer than announced, into a vector");
        // Caught when the buffer is full, or, within its spare room, at the end.
        let message = corrupt_message(err);
        assert!(
            message.contains("more data") || message.contains("inflates to 200000 bytes"),
            "announced {announced}, into a vector: {message:?}"
        );
    }
    let err = inflater
        .stream(&mut trickle(&stream, 3000), Some(200_001), |_| Ok(true))
        .expect_err("a stream shorter than announced");
    assert!(corrupt_message(err).contains("200000 bytes"));
    // An absurd announced size allocates only what the stream holds.
    let err = inflater
        .fill(0, |_| Ok(0))
        .unwrap()
        .into_vec(&mut trickle(&stream, 3000), u64::MAX / 2, 4096)
        .expect_err("an absurd size");
    let message = corrupt_message(err);
    assert!(
        message.contains("200000 bytes") || message.contains("more than this platform"),
        "{message:?}"
    );
}

#[test]
fn garbage_is_corrupt_and_never_loops() {
    let mut inflater = Inflater::new();
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 256) as u8).collect();
    for input in [&garbage[..], b"\x78\x9c\xff\xff\xff\xff", b"x"] {
        let err = inflater
            .stream(&mut trickle(input, 10), Some(1000), |_| Ok(true))
            .expect_err("garbage");
        assert!(matches!(err, InflateError::Corrupt(_)), "{err:?}");
    }
    // A flipped bit in the checksum.
    let data = sample(5000);
    let mut stream = zlib(&data);
    *stream.last_mut().unwrap() ^= 1;
    let err = stream_all(&mut inflater, &stream, 0, Some(5000)).expect_err("bad checksum");
    assert!(matches!(err, InflateError::Corrupt(_)), "{err:?}");
}

#[test]
fn read_and_sink_errors_are_told_apart_and_a_sink_can_stop_early() {
    let mut inflater = Inflater::new();
    let data = sample(300_000);
    let stream = zlib(&data);
    let mut calls = 0;
    let err = inflater
        .stream(&mut trickle(&stream, 50_000), None, |_| {
            calls += 1;
            if calls == 2 {
                Err(io::Error::other("disk full"))
            } else {
                Ok(true)
            }
        })
        .expect_err("a sink error");
    assert!(
        matches!(&err, InflateError::Sink(e) if e.to_string() == "disk full"),
        "{err:?}"
    );
    let mut failing = trickle(&stream[..1000], 300);
    failing.fail_at_end = true;
    let err = inflater
        .stream(&mut failing, None, |_| Ok(true))
        .expect_err("a read error");
    assert!(matches!(err, InflateError::Read(_)), "{err:?}");
    // A sink that has seen enough stops the stream, with no error.
    let mut head = Vec::new();
    let total = inflater
        .stream(&mut trickle(&stream, 50_000), Some(300_000), |chunk| {
            head.extend_from_slice(chunk);
            Ok(head.len() < 10)
        })
        .unwrap();
    assert_eq!(total, head.len() as u64);
    assert!(head[..10] == data[..10]);
    // The inflater is still whole after all that.
    let out = stream_all(&mut inflater, &stream, 10, Some(300_000)).unwrap();
    assert!(out == data);
}

#[test]
fn whole_decoding_uses_only_the_bytes_held_and_keeps_them_for_streaming() {
    let mut inflater = Inflater::new();
    let data = sample(20_000);
    let stream = zlib(&data);
    // A header, the stream, then the next entry's bytes.
    let mut bytes = vec![0xB5, 0x01];
    bytes.extend_from_slice(&stream);
    bytes.extend_from_slice(b"next entry");
    let mut filled = inflater
        .fill(bytes.len(), |buf| {
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        })
        .unwrap();
    filled.skip(2);
    assert_eq!(filled.len(), stream.len() + 10);
    // Trailing bytes after the stream are no obstacle.
    assert!(filled.whole(data.len()).as_deref() == Some(&data[..]));
    // Cut short, whole decoding fails and streaming goes on from the bytes held.
    filled.truncate(stream.len() / 2);
    assert_eq!(filled.whole(data.len()), None);
    let mut out = Vec::new();
    filled
        .stream(
            &mut &stream[stream.len() / 2..],
            Some(data.len() as u64),
            |chunk| {
                out.extend_from_slice(chunk);
                Ok(true)
            },
        )
        .unwrap();
    assert!(out == data);
}
