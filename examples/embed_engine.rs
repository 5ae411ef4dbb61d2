//! Embed the checkout engine natively.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p unfurl --example embed_engine -- STORE REV DEST
//! ```
//!
//! The engine never touches a path: this program, the embedder, decides which directories
//! it may see by opening them as capabilities.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use cap_std::{ambient_authority, fs::Dir as CapDir};
use unfurl_engine::{Dir, Options, Store};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, rev, dest] = args.as_slice() else {
        bail!("usage: embed_engine STORE REV DEST");
    };
    let dest = PathBuf::from(dest);

    // 1. Turn the store's git directory into a capability. (A bare store is its own git
    //    directory; for a work tree, pass its `.git`.)
    let git_dir = Dir::from(
        CapDir::open_ambient_dir(store, ambient_authority())
            .with_context(|| format!("cannot open store {store}"))?,
    );
    let store = Store::open(git_dir, Vec::new()).context("cannot open the store")?;

    // 2. The destination is a name inside a parent directory we hand over.
    let parent_path = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(".".as_ref());
    let name = dest
        .file_name()
        .context("DEST must end in a directory name")?;
    let parent = Dir::from(CapDir::open_ambient_dir(parent_path, ambient_authority())?);

    // 3. Resolve, validate, write into a staging directory and rename into place.
    //    `()` reports progress nowhere; the flag would let another thread interrupt.
    let interrupt = AtomicBool::new(false);
    let outcome = unfurl_engine::checkout(
        &store,
        rev,
        &parent,
        name,
        &Options::default(),
        &(),
        &interrupt,
    )?;

    // 4. The outcome is data.
    println!(
        "checked out {} (tree {}): {} files, {} dirs, {} symlinks, {} bytes in {:?}",
        outcome
            .commit
            .map_or("a tree".to_string(), |c| c.to_string()),
        outcome.tree,
        outcome.stats.files,
        outcome.stats.dirs,
        outcome.stats.symlinks,
        outcome.stats.bytes,
        outcome.elapsed,
    );
    Ok(())
}
