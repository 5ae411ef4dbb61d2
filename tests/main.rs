//! unfurl's integration tests: one binary, one module per area.

// Temporary directories, git plumbing, the git-archive reference, snapshots, running the CLI.
mod support;

// Checkouts of a generated store compared with `git archive | tar -x`, for every revision form.
mod differential;
// Under strace, every link/linkat call is denied, and the checkout still succeeds without one.
mod link_denial;
// Bad stores, revisions, destinations, corruption, a full disk and usage errors fail cleanly.
mod bad_input;
// SIGKILL trials and the helpers to start, watch and kill a checkout (also kill_trials.rs).
mod kill;
// Signals, SIGKILL at random moments, orphaned staging directories, an existing destination.
mod faults;
// EIO injected into the store's reads: a clean failure, then a clean run.
mod io_faults;
// Corrupt stores of every kind the issue lists: a clear error, no DEST, no staging.
mod corrupt_stores;
// `--json` failures: the same stable error kind in both runtimes.
mod error_kinds;
// The checkout's .git: git and setuptools-scm accept it as they accept a clone.
mod gitdir;
// Crafted malformed or dangerous trees are refused before anything is written.
mod hostile;
// Crafted odd but legal trees (names, symlinks, gitlinks, modes) match `git archive` exactly.
mod legal_trees;
// Deep trees: as deep as paths allow, past PATH_MAX, and past the depth limit in little memory.
mod deep_trees;
// The whole hostile-tree corpus, each case in a sentinel directory that must not change.
mod sentinel;
// Loose, packed, mixed, alternates and non-bare stores all check out like git archive.
mod store_layouts;
// Odd references and repository formats: symlinked refs, huge ref files, formats git refuses.
mod store_refs;
// Real exFAT (no symlinks, no exec bits, case-insensitive): git's fallbacks, case collisions.
mod filesystems;
// Mounts as destinations: an empty mount point refused early, a read-only mount's checkout.
mod mounts;
// The sandbox: confinement to the preopens, the memory cap, the deadline, the module cache.
mod wasm;
// --verify-objects against an altered store, --fsync under strace, concurrent checkouts.
mod integrity;
// `unfurl verify`: a clean checkout passes; each kind of difference is named.
mod verify;
// Switching a checkout in place: every pair of revisions, kinds and modes, local changes,
// concurrency, SIGKILL at random points.
mod switch;
// `--path`: selected subtrees equal `git archive REV PATH…`; sparse .git; bytes read scale.
mod paths;
// Submodules: nested checkouts equal `git clone --recurse-submodules`; hostile and missing ones.
mod submodules;
// Attributes (line endings, ident, encodings) as `git clone` applies them, and `-c`.
mod attributes;
// `--archive` against `git archive | tar -x`: export-ignore, export-subst, setuptools-scm.
mod archive;
// Git LFS with real git-lfs fixtures: smudged checkout, missing/corrupt objects, pointers, listing.
mod lfs;
