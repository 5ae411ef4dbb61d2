//! Running the engine confined under WASI, in an embedded wasmtime.
//!
//! The guest (the engine compiled to `wasm32-wasip1`, embedded in this binary) sees exactly:
//! the store's git directory, read-only, at `/store`; each alternate object directory the
//! store names, read-only, at `/alt/N`; and the staging directory, read-write, at `/dest`.
//! No environment, no network, no stdin, no clock-based randomness it could use to escape;
//! a memory cap and an epoch deadline. The host creates the staging directory, finishes
//! what WASI cannot do (exec bits, absolute symlinks) through its own handle, and publishes
//! with the same atomic rename as a native checkout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use unfurl_engine::wire::{self, Reply};
use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// The guest module, built by `build.rs`.
static GUEST: &[u8] = include_bytes!(env!("UNFURL_GUEST_WASM"));
/// A hash of [`GUEST`], part of the compiled-module cache key.
const GUEST_HASH: &str = env!("UNFURL_GUEST_HASH");
/// The wasmtime version, the other part of the cache key.
const WASMTIME_VERSION: &str = "48.0.8";

/// Limits for the confined engine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most linear memory the guest may use, in bytes. Default: 2 GiB.
    pub max_memory: usize,
    /// Wall time after which the guest is stopped; `None` for no limit. Default: none.
    pub timeout: Option<Duration>,
    /// Where compiled guests are cached; `None` disables the cache (every run compiles,
    /// about a second). Default: `$UNFURL_CACHE_DIR`, else `$XDG_CACHE_HOME/unfurl`, else
    /// `~/.cache/unfurl`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 2 << 30,
            timeout: None,
            cache_dir: default_cache_dir(),
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UNFURL_CACHE_DIR") {
        return Some(dir.into());
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("unfurl"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/unfurl"))
}

/// Why the confined run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine inside the guest reported an error (the same message as natively).
    #[error("{0}")]
    Guest(String),
    /// The guest used more memory than allowed.
    #[error("the sandboxed engine exceeded its memory cap of {} MiB (raise it with --wasm-max-memory)", .0 >> 20)]
    OutOfMemory(usize),
    /// The guest ran past its deadline.
    #[error("the sandboxed engine ran past its {0:?} deadline (raise it with --wasm-timeout)")]
    Timeout(Duration),
    /// The caller interrupted the run.
    #[error("interrupted")]
    Interrupted,
    /// wasmtime could not set up or run the guest.
    #[error("wasm runtime: {0}")]
    Runtime(String),
}

/// A loaded guest: a wasmtime engine and the compiled module, shared by every instance.
pub(crate) struct Sandbox {
    engine: Engine,
    module: Module,
    /// Set by the watchdog when the deadline passed (as opposed to an interrupt).
    timed_out: AtomicBool,
    /// When the instances under [`Sandbox::guarded`] must be done.
    deadline: std::sync::Mutex<Option<Instant>>,
}

