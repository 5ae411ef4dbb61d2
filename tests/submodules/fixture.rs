//! The submodule tests' fixture: stores built with git, a reference clone, and helpers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

/// The stores, as an installer would keep them: `S/{top,top2,mid,leaf,tool}.git`, bare,
/// with no `remote.origin.url` (relative URLs resolve against `--url`), and a reference
/// `git clone --recurse-submodules` of `top` and of `top2`.
pub(super) struct Fixture {
    _tmp: TempDir,
    pub(super) stores: PathBuf,
    pub(super) reference: PathBuf,
    pub(super) reference2: PathBuf,
}

impl Fixture {
    pub(super) fn store(&self, name: &str) -> PathBuf {
        self.stores.join(format!("{name}.git"))
    }

    /// `--url` for `top`, and `--submodule-store URL=DIR` for each submodule store.
    pub(super) fn store_args(&self) -> Vec<String> {
        let mut args = vec!["--url".to_owned(), self.store("top").display().to_string()];
        for name in ["mid", "leaf", "tool"] {
            let s = self.store(name).display().to_string();
            args.extend(["--submodule-store".to_owned(), format!("{s}={s}")]);
        }
        args
    }
}

/// git with `file://` submodules allowed (the default refuses local ones since 2.38.1).
pub(super) fn g(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "protocol.file.allow=always"];
    all.extend_from_slice(args);
    git(dir, &all)
}

pub(super) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = TempDir::new("submodules");
        let s = tmp.join("stores");
        let w = tmp.join("work");
        fs::create_dir_all(&s).unwrap();
        fs::create_dir_all(&w).unwrap();
        let publish = |name: &str| {
            let bare = s.join(format!("{name}.git"));
            g(
                &s,
                &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
            );
            g(
                &w.join(name),
                &[
                    "push",
                    "-q",
                    bare.to_str().unwrap(),
                    "+refs/heads/*:refs/heads/*",
                ],
            );
        };
        let init = |name: &str| {
            g(&w, &["init", "-q", "-b", "main", name]);
            w.join(name)
        };
        // leaf: main moves on after `side` branches off; mid records side's commit.
        let leaf = init("leaf");
        fs::write(leaf.join("f.txt"), "leaf 1\n").unwrap();
        fs::create_dir(leaf.join("d")).unwrap();
        fs::write(leaf.join("d/x"), "x\n").unwrap();
        std::os::unix::fs::symlink("f.txt", leaf.join("link")).unwrap();
        g(&leaf, &["add", "."]);
        g(&leaf, &["commit", "-qm", "leaf 1"]);
        g(&leaf, &["checkout", "-qb", "side"]);
        fs::write(leaf.join("side.txt"), "only on side\n").unwrap();
        g(&leaf, &["add", "."]);
        g(&leaf, &["commit", "-qm", "side"]);
        let side = g(&leaf, &["rev-parse", "HEAD"]);
        g(&leaf, &["checkout", "-q", "main"]);
        fs::write(leaf.join("f.txt"), "leaf 2\n").unwrap();
        g(&leaf, &["commit", "-qam", "leaf 2"]);
        publish("leaf");
        let tool = init("tool");
        fs::write(tool.join("run.sh"), "#!/bin/sh\n").unwrap();
        let mut perms = fs::metadata(tool.join("run.sh")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(tool.join("run.sh"), perms).unwrap();
        g(&tool, &["add", "."]);
        g(&tool, &["commit", "-qm", "tool"]);
        publish("tool");
        // mid: `deps/leaf`, relative URL, at side's commit.
        let mid = init("mid");
        fs::write(mid.join("m.txt"), "mid\n").unwrap();
        let leaf_store = s.join("leaf.git");
        g(
            &mid,
            &[
                "submodule",
                "add",
                "-q",
                leaf_store.to_str().unwrap(),
                "deps/leaf",
            ],
        );
        g(&mid.join("deps/leaf"), &["checkout", "-q", &side]);
        g(
            &mid,
            &[
                "config",
                "-f",
                ".gitmodules",
                "submodule.deps/leaf.url",
                "../leaf.git",
            ],
        );
        g(&mid, &["add", "."]);
        g(&mid, &["commit", "-qm", "mid"]);
        publish("mid");
        // top: `libs/mid` by a relative URL, `tools/tool` by an absolute one.
        let top = init("top");
        fs::write(top.join("README"), "top\n").unwrap();
        let mid_store = s.join("mid.git");
        let tool_store = s.join("tool.git");
        g(
            &top,
            &[
                "submodule",
                "add",
                "-q",
                mid_store.to_str().unwrap(),
                "libs/mid",
            ],
        );
        g(
            &top,
            &[
                "submodule",
                "add",
                "-q",
                tool_store.to_str().unwrap(),
                "tools/tool",
            ],
        );
        g(
            &top,
            &[
                "config",
                "-f",
                ".gitmodules",
                "submodule.libs/mid.url",
                "../mid.git",
            ],
        );
        g(&top, &["add", "."]);
        g(&top, &["commit", "-qm", "top"]);
        publish("top");
        // top2: the same, with `update = none` for tools/tool.
        g(
            &top,
            &[
                "config",
                "-f",
                ".gitmodules",
                "submodule.tools/tool.update",
                "none",
            ],
        );
        g(&top, &["commit", "-qam", "no tool"]);
        let top2 = s.join("top2.git");
        g(
            &s,
            &["init", "-q", "--bare", "-b", "main", top2.to_str().unwrap()],
        );
        g(
            &top,
            &[
                "push",
                "-q",
                top2.to_str().unwrap(),
                "+refs/heads/*:refs/heads/*",
            ],
        );
        let clone = |store: &str, into: &str| {
            let into = tmp.join(into);
            g(
                tmp.path(),
                &[
                    "clone",
                    "-q",
                    "--recurse-submodules",
                    s.join(store).to_str().unwrap(),
                    into.to_str().unwrap(),
                ],
            );
            into
        };
        let reference = clone("top.git", "reference");
        let reference2 = clone("top2.git", "reference2");
        Fixture {
            stores: s,
            reference,
            reference2,
            _tmp: tmp,
        }
    })
}

