//! Path validation: what a writer accepts from an untrusted guest must never leave the
//! checkout or reach a `.git`, in any spelling git refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unfurl_engine::fuzzing::{component_is_valid, path_is_valid};

fuzz_target!(|data: &[u8]| {
    let component = component_is_valid(data);
    if component {
        assert!(
            !data.is_empty() && data != b"." && data != b"..",
            "{data:?}"
        );
        assert!(!data.contains(&b'/') && !data.contains(&0), "{data:?}");
        assert!(!data.eq_ignore_ascii_case(b".git"), "{data:?}");
    }
    let path = path_is_valid(data);
    if path {
        assert!(!data.starts_with(b"/"), "{data:?}");
        for part in data.split(|&b| b == b'/') {
            assert!(
                component_is_valid(part),
                "{data:?} accepted but {part:?} is not"
            );
        }
    }
    if component && !data.contains(&b'/') {
        assert!(path, "component {data:?} is valid but the path is not");
    }
});
