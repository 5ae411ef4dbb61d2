//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the parsers of
//! untrusted bytes that are private to the crate. Not a stable API.
//!
//! Everything a store holds is untrusted: a store may have been fetched from anyone. The
//! targets feed these functions arbitrary bytes; any panic, hang or out-of-bounds access
//! is a bug.

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

use crate::store::Store;
use crate::{odb, write};

/// Apply `delta` to `base` as a pack's deltified entry would be; the error as text.
pub fn delta(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let announced = odb::delta::result_size(delta).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    odb::delta::apply(base, delta, &mut out).map_err(|e| e.to_string())?;
    assert_eq!(
        out.len() as u64,
        announced,
        "a delta that applies produces the size it announced"
    );
    Ok(out)
}

/// Whether a writer accepts `name` as one path component (what it checks in every group
/// and deferred operation an untrusted guest hands it).
pub fn component_is_valid(name: &[u8]) -> bool {
    write::deferred::valid_component(name.as_bstr())
}

/// Whether a writer accepts `path` as a relative path inside the checkout.
pub fn path_is_valid(path: &[u8]) -> bool {
    write::deferred::checked_path(&BString::from(path)).is_ok()
}

/// Decode object `id` of `store` whole, as the planner reads trees and commits.
pub fn read_object(store: &Store, id: &ObjectId) -> Result<(gix_object::Kind, Vec<u8>), String> {
    let mut reader = store.odb().reader(1 << 20);
    let mut out = Vec::new();
    let kind = reader.read(id, &mut out).map_err(|e| e.to_string())?;
    Ok((kind, out))
}

/// Stream blob `id` of `store` into `sink`, as a writer does, returning its size.
pub fn write_blob(store: &Store, id: &ObjectId, sink: &mut Vec<u8>) -> Result<u64, String> {
    let mut reader = store.odb().reader(1 << 20);
    reader.write_blob(id, sink).map_err(|e| e.to_string())
}

/// A path of a plan, for checking what a plan holds.
pub fn plan_paths(plan: &crate::plan::Plan) -> Vec<BString> {
    let mut paths = Vec::new();
    for range in plan.groups() {
        let group = plan.group(range);
        for file in &group.files {
            paths.push(write::join(group.dir.as_ref(), file.name.as_ref()));
        }
    }
    for op in plan.finishing() {
        match op {
            write::Deferred::Dir { path } | write::Deferred::Symlink { path, .. } => {
                paths.push(path)
            }
            _ => {}
        }
    }
    paths
}

/// Whether every component of `path` is one a writer accepts.
pub fn plan_path_is_valid(path: &BStr) -> bool {
    path.split_str("/").all(component_is_valid)
}
