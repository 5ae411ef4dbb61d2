//! Archive mode: the tree as `git archive REV | tar -x` gives it.
//!
//! Two attributes matter only here, and the planner applies both (see
//! `plan::attributes`):
//!
//! - `export-ignore`: the file, link, submodule or directory (with everything in it) is
//!   left out;
//! - `export-subst`: each `$Format:…$` in the file, after its other conversions, is
//!   expanded for the commit as git's pretty formats expand it (`pretty`), including
//!   `%(describe…)` (`describe`). As in git, only the first `%(describe…)` of an archive is
//!   expanded; a tree (rather than a commit) has nothing to expand with, so nothing is.
//!
//! The planner does the expansion, since it needs the commit, the references and the
//! history; the file's new content travels in the plan to the writers
//! ([`Conversion::replace`]).

mod describe;
mod pretty;

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;
use gix_object::Kind;

use crate::attr::{self, Conversion};
use crate::odb;
use crate::plan::{Error, Plan};
use crate::store::Store;

/// Expand the `export-subst` files `subst` (indices into the plan's files) of `plan` for
/// `commit`, in git's order (by path), so that the one `%(describe)` git expands is the
/// same file's.
pub(crate) fn expand(
    store: &Store,
    commit: ObjectId,
    plan: &mut Plan,
    subst: &[usize],
) -> Result<(), Error> {
    if subst.is_empty() {
        return Ok(());
    }
    let mut reader = store.odb().reader(1 << 20);
    let (kind, data) = reader.read_shared(&commit)?;
    let Some(parsed) = (kind == Kind::Commit)
        .then(|| pretty::Commit::parse(commit, &data))
        .flatten()
    else {
        return Err(Error::Object(odb::Error::NotFound { id: commit }));
    };
    let mut cx = Context {
        store,
        commit,
        describes_left: 1,
        decorations: None,
    };
    let mut order: Vec<(BString, usize)> = subst
        .iter()
        .map(|&i| {
            let f = &plan.files[i];
            (
                crate::write::join(plan.dir_path(f.dir).as_ref(), f.name.as_ref()),
                i,
            )
        })
        .collect();
    order.sort();
    for (path, i) in order {
        let _ = path;
        let file = &plan.files[i];
        // Held in memory whole, as git holds it.
        let mut content = Vec::new();
        let id = file.id;
        let mut read = |sink: &mut dyn std::io::Write| reader.write_blob(&id, sink);
        match &file.conversion {
            Some(conversion) => {
                attr::write_converted(conversion, &id, &mut read, &mut content)?;
            }
            None => {
                read(&mut content)?;
            }
        }
        let expanded = pretty::format_subst(&content, &parsed, &mut cx);
        plan.files[i].conversion = Some(Box::new(Conversion {
            replace: Some(expanded),
            ..Conversion::default()
        }));
    }
    Ok(())
}

/// What the placeholders read from the store.
struct Context<'a> {
    store: &'a Store,
    commit: ObjectId,
    /// git expands one `%(describe)` per archive.
    describes_left: usize,
    decorations: Option<String>,
}

impl Context<'_> {
    /// `id` abbreviated to `len` digits, or to git's default length, then lengthened as
    /// far as it takes to be unique in the store.
    fn abbreviate(&self, id: &ObjectId, len: Option<usize>) -> String {
        let hex = id.to_string();
        let mut len = len
            .unwrap_or_else(|| default_abbrev(self.store.odb().packed_objects()))
            .clamp(4, hex.len());
        while len < hex.len() {
            let prefix = gix_hash::Prefix::new(id, len).expect("a valid length");
            match self.store.odb().ids_with_prefix(prefix) {
                Ok(ids) if ids.len() > 1 => len += 1,
                _ => break,
            }
        }
        hex[..len].to_owned()
    }
}

