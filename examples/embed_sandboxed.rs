//! Embed the sandboxed engine: the checkout runs as a WASI guest in wasmtime and can reach
//! only the store (read-only) and the destination's staging directory.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p unfurl --example embed_sandboxed -- STORE REV DEST
//! ```

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, rev, dest] = args.as_slice() else {
        bail!("usage: embed_sandboxed STORE REV DEST");
    };

    // 1. Describe the checkout, and choose the confined runtime with tight limits.
    let mut request = unfurl::Request::new(store, rev, dest);
    request.runtime = unfurl::Runtime::Wasm;
    request.wasm.max_memory = 256 << 20;
    request.wasm.timeout = Some(Duration::from_secs(120));

    // 2. Run it. The host opens the paths, preopens them for the guest, finishes what WASI
    //    cannot do (exec bits, absolute symlinks) and publishes atomically.
    let report = unfurl::checkout(&request, &(), &AtomicBool::new(false))?;

    // 3. The report is what `unfurl checkout --json` prints.
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
