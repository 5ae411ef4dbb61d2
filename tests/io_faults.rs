//! EIO on reads of the store: strace makes the store's pack fail every read from the first,
//! or from one halfway through the checkout (after files were written). The checkout fails
//! with one line naming the pack and "Input/output error" in the host's words (under wasm
//! too), leaves nothing, and the next run, with the disk healthy again, succeeds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(eio_on_reads_of_the_pack_fails_cleanly_and_the_next_run_succeeds);

/// The corpus's one pack.
fn the_pack(store: &Path) -> PathBuf {
    let packs: Vec<PathBuf> = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect();
    assert_eq!(
        packs.len(),
        1,
        "expected the corpus to have one pack, got {packs:?}"
    );
    packs.into_iter().next().unwrap()
}

/// `strace` running `args`, tracing only reads of `pack` (`-P`), failing them with EIO from
/// the `from`th on (`None`: tracing only), its log in `log`.
fn traced(pack: &Path, from: Option<usize>, log: &Path, args: &[OsString]) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o"]).arg(log).arg("-P").arg(pack);
    cmd.args(["-e", "trace=read,pread64,readv,preadv"]);
    if let Some(from) = from {
        cmd.arg("-e").arg(format!(
            "inject=read,pread64,readv,preadv:error=EIO:when={from}+"
        ));
    }
    cmd.arg(unfurl_bin()).args(args);
    cmd
}

fn eio_on_reads_of_the_pack_fails_cleanly_and_the_next_run_succeeds(rt: Runtime) {
    require(
        "strace",
        "it injects EIO into the reads of the store's pack",
    );
    let corpus = corpus();
    let pack = the_pack(&corpus.store);
    let tmp = TempDir::new("eio");
    // How many reads of the pack a whole checkout makes here, to aim one halfway.
    let log = tmp.join("clean.log");
    let args = checkout_args(
        rt,
        &["--git", "none", "-j", "1"],
        &corpus.store,
        "main",
        &tmp.join("clean"),
    );
    let out = run(&mut traced(&pack, None, &log, &args));
    assert!(
        out.status.success(),
        "expected a traced checkout to succeed, got {out:?}"
    );
    let reads = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(
        reads >= 4,
        "expected several reads of the pack, got {reads}"
    );
    for (label, from) in [("every read", 1), ("reads from halfway on", reads / 2)] {
        let what = format!("EIO on {label} of the pack (runtime {})", rt.name());
        let site = FailureSite::new();
        let args = checkout_args(
            rt,
            &["--git", "none", "-j", "1"],
            &corpus.store,
            "main",
            &site.dest,
        );
        let failed = assert_fails_cleanly_with(
            &mut traced(&pack, Some(from), &tmp.join("eio.log"), &args),
            &site.parent,
            &["Input/output error (os error 5)"],
            &what,
        );
        let name = pack.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            failed.stderr.contains(&name),
            "{what}: expected the error to name the pack {name}, got {:?}",
            failed.stderr
        );
        // The disk is healthy again: the next run into the same place succeeds.
        assert_checkout_matches(rt, &corpus.store, "main", &site.dest, &["--git", "none"]);
    }
}
