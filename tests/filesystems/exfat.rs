//! An exFAT filesystem on a loop device, mounted with exfat-fuse for one test, and the
//! tools that needs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// A 64 MiB exFAT image attached to a loop device and mounted with exfat-fuse; unmounted,
/// detached and deleted when dropped, whatever the test did.
pub(super) struct Exfat {
    mnt: PathBuf,
    device: Option<String>,
    mounted: bool,
    /// `umount` and `losetup`, to undo the mount and the loop device.
    umount: PathBuf,
    losetup: PathBuf,
    // Dropped after `drop` ran: the image and the mount point go last.
    _tmp: TempDir,
}

/// The path of `program`, on `PATH` or in the sbin directories root's tools live in; fails
/// the test saying which Debian package to install.
pub(super) fn tool(program: &str, package: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let dirs = on_path
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let path = dir.join(program);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "this test mounts an exFAT filesystem and needs `{program}`: install Debian's \
         `{package}` (`apt-get install exfat-fuse exfatprogs`; `.ci/run` does) and run it again"
    )
}

/// Runs a setup command that must succeed.
#[track_caller]
pub(super) fn must(cmd: &mut Command, what: &str) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "expected {what} to succeed ({cmd:?}), got {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Exfat {
    pub(super) fn mount(label: &str) -> Exfat {
        assert!(
            is_root(),
            "mounting an exFAT image needs root (a loop device and FUSE); run the suite as \
             root, as CI does"
        );
        assert!(
            Path::new("/dev/fuse").exists(),
            "mounting exFAT with exfat-fuse needs /dev/fuse (the kernel's FUSE); load the \
             `fuse` module"
        );
        let mkfs = tool("mkfs.exfat", "exfatprogs");
        let mount = tool("mount.exfat-fuse", "exfat-fuse");
        let losetup = tool("losetup", "mount");
        let umount = tool("umount", "mount");
        let tmp = TempDir::new(label);
        let image = tmp.join("exfat.img");
        fs::File::create(&image)
            .and_then(|f| f.set_len(64 << 20))
            .unwrap_or_else(|e| panic!("create the image {}: {e}", image.display()));
        must(Command::new(&mkfs).arg(&image), "mkfs.exfat");
        let mnt = tmp.join("mnt");
        fs::create_dir(&mnt).unwrap();
        let mut exfat = Exfat {
            mnt,
            device: None,
            mounted: false,
            umount,
            losetup: losetup.clone(),
            _tmp: tmp,
        };
        // exfat-fuse wants a block device.
        let device = must(
            Command::new(&losetup).args(["-f", "--show"]).arg(&image),
            "losetup -f --show (attaching the image to a loop device)",
        );
        exfat.device = Some(device.clone());
        must(
            Command::new(&mount).arg(&device).arg(&exfat.mnt),
            "mount.exfat-fuse",
        );
        exfat.mounted = true;
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            mounts.lines().any(|l| {
                let mut fields = l.split(' ');
                fields.nth(1) == exfat.mnt.to_str() && fields.next() == Some("fuseblk")
            }),
            "expected {} to be a fuseblk mount after mount.exfat-fuse, /proc/self/mounts has:\n{mounts}",
            exfat.mnt.display()
        );
        exfat
    }

    pub(super) fn path(&self) -> &Path {
        &self.mnt
    }

    pub(super) fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.mnt.join(p)
    }
}

impl Drop for Exfat {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        if self.mounted {
            let mut unmounted = false;
            for _ in 0..50 {
                let status = Command::new(&self.umount).arg(&self.mnt).status();
                if status.is_ok_and(|s| s.success()) {
                    unmounted = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if !unmounted {
                eprintln!("could not unmount {}", self.mnt.display());
                // Lazily, so that at least the directory can go.
                let _ = Command::new(&self.umount).arg("-l").arg(&self.mnt).status();
            }
        }
        if let Some(device) = &self.device {
            // The FUSE daemon may still hold the device for a moment after the unmount.
            for _ in 0..50 {
                let status = Command::new(&self.losetup).arg("-d").arg(device).status();
                if status.is_ok_and(|s| s.success()) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}
