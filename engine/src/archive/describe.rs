//! `git describe`, as `%(describe…)` runs it: the nearest tag reachable from a commit,
//! found with git's own walk (`describe.c`), so that the answer is git's, depth included.

use std::collections::HashMap;

use bstr::{BString, ByteSlice};
use gix_hash::ObjectId;
use gix_object::Kind;

use super::pretty::{Commit, Signature};
use crate::odb;
use crate::store::Store;

/// How many candidate tags the walk collects before it stops looking (git's default).
const MAX_CANDIDATES: usize = 10;
const SEEN: u32 = 1;

/// `git describe`'s options.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `--tags`: lightweight tags count too.
    pub(crate) tags: bool,
    /// `--abbrev=N`; `None` for git's default (unique, at least 7).
    pub(crate) abbrev: Option<usize>,
    /// `--match`: the tag's name must match one of these, if any.
    pub(crate) matches: Vec<String>,
    /// `--exclude`: the tag's name must match none of these.
    pub(crate) excludes: Vec<String>,
}

/// A tag the walk may name.
struct Name {
    name: BString,
    /// 2 for an annotated tag, 1 for a lightweight one.
    prio: u8,
    /// The tagger's time, for an annotated tag.
    date: i64,
}

struct Candidate {
    name: BString,
    prio: u8,
    depth: usize,
    within: u32,
    found_order: usize,
}

/// The commits the walk has read.
struct Graph<'a> {
    reader: odb::Reader<'a>,
    store: &'a Store,
    commits: HashMap<ObjectId, (i64, Vec<ObjectId>)>,
    flags: HashMap<ObjectId, u32>,
}

impl Graph<'_> {
    /// The committer time and parents of `id` (none past a shallow boundary or a missing
    /// commit, where git's history ends too).
    fn commit(&mut self, id: ObjectId) -> Result<(i64, Vec<ObjectId>), odb::Error> {
        if let Some(c) = self.commits.get(&id) {
            return Ok(c.clone());
        }
        let (time, mut parents) = match self.reader.read_shared(&id) {
            Ok((Kind::Commit, data)) => match Commit::parse(id, &data) {
                Some(c) => (c.committer.seconds, c.parents),
                None => (0, Vec::new()),
            },
            Ok(_) | Err(odb::Error::NotFound { .. }) => (0, Vec::new()),
            Err(err) => return Err(err),
        };
        if self.store.is_shallow_boundary(&id).unwrap_or(false) {
            parents.clear();
        }
        self.commits.insert(id, (time, parents.clone()));
        Ok((time, parents))
    }

    /// git's `commit_list_insert_by_date`: after every commit at least as recent.
    fn insert(&mut self, list: &mut Vec<ObjectId>, id: ObjectId) -> Result<(), odb::Error> {
        let time = self.commit(id)?.0;
        let at = list
            .iter()
            .position(|other| self.commits[other].0 < time)
            .unwrap_or(list.len());
        list.insert(at, id);
        Ok(())
    }

    fn flags(&self, id: &ObjectId) -> u32 {
        self.flags.get(id).copied().unwrap_or(0)
    }

    /// Queue `c`'s parents and give them its flags.
    fn visit_parents(&mut self, list: &mut Vec<ObjectId>, c: ObjectId) -> Result<(), odb::Error> {
        let flags = self.flags(&c);
        for p in self.commit(c)?.1 {
            if self.flags(&p) & SEEN == 0 {
                self.insert(list, p)?;
            }
            *self.flags.entry(p).or_default() |= flags;
        }
        Ok(())
    }
}

