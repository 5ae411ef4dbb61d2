//! The destination: its parent becomes a capability; missing parents are created, and
//! removed again if the checkout fails.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir as CapDir;
use unfurl_engine::Dir;
use unfurl_engine::publish::Platform;

use crate::{Error, shown};

/// The destination's parent, opened, and what we created to get there.
pub(crate) struct Dest {
    parent: Dir,
    parent_path: PathBuf,
    name: OsString,
    /// Parents that did not exist and were created, outermost first.
    created: Vec<PathBuf>,
    keep: bool,
    platform: std::sync::Arc<HostPlatform>,
}

impl Dest {
    /// Split `dest` into parent and name, create missing parents, open the parent.
    pub(crate) fn prepare(dest: &Path) -> Result<Dest, Error> {
        let unusable = |kind| {
            move |message: String| Error::Dest {
                path: dest.to_owned(),
                message,
                kind,
            }
        };
        let bad = unusable(unfurl_engine::ErrorKind::DestinationUnusable);
        let name = dest
            .file_name()
            .filter(|_| {
                !matches!(
                    dest.components().next_back(),
                    Some(std::path::Component::ParentDir)
                )
            })
            .ok_or_else(|| bad("must end in a directory name (not `/`, `.` or `..`)".into()))?
            .to_owned();
        let parent_path = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut missing = Vec::new();
        let mut cursor = parent_path.as_path();
        while std::fs::symlink_metadata(cursor).is_err() {
            missing.push(cursor.to_owned());
            match cursor.parent() {
                Some(p) if !p.as_os_str().is_empty() => cursor = p,
                _ => break,
            }
        }
        missing.reverse();
        let mut created = Vec::new();
        for dir in &missing {
            match std::fs::create_dir(dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    remove_created(&created);
                    return Err(bad(format!(
                        "cannot create parent directory {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
        let cap_parent =
            CapDir::open_ambient_dir(&parent_path, ambient_authority()).map_err(|e| {
                remove_created(&created);
                bad(format!(
                    "cannot open parent directory {}: {e}",
                    shown(&parent_path)
                ))
            })?;
        let platform = HostPlatform {
            parent: cap_parent.try_clone().map_err(|e| {
                remove_created(&created);
                bad(format!(
                    "cannot open parent directory {}: {e}",
                    shown(&parent_path)
                ))
            })?,
            me: owner::Owner::current(),
        };
        let parent = Dir::from(cap_parent);
        // Fail early, and with the same message in every runtime, on an unusable destination.
        let checkout = || unfurl_engine::switch::is_checkout(&parent, &name).unwrap_or(false);
        match unfurl_engine::publish::check_dest(&parent, &name) {
            // An unfurl checkout: the engine switches it in place.
            Err(unfurl_engine::publish::Error::NotEmpty { .. }) if checkout() => {}
            Ok(_) => {}
            Err(err) => {
                remove_created(&created);
                use unfurl_engine::publish::Error as E;
                return Err(match err {
                E::NotEmpty { .. } => unusable(unfurl_engine::ErrorKind::DestinationNotEmpty)(
                    "already exists, is not empty and is not an unfurl checkout with a .git; choose a new path or empty it first".into(),
                ),
                E::NotADirectory { what, .. } => bad(format!(
                    "already exists and is a {what}, not a directory; choose a new path"
                )),
                E::MountPoint { .. } => bad(
                    "is a mount point, which a checkout cannot be renamed onto; check out into a new directory inside it".into(),
                ),
                E::Inspect { source, .. } => {
                    unusable(unfurl_engine::ErrorKind::Io)(format!("cannot inspect it: {source}"))
                }
                err => bad(err.to_string()),
            });
            }
        }
        Ok(Dest {
            parent,
            parent_path,
            name,
            created,
            keep: false,
            platform: std::sync::Arc::new(platform),
        })
    }

    /// `options` with this host's [`Platform`] for the staging directory: its owner in its
    /// name, the sweep of dead processes' staging directories, and an existing empty
    /// destination's attributes kept.
    pub(crate) fn options(&self, options: &unfurl_engine::Options) -> unfurl_engine::Options {
        let mut options = options.clone();
        options.publish.platform = Some(self.platform.clone());
        options
    }

    /// The destination's parent directory.
    pub(crate) fn parent(&self) -> &Dir {
        &self.parent
    }

    /// The parent's path, for handing to a runtime that needs one.
    pub(crate) fn parent_path(&self) -> &Path {
        &self.parent_path
    }

    /// The destination's name in its parent.
    pub(crate) fn name(&self) -> &std::ffi::OsStr {
        &self.name
    }

    /// The checkout succeeded: keep the parents we created.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Dest {
    fn drop(&mut self) {
        if !self.keep {
            remove_created(&self.created);
        }
    }
}

/// Remove directories we created, innermost first, and only while they are empty. One
/// that is gone already (removed by someone else) or still holds something (another run's
/// checkout) is passed over, and the rest are still tried: `remove_dir` removes only an
/// empty directory, so trying never takes what another run put there.
fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The host's side of the staging directory (see [`Platform`]): who this process is, whether
/// another is gone, and an existing destination's attributes.
struct HostPlatform {
    /// The destination's parent, our own handle on it.
    parent: CapDir,
    /// This process, when it can be named so that another can prove it gone.
    me: Option<owner::Owner>,
}

impl Platform for HostPlatform {
    fn owner(&self) -> Option<String> {
        self.me.as_ref().map(owner::Owner::token)
    }

    fn owner_is_gone(&self, token: &str) -> bool {
        match (&self.me, owner::Owner::parse(token)) {
            (Some(me), Some(other)) => other.is_gone(me),
            _ => false,
        }
    }

    fn inherit(&self, dest: &OsStr, staging: &OsStr) -> std::io::Result<()> {
        attributes::inherit(&self.parent, dest, staging)
    }

    fn adopt(&self, dest: &OsStr, staging: &OsStr) -> std::io::Result<()> {
        attributes::adopt(&self.parent, dest, staging)
    }
}

/// Staging owners: a process named so that another process can prove it has exited.
///
/// The token is `<pid>.<start>.<tag>`: the pid and the start time (clock ticks after boot,
/// from `/proc/<pid>/stat`) as `/proc` shows them, and a 64-bit tag of the boot
/// (`/proc/sys/kernel/random/boot_id`) and the pid namespace (`/proc/self/ns/pid`). A
/// staging directory's owner is gone when its tag is ours (same boot, same pid namespace:
/// its pid means what our `/proc` says) and `/proc/<pid>` is absent or shows a different
/// start time (the pid was reused; a process keeps its pid while it lives). A different tag
/// (another machine on a shared filesystem, a container, a previous boot) is never
/// decided: it is kept. So is everything when `/proc` is missing or not our own (its
/// `self` is not our pid): then no token is made at all.
mod owner {
    /// A process, as a staging name records it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct Owner {
        pid: u32,
        start: u64,
        tag: u64,
    }

    impl Owner {
        /// This process, if it can be named provably.
        pub(super) fn current() -> Option<Owner> {
            let pid = std::process::id();
            let (stat_pid, start) = stat("self").ok()??;
            if stat_pid != pid {
                return None;
            }
            Some(Owner {
                pid,
                start,
                tag: tag()?,
            })
        }

        pub(super) fn token(&self) -> String {
            format!("{}.{}.{:016x}", self.pid, self.start, self.tag)
        }

        pub(super) fn parse(token: &str) -> Option<Owner> {
            let mut parts = token.split('.');
            let owner = Owner {
                pid: parts.next()?.parse().ok()?,
                start: parts.next()?.parse().ok()?,
                tag: u64::from_str_radix(parts.next()?, 16).ok()?,
            };
            parts.next().is_none().then_some(owner)
        }

        /// Whether this owner has certainly exited, as seen by `me` (see the module docs).
        pub(super) fn is_gone(&self, me: &Owner) -> bool {
            if self.tag != me.tag || self.pid == 0 {
                return false;
            }
            match stat(&self.pid.to_string()) {
                // No such process in our pid namespace, which is the owner's.
                Err(err) => err.kind() == std::io::ErrorKind::NotFound,
                // The pid now belongs to a process that started at another time.
                Ok(Some((_, start))) => start != self.start,
                Ok(None) => false,
            }
        }
    }

    /// The pid and start time in `/proc/<which>/stat`; `Ok(None)` if it cannot be parsed.
    fn stat(which: &str) -> std::io::Result<Option<(u32, u64)>> {
        let text = std::fs::read_to_string(format!("/proc/{which}/stat"))?;
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so fields are
        // counted after the last `)`; the start time is field 22 overall, 20 after it.
        let parsed = (|| {
            let (head, rest) = text.rsplit_once(')')?;
            let pid = head.split(' ').next()?.parse().ok()?;
            let start = rest.split_ascii_whitespace().nth(19)?.parse().ok()?;
            Some((pid, start))
        })();
        Ok(parsed)
    }

    /// The boot and pid namespace this process lives in, hashed (FNV-1a 64).
    fn tag() -> Option<u64> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let text = format!("{}\n{}", boot.trim(), namespace.display());
        Some(text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }))
    }
}

/// Keeping an existing empty destination's attributes on the staging directory that
/// replaces it: mode, owner and group (where permitted: only root may give a directory to
/// another user, and only a member of a group may give it that group), and the POSIX ACLs
/// (`system.posix_acl_access`, `system.posix_acl_default`). Both directories are opened
/// relative to the parent handle, never through a symlink.
#[cfg(unix)]
mod attributes {
    use std::ffi::OsStr;
    use std::io;

