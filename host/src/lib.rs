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
mod lfs;
mod store;
mod submodules;
pub mod wasm;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use unfurl_engine::write::Deferred;
use unfurl_engine::{ErrorKind, Failure};

pub use lfs::{LfsObject, lfs_objects};
pub use store::open_store;
pub use submodules::{ListedModule, SubmoduleStores, list as list_submodules};

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
    /// The destination: must not exist, be an empty directory, or hold an unfurl checkout
    /// with a `.git` (switched in place). Missing parents are created.
    pub dest: PathBuf,
    /// Where the engine runs. Default: [`Runtime::Native`].
    pub runtime: Runtime,
    /// Engine options (workers, delta cache). Default: one worker per core.
    pub options: unfurl_engine::Options,
    /// Limits for [`Runtime::Wasm`]: memory cap, deadline, compiled-module cache.
    pub wasm: wasm::Limits,
    /// Check out submodules, recursively, from these stores (`--recurse-submodules`).
    /// Default: `None`, gitlinks stay empty directories.
    pub submodules: Option<SubmoduleStores>,
    /// The URL the store was fetched from (`--url`): relative submodule URLs resolve
    /// against it when the store has no `remote.origin.url`. Default: `None`.
    pub url: Option<String>,
    /// Where Git LFS objects are (laid out as `.git/lfs/objects`); under wasm it is
    /// preopened read-only. Default: `None`, the store's own `lfs/objects`.
    pub lfs_objects: Option<PathBuf>,
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
            submodules: None,
            url: None,
            lfs_objects: None,
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
    /// Where the time went, in microseconds: `resolve`, `plan` (as measured where they
    /// ran: in the planner guest under wasm), `write` (writing files, then what is left to
    /// the end) and `publish`; under wasm also `load` (getting the compiled guest: the
    /// warm-start cost).
    pub phases_us: std::collections::BTreeMap<&'static str, u64>,
    /// Where the checkout differs from the tree because the destination's filesystem could
    /// not hold it, and what the host did for the sandboxed engine, by kind (see
    /// [`Fallback::kind`]). Empty natively on a POSIX filesystem.
    pub fallbacks: Vec<Fallback>,
    /// What the destination's filesystem can hold, as probed before writing:
    /// `{"symlinks": …, "exec_bits": …, "case_insensitive": …}`, git's `core.symlinks`,
    /// `core.filemode` and `core.ignorecase` for a `.git` written there.
    pub filesystem: unfurl_engine::Filesystem,
    /// With [`unfurl_engine::CaseCollisions::LastWins`], each entry left out because a later
    /// one takes its place on a case-insensitive filesystem (paths lossily UTF-8).
    pub case_collisions: Vec<CaseCollision>,
    /// Under wasm, every directory a guest could reach: the store, each alternate object
    /// directory (read-only) and, for writers, the staging directory. Empty natively.
    pub preopens: Vec<Preopen>,
    /// The paths selected (`--path`), as given (lossily UTF-8); empty for the whole tree.
    pub paths: Vec<String>,
    /// With `--recurse-submodules`, every submodule found, parents before children:
    /// checked out unless `skipped` (`update = none`).
    pub submodules: Vec<ReportModule>,
    /// Bytes the writers inflated from the store: blob contents and the delta bases they
    /// needed (see [`unfurl_engine::write::Stats::inflated`]).
    pub inflated_bytes: u64,
    /// Whether DEST already held this commit, as it should be, and nothing was written (a
    /// switch to the commit it holds, or a concurrent checkout that published it first).
    pub unchanged: bool,
    /// For a DEST that held a checkout and was switched in place: what changed, in paths.
    /// The counts above then count what was written. Absent for a new checkout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch: Option<Switch>,
}

/// What switching a checkout in place did, as `--json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Switch {
    /// The commit DEST held before (hex); `None` if its HEAD was unborn.
    pub from: Option<String>,
    /// Paths written: added, modified, or changed in kind or mode.
    pub written: u64,
    /// Paths removed.
    pub removed: u64,
    /// Paths already right, left untouched.
    pub unchanged: u64,
    /// Whether an interrupted switch was found and its paths reconciled first.
    pub repaired: bool,
}

