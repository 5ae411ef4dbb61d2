//! Selecting subtrees: `--path PREFIX`, as `git archive REV PREFIX…` selects them.
//!
//! A [`Selection`] is a small trie of the prefixes' components. The walk carries, for each
//! tree it reads, the trie node it has reached (if any) and whether the tree is inside a
//! selected prefix. An entry is checked out when it is inside, or when it completes a
//! prefix; a tree that only lies on the way to a prefix is read, and nothing else outside
//! the selection is: neither deeper trees nor any blob. When a `.git` is written, the index
//! must still list every entry of the commit (the ones outside marked skip-worktree), so
//! the walk then reads the trees outside too — never their blobs — and records their
//! entries as [`Outside`](super::Outside).

use bstr::{BStr, BString, ByteSlice};

use super::Error;

/// Which subtrees of the tree to check out; by default, all of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The prefixes, normalized, in the order given (duplicates kept, reported once).
    prefixes: Vec<BString>,
    /// The trie: `nodes[0]` is the root when there is any prefix.
    nodes: Vec<Node>,
    /// Whether entries outside the selection are recorded, for an index.
    keep_outside: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Children by component.
    children: Vec<(BString, usize)>,
    /// The prefix that ends here, if one does (an index into `prefixes`).
    prefix: Option<usize>,
}

/// Where the walk stands in the selection, for one tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    /// The trie node this tree's path reached, if any.
    node: Option<usize>,
    /// Whether this tree is inside a selected prefix (everything below is checked out).
    pub(super) inside: bool,
}

/// What to do with one entry of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Check it out; a tree is walked with this place.
    Take(Place),
    /// A tree on the way to a prefix: walk it with this place, checking out only what the
    /// selection reaches.
    Through(Place),
    /// Outside the selection.
    Outside,
}

