//! unfurl's host: turns paths into directory capabilities and runs the checkout engine,
//! natively or (see [`Runtime::Wasm`]) confined under WASI.
//!
//! This crate is the only place with ambient authority: it opens the store, its alternates
//! and the destination's parent as [`cap_std::fs::Dir`] handles and hands those to
//! [`unfurl_engine`], which can reach nothing else.
//!
//! ```no_run
//! # fn main() -> Result<(), unfurl::Error> {
//! use std::sync::atomic::AtomicBool;
//! let request = unfurl::Request::new("store.git", "main", "checkout");
//! let report = unfurl::checkout(&request, &(), &AtomicBool::new(false))?;
//! println!("{} files in {} ms", report.files, report.elapsed_ms);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod dest;
mod store;
pub mod wasm;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use unfurl_engine::write::Deferred;

pub use store::open_store;

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// In this process, with cap-std handles. The default.
    #[default]
    Native,
    /// In an embedded wasmtime, as a WASI guest that can reach only the store (read-only)
    /// and the staging directory; see [`wasm`].
    Wasm,
}

impl Runtime {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Wasm => "wasm",
        }
    }
}

/// One checkout to perform.
#[derive(Debug, Clone)]
pub struct Request {
    /// The store: a bare repository, a `.git` directory, or a work tree containing `.git`.
    pub store: PathBuf,
    /// The revision to check out (`main`, `v1`, `HEAD~2`, an object id, `main:dir`, …).
    pub rev: String,
    /// The destination: must not exist, or be an empty directory. Missing parents are created.
    pub dest: PathBuf,
    /// Where the engine runs. Default: [`Runtime::Native`].
    pub runtime: Runtime,
    /// Engine options (workers, delta cache). Default: one worker per core.
    pub options: unfurl_engine::Options,
    /// Limits for [`Runtime::Wasm`]: memory cap, deadline, compiled-module cache.
    pub wasm: wasm::Limits,
}

impl Request {
    /// Check out `rev` from `store` into `dest`, natively, with default options.
    pub fn new(
        store: impl Into<PathBuf>,
        rev: impl Into<String>,
        dest: impl Into<PathBuf>,
    ) -> Request {
        Request {
            store: store.into(),
            rev: rev.into(),
            dest: dest.into(),
            runtime: Runtime::Native,
            options: unfurl_engine::Options::default(),
            wasm: wasm::Limits::default(),
        }
    }
}

/// What a checkout did, as reported by `unfurl checkout --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The commit checked out (hex), or `None` when the revision named a tree.
    pub commit: Option<String>,
    /// The tree checked out (hex).
    pub tree: String,
    /// Regular files written, executables included.
    pub files: u64,
    /// Directories created, not counting the destination itself.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Files marked executable.
    pub executables: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Wall time of the whole checkout, in milliseconds.
    pub elapsed_ms: u64,
    /// `"native"` or `"wasm"`.
    pub runtime: &'static str,
    /// Where the time went, in microseconds: `resolve`, `plan`, `write` and `publish`; under
    /// wasm also `load` (getting the compiled guest: the warm-start cost) and `guests`
    /// (running them, start to end), while `resolve`, `plan` and `write` are each the
    /// slowest guest's (they run side by side).
    pub phases_us: std::collections::BTreeMap<&'static str, u64>,
    /// Operations the engine's runtime could not perform and the host performed for it
    /// (under WASI: exec bits, some symlinks, non-UTF-8 names), by kind. Empty natively.
    pub fallbacks: Vec<Fallback>,
}

/// A kind of operation the host performed on the sandboxed engine's behalf.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fallback {
    /// `"executable"` (exec bit set by the host: WASI preview 1 has no chmod), `"symlink"`
    /// (created by the host: wasmtime refuses absolute and non-UTF-8 targets, and with
    /// several guests every link waits for all of them) or `"rename"` (an entry whose name
    /// is not UTF-8, which WASI cannot spell, written under a placeholder and renamed).
    pub kind: &'static str,
    /// How many times.
    pub count: u64,
}

