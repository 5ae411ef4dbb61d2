//! The WASI guest: the engine's checkout, confined to two preopened directories.
//!
//! Built for `wasm32-wasip1` by the host's `build.rs` and embedded in the `unfurl` binary.
//! It takes one argument, a JSON [`Request`](unfurl_engine::wire::Request), writes the
//! checkout into the preopened staging directory, and prints one JSON
//! [`Reply`](unfurl_engine::wire::Reply). It runs exactly the code a native checkout runs;
//! only the directory handles come from preopens instead of cap-std.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use unfurl_engine::wire::{DEST, Reply, Request, STORE};
use unfurl_engine::{Alternate, Dir, Options, Store};

fn main() -> ExitCode {
    let reply = match request() {
        Ok(request) if !request.probe.is_empty() => probe(&request.probe),
        Ok(request) => checkout(&request),
        Err(message) => Reply::Failed { message },
    };
    let ok = matches!(reply, Reply::Done { .. } | Reply::Probed { .. });
    match serde_json::to_string(&reply) {
        Ok(json) => println!("{json}"),
        Err(err) => {
            eprintln!("cannot encode reply: {err}");
            return ExitCode::from(2);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn request() -> Result<Request, String> {
    let arg = std::env::args()
        .nth(1)
        .ok_or("the guest takes one argument, a JSON request")?;
    serde_json::from_str(&arg).map_err(|e| format!("malformed request: {e}"))
}

fn checkout(request: &Request) -> Reply {
    let alternates = request
        .alternates
        .iter()
        .map(|path| Alternate {
            dir: Dir::preopened(path),
            path: PathBuf::from(path),
        })
        .collect();
    let mut options = Options::default();
    options.write.delta_cache_bytes = request.delta_cache_bytes;
    options.shard = request.shard;
    if request.shard.is_some_and(|shard| shard.claimed) {
        options.write.claim = Some(next_group);
    }
    let result = Store::open(Dir::preopened(STORE), alternates)
        .map_err(unfurl_engine::Error::from)
        .and_then(|store| {
            unfurl_engine::materialize(
                &store,
                &request.rev,
                &Dir::preopened(DEST),
                &options,
                &(),
                &AtomicBool::new(false),
            )
        });
    match result {
        Ok(outcome) => Reply::Done {
            commit: outcome.commit.map(|c| c.to_string()),
            tree: outcome.tree.to_string(),
            stats: outcome.stats,
            phases: unfurl_engine::wire::GuestPhases {
                resolve_us: outcome.phases.resolve.as_micros() as u64,
                plan_us: outcome.phases.plan.as_micros() as u64,
                write_us: outcome.phases.write.as_micros() as u64,
            },
        },
        Err(err) => Reply::Failed {
            message: chain(&err),
        },
    }
}

/// The index of the next group of files to write, from the counter the host shares among
/// the guests of one checkout.
fn next_group() -> usize {
    // An import from the default module, `env`, provided by the host.
    unsafe extern "C" {
        fn unfurl_next_group() -> u32;
    }
    // SAFETY: the import takes nothing and returns a number; the host's implementation
    // (`wasm::Sandbox::run`) only increments a counter and touches no guest memory.
    unsafe { unfurl_next_group() as usize }
}

/// The error and its causes on one line, as the native CLI prints them (`a: b: c`).
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn probe(paths: &[String]) -> Reply {
    let describe = |result: std::io::Result<()>| match result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.to_string(),
    };
    let results = paths
        .iter()
        .map(|path| {
            let read = std::fs::read(path).map(drop);
            let create = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(format!("{path}.unfurl-probe"))
                .map(drop);
            (path.clone(), describe(read), describe(create))
        })
        .collect();
    Reply::Probed { results }
}
