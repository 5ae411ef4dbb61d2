//! The messages between the host and its WASI guests. Both sides use these types, so they
//! cannot drift.
//!
//! A checkout under the sandbox takes two kinds of guest, run one after the other:
//!
//! 1. one **planner** ([`Request::Plan`]): it sees the store (read-only) and nothing
//!    writable, resolves the revision, walks and validates the tree, and replies with the
//!    [`crate::plan::Plan`] ([`Reply::Planned`]);
//! 2. `jobs` **writers** ([`Request::Write`]): each sees the store (read-only) and the
//!    staging directory, and claims groups of files ([`crate::write::Group`]) one at a time
//!    from the host (the imports [`CLAIM`] and [`TAKE`]) until none is left, checking each
//!    as it would a tree entry, because the planner is no more trusted than any guest.
//!
//! The request is the guest's one argument (JSON); the reply is one line of JSON on its
//! stdout. The store is preopened at [`STORE`], the staging directory at [`DEST`], and each
//! alternate object directory at the path its request lists.

use crate::failure::Failure;
use crate::plan::Plan;
use crate::write::Stats;

/// Where the guest finds the store.
pub const STORE: &str = "/store";
/// Where guests read Git LFS objects, when the caller gave their directory (read-only).
pub const LFS_OBJECTS: &str = "/lfs";
/// Where a writer guest writes the checkout (the host's staging directory).
pub const DEST: &str = "/dest";
/// The import (module `env`) by which a writer claims the next groups (a run of neighbouring
/// directories' files, see `Claims`): it returns the length of their JSON (an array of
/// groups), held for this guest until [`TAKE`] copies it, or `-1` when nothing is left.
pub const CLAIM: &str = "unfurl_claim";
/// The import (module `env`) that copies the claimed groups' JSON into the guest's memory
/// at `(pointer, length)`; it returns `0`, or `-1` if the guest holds no claim or the
/// length is not the claimed one.
pub const TAKE: &str = "unfurl_take";

/// What the host asks a guest to do.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Request {
    /// Resolve `rev` and plan its tree; write nothing.
    Plan {
        /// The revision to check out.
        rev: String,
        /// Where the object directories are.
        #[serde(flatten)]
        store: StoreLayout,
        /// Bytes of delta bases the tree walk may cache.
        delta_cache_bytes: u64,
        /// Also read the store's references, for the checkout's `.git`.
        #[serde(default)]
        refs: bool,
        /// Plan only these paths ([`crate::Options::paths`]); empty for the whole tree.
        /// With `refs`, the entries outside them are listed too, for the index.
        #[serde(default)]
        paths: Vec<String>,
        /// Also read the commit's `.gitmodules`, for its submodules.
        #[serde(default)]
        gitmodules: bool,
        /// How attributes apply (the plan carries each file's conversion).
        #[serde(default)]
        attributes: crate::attr::Options,
        /// Plan as `git archive` would (see [`crate::Options::archive`]).
        #[serde(default)]
        archive: bool,
        /// Hash every object read and fail on one whose content is not its id.
        #[serde(default)]
        verify_objects: bool,
    },
    /// Write the groups the host hands out into [`DEST`].
    Write {
        /// Where the object directories are.
        #[serde(flatten)]
        store: StoreLayout,
        /// Bytes of delta bases this guest may cache.
        delta_cache_bytes: u64,
        /// The modification time to give every file, in seconds since the epoch.
        #[serde(default)]
        mtime: Option<u64>,
        /// Hash every blob written and fail on one whose content is not its id.
        #[serde(default)]
        verify_objects: bool,
        /// The planner's names of the store's packs, by the numbers the groups' locations
        /// use ([`crate::plan::Plan::pack_names`]).
        #[serde(default)]
        packs: Vec<Vec<String>>,
    },
}

/// The guest paths of the store's object directories.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StoreLayout {
    /// Guest paths of the preopened alternate object directories, in the store's order.
    pub alternates: Vec<String>,
    /// The guest path of the preopened Git LFS objects directory, when the caller gave
    /// one (otherwise the store's own `lfs/objects` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs_objects: Option<String>,
}

/// How long each stage took inside a guest, in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct GuestPhases {
    /// Resolving the revision to a tree (planner).
    pub resolve_us: u64,
    /// Walking and validating the tree (planner).
    pub plan_us: u64,
    /// Writing the groups this guest claimed (writer).
    pub write_us: u64,
}

/// What a guest answers.
///
/// Externally tagged (`{"planned": {…}}`), unlike [`Request`]: serde reads an internally
/// tagged enum by buffering all of it as generic values first, which for a plan of 100 000
/// files cost the host 52 MB on top of the plan itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// The planner's answer: the validated plan.
    Planned {
        /// The commit, if the revision named one.
        #[serde(with = "hex_opt")]
        commit: Option<gix_hash::ObjectId>,
        /// The tree.
        #[serde(with = "hex")]
        tree: gix_hash::ObjectId,
        /// The checkout as data.
        plan: Plan,
        /// How long resolving and planning took.
        phases: GuestPhases,
        /// The store's references, when asked for.
        #[serde(default)]
        refs: Option<crate::gitdir::StoreRefs>,
        /// The commit's `.gitmodules`, when asked for and there is one (boxed: the reply
        /// stays small).
        #[serde(default)]
        gitmodules: Option<Box<[u8]>>,
    },
    /// A writer's answer: what it wrote, and what it left for the host.
    Wrote {
        /// Files, bytes, and the exec bits it could not set.
        stats: Stats,
        /// How long writing took.
        phases: GuestPhases,
    },
    /// The guest failed: the engine's error as data, its kind kept.
    Failed(Failure),
}

/// Serde for names and paths as UTF-8 strings. A guest can spell only UTF-8 (it writes
/// anything else under a placeholder), so everything that crosses the wire is UTF-8; a name
/// that is not fails to serialize rather than being mangled.
pub mod utf8 {
    use bstr::BString;

    /// Serialize `bytes` as a string; an error if it is not UTF-8.
    pub fn serialize<S: serde::Serializer>(bytes: &BString, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom(format!(
                "{bytes:?} is not UTF-8 and cannot cross to the host"
            ))),
        }
    }

    /// Deserialize a string into bytes.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BString, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        Ok(text.into())
    }
}

/// Serde for object ids as hex strings.
pub mod hex {
    use gix_hash::ObjectId;

    /// Serialize `id` as 40 hex digits.
    pub fn serialize<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&id.to_hex())
    }

    /// Deserialize hex digits into an id.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        let text: &str = serde::Deserialize::deserialize(d)?;
        ObjectId::from_hex(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Serde for optional object ids as hex strings or `null`.
pub mod hex_opt {
    use gix_hash::ObjectId;

    /// Serialize `id` as 40 hex digits, or `null`.
    pub fn serialize<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.collect_str(&id.to_hex()),
            None => s.serialize_none(),
        }
    }

    /// Deserialize hex digits or `null`.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ObjectId>, D::Error> {
        let text: Option<&str> = serde::Deserialize::deserialize(d)?;
        text.map(|t| ObjectId::from_hex(t.as_bytes()).map_err(serde::de::Error::custom))
            .transpose()
    }
}
