//! The WASI guest: the engine's planner or writer, confined to its preopened directories.
//!
//! Built for `wasm32-wasip1` by the host's `build.rs` and embedded in the `unfurl` binary.
//! It takes one argument, a JSON [`Request`](unfurl_engine::wire::Request), and prints one
//! JSON [`Reply`](unfurl_engine::wire::Reply). A planner resolves the revision and plans
//! the tree exactly as a native checkout does; a writer claims groups of files from the
//! host and writes them with the engine's own writer. Only the directory handles differ:
//! they come from preopens instead of cap-std.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use unfurl_engine::wire::{DEST, GuestPhases, Reply, Request, STORE, StoreLayout};
use unfurl_engine::write::{self, Group};
use unfurl_engine::{Alternate, Backend, Dir, ErrorKind, Failure, Native, Options, Store};

fn main() -> ExitCode {
    let reply = match request() {
        Ok(Request::Plan {
            rev,
            store,
            delta_cache_bytes,
            refs,
            paths,
            gitmodules,
            attributes,
            archive,
            verify_objects,
        }) => plan(
            &rev,
            &store,
            delta_cache_bytes,
            refs,
            paths,
            gitmodules,
            attributes,
            archive,
            verify_objects,
        ),
        Ok(Request::Write {
            store,
            delta_cache_bytes,
            mtime,
            verify_objects,
            packs,
        }) => write(&store, delta_cache_bytes, mtime, verify_objects, &packs),
        Err(message) => Reply::Failed(protocol(message)),
    };
    let ok = !matches!(reply, Reply::Failed(_));
    // Streamed, not built as one string first: a planner's reply is the whole plan.
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, &reply)
        .map_err(std::io::Error::from)
        .and_then(|()| {
            use std::io::Write;
            writeln!(out)?;
            out.flush()
        });
    if let Err(err) = written {
        eprintln!("cannot send reply: {err}");
        return ExitCode::from(2);
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

fn protocol(message: String) -> Failure {
    Failure {
        kind: ErrorKind::Sandbox,
        message,
        path: None,
        object: None,
        missing: Vec::new(),
        changed: Vec::new(),
    }
}

fn open_store(layout: &StoreLayout) -> Result<Store, unfurl_engine::Error> {
    let alternates = layout
        .alternates
        .iter()
        .map(|path| Alternate {
            dir: Dir::preopened(path),
            path: PathBuf::from(path),
        })
        .collect();
    let mut store = Store::open(Dir::preopened(STORE), alternates)?;
    if let Some(lfs) = &layout.lfs_objects {
        store.set_lfs_objects(Dir::preopened(lfs));
    }
    Ok(store)
}

fn options(delta_cache_bytes: u64, verify_objects: bool) -> Options {
    let mut options = Options::default();
    options.write.delta_cache_bytes = usize::try_from(delta_cache_bytes).unwrap_or(usize::MAX);
    options.write.verify_objects = verify_objects;
    options
}

/// The planner: resolve and plan, write nothing (nothing writable is preopened).
fn plan(
    rev: &str,
    layout: &StoreLayout,
    delta_cache_bytes: u64,
    refs: bool,
    paths: Vec<String>,
    gitmodules: bool,
    attributes: unfurl_engine::attr::Options,
    archive: bool,
    verify_objects: bool,
) -> Reply {
    let interrupt = AtomicBool::new(false);
    let mut options = options(delta_cache_bytes, verify_objects);
    options.paths = paths.into_iter().map(Into::into).collect();
    options.submodules.gitmodules = gitmodules;
    options.attributes = attributes;
    options.archive = archive;
    if refs {
        // Any mode but `None` makes the planner read the references; the host writes the
        // `.git` in the mode it was asked for.
        options.git.mode = unfurl_engine::gitdir::Mode::Alternates;
    }
    let planned =
        open_store(layout).and_then(|store| Native::new(&store).plan(rev, &options, &interrupt));
    match planned {
        Ok(planned) => Reply::Planned {
            commit: planned.commit,
            tree: planned.tree,
            plan: std::sync::Arc::unwrap_or_clone(planned.plan),
            phases: GuestPhases {
                resolve_us: planned.resolve.as_micros() as u64,
                plan_us: planned.planning.as_micros() as u64,
                write_us: 0,
            },
            refs: planned.refs,
            gitmodules: planned.gitmodules.map(Vec::into_boxed_slice),
        },
        Err(err) => Reply::Failed(err.failure()),
    }
}

/// A writer: claim groups from the host until none is left, and write them into `/dest`.
fn write(
    layout: &StoreLayout,
    delta_cache_bytes: u64,
    mtime: Option<u64>,
    verify_objects: bool,
    packs: &[Vec<String>],
) -> Reply {
    let start = Instant::now();
    let interrupt = AtomicBool::new(false);
    let mut options = options(delta_cache_bytes, verify_objects).write;
    options.jobs = 1;
    options.mtime = mtime.map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    let written = open_store(layout).and_then(|mut store| {
        // This listing of the store may not number its packs as the planner's did.
        store.follow_pack_numbering(packs);
        Ok(write::write_files(
            &store,
            &Dir::preopened(DEST),
            &claim,
            &options,
            &(),
            &interrupt,
        )?)
    });
    match written {
        Ok(stats) => Reply::Wrote {
            stats,
            phases: GuestPhases {
                write_us: start.elapsed().as_micros() as u64,
                ..GuestPhases::default()
            },
        },
        Err(err) => Reply::Failed(err.failure()),
    }
}

/// The next groups to write, from the host, which hands the plan's groups out to every
/// writer of the checkout, a run of neighbouring ones at a time.
fn claim() -> Result<Option<Vec<Group>>, write::Error> {
    // Imports from the default module, `env`, provided by the host (see `wire::CLAIM`).
    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        fn unfurl_claim() -> i64;
        fn unfurl_take(ptr: *mut u8, len: u32) -> i32;
    }
    let refused = |reason| write::Error::Refused {
        path: "(a group the host handed out)".into(),
        reason,
    };
    // SAFETY: the import takes nothing and returns a number.
    let len = unsafe { unfurl_claim() };
    let Ok(len) = u32::try_from(len) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` is `len` writable bytes of this guest's memory; the host writes exactly
    // `len` bytes there (it checks the bounds against the guest's memory) or none.
    if unsafe { unfurl_take(buf.as_mut_ptr(), len) } != 0 {
        return Err(refused("the host did not hand over the claimed group"));
    }
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|_| refused("the host handed over a malformed group"))
}
