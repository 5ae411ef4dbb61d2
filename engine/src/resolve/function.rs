use bstr::{BStr, ByteSlice};
use gix_hash::{ObjectId, oid};
use gix_object::Kind;
use gix_revision::spec::parse::delegate::{self, PeelTo, PrefixHint, Traversal};

use super::{Error, Resolved};
use crate::odb::Reader;
use crate::store::Store;

/// The longest chain of tags (a tag of a tag of …) followed to what it names. git makes
/// chains of one or two; a longer one than this is a cycle made up by hand.
const MAX_TAG_CHAIN: usize = 64;

/// Resolve `rev` (`main`, `v1`, `HEAD~2`, `abc123`, `v1^{commit}`, `main:dir`, a tree id…)
/// in `store` to the tree it names, and the commit when there is one.
pub fn resolve(store: &Store, rev: &str) -> Result<Resolved, Error> {
    resolve_verifying(store, rev, false)
}

/// [`resolve()`], hashing every object read and failing on one whose content is not its id
/// when `verify` is set (`--verify-objects`).
pub(crate) fn resolve_verifying(store: &Store, rev: &str, verify: bool) -> Result<Resolved, Error> {
    let mut delegate = Delegate {
        store,
        reader: store.odb().reader(4 << 20).verifying(verify),
        rev,
        current: None,
        error: None,
        buf: Vec::new(),
    };
    let parsed = gix_revision::spec::parse(rev.as_bytes().as_bstr(), &mut delegate);
    if let Some(err) = delegate.error.take() {
        return Err(err);
    }
    if let Err(err) = parsed {
        return Err(Error::Syntax {
            rev: rev.to_owned(),
            message: err.to_string(),
        });
    }
    let Some(id) = delegate.current else {
        return Err(Error::NotFound {
            rev: rev.to_owned(),
        });
    };
    delegate.resolved(id)
}

/// Answers the parser's lookups; the first error is kept, since the parser's own error
/// after a failed callback says less than ours.
struct Delegate<'a> {
    store: &'a Store,
    reader: Reader<'a>,
    rev: &'a str,
    current: Option<ObjectId>,
    error: Option<Error>,
    buf: Vec<u8>,
}

type Outcome = Result<(), gix_error::Error>;

