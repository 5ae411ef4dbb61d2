//! Pack entries: headers, zlib streams, offset and ref deltas. The input is two entries
//! of a pack (the first two bytes say where the second starts); each is read whole and
//! streamed as a blob. Any bytes must give an object or a clean error.
#![no_main]

use std::sync::OnceLock;

use gix_hash::ObjectId;
use libfuzzer_sys::fuzz_target;
use unfurl_engine::fuzzing::{read_object, write_blob};
use unfurl_fuzz::{open, scratch, write_pack};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let dir = DIR.get_or_init(scratch);
    let split = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    let (first, second) = data[2..].split_at(split);
    let ids = [
        ObjectId::from_bytes_or_panic(&[0x11; 20]),
        ObjectId::from_bytes_or_panic(&[0x22; 20]),
    ];
    write_pack(dir, &ids, &[first, second]);
    let store = open(dir).expect("the scratch store opens");
    for id in &ids {
        let whole = read_object(&store, id);
        let mut sink = Vec::new();
        let streamed = write_blob(&store, id, &mut sink);
        if let (Ok((gix_object::Kind::Blob, content)), Ok(size)) = (&whole, &streamed) {
            assert_eq!(
                *size as usize,
                sink.len(),
                "the size returned is the size written"
            );
            assert_eq!(content, &sink, "read whole and streamed, one blob");
        }
    }
});
