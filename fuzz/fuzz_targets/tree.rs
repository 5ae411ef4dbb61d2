//! Tree parsing and validation: the input is the root tree's content, stored as a loose
//! object. Planning must fail cleanly or give only paths a writer accepts.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use libfuzzer_sys::fuzz_target;
use unfurl_engine::fuzzing::{plan_path_is_valid, plan_paths};
use unfurl_fuzz::{hash, open, scratch, write_loose, zlib_stored};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(scratch);
    let id = hash(gix_object::Kind::Tree, data);
    let mut raw = format!("tree {}\0", data.len()).into_bytes();
    raw.extend_from_slice(data);
    write_loose(dir, &id, &zlib_stored(&raw));
    let store = open(dir).expect("the scratch store opens");
    if let Ok(plan) = unfurl_engine::plan::plan(&store, id, &AtomicBool::new(false)) {
        for path in plan_paths(&plan) {
            assert!(plan_path_is_valid(path.as_ref()), "planned {path:?}");
        }
    }
});