    use cap_std::fs::Dir as CapDir;
    use rustix::fs::{Mode, OFlags, RawMode};
    use rustix::io::Errno;

    const SET_GROUP_ID: RawMode = 0o2000;

    fn open(parent: &CapDir, name: &OsStr) -> io::Result<rustix::fd::OwnedFd> {
        Ok(rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Give `staging` `dest`'s group, set-group-id bit and default ACL: what new entries
    /// in `dest` would get.
    pub(super) fn inherit(parent: &CapDir, dest: &OsStr, staging: &OsStr) -> io::Result<()> {
        let dest = open(parent, dest)?;
        let staging = open(parent, staging)?;
        let want = rustix::fs::fstat(&dest)?;
        chown(&staging, None, want.st_gid)?;
        copy_acl(&dest, &staging, "system.posix_acl_default")?;
        if want.st_mode & SET_GROUP_ID != 0 {
            let mode = rustix::fs::fstat(&staging)?.st_mode & 0o7777;
            rustix::fs::fchmod(&staging, Mode::from_raw_mode(mode | SET_GROUP_ID))?;
        }
        Ok(())
    }

    /// Give `staging` `dest`'s owner, group, ACLs and mode.
    pub(super) fn adopt(parent: &CapDir, dest: &OsStr, staging: &OsStr) -> io::Result<()> {
        let dest = open(parent, dest)?;
        let staging = open(parent, staging)?;
        let want = rustix::fs::fstat(&dest)?;
        // Owner first: a change of owner clears the set-id bits the mode then restores.
        chown(&staging, Some(want.st_uid), want.st_gid)?;
        copy_acl(&dest, &staging, "system.posix_acl_access")?;
        copy_acl(&dest, &staging, "system.posix_acl_default")?;
        // Last: with an access ACL, the group bits are its mask, the same in both.
        rustix::fs::fchmod(&staging, Mode::from_raw_mode(want.st_mode & 0o7777))?;
        Ok(())
    }

    /// Change the owner (if asked) and group where permitted; refused is not an error.
    fn chown(fd: &rustix::fd::OwnedFd, uid: Option<u32>, gid: u32) -> io::Result<()> {
        let have = rustix::fs::fstat(fd)?;
        let uid = uid.filter(|u| *u != have.st_uid);
        if uid.is_none() && gid == have.st_gid {
            return Ok(());
        }
        let to_uid = uid.map(rustix::fs::Uid::from_raw);
        let to_gid = Some(rustix::fs::Gid::from_raw(gid));
        match rustix::fs::fchown(fd, to_uid, to_gid) {
            Ok(()) => Ok(()),
            Err(Errno::PERM) if uid.is_some() => {
                // Not root: the group alone may still be ours to give.
                match rustix::fs::fchown(fd, None, to_gid) {
                    Ok(()) | Err(Errno::PERM) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(Errno::PERM) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Make `to`'s ACL `name` what `from`'s is (absent included). A filesystem without
    /// ACLs has nothing to keep.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn copy_acl(
        from: &rustix::fd::OwnedFd,
        to: &rustix::fd::OwnedFd,
        name: &str,
    ) -> io::Result<()> {
        let mut value = vec![0u8; 256];
        let read = loop {
            match rustix::fs::fgetxattr(from, name, &mut value[..]) {
                Ok(n) => break Some(n),
                Err(Errno::RANGE) if value.len() < 1 << 20 => value.resize(value.len() * 4, 0),
                Err(Errno::NODATA | Errno::NOTSUP) => break None,
                Err(e) => return Err(e.into()),
            }
        };
        match read {
            Some(n) => {
                rustix::fs::fsetxattr(to, name, &value[..n], rustix::fs::XattrFlags::empty())?
            }
            None => match rustix::fs::fremovexattr(to, name) {
                Ok(()) | Err(Errno::NODATA | Errno::NOTSUP) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn copy_acl(
        _from: &rustix::fd::OwnedFd,
        _to: &rustix::fd::OwnedFd,
        _name: &str,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Other platforms keep nothing: the engine replaces an empty destination as it is.
#[cfg(not(unix))]
mod attributes {
    use std::ffi::OsStr;

    use cap_std::fs::Dir as CapDir;

    pub(super) fn inherit(_: &CapDir, _: &OsStr, _: &OsStr) -> std::io::Result<()> {
        Ok(())
    }

    pub(super) fn adopt(_: &CapDir, _: &OsStr, _: &OsStr) -> std::io::Result<()> {
        Ok(())
    }
}
