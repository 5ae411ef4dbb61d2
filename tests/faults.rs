//! Faults from outside: a signal (SIGTERM, SIGHUP) stops a checkout cleanly, and one the run
//! cannot honour (blocked in a system call) still ends it; SIGKILL at any
//! moment leaves the destination absent or complete, and the next run removes what the dead
//! process left, but never what a live one is writing; an existing empty destination keeps
//! its mode, owner and ACLs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::kill::*;
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

fn sigkill_at_any_moment_leaves_the_destination_absent_or_complete_and_the_next_run_cleans_up(
    rt: Runtime,
) {
    sigkill_trials(rt, 10);
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
    // The writer, resumed, finds DEST taken by an unfurl checkout, removes its own staging
    // directory and switches that checkout, as a run after it would.
    assert_eq!(
        writer_out.code,
        Some(0),
        "{what}: expected the resumed writer to switch DEST, got {writer_out:?}"
    );
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

/// One SIGTERM ends a run even when the run cannot poll for it: strace holds one of its
/// `openat2` calls for 60 s (as a hung network filesystem would), and the signal arrives
/// meanwhile. 10 s later the process says it ended without cleaning up, and ends with
/// 143. (Before, one signal never ended such a run; only a second one, or SIGKILL, did.)
/// The exit itself waits for strace to let the held call go, so the line is what is timed.
#[test]
fn one_sigterm_ends_a_run_blocked_in_a_system_call() {
    require(
        "strace",
        "it holds a system call of the checkout (inject=…:delay_enter)",
    );
    let tmp = TempDir::new("blocked");
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg("inject=openat2:delay_enter=60000000:when=20")
        .arg(unfurl_bin())
        .args(["checkout", "--git", "none"])
        .arg(&corpus().store)
        .arg("main")
        .arg(tmp.join("dest"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start strace");
    // unfurl is strace's child.
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let started = std::time::Instant::now();
    let pid = loop {
        let listed = fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = listed.split_whitespace().next() {
            break pid.parse::<u32>().unwrap();
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "unfurl did not start under strace"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Let it reach the held call.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let signalled = std::time::Instant::now();
    send(pid, "TERM");
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let mut found = None;
    while found.is_none() && signalled.elapsed().as_secs() < 40 {
        match seen.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(line) if line.contains("had not stopped 10 s later") => found = Some(line),
            _ => {}
        }
    }
    let waited = signalled.elapsed();
    let _ = child.kill();
    let status = child.wait().unwrap();
    let line = found.unwrap_or_else(|| {
        panic!("no line saying the run was ended {waited:?} after SIGTERM ({status})")
    });
    assert!(line.starts_with("error: interrupted by SIGTERM"), "{line}");
    assert!(
        waited.as_secs() < 30,
        "the line came {waited:?} after the signal, while the call was still held for 60 s"
    );
}