/// Describe `commit`: the tag's name, or `name-N-gABBREV`; `None` when no tag describes
/// it (git describe fails, and the placeholder expands to nothing).
pub(crate) fn describe(
    store: &Store,
    commit: ObjectId,
    options: &Options,
    abbrev: &mut dyn FnMut(&ObjectId, Option<usize>) -> String,
) -> Result<Option<String>, odb::Error> {
    let mut graph = Graph {
        reader: store.odb().reader(1 << 20),
        store,
        commits: HashMap::new(),
        flags: HashMap::new(),
    };
    let names = known_names(store, &mut graph.reader, options)?;
    if let Some(n) = names.get(&commit)
        && (options.tags || n.prio == 2)
    {
        return Ok(Some(n.name.to_string()));
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut annotated = 0;
    let mut gave_up_on = None;
    let mut seen_commits = 0;
    graph.flags.insert(commit, SEEN);
    let mut list = vec![commit];
    while !list.is_empty() {
        let c = list.remove(0);
        seen_commits += 1;
        if let Some(n) = names.get(&c) {
            if !options.tags && n.prio < 2 {
                // Remembered by git only for a hint in its error message.
            } else if candidates.len() < MAX_CANDIDATES {
                let within = 1u32 << (candidates.len() + 1);
                candidates.push(Candidate {
                    name: n.name.clone(),
                    prio: n.prio,
                    depth: seen_commits - 1,
                    within,
                    found_order: candidates.len() + 1,
                });
                *graph.flags.entry(c).or_default() |= within;
                if n.prio == 2 {
                    annotated += 1;
                }
            } else {
                gave_up_on = Some(c);
                break;
            }
        }
        let flags = graph.flags(&c);
        for t in &mut candidates {
            if flags & t.within == 0 {
                t.depth += 1;
            }
        }
        // Stop when the last remaining path is covered by the best candidates.
        if annotated > 0 && list.is_empty() {
            let best_depth = candidates
                .iter()
                .map(|t| t.depth)
                .min()
                .unwrap_or(usize::MAX);
            let best_within = candidates
                .iter()
                .filter(|t| t.depth == best_depth)
                .fold(0, |acc, t| acc | t.within);
            if flags & best_within == best_within {
                break;
            }
        }
        graph.visit_parents(&mut list, c)?;
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    candidates.sort_by_key(|t| (t.depth, t.found_order));
    if let Some(c) = gave_up_on {
        graph.insert(&mut list, c)?;
    }
    // git's `finish_depth_computation`.
    let best_within = candidates[0].within;
    while !list.is_empty() {
        let c = list.remove(0);
        if graph.flags(&c) & best_within != 0 {
            if list.iter().all(|i| graph.flags(i) & best_within != 0) {
                break;
            }
        } else {
            candidates[0].depth += 1;
        }
        graph.visit_parents(&mut list, c)?;
    }
    let best = &candidates[0];
    let _ = best.prio;
    Ok(Some(match options.abbrev {
        Some(0) => best.name.to_string(),
        len => format!("{}-{}-g{}", best.name, best.depth, abbrev(&commit, len)),
    }))
}

/// The tags that may name commits, by commit (git's `get_name` and `add_to_known_names`).
fn known_names(
    store: &Store,
    reader: &mut odb::Reader<'_>,
    options: &Options,
) -> Result<HashMap<ObjectId, Name>, odb::Error> {
    let mut names: HashMap<ObjectId, Name> = HashMap::new();
    let refs = store.refs_under("refs/tags/").unwrap_or_default();
    for (full, id) in refs {
        let name: BString = full[b"refs/tags/".len()..].into();
        let glob = |p: &String| {
            gix_glob::wildmatch(
                p.as_bytes().as_bstr(),
                name.as_bstr(),
                gix_glob::wildmatch::Mode::empty(),
            )
        };
        if !options.matches.is_empty() && !options.matches.iter().any(glob) {
            continue;
        }
        if options.excludes.iter().any(glob) {
            continue;
        }
        // Peel: an annotated tag's date is its own tagger's.
        let mut target = id;
        let mut date = None;
        for _ in 0..16 {
            let (kind, data) = match reader.read_shared(&target) {
                Ok(found) => found,
                Err(odb::Error::NotFound { .. }) => break,
                Err(err) => return Err(err),
            };
            if kind != Kind::Tag {
                break;
            }
            let mut next = None;
            for line in data.lines() {
                if line.is_empty() {
                    break;
                }
                if let Some(hex) = line.strip_prefix(b"object ") {
                    next = ObjectId::from_hex(hex).ok();
                } else if let Some(sig) = line.strip_prefix(b"tagger ") {
                    date.get_or_insert(Signature::parse_time(sig));
                }
            }
            match next {
                Some(next) => target = next,
                None => break,
            }
        }
        let prio = if target != id { 2 } else { 1 };
        let date = date.flatten().unwrap_or(0);
        let replace = match names.get(&target) {
            None => true,
            Some(old) => old.prio < prio || (prio == 2 && old.prio == 2 && old.date < date),
        };
        if replace {
            names.insert(target, Name { name, prio, date });
        }
    }
    Ok(names)
}
