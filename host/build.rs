//! Builds the engine's WASI guest (`unfurl-guest`, wasm32-wasip1, release) into `OUT_DIR`
//! with its own target directory, so `cargo build` and `cargo test` need no extra step and
//! the `unfurl` binary embeds the guest. Modelled on wasmtime's test-programs artifacts.

use std::path::PathBuf;
use std::process::Command;

fn main() {
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
        "wasm32-wasip1",
        "--bin",
        "unfurl-guest",
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
    assert!(
        status.success(),
        "building the wasm guest failed; is the wasm32-wasip1 target installed? (rust-toolchain.toml lists it: `rustup target add wasm32-wasip1`)"
    );
    let built = target_dir.join("wasm32-wasip1/release/unfurl-guest.wasm");
    let wasm = std::fs::read(&built).expect("the guest was built");
    let dest = out_dir.join("unfurl-guest.wasm");
    std::fs::write(&dest, &wasm).expect("copy the guest into OUT_DIR");
    // FNV-1a over the module: the compiled-module cache key, together with wasmtime's version.
    let hash = wasm.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    println!("cargo:rustc-env=UNFURL_GUEST_WASM={}", dest.display());
    println!("cargo:rustc-env=UNFURL_GUEST_HASH={hash:016x}");
}
