//! Materialize a checkout of one commit from a local git store, through directory
//! capabilities, never with hardlinks.
//!
//! Installers (uv, cargo) keep a bare "database" repository per git dependency and check out
//! one commit from it. `git clone --local` hard-links the store's object files and fails on
//! filesystems that forbid `link()`; this engine reads objects with positioned reads and
//! streams each blob into a freshly created file instead.
//!
//! The pipeline has four stages, one module each:
//!
//! 1. [`resolve`]: a revision (`main`, `v1`, `HEAD~2`, `abc123`, `main:dir`) → commit → tree;
//! 2. [`plan`]: walk the tree and validate every entry before anything is written;
//! 3. [`write`]: directories, then files (in parallel natively), then symlinks;
//! 4. [`publish`]: build in a staging directory beside the destination, then rename.
//!
//! The engine never turns a path into a capability: it takes [`Dir`] handles from its
//! caller, and reaches nothing else. It compiles natively and for `wasm32-wasip1`.
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(not(target_os = "wasi"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cap_std::{ambient_authority, fs::Dir as CapDir};
//! use std::sync::atomic::AtomicBool;
//! use unfurl_engine::{Dir, Store, checkout, Options};
//!
//! // Only the caller turns paths into capabilities.
//! let git_dir = Dir::from(CapDir::open_ambient_dir("store.git", ambient_authority())?);
//! let parent = Dir::from(CapDir::open_ambient_dir(".", ambient_authority())?);
//! let store = Store::open(git_dir, Vec::new())?;
//! let outcome = checkout(&store, "main", &parent, "checkout".as_ref(), &Options::default(), &(), &AtomicBool::new(false))?;
//! println!("{} files", outcome.stats.files);
//! # Ok(()) }
//! # #[cfg(target_os = "wasi")]
//! # fn main() {}
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod cap;
mod checkout;
mod odb;
mod progress;

pub mod plan;
pub mod publish;
pub mod resolve;
pub mod store;
#[cfg(feature = "serde")]
pub mod wire;
pub mod write;

pub use cap::Dir;
pub use checkout::{Error, Options, Outcome, Phases, checkout, materialize};
pub use gix_hash::ObjectId;
pub use odb::Error as ObjectError;
pub use progress::Progress;
pub use store::{Alternate, Store};
