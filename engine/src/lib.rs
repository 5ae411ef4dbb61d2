//! Materialize a checkout of one commit from a local git store, through directory
//! capabilities, never with hardlinks.
//!
//! Installers (uv, cargo) keep a bare "database" repository per git dependency and check out
//! one commit from it. `git clone --local` hard-links the store's object files and fails on
//! filesystems that forbid `link()`; this engine reads objects with positioned reads and
//! streams each blob into a freshly created file instead.
//!
//! The pipeline has four stages, one module each, and one orchestrator, [`run()`]:
//!
//! 1. [`resolve`]: a revision (`main`, `v1`, `HEAD~2`, `abc123`, `main:dir`) → commit → tree;
//! 2. [`plan`]: walk the tree and validate every entry before anything is written;
//! 3. [`write`](mod@write): writers claim a group (up to 256 files of one directory) at a
//!    time and stream them into place; then directories without files, symlinks and
//!    renames, in that order;
//! 4. [`publish`]: build in a staging directory beside the destination, then rename.
//!
//! Where stages 1 to 3 run is a [`Backend`]: [`Native`] (threads in this process), or the
//! host crate's sandbox (WASI guests speaking `wire`). The orchestrator is the same.
//!
//! The engine never turns a path into a capability: it takes [`Dir`] handles from its
//! caller, and reaches nothing else. It compiles natively and for `wasm32-wasip1`.
//!
//! # Example
//!
//! The caller hands over two capabilities: the store's git directory, and the directory in
//! which the checkout should appear (natively, `Dir::from` a `cap_std::fs::Dir` the caller
//! opened; see `examples/embed_engine.rs`).
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use unfurl_engine::{Dir, Options, Store, checkout};
//!
//! fn check_out(git_dir: Dir, parent: &Dir) -> Result<(), unfurl_engine::Error> {
//!     let store = Store::open(git_dir, Vec::new())?;
//!     let interrupt = AtomicBool::new(false);
//!     let outcome = checkout(&store, "main", parent, "checkout".as_ref(), &Options::default(), &(), &interrupt)?;
//!     println!("{} files, {} bytes", outcome.stats.files, outcome.stats.bytes);
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod archive;
mod cap;
mod checkout;
mod errno;
mod failure;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod odb;
mod progress;

pub mod attr;
pub mod gitdir;
pub mod lfs;
pub mod plan;
pub mod publish;
pub mod resolve;
pub mod store;
pub mod submodule;
pub mod switch;
#[cfg(not(target_os = "wasi"))]
pub mod verify;
#[cfg(feature = "serde")]
pub mod wire;
pub mod write;

pub use cap::{Dir, Filesystem};
pub use checkout::{
    Backend, BackendError, CaseCollision, CaseCollisions, Claims, Error, Fallbacks, Native,
    Options, Outcome, Phases, Planned, checkout, run,
};
pub use failure::{ErrorKind, Failure, MissingObject, one_line};
pub use gix_hash::ObjectId;
pub use odb::Error as ObjectError;
pub use odb::ObjectLocation;
pub use progress::Progress;
pub use store::{Alternate, Store};
pub use submodule::store_key;
