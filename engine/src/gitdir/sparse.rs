//! Sparse checkout for a `.git` beside a selection of paths (`--path`): the index lists
//! every entry of the commit, those outside the selection marked skip-worktree, and the
//! configuration tells git which paths the work tree holds, so that `git status` is clean
//! and `git sparse-checkout reapply` changes nothing.
//!
//! The patterns are git's non-cone ones, one `/PATH` line per selected path: cone mode
//! always includes the files directly in the root and in every parent of a selected
//! directory, which `git archive REV PATH…` (and so the checkout) leaves out, and it cannot
//! name a file at all.

use bstr::{BString, ByteSlice};

/// The lines of `.git/config` that turn sparse checkout on, non-cone.
pub(super) const CONFIG: &str = "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = false\n";

/// `.git/info/sparse-checkout` for the selected `paths`: each anchored at the root, with
/// the characters that are special in a pattern escaped so that it matches only itself.
/// The paths hold no line break (the selection refuses them).
pub(super) fn patterns(paths: &[BString]) -> Vec<u8> {
    let mut out = Vec::new();
    for path in paths {
        out.push(b'/');
        for (i, &byte) in path.iter().enumerate() {
            // Glob characters and the escape itself; a trailing space would be dropped.
            let trailing_space = byte == b' ' && path[i + 1..].iter().all(|&b| b == b' ');
            if matches!(byte, b'\\' | b'*' | b'?' | b'[') || trailing_space {
                out.push(b'\\');
            }
            out.push(byte);
        }
        out.push(b'\n');
    }
    debug_assert!(paths.iter().all(|p| !p.contains_str("\n")));
    out
}

/// The paths a `.git/info/sparse-checkout` written by [`patterns`] selects: the inverse,
/// so that switching a sparse checkout in place keeps its selection. Lines it did not
/// write (not anchored) are left out.
#[cfg_attr(target_os = "wasi", allow(dead_code))]
pub(crate) fn paths(patterns: &[u8]) -> Vec<BString> {
    patterns
        .lines()
        .filter_map(|line| line.strip_prefix(b"/"))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut path = BString::default();
            let mut escaped = false;
            for &byte in line {
                if byte == b'\\' && !escaped {
                    escaped = true;
                    continue;
                }
                escaped = false;
                path.push(byte);
            }
            path
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_anchored_and_escaped() {
        let paths: Vec<BString> = ["src", "a b/c*d", "x ", "q[1]?\\"]
            .iter()
            .map(|p| BString::from(*p))
            .collect();
        assert_eq!(
            patterns(&paths).as_bstr(),
            "/src\n/a b/c\\*d\n/x\\ \n/q\\[1]\\?\\\\\n",
            "one anchored, escaped line per path"
        );
        assert_eq!(
            super::paths(&patterns(&paths)),
            paths,
            "read back as written"
        );
    }
}