impl Sandbox {
    /// Set up wasmtime and load the guest: from the cache of precompiled modules when
    /// possible (about a millisecond), else compiled (about a second) and cached.
    pub(crate) fn load(limits: &Limits) -> Result<Sandbox, Error> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(runtime)?;
        let module = load_module(&engine, limits.cache_dir.as_deref()).map_err(runtime)?;
        Ok(Sandbox {
            engine,
            module,
            timed_out: AtomicBool::new(false),
            deadline: std::sync::Mutex::new(None),
        })
    }

    /// Run `f` (which runs instances) under one watchdog that stops every instance at the
    /// deadline of `limits`, or when `interrupt` is set. The epoch is per engine, so one
    /// watchdog serves all instances, and they share one deadline.
    pub(crate) fn guarded<R>(
        &self,
        limits: &Limits,
        interrupt: &AtomicBool,
        f: impl FnOnce() -> R,
    ) -> R {
        let done = AtomicBool::new(false);
        let deadline = limits.timeout.map(|t| Instant::now() + t);
        *self.deadline.lock().expect("no panics while held") = deadline;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let late = deadline.is_some_and(|d| Instant::now() >= d);
                    if late || interrupt.load(Ordering::Relaxed) {
                        self.timed_out.store(late, Ordering::Relaxed);
                        self.engine.increment_epoch();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            let result = f();
            done.store(true, Ordering::Relaxed);
            result
        })
    }

    /// Run one guest instance with `request`, preopening `store` read-only at `/store`,
    /// `alternates` read-only at `/alt/N` and, if given, `dest` read-write at `/dest`.
    /// Instances are independent: several may run at once on different threads, sharing
    /// only `claims`, the counter behind the guest's one import besides WASI
    /// (`env.unfurl_next_group`, see `write::Options::claim`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &self,
        request: &wire::Request,
        store: &Path,
        alternates: &[PathBuf],
        dest: Option<&Path>,
        claims: Arc<AtomicU64>,
        limits: &Limits,
        interrupt: &AtomicBool,
    ) -> Result<Reply, Error> {
        let stdout = MemoryOutputPipe::new(64 << 20);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtxBuilder::new();
        // No inherited environment, stdin, args or network: the request is the only input.
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        // We run the guest synchronously on this thread: let its blocking filesystem calls
        // block here too, instead of a tokio `spawn_blocking` round trip per call (measured:
        // several times slower on a 20k-file checkout).
        wasi.allow_blocking_current_thread(true);
        wasi.arg("unfurl-guest")
            .arg(serde_json::to_string(request).map_err(|e| Error::Runtime(e.to_string()))?);
        wasi.preopened_dir(store, wire::STORE, FsPerms::ReadOnly)
            .map_err(|e| {
                Error::Runtime(format!("cannot preopen store {}: {e:#}", store.display()))
            })?;
        for (i, alternate) in alternates.iter().enumerate() {
            wasi.preopened_dir(alternate, format!("/alt/{i}"), FsPerms::ReadOnly)
                .map_err(|e| {
                    Error::Runtime(format!(
                        "cannot preopen alternate {}: {e:#}",
                        alternate.display()
                    ))
                })?;
        }
        if let Some(dest) = dest {
            wasi.preopened_dir(dest, wire::DEST, FsPerms::ReadWrite)
                .map_err(|e| {
                    Error::Runtime(format!(
                        "cannot preopen staging directory {}: {e:#}",
                        dest.display()
                    ))
                })?;
        }
        let state = State {
            wasi: wasi.build_p1(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store_ = Store::new(&self.engine, state);
        store_.limiter(|s| &mut s.limits);
        store_.set_epoch_deadline(1);

        let mut linker: Linker<State> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi).map_err(runtime)?;
        // The next group of files for this guest to write: a counter, which reads and
        // writes no guest memory. A guest can only take work from the others of its
        // checkout with it; one that took work and skipped it could as well write wrong
        // bytes into its own files. The sandbox confines guests, it does not make their
        // output trustworthy: the content is the engine's, as it is natively.
        linker
            .func_wrap("env", "unfurl_next_group", move || -> u32 {
                u32::try_from(claims.fetch_add(1, Ordering::Relaxed)).unwrap_or(u32::MAX)
            })
            .map_err(runtime)?;
        let instance = linker
            .instantiate(&mut store_, &self.module)
            .map_err(runtime)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store_, "_start")
            .map_err(runtime)?;

        // The watchdog of `guarded` ends the guest at its deadline, or when the caller
        // interrupts. It bumps the epoch once, which does not stop an instance whose epoch
        // deadline was set after the bump: so no instance starts once time is up.
        if interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if self
            .deadline
            .lock()
            .expect("no panics while held")
            .is_some_and(|d| Instant::now() >= d)
        {
            return Err(Error::Timeout(limits.timeout.unwrap_or_default()));
        }
        let result = start.call(&mut store_, ());
        let exit = match result {
            Ok(()) => 0,
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    if self.timed_out.load(Ordering::Relaxed) {
                        return Err(Error::Timeout(limits.timeout.unwrap_or_default()));
                    }
                    if interrupt.load(Ordering::Relaxed) {
                        return Err(Error::Interrupted);
                    }
                    let text = format!("{err:#}");
                    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
                    if text.contains("forcing trap when growing memory")
                        || stderr.contains("memory allocation of")
                    {
                        return Err(Error::OutOfMemory(limits.max_memory));
                    }
                    return Err(Error::Runtime(format!(
                        "the guest trapped: {}{}",
                        text.lines().next().unwrap_or_default(),
                        one_line(&stderr)
                    )));
                }
            },
        };
        let out = stdout.contents();
        serde_json::from_slice(&out).map_err(|e| {
            Error::Runtime(format!(
                "the guest exited with {exit} and no valid reply ({e}){}",
                one_line(&String::from_utf8_lossy(&stderr.contents()))
            ))
        })
    }
}

