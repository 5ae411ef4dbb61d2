//! Temporary directories under this test process's scratch root, deleted when dropped.

use super::*;

/// This test process's scratch root: `$TMPDIR/unfurl-it-<pid>`. Shared fixtures live here for
/// the life of the process (statics are never dropped); roots left by earlier runs whose
/// process is gone are deleted when the next run starts.
pub(super) fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("unfurl-it-")) else {
                    continue;
                };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let root = tmp.join(format!("unfurl-it-{}", std::process::id()));
        fs::create_dir_all(&root).expect("create the scratch root");
        root
    })
}

/// A directory with a unique name, deleted with everything in it when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = scratch_root().join(format!("{label}-{n}"));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A test may have made something unreadable; make it deletable again.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(&self.path)
            .status();
        let _ = fs::remove_dir_all(&self.path);
    }
}