/// A submodule, as `--json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportModule {
    /// Its path from the checkout's root (lossily UTF-8).
    pub path: String,
    /// Its name in its parent's `.gitmodules` (lossily UTF-8).
    pub name: String,
    /// Its URL, resolved.
    pub url: String,
    /// The commit its parent records (hex).
    pub commit: String,
    /// `update = none`: left an empty directory.
    pub skipped: bool,
}

impl From<&unfurl_engine::submodule::Module> for ReportModule {
    fn from(m: &unfurl_engine::submodule::Module) -> Self {
        ReportModule {
            path: m.path.to_string(),
            name: m.name.to_string(),
            url: m.url.clone(),
            commit: m.commit.to_string(),
            skipped: m.skipped,
        }
    }
}

/// An entry of the tree left out on a case-insensitive filesystem, as `--json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseCollision {
    /// The entry left out.
    pub lost: String,
    /// The later entry written in its place.
    pub kept: String,
}

/// A kind of fallback the checkout took, and how often.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fallback {
    /// Where the filesystem could not hold the tree: `"symlink-as-file"` (no symlinks
    /// there: a regular file holding the target, as git writes it), `"no-exec-bit"` (exec
    /// bits do not stick there: an executable left as the filesystem shows every file),
    /// `"case-collision"` (an entry left out, see [`Report::case_collisions`]). What the
    /// host did for the sandboxed engine: `"executable"` (exec bit set by the host: WASI
    /// preview 1 has no chmod) or `"rename"` (an entry whose name is not UTF-8, which WASI
    /// cannot spell, written under a placeholder and renamed).
    pub kind: &'static str,
    /// How many times.
    pub count: u64,
}

fn fallbacks(deferred: &[Deferred], taken: &unfurl_engine::Fallbacks) -> Vec<Fallback> {
    let mut out: Vec<Fallback> = Vec::new();
    for (kind, count) in [
        ("symlink-as-file", taken.symlinks_as_files),
        ("no-exec-bit", taken.exec_bits_not_set),
        ("case-collision", taken.case_collisions.len() as u64),
    ] {
        if count > 0 {
            out.push(Fallback { kind, count });
        }
    }
    // What the writing runtime could not do and the orchestrator did for it: exec bits
    // (WASI has no chmod) and renames (names WASI cannot spell); nothing else is reported.
    for op in deferred {
        let kind = match op {
            Deferred::Executable { .. } => "executable",
            Deferred::Rename { .. } => "rename",
            _ => continue,
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
        /// How to classify it.
        kind: ErrorKind,
    },
    /// The engine failed, in whichever runtime it ran (the sandbox's own failures, such as
    /// running out of memory, included: see [`wasm::Error`]).
    #[error(transparent)]
    Engine(#[from] unfurl_engine::Error),
}

impl Error {
    /// The stable classification of this error, as `--json` reports it; the same input gives
    /// the same kind in both runtimes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store { .. } => ErrorKind::StoreUnusable,
            Error::Dest { kind, .. } => *kind,
            Error::Engine(e) => e.kind(),
        }
    }

    /// This error as data: kind, one-line message, and the path or object it concerns.
    pub fn failure(&self) -> Failure {
        match self {
            Error::Engine(e) => e.failure(),
            Error::Store { path, .. } | Error::Dest { path, .. } => Failure {
                kind: self.kind(),
                message: unfurl_engine::one_line(self),
                path: Some(path.display().to_string()),
                object: None,
                missing: Vec::new(),
                changed: Vec::new(),
            },
        }
    }
}

impl From<wasm::Error> for Error {
    fn from(err: wasm::Error) -> Self {
        Error::Engine(err.into())
    }
}

