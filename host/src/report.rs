//! What a checkout reports: the `--json` shape of [`Report`] and its parts.

use std::path::Path;

use unfurl_engine::write::Deferred;

use crate::{store, wasm};

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
    /// Submodules REV no longer has whose directories were kept, not empty (lossily
    /// UTF-8): now untracked, as after git's checkout.
    pub kept: Vec<String>,
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

pub(crate) fn fallbacks(deferred: &[Deferred], taken: &unfurl_engine::Fallbacks) -> Vec<Fallback> {
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

// What the sandbox could reach, for the report (alternates are checked in `store.rs`;
// this lists what was granted).

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

pub(crate) fn report_preopens(located: &store::Located, dest: &Path) -> Vec<Preopen> {
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
