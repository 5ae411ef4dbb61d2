//! One wasmtime engine and the compiled guest, and running one guest instance in it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use unfurl_engine::Claims;
use unfurl_engine::wire::{self, Reply};
use wasmtime::{Caller, Config, Engine, Linker, Module, ResourceLimiter, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::{Error, Limits};

/// The most a guest may print: a planner's reply is the whole plan (about 130 bytes a file).
const MAX_REPLY: usize = 1 << 30;

/// How often the watchdog looks at the interrupt flag and the clock.
const POLL: Duration = Duration::from_millis(10);

/// What one guest instance sees: the store read-only at [`wire::STORE`], each alternate
/// read-only at its guest path, and, for a writer, the staging directory read-write at
/// [`wire::DEST`].
#[derive(Debug, Clone)]
pub(crate) struct Preopens {
    /// The store's git directory.
    pub(crate) store: PathBuf,
    /// The alternate object directories, with the guest path each is preopened at.
    pub(crate) alternates: Vec<(PathBuf, String)>,
    /// The staging directory, for writers.
    pub(crate) dest: Option<PathBuf>,
    /// The Git LFS objects directory the caller gave, read-only at [`wire::LFS_OBJECTS`].
    pub(crate) lfs_objects: Option<PathBuf>,
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
        Self::with_module(limits, |engine| {
            super::cache::load_module(engine, limits.cache_dir.as_deref())
        })
    }

    /// Set up wasmtime with another module (the test suite's confinement probe).
    pub(crate) fn with_module(
        limits: &Limits,
        module: impl FnOnce(&Engine) -> wasmtime::Result<Module>,
    ) -> Result<Sandbox, Error> {
        let _ = limits;
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(runtime)?;
        let module = module(&engine).map_err(runtime)?;
        Ok(Sandbox {
            engine,
            module,
            timed_out: AtomicBool::new(false),
            deadline: std::sync::Mutex::new(None),
        })
    }

    /// Run `f` (which runs instances) under one watchdog that stops every instance at
    /// `deadline`, or when `interrupt` is set. The epoch is per engine, so one watchdog
    /// serves all instances, and they share one deadline.
    pub(crate) fn guarded<R>(
        &self,
        deadline: Option<Instant>,
        interrupt: &AtomicBool,
        f: impl FnOnce() -> R,
    ) -> R {
        *self.deadline.lock().expect("no panics while held") = deadline;
        // The watchdog polls `interrupt` (set from a signal handler, which cannot wake a
        // thread portably) every 10 ms, but must not hold the scope open once `f` is done:
        // dropping `finished` wakes it at once (a sleep here added up to 10 ms to every run).
        let (finished, done) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                loop {
                    let late = deadline.is_some_and(|d| Instant::now() >= d);
                    if late || interrupt.load(Ordering::Relaxed) {
                        self.timed_out.store(late, Ordering::Relaxed);
                        self.engine.increment_epoch();
                        return;
                    }
                    let tick = deadline.map_or(POLL, |d| {
                        d.saturating_duration_since(Instant::now()).min(POLL)
                    });
                    match done.recv_timeout(tick) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
            let result = f();
            drop(finished);
            result
        })
    }

    /// Run one guest instance with `args` (after the program name), seeing `preopens`, and
    /// return what it printed. A writer gets `claims`, the groups behind its imports
    /// ([`wire::CLAIM`], [`wire::TAKE`]). Instances are independent: several may run at
    /// once on different threads.
    pub(crate) fn run_raw<T>(
        &self,
        args: &[String],
        preopens: &Preopens,
        claims: Option<Arc<Claims>>,
        limits: &Limits,
        interrupt: &AtomicBool,
        read: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let stdout = MemoryOutputPipe::new(MAX_REPLY);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtxBuilder::new();
        // No inherited environment, stdin or network: the arguments are the only input.
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        // We run the guest synchronously on this thread: let its blocking filesystem calls
        // block here too, instead of a tokio `spawn_blocking` round trip per call (measured:
        // several times slower on a 20k-file checkout).
        wasi.allow_blocking_current_thread(true);
        wasi.arg("unfurl-guest");
        for arg in args {
            wasi.arg(arg);
        }
        let preopen = |wasi: &mut WasiCtxBuilder, host: &Path, guest: &str, perms, what| {
            wasi.preopened_dir(host, guest, perms)
                .map(drop)
                .map_err(|e| {
                    Error::Runtime(format!("cannot preopen {what} {}: {e:#}", host.display()))
                })
        };
        preopen(
            &mut wasi,
            &preopens.store,
            wire::STORE,
            FsPerms::ReadOnly,
            "store",
        )?;
        for (host, guest) in &preopens.alternates {
            preopen(&mut wasi, host, guest, FsPerms::ReadOnly, "alternate")?;
        }
        if let Some(lfs) = &preopens.lfs_objects {
            preopen(
                &mut wasi,
                lfs,
                wire::LFS_OBJECTS,
                FsPerms::ReadOnly,
                "LFS objects directory",
            )?;
        }
        if let Some(dest) = &preopens.dest {
            preopen(
                &mut wasi,
                dest,
                wire::DEST,
                FsPerms::ReadWrite,
                "staging directory",
            )?;
        }
        let state = State {
            wasi: wasi.build_p1(),
            limiter: Limiter {
                max_memory: limits.max_memory,
                refused: false,
            },
            claims,
            pending: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);

        let mut linker: Linker<State> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi).map_err(runtime)?;
        add_claim_imports(&mut linker)?;
        let instance = linker
            .instantiate(&mut store, &self.module)
            .map_err(runtime)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
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
        // A guest that exits with a status (it prints its reply first) is not a trap.
        if let Err(err) = start.call(&mut store, ())
            && err.downcast_ref::<I32Exit>().is_none()
        {
            if self.timed_out.load(Ordering::Relaxed) {
                return Err(Error::Timeout(limits.timeout.unwrap_or_default()));
            }
            if interrupt.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            // The limiter refused to grow memory, and the guest could not go on.
            if store.data().limiter.refused {
                return Err(Error::OutOfMemory(limits.max_memory));
            }
            return Err(Error::Runtime(format!(
                "the guest trapped: {}{}",
                format!("{err:#}").lines().next().unwrap_or_default(),
                last_line(&String::from_utf8_lossy(&stderr.contents()))
            )));
        }
        if store.data().limiter.refused && stdout.contents().is_empty() {
            return Err(Error::OutOfMemory(limits.max_memory));
        }
        // The guest's memory goes before its reply (a planner's is the whole plan) is
        // parsed, and the reply is parsed where it lies, not copied: with the guest's
        // context gone, this is the pipe's one handle (`contents()` would copy it: 16 MB
        // for 100 000 files).
        drop(store);
        match stdout.try_into_inner() {
            Some(reply) => read(&reply),
            None => Err(Error::Runtime("the guest's output is still in use".into())),
        }
    }

    /// [`Sandbox::run_raw`] with a [`wire::Request`], returning the guest's [`Reply`].
    pub(crate) fn run(
        &self,
        request: &wire::Request,
        preopens: &Preopens,
        claims: Option<Arc<Claims>>,
        limits: &Limits,
        interrupt: &AtomicBool,
    ) -> Result<Reply, Error> {
        let arg = serde_json::to_string(request).map_err(|e| Error::Runtime(e.to_string()))?;
        self.run_raw(&[arg], preopens, claims, limits, interrupt, |out| {
            serde_json::from_slice(out)
                .map_err(|e| Error::Runtime(format!("the guest sent no valid reply ({e})")))
        })
    }
}