fn fallbacks(deferred: &[Deferred]) -> Vec<Fallback> {
    let mut out: Vec<Fallback> = Vec::new();
    for op in deferred {
        let kind = match op {
            Deferred::Executable { .. } => "executable",
            Deferred::Symlink { .. } => "symlink",
            Deferred::Rename { .. } => "rename",
            _ => "other",
        };
        match out.iter_mut().find(|f| f.kind == kind) {
            Some(f) => f.count += 1,
            None => out.push(Fallback { kind, count: 1 }),
        }
    }
    out
}

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store path does not lead to a usable git directory.
    #[error("{message}")]
    Store {
        /// The store path as given.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The destination cannot be used.
    #[error("destination {path}: {message}")]
    Dest {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] unfurl_engine::Error),
    /// The sandboxed engine failed, or could not be run.
    #[error(transparent)]
    Wasm(#[from] wasm::Error),
}

/// Run `request`: open the store and the destination's parent, check out, publish.
///
/// On failure nothing is left behind: no destination, no staging directory, and none of
/// the destination's parents that this call created.
pub fn checkout(
    request: &Request,
    progress: &dyn unfurl_engine::Progress,
    interrupt: &AtomicBool,
) -> Result<Report, Error> {
    let start = Instant::now();
    let located = store::locate(&request.store)?;
    // Natively this is the store the engine reads; for the sandbox it is opened too, so
    // that a bad store fails with the same message in both runtimes before any work.
    let store = store::open_located(&request.store, &located)?;
    let dest = dest::Dest::prepare(&request.dest)?;
    let report = match request.runtime {
        Runtime::Native => {
            let outcome = unfurl_engine::checkout(
                &store,
                &request.rev,
                dest.parent(),
                dest.name(),
                &request.options,
                progress,
                interrupt,
            )?;
            let phases = outcome.phases;
            let mut report = report(
                outcome.commit.map(|c| c.to_string()),
                outcome.tree.to_string(),
                outcome.stats,
                start,
                Runtime::Native,
            );
            for (name, took) in [
                ("resolve", phases.resolve),
                ("plan", phases.plan),
                ("write", phases.write),
                ("publish", phases.publish),
            ] {
                report.phases_us.insert(name, took.as_micros() as u64);
            }
            report
        }
        Runtime::Wasm => {
            drop(store);
            checkout_wasm(request, &located, &dest, start, interrupt)?
        }
    };
    dest.keep();
    Ok(report)
}