impl Selection {
    /// Everything: no prefix.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Only the subtrees (or files) at `prefixes`, `/`-separated paths relative to the
    /// tree's root. A trailing `/` is allowed; empty paths, empty components, `.` and `..`,
    /// and a leading `/` are refused with [`Error::BadPath`]. No prefix means everything.
    pub fn new<P: AsRef<[u8]>>(prefixes: &[P]) -> Result<Selection, Error> {
        let mut selection = Selection::default();
        for given in prefixes {
            let given = given.as_ref().as_bstr();
            let bad = |reason: &'static str| Error::BadPath {
                path: given.to_owned(),
                reason,
            };
            let mut path = given;
            while let Some(rest) = path.strip_suffix(b"/") {
                path = rest.as_bstr();
            }
            if path.is_empty() {
                return Err(bad(
                    "it is empty (leave out --path to check out everything)",
                ));
            }
            if path.contains(&b'\n') || path.contains(&b'\r') {
                return Err(bad("it holds a line break"));
            }
            if path.starts_with(b"/") {
                return Err(bad("it must be relative to the tree's root"));
            }
            if selection.nodes.is_empty() {
                selection.nodes.push(Node::default());
            }
            let mut node = 0;
            for component in path.split_str("/") {
                if component.is_empty() || component == b"." || component == b".." {
                    return Err(bad(
                        "it must name a path in the tree, without empty, `.` or `..` components",
                    ));
                }
                node = selection.child_or_insert(node, component.as_bstr());
            }
            if selection.nodes[node].prefix.is_none() {
                selection.nodes[node].prefix = Some(selection.prefixes.len());
            }
            selection.prefixes.push(path.to_owned());
        }
        Ok(selection)
    }

    /// Also record the entries outside the selection (without reading their blobs), for
    /// an index that lists them as skip-worktree.
    pub fn keeping_outside(mut self, keep: bool) -> Selection {
        self.keep_outside = keep;
        self
    }

    /// Whether everything is selected.
    pub fn is_all(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The prefixes, normalized (no trailing `/`), as given.
    pub fn prefixes(&self) -> &[BString] {
        &self.prefixes
    }

    /// Whether entries outside are recorded.
    pub(super) fn keep_outside(&self) -> bool {
        self.keep_outside
    }

    fn child(&self, node: usize, name: &BStr) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, i)| i)
    }

    fn child_or_insert(&mut self, node: usize, name: &BStr) -> usize {
        if let Some(child) = self.child(node, name) {
            return child;
        }
        let child = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[node].children.push((name.to_owned(), child));
        child
    }

    /// Where the walk starts: at the root of the trie, inside only if all is selected.
    pub(super) fn root(&self) -> Place {
        Place {
            node: (!self.is_all()).then_some(0),
            inside: self.is_all(),
        }
    }

    /// What to do with the entry `name` (a tree if `is_tree`) of the tree at `place`;
    /// marks in `matched` the prefix it completes, if any.
    pub(super) fn judge(
        &self,
        place: Place,
        name: &BStr,
        is_tree: bool,
        matched: &mut [bool],
    ) -> Verdict {
        let child = place.node.and_then(|node| self.child(node, name));
        let completes = child.and_then(|c| self.nodes[c].prefix);
        if let Some(prefix) = completes {
            matched[prefix] = true;
        }
        let next = Place {
            node: child,
            inside: place.inside || completes.is_some(),
        };
        if next.inside {
            Verdict::Take(next)
        } else if is_tree && child.is_some() {
            Verdict::Through(next)
        } else {
            Verdict::Outside
        }
    }

    /// A tree outside the selection, walked only to record its entries.
    pub(super) fn outside() -> Place {
        Place {
            node: None,
            inside: false,
        }
    }

    /// An error naming every prefix that `matched` says named nothing, if any.
    pub(super) fn unmatched(&self, matched: &[bool]) -> Result<(), Error> {
        let mut paths: Vec<BString> = Vec::new();
        for node in &self.nodes {
            if let Some(prefix) = node.prefix
                && !matched[prefix]
            {
                paths.push(self.prefixes[prefix].clone());
            }
        }
        if paths.is_empty() {
            Ok(())
        } else {
            Err(Error::PathNotFound { paths })
        }
    }

    /// How many prefix slots [`Selection::judge`] marks.
    pub(super) fn slots(&self) -> usize {
        self.prefixes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized_and_bad_ones_refused() {
        let s = Selection::new(&["a/b/", "c"]).expect("valid prefixes");
        assert_eq!(s.prefixes(), ["a/b", "c"], "trailing slash dropped");
        for bad in ["", "/", "/a", "a//b", "a/../b", "./a", "a/."] {
            let err = Selection::new(&[bad]).expect_err(bad);
            assert!(
                matches!(&err, Error::BadPath { path, .. } if path == bad),
                "expected {bad:?} refused as a bad path, got {err:?}"
            );
        }
        assert!(
            Selection::new::<&str>(&[]).unwrap().is_all(),
            "no prefix is all"
        );
    }

    #[test]
    fn entries_are_taken_passed_through_or_left_outside() {
        let s = Selection::new(&["a/b", "f"]).unwrap();
        let mut matched = vec![false; s.slots()];
        let root = s.root();
        assert!(!root.inside, "the root is not inside");
        let a = match s.judge(root, "a".into(), true, &mut matched) {
            Verdict::Through(place) => place,
            other => panic!("expected `a` walked through, got {other:?}"),
        };
        assert_eq!(
            s.judge(root, "x".into(), true, &mut matched),
            Verdict::Outside,
            "an unrelated tree is outside"
        );
        assert_eq!(
            s.judge(root, "a".into(), false, &mut matched),
            Verdict::Outside,
            "a file `a` cannot lead to `a/b`"
        );
        assert!(
            matches!(s.judge(a, "b".into(), true, &mut matched), Verdict::Take(p) if p.inside),
            "`a/b` is taken"
        );
        assert_eq!(s.unmatched(&matched).unwrap_err().path().unwrap(), "f");
        assert!(matches!(
            s.judge(root, "f".into(), false, &mut matched),
            Verdict::Take(_)
        ));
        assert!(s.unmatched(&matched).is_ok(), "every prefix matched");
    }
}
