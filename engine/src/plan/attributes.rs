//! Pass 1b, attributes: read the tree's `.gitattributes` files, and give each file the
//! [`Conversion`](crate::attr::Conversion) git would apply to it (see [`crate::attr`]).
//!
//! It runs after the walk, so every `.gitattributes` of the tree is known and its
//! directory's path is at hand; nothing is read when the tree has none and the options
//! ask for nothing.

use bstr::{BString, ByteSlice};
use gix_object::Kind;

use super::arena::Arena;
use super::walk::Objects;
use super::{Error, File};
use crate::attr::{self, MAX_FILE_SIZE, Rules};

/// The name git reads attributes from, in every directory of the tree.
const ATTRIBUTES: &str = ".gitattributes";

/// Set the conversion of every file in `files`, from the tree's `.gitattributes` files,
/// `info` (the store's `info/attributes`) and `options`.
pub(super) fn assign(
    objects: &mut impl Objects,
    arena: &Arena,
    files: &mut [File],
    options: &attr::Options,
    info: Option<Vec<u8>>,
) -> Result<(), Error> {
    if options.ignore {
        return Ok(());
    }
    let mut sources = Vec::new();
    // Regular files only: git does not follow a `.gitattributes` that is a symlink.
    for file in files.iter().filter(|f| f.name == ATTRIBUTES) {
        let (kind, size) = objects.header(&file.id)?;
        if kind != Kind::Blob || size > MAX_FILE_SIZE {
            continue;
        }
        let (_, data) = objects.read(&file.id)?;
        let mut dir = arena.entry_path(file.dir, ATTRIBUTES.into());
        let len = dir.len() - ATTRIBUTES.len();
        dir.truncate(len);
        if dir.ends_with(b"/") {
            dir.pop();
        }
        sources.push((dir, data.to_vec()));
    }
    let Some(mut rules) = Rules::new(options, sources, info) else {
        return Ok(());
    };
    for file in files.iter_mut() {
        let path: BString = arena.entry_path(file.dir, file.name.as_bstr());
        file.conversion = rules.conversion(path.as_bstr());
    }
    Ok(())
}