fn runtime(e: wasmtime::Error) -> Error {
    Error::Runtime(format!("{e:#}"))
}

fn one_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

struct State {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// The guest module: from the cache of precompiled modules when possible (about a
/// millisecond), else compiled (about a second) and cached for next time.
fn load_module(engine: &Engine, cache_dir: Option<&Path>) -> wasmtime::Result<Module> {
    let Some(cache_dir) = cache_dir else {
        return Module::new(engine, GUEST);
    };
    let path = cache_dir.join(format!(
        "guest-{WASMTIME_VERSION}-{GUEST_HASH}-{}.cwasm",
        std::env::consts::ARCH
    ));
    if !trusted(cache_dir) {
        // Someone else could have written it: compile in memory, and leave it alone.
        return Module::new(engine, GUEST);
    }
    if path.is_file() && trusted(&path) {
        // SAFETY: `deserialize_file` runs native code from the file, so the file must be one
        // `precompile_module` wrote. It is named by this exact guest and wasmtime version,
        // only ever written whole (renamed into place below), and `trusted` checked that it
        // and its directory belong to us and are writable by no one else, so no other user
        // could have put it there or can swap it now. wasmtime further checks that it was
        // compiled by a compatible engine and refuses it otherwise; then we recompile.
        #[allow(unsafe_code)]
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok(module);
        }
    }
    let compiled = engine.precompile_module(GUEST)?;
    // Caching is an optimisation: a read-only or full cache directory costs a compile, not the checkout.
    if write_atomically(cache_dir, &path, &compiled).is_ok() {
        prune(cache_dir, &path);
    }
    // SAFETY: these bytes were produced by `precompile_module` on this very engine just now.
    #[allow(unsafe_code)]
    unsafe {
        Module::deserialize(engine, &compiled)
    }
}

/// Whether `path` (the cache directory, or a compiled guest in it) is ours alone: owned by
/// this user and writable by no one else. A missing directory qualifies (we create it).
#[cfg(unix)]
fn trusted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let uid = rustix::process::geteuid().as_raw();
            (meta.is_dir() || meta.is_file()) && meta.uid() == uid && meta.mode() & 0o022 == 0
        }
        Err(err) => err.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Elsewhere there is no owner and mode to check; the cache lives in the user's profile.
#[cfg(not(unix))]
fn trusted(_path: &Path) -> bool {
    true
}

/// How long a compiled guest no build of unfurl wrote lately stays in the cache.
const CACHE_KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Remove compiled guests older than [`CACHE_KEEP`] (left by earlier versions of unfurl or
/// wasmtime) and abandoned temporary files, besides `current`. Best effort: run when this
/// version writes its own entry, so a warm start never pays for it.
fn prune(cache_dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours =
            (name.starts_with("guest-") && name.ends_with(".cwasm")) || name.starts_with(".tmp-");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > CACHE_KEEP);
        if ours && old && entry.path() != current {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // Private to this user whatever the umask, so that `trusted` accepts them next time.
    let mut builder = std::fs::DirBuilder::new();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        options.mode(0o600);
    }
    builder.recursive(true).create(dir)?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), GUEST_HASH));
    let _ = std::fs::remove_file(&tmp);
    let written = options
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