/// Run `request`: open the store and the destination's parent, check out, publish.
///
/// Both runtimes go through the engine's one orchestrator ([`unfurl_engine::run`]); only
/// the backend differs. On failure nothing is left behind: no destination, no staging
/// directory, and none of the destination's parents that this call created.
pub fn checkout(
    request: &Request,
    progress: &dyn unfurl_engine::Progress,
    interrupt: &AtomicBool,
) -> Result<Report, Error> {
    let start = Instant::now();
    let dest = dest::Dest::prepare(&request.dest)?;
    // The staging directory named after this process, orphans of dead ones swept, an
    // existing empty DEST's attributes kept (see `dest.rs`).
    let options = dest.options(&request.options);
    let mut phases = std::collections::BTreeMap::new();
    // Where the git directory and its object directories are: to open them natively, to
    // preopen them for the sandbox, and to name them in the checkout's `.git`.
    let mut located = store::locate(&request.store)?;
    located.lfs_objects.clone_from(&request.lfs_objects);
    if let Some(lfs) = &request.lfs_objects
        && !lfs.is_dir()
    {
        return Err(Error::Store {
            path: request.store.clone(),
            message: format!(
                "the LFS objects directory {} is not a directory (give the directory git-lfs keeps its objects in, e.g. .git/lfs/objects)",
                lfs.display()
            ),
        });
    }
    let mut options = options;
    git_options(&mut options.git, &request.store, &located)?;
    if let Some(stores) = &request.submodules {
        let stores = submodules::HostStores::new(
            stores.clone(),
            request.runtime,
            &request.wasm,
            dest.parent_path(),
        )?;
        options.submodules.stores = Some(std::sync::Arc::new(stores));
        options.submodules.url =
            submodules::superproject_url(&located.git_dir, request.url.as_deref());
    }
    let mut preopens = Vec::new();
    // The one orchestrator runs in both runtimes; only the backend differs.
    let (native_store, native, sandbox, sandboxed);
    let backend: &dyn unfurl_engine::Backend = match request.runtime {
        Runtime::Native => {
            native_store = store::open_located(&request.store, &located)?;
            native = unfurl_engine::Native::new(&native_store);
            &native
        }
        Runtime::Wasm => {
            // The store itself is parsed inside the sandbox.
            preopens = report_preopens(&located, &request.dest);
            let load = Instant::now();
            sandbox = wasm::Sandbox::load(&request.wasm)?;
            phases.insert("load", load.elapsed().as_micros() as u64);
            sandboxed = wasm::Backend::new(
                &sandbox,
                &located,
                dest.parent_path().to_owned(),
                &request.wasm,
            );
            &sandboxed
        }
    };
    let outcome = unfurl_engine::run(
        backend,
        &request.rev,
        dest.parent(),
        dest.name(),
        &options,
        progress,
        interrupt,
    )?;
    dest.keep();
    if request.runtime == Runtime::Wasm
        && let Some(stores) = &request.submodules
    {
        // Each submodule's guests were given its store (and its alternates) read-only,
        // and the staging directory: listed once each.
        for module in outcome.submodules.iter().filter(|m| !m.skipped) {
            if let Some(path) = stores.find(&module.url)
                && let Ok(located) = store::locate(&path)
            {
                for preopen in report_preopens(&located, &request.dest) {
                    if !preopens.contains(&preopen) {
                        preopens.push(preopen);
                    }
                }
            }
        }
    }
    let p = outcome.phases;
    for (name, took) in [
        ("resolve", p.resolve),
        ("plan", p.plan),
        ("write", p.write),
        ("publish", p.publish),
    ] {
        phases.insert(name, took.as_micros() as u64);
    }
    let stats = outcome.stats;
    Ok(Report {
        commit: outcome.commit.map(|c| c.to_string()),
        tree: outcome.tree.to_string(),
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        executables: stats.executables,
        bytes: stats.bytes,
        elapsed_ms: start.elapsed().as_millis() as u64,
        runtime: request.runtime.name(),
        phases_us: phases,
        fallbacks: fallbacks(&stats.deferred, &outcome.fallbacks),
        filesystem: outcome.filesystem,
        case_collisions: outcome
            .fallbacks
            .case_collisions
            .iter()
            .map(|c| CaseCollision {
                lost: c.lost.to_string(),
                kept: c.kept.to_string(),
            })
            .collect(),
        preopens,
        unchanged: outcome.unchanged,
        switch: outcome.switch.map(|s| Switch {
            from: s.from.map(|c| c.to_string()),
            written: s.written,
            removed: s.removed,
            unchanged: s.unchanged,
            repaired: s.repaired,
        }),
        paths: request
            .options
            .paths
            .iter()
            .map(|p| p.to_string())
            .collect(),
        inflated_bytes: stats.inflated,
        submodules: outcome.submodules.iter().map(ReportModule::from).collect(),
    })
}

