//! Fixtures: the shared make-store stores, and stores, blobs, trees and commits built by hand.

use super::*;

/// The shared make-store store: small, built once per test binary, read-only for tests.
pub struct Corpus {
    pub store: PathBuf,
    /// `name sha` lines make-store printed, as a map.
    pub refs: BTreeMap<String, String>,
}

pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let store = scratch_root().join("corpus.git");
        let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
            "--files",
            "300",
            "--commits",
            "4",
            "--seed",
            "7",
        ]));
        assert!(
            out.status.success(),
            "expected make-store to succeed, got {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let refs = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, s)| (n.to_owned(), s.to_owned())))
            .collect::<BTreeMap<_, _>>();
        assert!(
            refs.contains_key("main") && refs.contains_key("side") && refs.contains_key("release"),
            "expected make-store to print main, side and release, got {refs:?}"
        );
        Corpus { store, refs }
    })
}

/// A make-store store of 20 000 files (4 tags, `main`, `side`), built once per test binary,
/// read-only for tests: what issue-sized claims ("on a 20k-file store") are checked on.
pub fn store_20k() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = scratch_root().join("store-20k.git");
        let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
            "--files",
            "20000",
            "--commits",
            "4",
            "--seed",
            "5",
        ]));
        assert!(
            out.status.success(),
            "expected make-store --files 20000 to succeed, got {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        store
    })
}

/// Copies a directory tree with `cp -a` (a store a test is going to damage or extend).
pub fn copy_tree(from: &Path, to: &Path) {
    let out = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(
        out.status.success(),
        "expected cp -a {} {} to succeed: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new empty bare store with `main` as HEAD's branch.
pub fn init_bare(path: &Path) -> PathBuf {
    let out = run(git_cmd(Path::new("/"))
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(path));
    assert!(
        out.status.success(),
        "expected git init --bare to succeed, got: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_path_buf()
}

/// Writes a loose blob and returns its id.
pub fn write_blob(store: &Path, content: &[u8]) -> String {
    git_stdin(store, &["hash-object", "-w", "--stdin"], content)
}

/// Tree modes as git writes them.
pub const FILE: &str = "100644";
pub const EXEC: &str = "100755";
pub const LINK: &str = "120000";
pub const DIR: &str = "40000";
pub const GITLINK: &str = "160000";

/// Writes a tree object with exactly these entries, in this order, without any validation
/// (`git hash-object -t tree --literally`): each entry is `<mode> <name>\0<20 raw bytes>`.
pub fn write_raw_tree(store: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut data = Vec::new();
    for (mode, name, id) in entries {
        data.extend_from_slice(mode.as_bytes());
        data.push(b' ');
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(&hex_to_bytes(id));
    }
    git_stdin(
        store,
        &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        &data,
    )
}

/// Writes a well-formed tree: entries sorted the way git sorts them (a tree sorts as if its
/// name ended in `/`).
pub fn write_tree(store: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut sorted = entries.to_vec();
    let key = |mode: &str, name: &[u8]| {
        let mut k = name.to_vec();
        if mode == DIR {
            k.push(b'/');
        }
        k
    };
    sorted.sort_by_key(|a| key(a.0, a.1));
    write_raw_tree(store, &sorted)
}

/// Commits `tree` (no parent) and returns the commit id.
pub fn commit_tree(store: &Path, tree: &str, message: &str) -> String {
    git(store, &["commit-tree", tree, "-m", message])
}

pub fn hex_to_bytes(hex: &str) -> Vec<u8> {
    assert_eq!(hex.len(), 40, "expected a 40-digit object id, got {hex:?}");
    (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A crafted bare store with a few blobs to build trees from (`git hash-object -t tree
/// --literally` accepts any entries: the hostile and the odd-but-legal trees are built here).
pub struct Crafted {
    pub tmp: TempDir,
    pub store: PathBuf,
    /// A small text blob.
    pub blob: String,
    /// A tree holding one file, `inner.txt`.
    pub subtree: String,
}

impl Crafted {
    pub fn new() -> Crafted {
        let tmp = TempDir::new("crafted");
        let store = init_bare(&tmp.join("store.git"));
        let blob = write_blob(&store, b"content\n");
        let subtree = write_tree(&store, &[(FILE, b"inner.txt", &blob)]);
        Crafted {
            tmp,
            store,
            blob,
            subtree,
        }
    }

    /// A blob holding `content`.
    pub fn blob(&self, content: &[u8]) -> String {
        write_blob(&self.store, content)
    }

    /// A root tree: two normal files around `entries`, in exactly this order (so that some
    /// files could be written before the bad entry is reached).
    pub fn root_with(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let mut all: Vec<(&str, &[u8], &str)> = vec![(FILE, b"a-normal.txt", &self.blob)];
        all.extend_from_slice(entries);
        all.push((FILE, b"z-normal.txt", &self.blob));
        write_raw_tree(&self.store, &all)
    }

    /// A commit of `tree`.
    pub fn commit(&self, tree: &str) -> String {
        commit_tree(&self.store, tree, "crafted")
    }
}
