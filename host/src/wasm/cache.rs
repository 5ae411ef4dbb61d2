//! The cache of compiled guests: a warm start loads native code from it in a millisecond
//! instead of compiling the guest for a second. Loading runs that code, so the cache is used
//! only while it is ours alone.

use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::{Engine, Module};

/// The guest module, built by `build.rs`.
static GUEST: &[u8] = include_bytes!(env!("UNFURL_GUEST_WASM"));
/// A hash of [`GUEST`], part of the compiled-module cache key.
const GUEST_HASH: &str = env!("UNFURL_GUEST_HASH");

/// The guest module: from the cache of precompiled modules when possible (about a
/// millisecond), else compiled (about a second) and cached for next time.
///
/// An entry is keyed by the guest's hash and by wasmtime's own compatibility hash of the
/// engine (its version, its settings and the host's CPU features), so a module compiled by
/// another wasmtime, or for another CPU, is never even looked at.
pub(super) fn load_module(engine: &Engine, cache_dir: Option<&Path>) -> wasmtime::Result<Module> {
    let Some(cache_dir) = cache_dir else {
        return Module::new(engine, GUEST);
    };
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = cache_dir.join(format!(
        "guest-{GUEST_HASH}-{:016x}-{}.cwasm",
        hasher.finish(),
        std::env::consts::ARCH
    ));
    if !trusted(cache_dir) {
        // Someone else could have written it: compile in memory, and leave it alone.
        return Module::new(engine, GUEST);
    }
    if path.is_file() && trusted(&path) {
        // SAFETY: `deserialize_file` runs native code from the file, so the file must be one
        // `precompile_module` wrote. It is named by this exact guest and engine,
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