impl Delegate<'_> {
    fn fail(&mut self, err: Error) -> Outcome {
        let message = err.to_string();
        self.error.get_or_insert(err);
        Err(gix_error::Error::from_error(std::io::Error::other(message)))
    }

    fn try_or_fail(&mut self, result: Result<(), Error>) -> Outcome {
        match result {
            Ok(()) => Ok(()),
            Err(err) => self.fail(err),
        }
    }

    fn unsupported(&mut self, what: &'static str) -> Outcome {
        let err = Error::Unsupported {
            rev: self.rev.to_owned(),
            what,
        };
        self.fail(err)
    }

    fn navigation(&self, message: String) -> Error {
        Error::Navigation {
            rev: self.rev.to_owned(),
            message,
        }
    }

    fn corrupt(&self, message: String) -> Error {
        Error::Corrupt {
            rev: self.rev.to_owned(),
            message,
        }
    }

    fn current(&self) -> Result<ObjectId, Error> {
        self.current.ok_or_else(|| Error::NotFound {
            rev: self.rev.to_owned(),
        })
    }

    fn read(&mut self, id: &oid) -> Result<Kind, Error> {
        Ok(self.reader.read(id, &mut self.buf)?)
    }

    /// Peel `id` until it is an object of `kind`: tags to their targets, commits to trees.
    fn peel_to(&mut self, mut id: ObjectId, kind: Kind) -> Result<ObjectId, Error> {
        let mut tags = 0;
        loop {
            let actual = self.reader.header(&id)?.0;
            if actual == kind {
                return Ok(id);
            }
            match actual {
                Kind::Tag => {
                    id = self.tag_target(id, &mut tags)?;
                }
                Kind::Commit if kind == Kind::Tree => {
                    self.read(&id)?;
                    id = self.commit(&id)?.tree();
                }
                _ => {
                    return Err(
                        self.navigation(format!("{actual} {id} cannot be peeled to a {kind}"))
                    );
                }
            }
        }
    }

    /// What the tag `id` names, as the `tags`-th tag of a chain. A tag can name a tag, but
    /// a chain longer than [`MAX_TAG_CHAIN`] is a cycle made up by hand (a tag that names
    /// itself cannot be made by git: its id would be the hash of its own content), which
    /// would otherwise be followed forever.
    fn tag_target(&mut self, id: ObjectId, tags: &mut usize) -> Result<ObjectId, Error> {
        *tags += 1;
        if *tags > MAX_TAG_CHAIN {
            return Err(self.corrupt(format!(
                "more than {MAX_TAG_CHAIN} tags name one another from tag {id} (a cycle?)"
            )));
        }
        self.read(&id)?;
        gix_object::TagRefIter::from_bytes(&self.buf, gix_hash::Kind::Sha1)
            .target_id()
            .map_err(|e| self.corrupt(format!("tag {id} is corrupt: {e}")))
    }

    fn commit(&self, id: &oid) -> Result<gix_object::CommitRef<'_>, Error> {
        gix_object::CommitRef::from_bytes(&self.buf, gix_hash::Kind::Sha1)
            .map_err(|e| self.corrupt(format!("commit {id} is corrupt: {e}")))
    }

    /// The parents of the commit `id` peels to. `asked` says what navigation needed them,
    /// for the message when history ends at the store's shallow boundary.
    fn parents(
        &mut self,
        id: ObjectId,
        asked: impl FnOnce() -> String,
    ) -> Result<Vec<ObjectId>, Error> {
        let commit = self.peel_to(id, Kind::Commit)?;
        self.read(&commit)?;
        let parents: Vec<ObjectId> = self.commit(&commit)?.parents().collect();
        // A shallow store (`git clone --depth`) lists commits whose parents it never
        // fetched. Their commit objects still name those parents, but git treats the
        // boundary as the end of history, and so do we: walking on would only meet a
        // missing object, with a message about a damaged store that is not damaged.
        if !parents.is_empty() && self.store.is_shallow_boundary(&commit)? {
            return Err(self.navigation(format!(
                "{}, but history ends at commit {commit}, the store's shallow boundary (its \
                 parents were never fetched); fetch more history into the store \
                 (`git fetch --deepen=N`, or `git fetch --unshallow`)",
                asked()
            )));
        }
        Ok(parents)
    }

    fn lookup_path(&mut self, id: ObjectId, path: &BStr) -> Result<ObjectId, Error> {
        let mut current = self.peel_to(id, Kind::Tree)?;
        for component in path.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            let kind = self.read(&current)?;
            if kind != Kind::Tree {
                return Err(self.navigation(format!(
                    "path '{path}' goes through {kind} {current}, not a directory"
                )));
            }
            let found = gix_object::TreeRefIter::from_bytes(&self.buf, gix_hash::Kind::Sha1)
                .filter_map(Result::ok)
                .find(|entry| entry.filename == component.as_bstr())
                .map(|entry| entry.oid.to_owned());
            current = found.ok_or_else(|| {
                self.navigation(format!("path '{path}' does not exist in the tree"))
            })?;
        }
        Ok(current)
    }

    fn resolved(&mut self, id: ObjectId) -> Result<Resolved, Error> {
        let mut id = id;
        loop {
            let kind = self.reader.header(&id)?.0;
            match kind {
                Kind::Tag => {
                    id = self
                        .peel_to(id, Kind::Commit)
                        .or_else(|_| self.peel_to(id, Kind::Tree))?
                }
                Kind::Commit => {
                    self.read(&id)?;
                    let tree = self.commit(&id)?.tree();
                    return Ok(Resolved {
                        commit: Some(id),
                        tree,
                    });
                }
                Kind::Tree => {
                    return Ok(Resolved {
                        commit: None,
                        tree: id,
                    });
                }
                Kind::Blob => {
                    return Err(Error::NotATree {
                        rev: self.rev.to_owned(),
                        id,
                        kind,
                    });
                }
            }
        }
    }
}