/// What the checkout's `.git` needs from the host: the object directories' paths (for
/// alternates), opened (for a copy), and the store's location (as `origin`).
pub(crate) fn git_options(
    git: &mut unfurl_engine::gitdir::Options,
    store: &Path,
    located: &store::Located,
) -> Result<(), Error> {
    use unfurl_engine::gitdir::Mode;
    if git.mode == Mode::None {
        return Ok(());
    }
    let objects = located.git_dir.join("objects");
    let objects = objects.canonicalize().unwrap_or(objects);
    let mut dirs = vec![objects];
    dirs.extend(located.alternates.iter().cloned());
    if git.mode == Mode::Copy {
        let opened = dirs
            .iter()
            .map(|dir| {
                cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
                    .map(unfurl_engine::Dir::from)
                    .map_err(|e| Error::Store {
                        path: store.to_owned(),
                        message: format!("cannot open object directory {}: {e}", dir.display()),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        git.object_dirs = std::sync::Arc::new(opened);
    }
    git.object_paths = dirs;
    let origin = store.canonicalize();
    git.origin = Some(
        origin
            .unwrap_or_else(|_| store.to_owned())
            .display()
            .to_string(),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What the sandbox could reach, for the report (robust branch: alternates are checked in
// `store.rs`; this lists what was granted).

/// A directory a sandboxed guest was given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preopen {
    /// Where the guest sees it (`/store`, `/alt/0`, `/dest`).
    pub guest: String,
    /// The host directory (for `/dest`, the destination: writers write into the staging
    /// directory that becomes it).
    pub host: String,
    /// `"read-only"` or `"read-write"` (writer guests only).
    pub access: &'static str,
}

fn report_preopens(located: &store::Located, dest: &Path) -> Vec<Preopen> {
    let given = wasm::preopens(located);
    let read_only = |host: &Path, guest: &str| Preopen {
        guest: guest.to_owned(),
        host: host.display().to_string(),
        access: "read-only",
    };
    let mut out = vec![read_only(&given.store, unfurl_engine::wire::STORE)];
    out.extend(
        given
            .alternates
            .iter()
            .map(|(host, guest)| read_only(host, guest)),
    );
    if let Some(lfs) = &given.lfs_objects {
        out.push(read_only(lfs, unfurl_engine::wire::LFS_OBJECTS));
    }
    out.push(Preopen {
        guest: unfurl_engine::wire::DEST.to_owned(),
        host: dest.display().to_string(),
        access: "read-write",
    });
    out
}

/// `path` for messages: as given.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// What `unfurl verify` found: whether the checkout at DEST is exactly REV.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// The commit compared with (hex), or `None` when the revision named a tree.
    pub commit: Option<String>,
    /// The tree compared with (hex).
    pub tree: String,
    /// Whether DEST is exactly the commit: no difference.
    pub identical: bool,
    /// Every difference, sorted by path.
    pub differences: Vec<unfurl_engine::verify::Difference>,
}

/// Compare the checkout at `dest` with `rev` of the store at `store`: content, exec bits,
/// symlink targets, missing and extra entries (a top-level `.git` aside). Where the
/// checkout's `.git/config` says the filesystem keeps no exec bits or symlinks
/// (`core.filemode`, `core.symlinks`), those are compared as a checkout there writes them.
pub fn verify(store_path: &Path, rev: &str, dest: &Path) -> Result<VerifyReport, Error> {
    let located = store::locate(store_path)?;
    let store = store::open_located(store_path, &located)?;
    let root = cap_std::fs::Dir::open_ambient_dir(dest, cap_std::ambient_authority())
        .map(unfurl_engine::Dir::from)
        .map_err(|e| Error::Dest {
            path: dest.to_owned(),
            message: format!("cannot open it: {e}"),
            kind: ErrorKind::DestinationUnusable,
        })?;
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap_or_default();
    let says_false = |key: &str| {
        config.lines().any(|line| {
            let line: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            line.eq_ignore_ascii_case(&format!("{key}=false"))
        })
    };
    let verified = unfurl_engine::verify::verify(
        &store,
        rev,
        &root,
        !says_false("filemode"),
        !says_false("symlinks"),
    )?;
    Ok(VerifyReport {
        commit: verified.commit.map(|c| c.to_string()),
        tree: verified.tree.to_string(),
        identical: verified.differences.is_empty(),
        differences: verified.differences,
    })
}