impl pretty::Context for Context<'_> {
    fn abbrev(&mut self, id: &ObjectId) -> String {
        self.abbreviate(id, None)
    }

    fn decorations(&mut self) -> String {
        if self.decorations.is_none() {
            self.decorations = Some(decorations(self.store, self.commit));
        }
        self.decorations.clone().unwrap_or_default()
    }

    fn describe(&mut self, args: &[(String, Option<String>)]) -> Option<String> {
        if self.describes_left == 0 {
            return None;
        }
        self.describes_left -= 1;
        let mut options = describe::Options::default();
        for (key, value) in args {
            match (key.as_str(), value) {
                ("tags", None) => options.tags = true,
                ("tags", Some(v)) => {
                    options.tags = matches!(v.as_str(), "true" | "yes" | "on" | "1")
                }
                ("abbrev", Some(v)) => options.abbrev = Some(v.parse().ok()?),
                ("match", Some(v)) => options.matches.push(v.clone()),
                ("exclude", Some(v)) => options.excludes.push(v.clone()),
                _ => return None,
            }
        }
        let store = self.store;
        let described = describe::describe(store, self.commit, &options, &mut |id, len| {
            self.abbreviate(id, len)
        });
        Some(described.ok().flatten().unwrap_or_default())
    }
}

/// git's default abbreviation length (`core.abbrev` unset): half the bits needed to count
/// the packed objects, rounded up, and at least 7 (`repo_find_unique_abbrev_r`).
fn default_abbrev(packed_objects: u64) -> usize {
    let bits = 64 - packed_objects.leading_zeros() as usize; // git's msb() + 1
    bits.div_ceil(2).max(7)
}

/// `%D` of `commit`: `HEAD -> branch` or `HEAD` first, then the other branches, remote
/// branches and tags pointing at it (`tag: v1`), in git's order (the reverse of the
/// references' names).
fn decorations(store: &Store, commit: ObjectId) -> String {
    let mut reader = store.odb().reader(1 << 20);
    let mut refs: Vec<(BString, ObjectId)> = Vec::new();
    for prefix in ["refs/heads/", "refs/remotes/", "refs/stash", "refs/tags/"] {
        refs.extend(store.refs_under(prefix).unwrap_or_default());
    }
    refs.sort();
    let head_target = store.head_target();
    let head = store.find_ref(b"HEAD").ok().flatten().map(|(_, id)| id);
    let mut names = Vec::new();
    let mut head_branch = None;
    for (full, id) in refs.iter().rev() {
        if !peels_to(&mut reader, *id, commit) {
            continue;
        }
        if head == Some(commit) && head_target.as_ref() == Some(full) {
            head_branch = Some(full[b"refs/heads/".len()..].to_str_lossy().into_owned());
            continue;
        }
        let name = if let Some(tag) = full.strip_prefix(b"refs/tags/") {
            format!("tag: {}", tag.to_str_lossy())
        } else if let Some(branch) = full.strip_prefix(b"refs/heads/") {
            branch.to_str_lossy().into_owned()
        } else if let Some(remote) = full.strip_prefix(b"refs/remotes/") {
            remote.to_str_lossy().into_owned()
        } else {
            full.to_str_lossy().into_owned()
        };
        names.push(name);
    }
    match (head_branch, head == Some(commit)) {
        (Some(branch), _) => names.insert(0, format!("HEAD -> {branch}")),
        (None, true) if head_target.is_none() => names.insert(0, "HEAD".into()),
        _ => {}
    }
    names.join(", ")
}

/// Whether `id`, or an object its tags lead to, is `commit`.
fn peels_to(reader: &mut odb::Reader<'_>, mut id: ObjectId, commit: ObjectId) -> bool {
    for _ in 0..16 {
        if id == commit {
            return true;
        }
        let Ok((Kind::Tag, data)) = reader.read_shared(&id) else {
            return false;
        };
        let Some(next) = data
            .lines()
            .find_map(|l| l.strip_prefix(b"object "))
            .and_then(|hex| ObjectId::from_hex(hex).ok())
        else {
            return false;
        };
        id = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::default_abbrev;

    #[test]
    fn the_default_abbreviation_grows_with_the_packed_objects_as_git_s() {
        // 17 002 packed objects: `git rev-parse --short` gives 8 digits.
        for (count, len) in [
            (0, 7),
            (100, 7),
            (16_383, 7),
            (16_384, 8),
            (17_002, 8),
            (1 << 20, 11),
        ] {
            assert_eq!(default_abbrev(count), len, "for {count} packed objects");
        }
    }
}
