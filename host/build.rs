//! Builds the engine's WASI guest (`unfurl-guest`, wasm32-wasip1, release) into `OUT_DIR`
//! with its own target directory, so `cargo build` and `cargo test` need no extra step and
//! the `unfurl` binary embeds the guest. Modelled on wasmtime's test-programs artifacts.
//!
//! The guest needs the `wasm32-wasip1` standard library. `rust-toolchain.toml` lists the
//! target, but rustup installs listed targets only when it installs the toolchain itself: a
//! machine that already had the pinned toolchain keeps lacking it. So this script checks for
//! the target's library directory and, when it is missing and the build runs under rustup
//! (`RUSTUP_TOOLCHAIN` is set), adds it to that toolchain with `rustup target add`, saying so
//! in a cargo warning. That is exactly the step rustup would have taken on a fresh install,
//! for the toolchain this build already uses, and nothing else. Without rustup, or with
//! `UNFURL_NO_TARGET_INSTALL=1`, the build stops with one line that says what to install.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip1";

/// Stops the build with one line that says what is wrong and what to do.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// The directory of `target`'s standard library for the compiler cargo uses.
fn target_libdir(rustc: &OsString, target: &str) -> Option<PathBuf> {
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(text.trim()))
}

/// The `rustup` executable: on `PATH`, or in `$CARGO_HOME/bin` where rustup puts it.
fn rustup() -> OsString {
    let on_path = Command::new("rustup")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !on_path && let Some(home) = std::env::var_os("CARGO_HOME") {
        let candidate = Path::new(&home).join("bin").join("rustup");
        if candidate.is_file() {
            return candidate.into_os_string();
        }
    }
    "rustup".into()
}

/// Makes sure the guest's target is installed, adding it through rustup when the build runs
/// under rustup; otherwise fails with one line naming what to install.
fn ensure_guest_target() {
    println!("cargo:rerun-if-env-changed=UNFURL_NO_TARGET_INSTALL");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let installed = |dir: &Option<PathBuf>| dir.as_deref().is_some_and(Path::is_dir);
    let libdir = target_libdir(&rustc, GUEST_TARGET);
    if installed(&libdir) {
        return;
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let opted_out = std::env::var_os("UNFURL_NO_TARGET_INSTALL").is_some_and(|v| v != "0");
    let Some(toolchain) = toolchain.filter(|_| !opted_out) else {
        fail(&format!(
            "the {GUEST_TARGET} target (its standard library) is not installed for {rustc}; \
             install it (with rustup: `rustup target add {GUEST_TARGET}`) and build again",
            rustc = Path::new(&rustc).display()
        ));
    };
    eprintln!("unfurl build: adding the {GUEST_TARGET} target to toolchain {toolchain}");
    let status = Command::new(rustup())
        .args(["target", "add", "--toolchain", &toolchain, GUEST_TARGET])
        .status();
    let added = status.is_ok_and(|s| s.success());
    if !added || !installed(&target_libdir(&rustc, GUEST_TARGET)) {
        fail(&format!(
            "`rustup target add --toolchain {toolchain} {GUEST_TARGET}` did not install the \
             target; run it yourself (it needs rustup's download server) and build again"
        ));
    }
    // Cargo shows this once, and again whenever it replays this script's cached output.
    println!(
        "cargo:warning=unfurl: added the {GUEST_TARGET} target to toolchain {toolchain} with \
         `rustup target add` (rust-toolchain.toml lists it, and it was missing; set \
         UNFURL_NO_TARGET_INSTALL=1 to stop this)"
    );
}

fn main() {
    ensure_guest_target();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let engine = manifest_dir.join("../engine");
    let target_dir = out_dir.join("guest-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    println!("cargo:rerun-if-changed={}", engine.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        engine.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("../Cargo.lock").display()
    );

    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "--target",
        GUEST_TARGET,
        "--bin",
        "unfurl-guest",
        "--bin",
        "unfurl-probe",
    ])
    .args(["--features", "guest"])
    .arg("--manifest-path")
    .arg(engine.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir)
    // The outer build's flags are for the host target, not for wasm. The guest gets wasm
    // SIMD, which zlib-rs uses for checksums and copies (measured: the guest's inflate is
    // its hot spot), and no debug info (a smaller module, a faster compile).
    .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128")
    .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
    .env("CARGO_PROFILE_RELEASE_STRIP", "true")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_BUILD_TARGET")
    .env_remove("CARGO_TARGET_DIR")
    .env_remove("CARGO_BUILD_RUSTFLAGS")
    .env_remove("CARGO_MAKEFLAGS");
    let status = cmd.status().expect("run cargo to build the wasm guest");
    if !status.success() {
        fail(
            "building the wasm guest (engine, --features guest, wasm32-wasip1) failed; its errors are above",
        );
    }
    let built = target_dir
        .join(GUEST_TARGET)
        .join("release/unfurl-guest.wasm");
    let wasm = std::fs::read(&built).expect("the guest was built");
    let dest = out_dir.join("unfurl-guest.wasm");
    std::fs::write(&dest, &wasm).expect("copy the guest into OUT_DIR");
    // FNV-1a over the module: the compiled-module cache key, together with wasmtime's version.
    let hash = wasm.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    println!("cargo:rustc-env=UNFURL_GUEST_WASM={}", dest.display());
    // The confinement probe, for the test suite only: its path, not its bytes.
    let probe = target_dir
        .join(GUEST_TARGET)
        .join("release/unfurl-probe.wasm");
    println!("cargo:rustc-env=UNFURL_PROBE_WASM={}", probe.display());
    println!("cargo:rustc-env=UNFURL_GUEST_HASH={hash:016x}");
}