/// The writer's two imports: claim the next group (its JSON's length, or -1 when none is
/// left), then take it into guest memory. They read and write only the caller's own memory,
/// within its bounds (`Memory::write` checks them), and take work only from the guests of
/// the same checkout: a guest that took a group and skipped it could as well have written
/// wrong bytes into its files. The sandbox confines guests; it does not make their output
/// trustworthy, and the content is the engine's, as it is natively.
fn add_claim_imports(linker: &mut Linker<State>) -> Result<(), Error> {
    linker
        .func_wrap("env", wire::CLAIM, |mut caller: Caller<'_, State>| -> i64 {
            let state = caller.data_mut();
            let Some(group) = state.claims.as_ref().and_then(|c| c.next()) else {
                return -1;
            };
            // Names crossing the wire are UTF-8 (the planner used placeholders), so this
            // cannot fail for a plan that came from the planner.
            match serde_json::to_vec(&group) {
                Ok(bytes) => {
                    let len = bytes.len() as i64;
                    state.pending = Some(bytes);
                    len
                }
                Err(_) => -1,
            }
        })
        .map_err(runtime)?;
    linker
        .func_wrap(
            "env",
            wire::TAKE,
            |mut caller: Caller<'_, State>, ptr: u32, len: u32| -> i32 {
                let Some(bytes) = caller.data_mut().pending.take() else {
                    return -1;
                };
                if bytes.len() != len as usize {
                    return -1;
                }
                let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
                    return -1;
                };
                match memory.write(&mut caller, ptr as usize, &bytes) {
                    Ok(()) => 0,
                    Err(_) => -1,
                }
            },
        )
        .map_err(runtime)?;
    Ok(())
}

fn runtime(e: wasmtime::Error) -> Error {
    Error::Runtime(format!("{e:#}"))
}

/// The last non-empty line of a guest's stderr, as `: line`, or nothing.
fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|line| format!(": {line}"))
        .unwrap_or_default()
}

struct State {
    wasi: WasiP1Ctx,
    limiter: Limiter,
    /// A writer's source of groups.
    claims: Option<Arc<Claims>>,
    /// The group claimed and not yet taken.
    pending: Option<Vec<u8>>,
}

/// Caps a guest's memory, and records that it did, so that running out of memory is told
/// from any other trap by what happened, not by the trap's text.
struct Limiter {
    max_memory: usize,
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
