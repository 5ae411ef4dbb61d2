//! References and revisions: `packed-refs`, `config`, a loose ref and the revision
//! parser, from NUL-separated parts of the input. Resolving must fail cleanly or name an
//! object.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unfurl_fuzz::{open, scratch};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(scratch);
    let mut parts = data.splitn(4, |&b| b == 0);
    let packed = parts.next().unwrap_or_default();
    let config = parts.next().unwrap_or_default();
    let loose = parts.next().unwrap_or_default();
    let rev = parts.next().unwrap_or_default();
    std::fs::write(dir.join("packed-refs"), packed).expect("packed-refs");
    std::fs::write(dir.join("config"), config).expect("config");
    std::fs::write(dir.join("refs/heads/main"), loose).expect("loose ref");
    let _ = unfurl_engine::store::Store::parse_alternates(config);
    let Ok(store) = open(dir) else {
        return;
    };
    let _ = store.refs_under("");
    let _ = store.refs_under("refs/tags/");
    if let Ok(rev) = std::str::from_utf8(rev) {
        let _ = unfurl_engine::resolve::resolve(&store, rev);
    }
});
