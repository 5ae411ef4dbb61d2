//! git's delta format: a corrupt delta is an error, never a panic, an out-of-bounds copy
//! or a result of another size than announced.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says how much of the rest is the base.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (base, delta) = rest.split_at(split);
    let _ = unfurl_engine::fuzzing::delta(base, delta);
});
