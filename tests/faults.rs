//! Faults from outside: a signal (SIGTERM, SIGHUP) stops a checkout cleanly; SIGKILL at any
//! moment leaves the destination absent or complete, and the next run removes what the dead
//! process left, but never what a live one is writing; an existing empty destination keeps
//! its mode, owner and ACLs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

runtime_tests!(
    sigterm_stops_the_checkout_and_leaves_nothing,
    sighup_stops_the_checkout_and_leaves_nothing,
    sigkill_at_any_moment_leaves_the_destination_absent_or_complete_and_the_next_run_cleans_up,
    a_live_process_staging_directory_is_never_removed,
    an_existing_empty_destination_keeps_its_mode_owner_and_acls,
);

/// A store big enough that a checkout takes a while (20 000 files, one commit): a signal
/// sent once the staging directory appears lands while files are being written.
fn big_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| make_store("faults-big", 20_000))
}

/// A store whose checkout is quick enough to repeat (1 000 files, one commit).
fn medium_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| make_store("faults-medium", 1_000))
}

fn make_store(label: &str, files: usize) -> PathBuf {
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
fn stagings(parent: &Path, dest: &str) -> Vec<String> {
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
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Starts `unfurl checkout` (output captured, no stdin).
fn spawn_checkout(rt: Runtime, store: &Path, dest: &Path) -> Child {
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
fn wait_for_staging(child: &mut Child, parent: &Path, dest: &str) -> String {
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

/// Sends `signal` (`TERM`, `HUP`, `KILL`, `STOP`, `CONT`) to `pid` with kill(1).
fn send(pid: u32, signal: &str) {
    require("kill", "it sends signals to a running checkout");
    let out = run(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string()));
    assert!(
        out.status.success(),
        "expected kill -{signal} {pid} to succeed, got {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A checkout into `parent/x/y/dest` (x and y created by unfurl) stopped by `signal` once its
/// staging directory exists: exit 128 + `number`, one `error:` line saying it was
/// interrupted, and nothing left: no DEST, no staging directory, no x.
fn stopped_by(rt: Runtime, signal: &str, number: i32) {
    let tmp = TempDir::new("signal");
    let parent = tmp.join("parent");
    fs::create_dir(&parent).unwrap();
    let dest = parent.join("x").join("y").join("dest");
    let mut child = spawn_checkout(rt, big_store(), &dest);
    let staging = wait_for_staging(&mut child, &parent.join("x").join("y"), "dest");
    send(child.id(), signal);
    let out = child.wait_with_output().unwrap();
    let run = output_to_run(out);
    let what = format!(
        "SIG{signal} during a checkout ({}, staging {staging})",
        rt.name()
    );
    assert_eq!(
        run.code,
        Some(128 + number),
        "{what}: expected exit {} (128 + {number}), got {run:?}",
        128 + number
    );
    let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(
        line.starts_with("error: ")
            && !line.contains('\n')
            && line.contains("interrupted")
            && line.contains(&format!("SIG{signal}")),
        "{what}: expected one line `error: interrupted by SIG{signal}…`, got {:?}",
        run.stderr
    );
    assert_eq!(
        names(&parent),
        Vec::<String>::new(),
        "{what}: expected {} to be empty again (no DEST, no staging, no created parent)",
        parent.display()
    );
}

fn sigterm_stops_the_checkout_and_leaves_nothing(rt: Runtime) {
    stopped_by(rt, "TERM", 15);
}

fn sighup_stops_the_checkout_and_leaves_nothing(rt: Runtime) {
    stopped_by(rt, "HUP", 1);
}

/// A small deterministic generator (xorshift), seeded from the clock; the seed is printed so
/// that a failing run can be repeated with `UNFURL_FAULT_SEED`.
struct Random(u64);

impl Random {
    fn new(what: &str) -> Random {
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
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.0 % micros)
    }
}

fn sigkill_at_any_moment_leaves_the_destination_absent_or_complete_and_the_next_run_cleans_up(
    rt: Runtime,
) {
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
    let trials = 10;
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

/// The start time of process `pid` in clock ticks after boot (field 22 of
/// `/proc/<pid>/stat`), as unfurl records owners.
fn start_time(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    after
        .split_ascii_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn a_live_process_staging_directory_is_never_removed(rt: Runtime) {
    let tmp = TempDir::new("live");
    let parent = tmp.join("parent");
    fs::create_dir(&parent).unwrap();
    let dest = parent.join("dest");
    let what = format!("staging directories of live processes ({})", rt.name());

    // A real writer, stopped in the middle of writing.
    let mut writer = spawn_checkout(rt, big_store(), &dest);
    let live = wait_for_staging(&mut writer, &parent, "dest");
    send(writer.id(), "STOP");

    // Its owner token is `<pid>.<start>.<tag>`: the tag names this boot and pid namespace.
    let token = live
        .strip_prefix(".dest.unfurl-")
        .and_then(|rest| rest.rsplit_once('-'))
        .map(|(owner, _)| owner.to_owned())
        .unwrap_or_else(|| panic!("{what}: expected `.dest.unfurl-<owner>-<nonce>`, got {live}"));
    let fields: Vec<&str> = token.split('.').collect();
    assert_eq!(
        fields.len(),
        3,
        "{what}: expected the owner `<pid>.<start>.<tag>`, got {token}"
    );
    assert_eq!(
        fields[0],
        writer.id().to_string(),
        "{what}: expected the staging name to carry the writer's pid, got {live}"
    );
    let tag = fields[2];
    let other_tag = format!("{:016x}", u64::from_str_radix(tag, 16).unwrap() ^ 1);

    // Fakes beside it, each with a file inside.
    let mut sleeper = Command::new("sleep").arg("120").spawn().unwrap();
    let sleeping = sleeper.id();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let fake = |owner: String, nonce: &str| {
        let name = format!(".dest.unfurl-{owner}-{nonce}");
        fs::create_dir(parent.join(&name)).unwrap();
        fs::write(parent.join(&name).join("file"), "x").unwrap();
        name
    };
    let alive_sleeper = fake(
        format!("{sleeping}.{}.{tag}", start_time(sleeping)),
        "0000aaaa",
    );
    let reused_pid = fake(
        format!("{sleeping}.{}.{tag}", start_time(sleeping) + 1),
        "0000bbbb",
    );
    let foreign = fake(format!("{dead}.1.{other_tag}"), "0000cccc");
    let dead_owner = fake(format!("{dead}.1.{tag}"), "0000dddd");
    let legacy = ".dest.unfurl-0123456789abcdef".to_owned();
    fs::create_dir(parent.join(&legacy)).unwrap();
    // A symlink named like a dead owner's staging: never followed, never removed.
    let outside = tmp.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep"), "keep").unwrap();
    let link = format!(".dest.unfurl-{dead}.2.{tag}-0000eeee");
    std::os::unix::fs::symlink(&outside, parent.join(&link)).unwrap();

    // Another run into the same DEST: it succeeds beside the live writer.
    let second = output_to_run(run(unfurl_cmd().args(checkout_args(
        rt,
        &["-q"],
        medium_store(),
        "main",
        &dest,
    ))));
    let survivors = stagings(&parent, "dest");
    send(writer.id(), "CONT");
    let writer_out = output_to_run(writer.wait_with_output().unwrap());
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    assert_eq!(
        second.code,
        Some(0),
        "{what}: expected a second run beside the stopped writer to succeed, got {second:?}"
    );
    let mut expected = vec![live.clone(), alive_sleeper, foreign, legacy, link.clone()];
    expected.sort();
    assert_eq!(
        survivors, expected,
        "{what}: expected the live writer's, the sleeping process's, the other namespace's, \
         the ownerless staging and the symlink kept, and the dead owners' ({dead_owner}, \
         {reused_pid}) removed"
    );
    assert_eq!(
        fs::read_to_string(outside.join("keep")).ok().as_deref(),
        Some("keep"),
        "{what}: expected the directory behind the symlink {link} untouched"
    );
    // The writer, resumed, finds DEST taken and removes its own staging directory.
    assert_failed_run(&writer_out, &["not empty"], &what);
    assert!(
        !parent.join(&live).exists(),
        "{what}: expected the resumed writer to remove its staging {live}"
    );
}

/// `system.posix_acl_*` as Linux stores it: version 2, then (tag, perm, id) entries.
fn acl(entries: &[(u16, u16, u32)]) -> String {
    let mut bytes = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        bytes.extend(tag.to_le_bytes());
        bytes.extend(perm.to_le_bytes());
        bytes.extend(id.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const UNDEFINED: u32 = u32::MAX;

/// Sets the xattr `name` of `path` to the bytes `hex` (python3's os.setxattr: no acl tools
/// needed).
fn set_xattr(path: &Path, name: &str, hex: &str) {
    let out = run(Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))",
        ])
        .arg(path)
        .args([name, hex]));
    assert!(
        out.status.success(),
        "expected setting {name} on {} to work (ext4 and tmpfs have POSIX ACLs), got: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The xattr `name` of `path` as hex, or `None` if it has none.
fn get_xattr(path: &Path, name: &str) -> Option<String> {
    let out = run(Command::new("python3")
        .args([
            "-c",
            "import os,sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2]).hex())\nexcept OSError: print('-')",
        ])
        .arg(path)
        .arg(name));
    let text = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (text != "-").then_some(text)
}

fn an_existing_empty_destination_keeps_its_mode_owner_and_acls(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("existing");
    let what = format!("an existing empty destination ({})", rt.name());

    // A private directory, given to another user when we are root.
    let private = tmp.join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&private, Some(UNPRIVILEGED_UID), Some(UNPRIVILEGED_UID)).unwrap();
    }
    let before = fs::metadata(&private).unwrap();
    assert_checkout_matches(rt, store, "main", &private, &[]);
    let after = fs::metadata(&private).unwrap();
    assert_eq!(
        (after.mode() & 0o7777, after.uid(), after.gid()),
        (before.mode() & 0o7777, before.uid(), before.gid()),
        "{what}: expected mode {:o}, owner {} and group {} kept, got mode {:o}, owner {}, group {}",
        before.mode() & 0o7777,
        before.uid(),
        before.gid(),
        after.mode() & 0o7777,
        after.uid(),
        after.gid()
    );

    // A shared directory with ACLs: user 4242 may read, and so may they in what is created.
    let shared = tmp.join("shared");
    fs::create_dir(&shared).unwrap();
    let entries = [
        (0x01, 7, UNDEFINED),
        (0x02, 5, 4242),
        (0x04, 5, UNDEFINED),
        (0x10, 5, UNDEFINED),
        (0x20, 0, UNDEFINED),
    ];
    set_xattr(&shared, "system.posix_acl_access", &acl(&entries));
    set_xattr(&shared, "system.posix_acl_default", &acl(&entries));
    let access = get_xattr(&shared, "system.posix_acl_access");
    let default = get_xattr(&shared, "system.posix_acl_default");
    let mode = fs::metadata(&shared).unwrap().mode() & 0o7777;
    assert_checkout_matches(rt, store, "main", &shared, &[]);
    assert_eq!(
        (
            get_xattr(&shared, "system.posix_acl_access"),
            get_xattr(&shared, "system.posix_acl_default"),
            fs::metadata(&shared).unwrap().mode() & 0o7777
        ),
        (access, default, mode),
        "{what}: expected the access ACL, the default ACL and the mode kept"
    );
    // The files were written as into the directory itself: they inherited its default ACL.
    let file = fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .find(|e| e.file_type().unwrap().is_file())
        .expect("a file at the top of the checkout")
        .path();
    assert!(
        get_xattr(&file, "system.posix_acl_access").is_some(),
        "{what}: expected {} to carry the ACL inherited from the destination's default ACL",
        file.display()
    );
}