impl delegate::Revision for Delegate<'_> {
    fn find_ref(&mut self, name: &BStr) -> Outcome {
        match self.store.find_ref(name) {
            Ok(Some((_, id))) => {
                self.current = Some(id);
                Ok(())
            }
            Ok(None) => {
                let err = Error::NotFound {
                    rev: self.rev.to_owned(),
                };
                self.fail(err)
            }
            Err(err) => self.fail(err.into()),
        }
    }

    fn disambiguate_prefix(
        &mut self,
        prefix: gix_hash::Prefix,
        hint: Option<PrefixHint<'_>>,
    ) -> Outcome {
        let result = (|| {
            let ids = self.store.odb().ids_with_prefix(prefix)?;
            let mut candidates = Vec::with_capacity(ids.len());
            for id in ids {
                let kind = self.reader.header(&id)?.0;
                candidates.push((id, kind));
            }
            let chosen = match candidates.as_slice() {
                [] => {
                    return Err(Error::NotFound {
                        rev: self.rev.to_owned(),
                    });
                }
                [(id, _)] => *id,
                many => {
                    // As git does: when the revision needs a commit, only commits count.
                    let commits: Vec<_> = many.iter().filter(|(_, k)| *k == Kind::Commit).collect();
                    match (hint, commits.as_slice()) {
                        (Some(PrefixHint::MustBeCommit), [(id, _)]) => *id,
                        _ => {
                            return Err(Error::Ambiguous {
                                rev: self.rev.to_owned(),
                                prefix: prefix.to_string(),
                                candidates,
                            });
                        }
                    }
                }
            };
            self.current = Some(chosen);
            Ok(())
        })();
        self.try_or_fail(result)
    }

    fn reflog(&mut self, _query: delegate::ReflogLookup) -> Outcome {
        self.unsupported("a reflog lookup (@{…})")
    }

    fn nth_checked_out_branch(&mut self, _branch_no: usize) -> Outcome {
        self.unsupported("a previous-branch lookup (@{-N})")
    }

    fn sibling_branch(&mut self, _kind: delegate::SiblingBranch) -> Outcome {
        self.unsupported("an upstream lookup (@{upstream}/@{push})")
    }
}

impl delegate::Navigate for Delegate<'_> {
    fn traverse(&mut self, kind: Traversal) -> Outcome {
        let result = (|| {
            let mut id = self.current()?;
            match kind {
                Traversal::NthParent(n) => {
                    let parents = self.parents(id, || format!("parent {n} was asked for"))?;
                    id = *parents.get(n - 1).ok_or_else(|| {
                        self.navigation(format!(
                            "commit {id} has {} parent(s), not {n}",
                            parents.len()
                        ))
                    })?;
                }
                Traversal::NthAncestor(n) => {
                    // Commits met on the way: history that comes back to one (commits whose
                    // parents name each other, made up by hand) would be walked `n` times
                    // round, up to billions of steps.
                    let mut seen = std::collections::HashSet::new();
                    for generation in 0..n {
                        if !seen.insert(id) {
                            return Err(self.corrupt(format!(
                                "the history of commit {id} comes back to it (a cycle of parents)"
                            )));
                        }
                        let parents = self.parents(id, || {
                            format!("{n} generation(s) were asked for, {generation} reached")
                        })?;
                        id = *parents.first().ok_or_else(|| {
                            self.navigation(format!(
                                "history ends at root commit {id} after {generation} generation(s), {n} were asked for"
                            ))
                        })?;
                    }
                }
            }
            self.current = Some(id);
            Ok(())
        })();
        self.try_or_fail(result)
    }

    fn peel_until(&mut self, kind: PeelTo<'_>) -> Outcome {
        let result = (|| {
            let id = self.current()?;
            let peeled = match kind {
                PeelTo::ObjectKind(kind) => self.peel_to(id, kind)?,
                PeelTo::ValidObject => {
                    self.reader.header(&id)?;
                    id
                }
                PeelTo::RecursiveTagObject => {
                    let (mut id, mut tags) = (id, 0);
                    while self.reader.header(&id)?.0 == Kind::Tag {
                        id = self.tag_target(id, &mut tags)?;
                    }
                    id
                }
                PeelTo::Path(path) => self.lookup_path(id, path)?,
            };
            self.current = Some(peeled);
            Ok(())
        })();
        self.try_or_fail(result)
    }

    fn find(&mut self, _regex: &BStr, _negated: bool) -> Outcome {
        self.unsupported("a commit message search (:/text or ^{/text})")
    }

    fn index_lookup(&mut self, _path: &BStr, _stage: u8) -> Outcome {
        self.unsupported("an index lookup (:path); a bare store has no index, use REV:path")
    }
}

impl delegate::Kind for Delegate<'_> {
    fn kind(&mut self, kind: gix_revision::spec::Kind) -> Outcome {
        if kind == gix_revision::spec::Kind::IncludeReachable {
            return Ok(());
        }
        self.unsupported("a revision range")
    }
}

impl gix_revision::spec::parse::Delegate for Delegate<'_> {
    fn done(&mut self) -> Outcome {
        Ok(())
    }
}
