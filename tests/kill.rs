//! SIGKILL at random moments, shared by the integration tests (`faults`, a few trials) and
//! the `kill_trials` test binary (fifty per runtime), with what both need: stores of a
//! known size, and ways to start a checkout and watch its staging directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

/// A store whose checkout is quick enough to repeat (1 000 files, one commit).
pub(crate) fn medium_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| make_store("faults-medium", 1_000))
}

pub(crate) fn make_store(label: &str, files: usize) -> PathBuf {
    // Kept for the life of the test process, like the corpus.
    let dir = TempDir::new(label);
    let store = dir.join("store.git");
    std::mem::forget(dir);
    let out = run(Command::new("python3").arg(MAKE_STORE).arg(&store).args([
        "--files",
        &files.to_string(),
        "--commits",
        "1",
    ]));
    assert!(
        out.status.success(),
        "expected make-store --files {files} to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    store
}

/// The staging directories for `dest` in `parent` (`.dest.unfurl-…`), sorted.
pub(crate) fn stagings(parent: &Path, dest: &str) -> Vec<String> {
    let prefix = format!(".{dest}.unfurl-");
    let mut names: Vec<String> = fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every name in `dir`, sorted.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Starts `unfurl checkout` (output captured, no stdin).
pub(crate) fn spawn_checkout(rt: Runtime, store: &Path, dest: &Path) -> Child {
    unfurl_cmd()
        .args(checkout_args(rt, &["-q"], store, "main", dest))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start unfurl")
}

/// Waits until the child's staging directory for `dest` exists in `parent`, and returns its
/// name; panics if the child exits first or a minute passes.
pub(crate) fn wait_for_staging(child: &mut Child, parent: &Path, dest: &str) -> String {
    let start = Instant::now();
    loop {
        if let Some(name) = stagings(parent, dest).into_iter().next() {
            return name;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "expected the checkout to create a staging directory in {} before it ended, \
                 but it exited with {status} first",
                parent.display()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "expected a staging directory in {} within a minute, none appeared",
            parent.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A small deterministic generator (xorshift), seeded from the clock; the seed is printed so
/// that a failing run can be repeated with `UNFURL_FAULT_SEED`.
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new(what: &str) -> Random {
        let seed = std::env::var("UNFURL_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{what}: UNFURL_FAULT_SEED={seed}");
        Random(seed)
    }

    /// A duration in `[0, max)`.
    pub(crate) fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.0 % micros)
    }
}

/// Kill a checkout of [`medium_store`] with SIGKILL `trials` times, at random moments: DEST
/// is always absent or complete, and the next run into it removes the orphaned staging
/// directory and succeeds.
pub(crate) fn sigkill_trials(rt: Runtime, trials: usize) {
    let store = medium_store();
    let what = format!("SIGKILL trials ({})", rt.name());
    let expected = snapshot(reference(store, "main").path());
    let tmp = TempDir::new("sigkill");

    // How long a whole checkout takes here, to aim the kills inside it.
    let started = Instant::now();
    let calibrate = tmp.join("calibrate");
    let out = run(unfurl_cmd().args(checkout_args(rt, &["-q"], store, "main", &calibrate)));
    assert!(
        out.status.success(),
        "{what}: expected a plain checkout to succeed, got {out:?}"
    );
    let whole = started.elapsed();

    let mut random = Random::new(&what);
    let mut orphans_swept = 0;
    for trial in 0..trials {
        let parent = tmp.join(format!("trial-{trial}"));
        fs::create_dir(&parent).unwrap();
        let dest = parent.join("dest");
        let mut child = spawn_checkout(rt, store, &dest);
        // Even trials: at a random moment while files are written (a staging directory is
        // certainly left). Odd trials: at any moment of the run, start to end.
        if trial % 2 == 0 {
            wait_for_staging(&mut child, &parent, "dest");
            std::thread::sleep(random.below(whole / 2));
        } else {
            std::thread::sleep(random.below(whole + whole / 5));
        }
        child.kill().unwrap();
        // Reaped: a zombie still has its /proc entry, and counts as alive.
        let status = child.wait().unwrap();
        let trial_what = format!("{what}, trial {trial} (killed: {status})");

        let left = stagings(&parent, "dest");
        if dest.exists() {
            // Killed after the rename: the checkout is whole, and the rename consumed the
            // staging directory.
            assert_same_tree(&expected, &snapshot(&dest), &trial_what);
            assert_eq!(
                names(&parent),
                ["dest"],
                "{trial_what}: expected only DEST beside a complete checkout"
            );
            continue;
        }
        assert!(
            left.len() <= 1,
            "{trial_what}: expected at most one staging directory, got {left:?}"
        );
        orphans_swept += left.len();
        // The next run into the same place removes the orphan and succeeds.
        let again = output_to_run(run(unfurl_cmd().args(checkout_args(
            rt,
            &["-q"],
            store,
            "main",
            &dest,
        ))));
        assert_eq!(
            again.code,
            Some(0),
            "{trial_what}: expected the next run to succeed, got {again:?}"
        );
        assert_same_tree(&expected, &snapshot(&dest), &trial_what);
        assert_eq!(
            names(&parent),
            ["dest"],
            "{trial_what}: expected the next run to remove the orphaned staging {left:?} and \
             leave only DEST"
        );
    }
    assert!(
        orphans_swept >= 1,
        "{what}: expected at least one of {trials} kills to leave a staging directory for the \
         next run to remove, none did (the kills all missed the write stage)"
    );
}
