//! Loose objects: the zlib stream and the `<kind> <size>\0` header. The first byte says
//! whether the rest is the file as stored, or the object to wrap in valid zlib.
#![no_main]

use std::sync::OnceLock;

use gix_hash::ObjectId;
use libfuzzer_sys::fuzz_target;
use unfurl_engine::fuzzing::{read_object, write_blob};
use unfurl_fuzz::{open, scratch, write_loose, zlib_stored};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = DIR.get_or_init(scratch);
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        zlib_stored(rest)
    };
    let id = ObjectId::from_bytes_or_panic(&[0x33; 20]);
    write_loose(dir, &id, &file);
    let store = open(dir).expect("the scratch store opens");
    let whole = read_object(&store, &id);
    let mut sink = Vec::new();
    let streamed = write_blob(&store, &id, &mut sink);
    if let (Ok((gix_object::Kind::Blob, content)), Ok(size)) = (&whole, &streamed) {
        assert_eq!(
            *size as usize,
            sink.len(),
            "the size returned is the size written"
        );
        assert_eq!(content, &sink, "read whole and streamed, one blob");
    }
});
