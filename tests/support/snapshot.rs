//! Snapshots of a directory tree, their comparison, and the counts `--json` must report.

use super::*;

/// What one path in a checkout is. Only the user-x bit of a file's mode is compared: the rest
/// depends on the umask.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { exec: bool, size: u64, digest: u64 },
    Symlink { target: Vec<u8> },
    Other(String),
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Dir => write!(f, "directory"),
            Entry::File { exec, size, digest } => write!(
                f,
                "{} file of {size} bytes (content #{digest:016x})",
                if *exec {
                    "executable"
                } else {
                    "non-executable"
                }
            ),
            Entry::Symlink { target } => {
                write!(f, "symlink -> {:?}", OsStr::from_bytes(target))
            }
            Entry::Other(kind) => write!(f, "{kind}"),
        }
    }
}

pub type Snapshot = BTreeMap<PathBuf, Entry>;

/// Every path under `dir` (not `dir` itself), described without following symlinks.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut map = BTreeMap::new();
    walk(dir, Path::new(""), &mut map);
    // A checkout's own repository: `git archive` never has one (a tree cannot hold `.git`),
    // so tree comparisons leave it out; the tests of the `.git` look at it directly.
    map.retain(|path, _| !path.starts_with(".git"));
    map
}

fn walk(root: &Path, rel: &Path, map: &mut Snapshot) {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let e = if ft.is_symlink() {
            Entry::Symlink {
                target: fs::read_link(&path).unwrap().into_os_string().into_vec(),
            }
        } else if ft.is_dir() {
            walk(root, &rel, map);
            Entry::Dir
        } else if ft.is_file() {
            let mut hasher = DefaultHasher::new();
            let mut file = fs::File::open(&path).unwrap();
            let mut buf = vec![0; 64 << 10];
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hasher.write(&buf[..n]);
            }
            Entry::File {
                exec: meta.permissions().mode() & 0o100 != 0,
                size: meta.len(),
                digest: hasher.finish(),
            }
        } else {
            Entry::Other(format!("{ft:?}"))
        };
        map.insert(rel, e);
    }
}

/// The differences between two snapshots, one line per differing path (at most `limit`).
pub fn diff(expected: &Snapshot, actual: &Snapshot, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = 0;
    let paths: std::collections::BTreeSet<&PathBuf> =
        expected.keys().chain(actual.keys()).collect();
    for path in paths {
        let (e, a) = (expected.get(path), actual.get(path));
        if e == a {
            continue;
        }
        count += 1;
        if out.len() < limit {
            let show = |x: Option<&Entry>| x.map_or("missing".to_owned(), |x| format!("{x:?}"));
            out.push(format!(
                "  {:?}: expected {}, actual {}",
                path,
                show(e),
                show(a)
            ));
        }
    }
    if count > out.len() {
        out.push(format!(
            "  ... and {} more differing paths",
            count - out.len()
        ));
    }
    out
}

/// Asserts that two snapshots are equal, printing only the differing paths.
#[track_caller]
pub fn assert_same_tree(expected: &Snapshot, actual: &Snapshot, what: &str) {
    let d = diff(expected, actual, 25);
    assert!(
        d.is_empty(),
        "{what}: expected the checkout to equal git archive's ({} paths), actual differs ({} paths):\n{}",
        expected.len(),
        actual.len(),
        d.join("\n")
    );
}

/// Regular files under `dir` that have more than one link.
pub fn hardlinked_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for (path, entry) in snapshot(dir) {
        if let Entry::File { .. } = entry {
            let nlink = fs::symlink_metadata(dir.join(&path)).unwrap().nlink();
            if nlink != 1 {
                out.push((path, nlink));
            }
        }
    }
    out
}

/// Counts that `--json` must report for a checkout equal to `snap`.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub executables: u64,
    pub bytes: u64,
}

pub fn counts(snap: &Snapshot) -> Counts {
    let mut c = Counts::default();
    for e in snap.values() {
        match e {
            Entry::Dir => c.dirs += 1,
            Entry::File { exec, size, .. } => {
                c.files += 1;
                c.bytes += size;
                c.executables += u64::from(*exec);
            }
            Entry::Symlink { .. } => c.symlinks += 1,
            Entry::Other(_) => {}
        }
    }
    c
}