/// A snapshot without any `.git` (a clone's are directories and `gitdir:` files).
pub(super) fn tree_of(dir: &Path) -> Snapshot {
    let mut snap = snapshot(dir);
    snap.retain(|path, _| !path.components().any(|c| c.as_os_str() == ".git"));
    snap
}

/// `git submodule status` lines without the description in parentheses.
pub(super) fn status_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split(" (").next().unwrap().to_owned())
        .collect()
}

/// SHA-1 of `bytes`, hex, from coreutils.
pub(super) fn sha1_hex(bytes: &[u8]) -> String {
    require("sha1sum", "to name stores by the SHA-1 of their URL");
    let out = run(Command::new("sh")
        .arg("-c")
        .arg("printf %s \"$1\" | sha1sum")
        .arg("sh")
        .arg(std::ffi::OsStr::new(std::str::from_utf8(bytes).unwrap())));
    String::from_utf8(out.stdout).unwrap()[..40].to_owned()
}

/// A one-commit superproject in a new store: `.gitmodules` (`gitmodules` as its text, or a
/// symlink to it when `link`), a file, a gitlink `sub`, and with `symlink` a link `link`.
pub(super) fn hostile(dir: &Path, gitmodules: &str, link: bool, symlink: bool) -> PathBuf {
    let store = init_bare(&dir.join("hostile.git"));
    let text = write_blob(&store, gitmodules.as_bytes());
    let blob = write_blob(&store, b"x\n");
    let target = write_blob(&store, b"elsewhere");
    // A commit id for the gitlink, never read: validation comes first.
    let commit = "1111111111111111111111111111111111111111";
    let mut entries: Vec<(&str, &[u8], &str)> = vec![
        (if link { LINK } else { FILE }, b".gitmodules", &text),
        (FILE, b"file", &blob),
        (GITLINK, b"sub", commit),
    ];
    if symlink {
        entries.push((LINK, b"link", &target));
    }
    let tree = write_tree(&store, &entries);
    let commit = commit_tree(&store, &tree, "hostile");
    git(&store, &["update-ref", "refs/heads/main", &commit]);
    store
}