/// The sandboxed checkout: stage natively, write in guests, finish and publish natively.
///
/// wasm32-wasip1 has no threads, so parallelism comes from running `jobs` guest
/// instances at once, each writing one [`Shard`](unfurl_engine::plan::Shard) of the
/// checkout with the same engine code. The host creates the symlinks last, after every
/// shard is done, from the validated list the guests return.
fn checkout_wasm(
    request: &Request,
    located: &store::Located,
    dest: &dest::Dest,
    start: Instant,
    interrupt: &AtomicBool,
) -> Result<Report, Error> {
    let staging = unfurl_engine::publish::Staging::create(dest.parent(), dest.name())
        .map_err(unfurl_engine::Error::from)?;
    let staging_path = dest.parent_path().join(staging.name());
    let load_start = Instant::now();
    let sandbox = wasm::Sandbox::load(&request.wasm)?;
    let load = load_start.elapsed();
    let guests_start = Instant::now();
    let shards = match request.options.write.jobs {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        jobs => jobs,
    };
    let claims = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run_shard = |index: usize| {
        let wire_request = unfurl_engine::wire::Request {
            rev: request.rev.clone(),
            alternates: (0..located.alternates.len())
                .map(|i| format!("/alt/{i}"))
                .collect(),
            delta_cache_bytes: request.options.write.delta_cache_bytes / shards,
            // Directories are claimed from one counter, not dealt out in advance: guests
            // share two cores with everything else, and a guest slowed down by a busy
            // core would otherwise hold up the whole checkout with its fixed share.
            shard: (shards > 1).then_some(unfurl_engine::plan::Shard {
                index,
                count: shards,
                claimed: true,
            }),
            probe: Vec::new(),
        };
        sandbox.run(
            &wire_request,
            &located.git_dir,
            &located.alternates,
            Some(&staging_path),
            claims.clone(),
            &request.wasm,
            interrupt,
        )
    };
    let replies: Vec<Result<unfurl_engine::wire::Reply, wasm::Error>> =
        sandbox.guarded(&request.wasm, interrupt, || {
            if shards == 1 {
                return vec![run_shard(0)];
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..shards)
                    .map(|i| scope.spawn(move || run_shard(i)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            })
        });
    let mut merged: Option<(Option<String>, String, unfurl_engine::write::Stats)> = None;
    // The guests run side by side: each stage took as long as its slowest guest.
    let mut slowest = unfurl_engine::wire::GuestPhases::default();
    for reply in replies {
        match reply? {
            unfurl_engine::wire::Reply::Done {
                commit,
                tree,
                stats,
                phases,
            } => {
                slowest.resolve_us = slowest.resolve_us.max(phases.resolve_us);
                slowest.plan_us = slowest.plan_us.max(phases.plan_us);
                slowest.write_us = slowest.write_us.max(phases.write_us);
                match &mut merged {
                    None => merged = Some((commit, tree, stats)),
                    Some((_, _, total)) => {
                        total.files += stats.files;
                        total.dirs += stats.dirs;
                        total.symlinks += stats.symlinks;
                        total.executables += stats.executables;
                        total.bytes += stats.bytes;
                        total.deferred.extend(stats.deferred);
                    }
                }
            }
            unfurl_engine::wire::Reply::Failed { message } => {
                return Err(wasm::Error::Guest(message).into());
            }
            unfurl_engine::wire::Reply::Probed { .. } => {
                return Err(wasm::Error::Runtime("unexpected probe reply".into()).into());
            }
        }
    }
    let (commit, tree, stats) =
        merged.ok_or_else(|| wasm::Error::Runtime("no guest replied".into()))?;
    let guests = guests_start.elapsed();
    let publish_start = Instant::now();
    // What WASI cannot do (exec bits, absolute symlinks) and, with several shards, every
    // symlink, the host does through its own handle on the staging directory; the list
    // is validated, not trusted.
    unfurl_engine::write::apply_deferred(staging.dir(), &stats.deferred)
        .map_err(unfurl_engine::Error::from)?;
    staging.publish().map_err(unfurl_engine::Error::from)?;
    let publish = publish_start.elapsed();
    let mut report = report(commit, tree, stats, start, Runtime::Wasm);
    for (name, took) in [("load", load), ("guests", guests), ("publish", publish)] {
        report.phases_us.insert(name, took.as_micros() as u64);
    }
    report.phases_us.insert("resolve", slowest.resolve_us);
    report.phases_us.insert("plan", slowest.plan_us);
    report.phases_us.insert("write", slowest.write_us);
    Ok(report)
}

/// Run a confinement probe in the sandbox: the guest, given the store of `store_path` and a
/// fresh empty directory as `/dest`, tries to read each of `paths` and to create a file next
/// to it, and reports `(path, read result, create result)`. Used by the test suite to show
/// what a guest can and cannot reach.
#[doc(hidden)]
pub fn probe_confinement(
    store_path: &Path,
    dest: &Path,
    paths: &[String],
) -> Result<Vec<(String, String, String)>, Error> {
    let located = store::locate(store_path)?;
    let request = unfurl_engine::wire::Request {
        rev: String::new(),
        alternates: Vec::new(),
        delta_cache_bytes: 0,
        shard: None,
        probe: paths.to_vec(),
    };
    let limits = wasm::Limits::default();
    let sandbox = wasm::Sandbox::load(&limits)?;
    let interrupt = AtomicBool::new(false);
    let reply = sandbox.guarded(&limits, &interrupt, || {
        sandbox.run(
            &request,
            &located.git_dir,
            &[],
            Some(dest),
            Default::default(),
            &limits,
            &interrupt,
        )
    })?;
    match reply {
        unfurl_engine::wire::Reply::Probed { results } => Ok(results),
        _ => Err(wasm::Error::Runtime("the guest did not answer the probe".into()).into()),
    }
}

fn report(
    commit: Option<String>,
    tree: String,
    stats: unfurl_engine::write::Stats,
    start: Instant,
    runtime: Runtime,
) -> Report {
    Report {
        commit,
        tree,
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        executables: stats.executables,
        bytes: stats.bytes,
        elapsed_ms: start.elapsed().as_millis() as u64,
        runtime: runtime.name(),
        phases_us: Default::default(),
        fallbacks: fallbacks(&stats.deferred),
    }
}

/// `path` for messages: as given.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}
