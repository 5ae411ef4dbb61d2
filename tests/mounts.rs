//! Destinations on mounts: an empty mount point cannot be renamed onto, so a checkout into
//! one is refused before any work (or, for a bind mount of the same filesystem, at the
//! rename) with one line saying what to do; and a checkout on a read-only mount is still
//! found unchanged by a run of its own commit, where any change fails cleanly.
//!
//! Mounting needs root (CI runs the suite as root); without it these tests fail saying so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

runtime_tests!(
    an_empty_mount_point_as_dest_is_refused_in_one_line_leaving_it_empty,
    a_checkout_on_a_read_only_mount_is_unchanged_by_its_own_commit_and_refuses_others,
);

/// A mount at `at`, unmounted when dropped, whatever the test did.
struct Mount {
    at: PathBuf,
}

impl Mount {
    /// `mount ARGS… AT`, which must succeed.
    fn new(args: &[&str], at: &Path) -> Mount {
        assert!(
            is_root(),
            "this test mounts filesystems and needs root; run the suite as root, as CI does"
        );
        let out = Command::new("mount")
            .args(args)
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount {args:?} {}: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mount { at: at.to_owned() }
    }

    /// `source` bound at `at`, read-only.
    fn read_only_bind(source: &Path, at: &Path) -> Mount {
        let mount = Mount::new(&["--bind", source.to_str().unwrap()], at);
        let out = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {} read-only: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        for _ in 0..50 {
            let status = Command::new("umount").arg(&self.at).status();
            if status.is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("could not unmount {}", self.at.display());
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// An empty tmpfs mounted on DEST (another device), and an empty directory bound on DEST
/// (the same device, seen only when the rename fails): both refused with one line naming
/// the mount point and saying to check out inside it, `destination-unusable`, the mount
/// point still empty and nothing left beside it. A new directory inside the mount point
/// then checks out.
fn an_empty_mount_point_as_dest_is_refused_in_one_line_leaving_it_empty(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("mount-point");
    let parent = tmp.join("parent");
    let (tmpfs, bound, empty) = (
        parent.join("tmpfs"),
        parent.join("bound"),
        tmp.join("empty"),
    );
    for dir in [&tmpfs, &bound, &empty] {
        fs::create_dir_all(dir).unwrap();
    }
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=64M", "tmpfs"], &tmpfs);
    let _bound = Mount::new(&["--bind", empty.to_str().unwrap()], &bound);
    for dest in [&tmpfs, &bound] {
        let what = format!("checkout onto the mount point {}", dest.display());
        let mut cmd = unfurl_cmd();
        cmd.args(checkout_args(rt, &["--json"], store, "v2", dest));
        let before = snapshot(&parent);
        let out = run(&mut cmd);
        let run = output_to_run(out);
        assert_eq!(run.code, Some(1), "{what}: {run:?}");
        let stderr = run.stderr.trim_end();
        assert!(
            stderr.starts_with("error: ")
                && !stderr.contains('\n')
                && stderr.contains("is a mount point")
                && stderr.contains("new directory inside it"),
            "{what}: one line saying what to do: {run:?}"
        );
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(
            json["error"]["kind"], "destination-unusable",
            "{what}: {json}"
        );
        assert_eq!(
            diff(&before, &snapshot(&parent), 10),
            Vec::<String>::new(),
            "{what}: nothing left"
        );
        assert_eq!(
            fs::read_dir(dest).unwrap().count(),
            0,
            "{what}: still empty"
        );
    }
    let inside = tmpfs.join("checkout");
    let run = unfurl(&checkout_args(rt, &["--git", "none"], store, "v2", &inside));
    assert_eq!(run.code, Some(0), "inside the mount point: {run:?}");
    assert_same_tree(
        &snapshot(reference(store, "v2").path()),
        &snapshot(&inside),
        "inside the mount point",
    );
}

/// A checkout of v1 seen through a read-only bind mount: a run of v1 finds it there and
/// reports `"unchanged": true` (it takes no lock file it cannot make, and makes no staging
/// directory); a run of v2 fails in one line (`Read-only file system`) and changes nothing.
fn a_checkout_on_a_read_only_mount_is_unchanged_by_its_own_commit_and_refuses_others(rt: Runtime) {
    let store = &corpus().store;
    let tmp = TempDir::new("read-only-mount");
    let (writable, read_only) = (tmp.join("rw"), tmp.join("ro"));
    fs::create_dir(&writable).unwrap();
    fs::create_dir(&read_only).unwrap();
    let run = unfurl(&checkout_args(rt, &[], store, "v1", &writable.join("dest")));
    assert_eq!(run.code, Some(0), "the checkout: {run:?}");
    let _ro = Mount::read_only_bind(&writable, &read_only);
    let dest = read_only.join("dest");
    let run = unfurl(&checkout_args(rt, &["--json"], store, "v1", &dest));
    assert_eq!(run.code, Some(0), "v1 again, read-only: {run:?}");
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["unchanged"], true, "{report}");
    let mut cmd = unfurl_cmd();
    cmd.args(checkout_args(rt, &[], store, "v2", &dest));
    assert_fails_cleanly_with(
        &mut cmd,
        &writable,
        &["Read-only file system"],
        "v2, read-only",
    );
    assert_same_tree(
        &snapshot(reference(store, "v1").path()),
        &snapshot(&dest),
        "still v1",
    );
}
