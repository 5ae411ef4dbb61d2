//! Fixtures: stores made by git, packed and listed by git, opened as the engine opens them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use gix_hash::ObjectId;
use gix_object::Kind;

use crate::cap::Dir;
use crate::odb::{Error, ObjectLocation, Odb};

/// A directory removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "unfurl-odb-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run git in `dir` with a config-free environment, `input` on stdin; its trimmed stdout.
pub(super) fn git(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start git {args:?}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "expected git {args:?} to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub(super) fn init_bare(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "-q", "--bare"], b"");
    path.to_owned()
}

pub(super) fn hash_object(store: &Path, kind: &str, content: &[u8]) -> ObjectId {
    let hex = git(
        store,
        &["hash-object", "-t", kind, "--literally", "-w", "--stdin"],
        content,
    );
    ObjectId::from_hex(hex.as_bytes()).unwrap()
}

/// Blobs alike enough for git to store most of them as deltas of one another, `lines` long.
pub(super) fn similar_blobs(lines: usize) -> Vec<Vec<u8>> {
    let base: Vec<String> = (0..lines)
        .map(|i| format!("line {i}: unfurl materializes a checkout, one blob at a time\n"))
        .collect();
    (0..6)
        .map(|variant| {
            let mut lines = base.clone();
            for (i, line) in lines.iter_mut().enumerate() {
                if i % 7 == variant {
                    *line = format!("line {i} changed in variant {variant}\n");
                }
            }
            lines.concat().into_bytes()
        })
        .collect()
}

/// Pack `ids` of `store` into one new pack (offset deltas or ref deltas), drop the loose
/// copies; the pack's path without extension.
pub(super) fn pack(store: &Path, ids: &[ObjectId], ofs_deltas: bool) -> PathBuf {
    let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let mut args = vec!["pack-objects", "-q", "--window=20", "--depth=20"];
    if ofs_deltas {
        args.push("--delta-base-offset");
    }
    args.push("objects/pack/pack");
    let hash = git(store, &args, list.as_bytes());
    git(store, &["prune-packed"], b"");
    store.join(format!("objects/pack/pack-{hash}"))
}

/// One line of `git verify-pack -v`.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub(super) id: ObjectId,
    pub(super) size: u64,
    pub(super) offset: u64,
    pub(super) depth: usize,
}

pub(super) fn verify_pack(store: &Path, pack: &Path) -> Vec<Listed> {
    let idx = pack.with_extension("idx");
    git(store, &["verify-pack", "-v", idx.to_str().unwrap()], b"")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Kind::from_bytes(fields.get(1)?.as_bytes()).ok()?;
            Some(Listed {
                id: ObjectId::from_hex(fields[0].as_bytes()).unwrap(),
                size: fields[2].parse().unwrap(),
                offset: fields[4].parse().unwrap(),
                depth: fields.get(5).map_or(0, |d| d.parse().unwrap()),
            })
        })
        .collect()
}

pub(super) fn dir(path: &Path) -> Dir {
    Dir::from(cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap())
}

pub(super) fn open(store: &Path) -> Odb {
    Odb::open(dir(&store.join("objects")), "objects".into(), Vec::new()).unwrap()
}

/// Replace the index of `pack` with garbage, as git replaces files: a new file renamed over
/// the old one, so an index an `Odb` has mapped already stays intact for it.
pub(super) fn spoil_index(pack: &Path) {
    let new = pack.with_extension("idx-new");
    std::fs::write(&new, b"not an index").unwrap();
    std::fs::rename(&new, pack.with_extension("idx")).unwrap();
}

/// A store of similar blobs (most deltified), a tree and a tiny blob, in one pack.
pub(super) struct DeltaStore {
    pub(super) _tmp: TempDir,
    pub(super) store: PathBuf,
    pub(super) pack: PathBuf,
    pub(super) listed: Vec<Listed>,
    pub(super) blobs: Vec<(ObjectId, Vec<u8>)>,
    pub(super) tree: ObjectId,
}

impl DeltaStore {
    pub(super) fn new(lines: usize, ofs_deltas: bool) -> DeltaStore {
        let tmp = TempDir::new("delta");
        let store = init_bare(&tmp.0.join("store.git"));
        let mut blobs: Vec<(ObjectId, Vec<u8>)> = similar_blobs(lines)
            .into_iter()
            .map(|content| (hash_object(&store, "blob", &content), content))
            .collect();
        for content in [&b""[..], b"x"] {
            blobs.push((hash_object(&store, "blob", content), content.to_vec()));
        }
        let mut tree = Vec::new();
        for (i, (id, _)) in blobs.iter().enumerate() {
            tree.extend_from_slice(format!("100644 f{i}\0").as_bytes());
            tree.extend_from_slice(id.as_bytes());
        }
        let tree = hash_object(&store, "tree", &tree);
        let mut ids: Vec<ObjectId> = blobs.iter().map(|(id, _)| *id).collect();
        ids.push(tree);
        let pack = pack(&store, &ids, ofs_deltas);
        let listed = verify_pack(&store, &pack);
        let deltas = listed.iter().filter(|l| l.depth > 0).count();
        assert!(
            deltas >= 3,
            "expected git to deltify at least 3 of the blobs, it did {deltas}: {listed:?}"
        );
        DeltaStore {
            _tmp: tmp,
            store,
            pack,
            listed,
            blobs,
            tree,
        }
    }

    pub(super) fn listed(&self, id: &ObjectId) -> &Listed {
        self.listed.iter().find(|l| l.id == *id).unwrap()
    }
}

pub(super) fn write_at(odb: &Odb, id: &ObjectId, at: ObjectLocation) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let size = odb.reader(1 << 20).write_blob_at(id, at, &mut out)?;
    assert_eq!(
        size,
        out.len() as u64,
        "write_blob_at returned {size}, wrote {} bytes",
        out.len()
    );
    Ok(out)
}

pub(super) fn packed(offset: u64) -> ObjectLocation {
    ObjectLocation::Packed {
        source: 0,
        pack: 0,
        offset,
    }
}
