//! `--recurse-submodules`: a superproject with two levels of nested submodules (a relative
//! and an absolute URL, a commit on a side branch) equals `git clone --recurse-submodules`;
//! `update = none`; hostile `.gitmodules` refused; missing stores and commits in one error;
//! `unfurl submodules` agrees with `git submodule status --recursive`; `unfurl verify`
//! compares each submodule with its own commit.

mod fixture;

use std::fs;
use std::path::Path;

use crate::support::*;
use fixture::{fixture, g, hostile, sha1_hex, status_lines, tree_of};

runtime_tests!(
    nested_submodules_equal_git_clone_recurse_submodules,
    update_none_leaves_the_submodule_an_empty_directory,
    hostile_gitmodules_are_refused_and_nothing_is_published,
    missing_stores_and_commits_are_listed_in_one_error,
    a_selected_path_checks_out_only_the_submodules_within_it,
    verify_compares_submodules_with_their_own_commits,
    a_switch_keeps_the_submodules_recorded,
    a_switch_to_a_commit_without_a_submodule_keeps_its_checked_out_directory,
);

fn checkout(rt: Runtime, extra: &[String], store: &Path, dest: &Path) -> Run {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    unfurl(&checkout_args(rt, &extra, store, "main", dest))
}

fn nested_submodules_equal_git_clone_recurse_submodules(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-checkout");
    let expected = tree_of(&f.reference);
    // Named one by one, with a `.git` for each.
    let dest = tmp.join("named");
    let mut args = vec!["--recurse-submodules".to_owned(), "--json".to_owned()];
    args.extend(f.store_args());
    let run = checkout(rt, &args, &f.store("top"), &dest);
    let what = format!("checkout --recurse-submodules ({})", rt.name());
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    assert_same_tree(&expected, &tree_of(&dest), &what);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let listed: Vec<(&str, &str)> = json["submodules"]
        .as_array()
        .expect("a submodules array")
        .iter()
        .map(|m| (m["path"].as_str().unwrap(), m["commit"].as_str().unwrap()))
        .collect();
    let reference_status = g(&f.reference, &["submodule", "status", "--recursive"]);
    let want: Vec<(&str, &str)> = reference_status
        .lines()
        .map(|l| {
            let mut parts = l[1..].split(' ');
            let commit = parts.next().unwrap();
            (parts.next().unwrap(), commit)
        })
        .collect();
    assert_eq!(
        listed, want,
        "{what}: the submodules reported, as git lists them"
    );
    if rt == Runtime::Wasm {
        // The guests were given each store, read-only, and the destination: nothing else.
        let preopens: Vec<(String, String)> = json["preopens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let host = p["host"].as_str().unwrap();
                let name = Path::new(host).file_name().unwrap().to_string_lossy();
                (name.into_owned(), p["access"].as_str().unwrap().to_owned())
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("top.git", "read-only"),
            ("named", "read-write"),
            ("mid.git", "read-only"),
            ("leaf.git", "read-only"),
            ("tool.git", "read-only"),
        ]
        .iter()
        .map(|(h, a)| (h.to_string(), a.to_string()))
        .collect();
        assert_eq!(
            preopens, want,
            "{what}: what the guests could reach: {json}"
        );
    }
    // git sees a clean superproject and clean submodules, each at its commit.
    assert_eq!(
        git(&dest, &["status", "--porcelain"]),
        "",
        "{what}: git status"
    );
    for (path, commit) in &want {
        let sub = dest.join(path);
        assert_eq!(
            git(&sub, &["rev-parse", "HEAD"]),
            *commit,
            "{what}: HEAD of {path}"
        );
        assert_eq!(
            git(&sub, &["status", "--porcelain"]),
            "",
            "{what}: status of {path}"
        );
    }
    // git sees every submodule initialized, at its commit, as in the clone.
    let ours = g(&dest, &["submodule", "status", "--recursive"]);
    assert_eq!(
        status_lines(&ours),
        status_lines(&reference_status),
        "{what}: `git submodule status --recursive` in the checkout"
    );
    // Found in a directory of stores keyed by the SHA-1 of their URL, without a `.git`.
    let keyed = tmp.join("keyed-stores");
    fs::create_dir(&keyed).unwrap();
    for name in ["mid", "leaf", "tool"] {
        let url = f.store(name).display().to_string();
        let key = sha1_hex(url.as_bytes());
        copy_tree(&f.store(name), &keyed.join(key));
    }
    let dest = tmp.join("keyed");
    let args = [
        "--recurse-submodules",
        "--git",
        "none",
        "--submodule-stores",
        keyed.to_str().unwrap(),
        "--url",
        f.store("top").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let run = checkout(rt, &args, &f.store("top"), &dest);
    assert_eq!(run.code, Some(0), "{what} from keyed stores: got {run:?}");
    assert_same_tree(
        &expected,
        &tree_of(&dest),
        &format!("{what} from keyed stores"),
    );
}

fn update_none_leaves_the_submodule_an_empty_directory(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-none");
    let dest = tmp.join("dest");
    let mut args = vec!["--recurse-submodules".to_owned(), "--json".to_owned()];
    args.extend(f.store_args());
    let run = checkout(rt, &args, &f.store("top2"), &dest);
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let expected = tree_of(&f.reference2);
    assert_eq!(
        expected.get(Path::new("tools/tool")),
        Some(&Entry::Dir),
        "the reference leaves tools/tool an empty directory"
    );
    assert_same_tree(&expected, &tree_of(&dest), "update = none");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let tool = json["submodules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "tools/tool")
        .expect("tools/tool reported");
    assert_eq!(tool["skipped"], true, "reported as skipped: {json}");
}

fn hostile_gitmodules_are_refused_and_nothing_is_published(rt: Runtime) {
    let ok = "[submodule \"sub\"]\n\tpath = sub\n\turl = /srv/sub.git\n";
    let cases: Vec<(&str, String, bool, bool)> = vec![
        (
            "a name with ..",
            "[submodule \"../../hooks\"]\n\tpath = sub\n\turl = /x\n".into(),
            false,
            false,
        ),
        (
            "a name with .. and backslashes",
            "[submodule \"a\\\\..\\\\..\\\\b\"]\n\tpath = sub\n\turl = /x\n".into(),
            false,
            false,
        ),
        (
            "two names with one path",
            format!("{ok}[submodule \"other\"]\n\tpath = sub\n\turl = /y\n"),
            false,
            false,
        ),
        (
            "a path through a symlink",
            format!("{ok}[submodule \"l\"]\n\tpath = link/x\n\turl = /y\n"),
            false,
            true,
        ),
        (
            "a path into .git",
            format!("{ok}[submodule \"g\"]\n\tpath = .GIT/hooks\n\turl = /y\n"),
            false,
            false,
        ),
        (
            "a path climbing out",
            format!("{ok}[submodule \"u\"]\n\tpath = ../up\n\turl = /y\n"),
            false,
            false,
        ),
        (
            "a URL that is an option",
            "[submodule \"sub\"]\n\tpath = sub\n\turl = -uevil\n".into(),
            false,
            false,
        ),
        (
            "a gitlink no name maps",
            "[submodule \"sub\"]\n\tpath = elsewhere\n\turl = /x\n".into(),
            false,
            false,
        ),
        ("a symlinked .gitmodules", "target".into(), true, false),
        (
            "a malformed .gitmodules",
            "[submodule \"sub\"\n".into(),
            false,
            false,
        ),
    ];
    let tmp = TempDir::new("sub-hostile");
    check_each(
        "hostile .gitmodules",
        &cases.iter().enumerate().collect::<Vec<_>>(),
        |(_, c)| c.0.to_owned(),
        |(i, (what, text, link, with_symlink))| {
            let dir = tmp.join(format!("case-{i}"));
            fs::create_dir(&dir).unwrap();
            let store = hostile(&dir, text, *link, *with_symlink);
            let site = FailureSite::new();
            let args = checkout_args(rt, &["--recurse-submodules"], &store, "main", &site.dest);
            assert_fails_cleanly(
                &args,
                &site.parent,
                &["refus", "malformed", "no submodule", "both have"],
                what,
            );
            let args = checkout_args(
                rt,
                &["--recurse-submodules", "--json"],
                &store,
                "main",
                &site.dest,
            );
            let run = unfurl(&args);
            let json: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{what}: JSON on stdout: {e}: {run:?}"));
            assert_eq!(
                json["error"]["kind"], "tree-rejected",
                "{what}: expected tree-rejected, got {json}"
            );
        },
    );
}

fn missing_stores_and_commits_are_listed_in_one_error(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-missing");
    // No store at all: both top-level submodules, with URL and commit.
    let site = FailureSite::new();
    let top = f.store("top");
    let url = ["--recurse-submodules", "--url", top.to_str().unwrap()].map(str::to_owned);
    let run = checkout(rt, &url, &top, &site.dest);
    assert_failed_run(&run, &["submodule(s) cannot be checked out"], "no stores");
    for path in ["libs/mid", "tools/tool"] {
        assert!(
            run.stderr.contains(path),
            "expected {path} named, got {run:?}"
        );
    }
    // The leaf's store lacks the side branch's commit, and the tool has no store: one error
    // lists both, with what each lacks.
    let partial = tmp.join("leaf-main-only.git");
    g(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--single-branch",
            "--no-local",
            "-b",
            "main",
            f.store("leaf").to_str().unwrap(),
            partial.to_str().unwrap(),
        ],
    );
    let mid = f.store("mid").display().to_string();
    let leaf = f.store("leaf").display().to_string();
    let args = [
        "--recurse-submodules".to_owned(),
        "--json".to_owned(),
        "--url".to_owned(),
        top.display().to_string(),
        "--submodule-store".to_owned(),
        format!("{mid}={mid}"),
        "--submodule-store".to_owned(),
        format!("{leaf}={}", partial.display()),
    ];
    let run = checkout(rt, &args, &top, &site.dest);
    assert_eq!(run.code, Some(1), "expected exit 1, got {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["error"]["kind"], "submodules-missing",
        "the kind: {json}"
    );
    let missing: Vec<(String, String, String)> = json["error"]["missing"]
        .as_array()
        .expect("a missing list")
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_owned(),
                m["url"].as_str().unwrap().to_owned(),
                m["lack"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        missing,
        [
            (
                "libs/mid/deps/leaf".to_owned(),
                leaf.clone(),
                "commit".to_owned()
            ),
            (
                "tools/tool".to_owned(),
                f.store("tool").display().to_string(),
                "store".to_owned()
            ),
        ],
        "every missing submodule, with its URL and what it lacks: {json}"
    );
    let side = g(&f.store("leaf"), &["rev-parse", "side"]);
    assert!(
        json["error"]["missing"][0]["object"] == side.as_str(),
        "the leaf's commit {side}: {json}"
    );
    assert!(
        !site.dest.exists() && fs::read_dir(&site.parent).unwrap().next().is_none(),
        "nothing published or left behind"
    );
}

#[test]
fn unfurl_submodules_matches_git_submodule_status_recursive() {
    let f = fixture();
    let top = f.store("top");
    let mut args: Vec<String> = vec![
        "submodules".into(),
        "--recursive".into(),
        top.display().to_string(),
        "main".into(),
    ];
    args.extend(f.store_args());
    let run = unfurl(&args);
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let ours: Vec<(char, String, String)> = run
        .stdout
        .lines()
        .map(|l| {
            let mark = l.chars().next().unwrap();
            let mut parts = l[1..].split(' ');
            (
                mark,
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect();
    let status = g(&f.reference, &["submodule", "status", "--recursive"]);
    let theirs: Vec<(char, String, String)> = status
        .lines()
        .map(|l| {
            let mark = l.chars().next().unwrap();
            let mut parts = l[1..].split(' ');
            (
                mark,
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ours, theirs,
        "status mark, commit and path of every submodule, in git's order"
    );
    // JSON: the URLs resolved, and each store's key in a directory of stores.
    args.push("--json".into());
    let run = unfurl(&args);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for m in json.as_array().unwrap() {
        let url = m["url"].as_str().unwrap();
        assert_eq!(
            m["store_key"],
            sha1_hex(url.as_bytes()).as_str(),
            "the key of {url}"
        );
        assert_eq!(m["status"], "ok", "{m}");
    }
    let urls: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["url"].as_str().unwrap())
        .collect();
    let want: Vec<String> = ["mid", "leaf", "tool"]
        .iter()
        .map(|n| f.store(n).display().to_string())
        .collect();
    assert_eq!(
        urls, want,
        "relative URLs resolved against --url, then against the parent's"
    );
    // Without stores, only the top level is known, each marked missing.
    let run = unfurl(&[
        "submodules",
        "--recursive",
        top.to_str().unwrap(),
        "main",
        "--url",
        top.to_str().unwrap(),
    ]);
    let marks: Vec<char> = run
        .stdout
        .lines()
        .map(|l| l.chars().next().unwrap())
        .collect();
    assert_eq!(
        marks,
        ['!', '!'],
        "two top-level submodules without stores: {run:?}"
    );
}

fn a_selected_path_checks_out_only_the_submodules_within_it(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-path");
    let dest = tmp.join("dest");
    let mut args = vec![
        "--recurse-submodules".to_owned(),
        "--json".to_owned(),
        "--path".to_owned(),
        "libs".to_owned(),
    ];
    args.extend(f.store_args());
    let run = checkout(rt, &args, &f.store("top"), &dest);
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let mut expected = tree_of(&f.reference);
    expected.retain(|path, _| path.starts_with("libs"));
    assert_same_tree(&expected, &tree_of(&dest), "--path libs with submodules");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let paths: Vec<&str> = json["submodules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["libs/mid", "libs/mid/deps/leaf"],
        "only those within libs/"
    );
    assert_eq!(git(&dest, &["status", "--porcelain"]), "", "git status");
}

/// `unfurl verify` of a checkout made with `--recurse-submodules`: identical (its
/// submodules' contents are theirs, not the parent's "extra" files); with
/// `--recurse-submodules` and the stores, each submodule, nested ones included, is compared
/// with its own commit, and a change in one is listed by its path from the top; a
/// submodule moved to another commit is a `submodule` difference; a store missing fails
/// (exit 2, `submodules-missing`), not "different".
fn verify_compares_submodules_with_their_own_commits(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-verify");
    let dest = tmp.join("dest");
    let mut args = vec!["--recurse-submodules".to_owned()];
    args.extend(f.store_args());
    let run = checkout(rt, &args, &f.store("top"), &dest);
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let verify = |extra: &[String]| {
        let mut all: Vec<std::ffi::OsString> = vec!["verify".into(), "--json".into()];
        all.extend(extra.iter().map(Into::into));
        all.extend([f.store("top").into(), "main".into(), dest.clone().into()]);
        let run = unfurl(&all);
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {run:?}"));
        (run.code, json)
    };
    let differences = |json: &serde_json::Value| -> Vec<(String, String)> {
        json["differences"]
            .as_array()
            .unwrap_or_else(|| panic!("no differences array: {json}"))
            .iter()
            .map(|d| {
                (
                    d["path"].as_str().unwrap().to_owned(),
                    d["change"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (code, json) = verify(&[]);
    assert_eq!(code, Some(0), "without --recurse-submodules: {json}");
    let (code, json) = verify(&args);
    assert_eq!(code, Some(0), "with --recurse-submodules: {json}");

    fs::write(dest.join("libs/mid/deps/leaf/f.txt"), "changed\n").unwrap();
    fs::write(dest.join("libs/mid/new.txt"), "new\n").unwrap();
    let (code, json) = verify(&[]);
    assert_eq!(
        code,
        Some(0),
        "contents are not compared without it: {json}"
    );
    let (code, json) = verify(&args);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        differences(&json),
        [
            ("libs/mid/deps/leaf/f.txt".to_owned(), "modified".to_owned()),
            ("libs/mid/new.txt".to_owned(), "extra".to_owned()),
        ],
        "{json}"
    );

    // tools/tool moved to another commit, as `git -C tools/tool checkout` would.
    let head = dest.join("tools/tool/.git/HEAD");
    fs::write(&head, format!("{}\n", "1".repeat(40))).unwrap();
    let (code, json) = verify(&[]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        differences(&json),
        [("tools/tool".to_owned(), "submodule".to_owned())],
        "{json}"
    );

    // Stores not named: the submodules cannot be compared.
    let url = vec![
        "--recurse-submodules".to_owned(),
        args[1].clone(),
        args[2].clone(),
    ];
    let (code, json) = verify(&url);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(json["error"]["kind"], "submodules-missing", "{json}");
}

/// A switch in place checks out no submodule, but the ones the checkout recorded stay
/// recorded in its `.git/config`, as git's own checkout leaves them: `git submodule status`
/// still sees each initialized (it used to see them all uninitialized, `-`).
fn a_switch_keeps_the_submodules_recorded(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-switch");
    // A second commit of the same tree, in a copy of the store.
    let store = copy_of_top(f, &tmp);
    let tree = g(&store, &["rev-parse", "main^{tree}"]);
    let next = g(&store, &["commit-tree", &tree, "-p", "main", "-m", "again"]);
    g(&store, &["update-ref", "refs/heads/main", &next]);
    let dest = tmp.join("dest");
    let mut args = vec!["--recurse-submodules".to_owned()];
    args.extend(f.store_args());
    let extra: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = unfurl(&checkout_args(rt, &extra, &store, "main~1", &dest));
    assert_eq!(run.code, Some(0), "{run:?}");
    let before = g(&dest, &["submodule", "status"]);
    assert!(before.lines().all(|l| l.starts_with(' ')), "{before}");
    let run = unfurl(&checkout_args(rt, &[], &store, "main", &dest));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(g(&dest, &["rev-parse", "HEAD"]), next, "switched");
    assert_eq!(
        g(&dest, &["submodule", "status"]),
        before,
        "git submodule status"
    );
}

/// A switch to a commit that no longer has the submodules: a submodule checked out with
/// `--recurse-submodules` is a whole repository and work tree, with whatever the user made
/// there, and is not the superproject's to delete. Its directory is kept, with a warning,
/// listed as `kept` in `--json`, and now untracked, as git's checkout leaves it; an empty
/// submodule directory (checked out without `--recurse-submodules`) goes.
fn a_switch_to_a_commit_without_a_submodule_keeps_its_checked_out_directory(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("sub-dropped");
    let store = copy_of_top(f, &tmp);
    let gitlinks: Vec<String> = g(&store, &["ls-tree", "-r", "main"])
        .lines()
        .filter(|l| l.starts_with("160000"))
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect();
    assert!(!gitlinks.is_empty(), "the fixture has submodules");
    let readme = write_blob(&store, b"no submodules here\n");
    let tree = write_tree(&store, &[(FILE, b"README", &readme)]);
    let bare = g(
        &store,
        &["commit-tree", &tree, "-p", "main", "-m", "dropped"],
    );
    g(&store, &["update-ref", "refs/heads/dropped", &bare]);

    let dest = tmp.join("recursed");
    let mut args = vec!["--recurse-submodules".to_owned()];
    args.extend(f.store_args());
    let extra: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = unfurl(&checkout_args(rt, &extra, &store, "main", &dest));
    assert_eq!(run.code, Some(0), "{run:?}");
    let mine = dest.join(&gitlinks[0]).join("mine.txt");
    fs::write(&mine, "the user's\n").unwrap();
    let run = unfurl(&checkout_args(rt, &["--json"], &store, "dropped", &dest));
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let kept: Vec<&str> = json["switch"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let top_level: Vec<&str> = gitlinks.iter().map(String::as_str).collect();
    assert_eq!(kept, top_level, "{json}");
    assert_eq!(fs::read_to_string(&mine).unwrap(), "the user's\n");
    for link in &gitlinks {
        assert!(
            dest.join(link).join(".git").exists(),
            "{link}: its checkout"
        );
    }
    assert!(
        run.stderr
            .contains("kept its directory, which is not empty"),
        "a warning: {run:?}"
    );
    assert_eq!(g(&dest, &["rev-parse", "HEAD"]), bare);
    assert_eq!(
        fs::read_to_string(dest.join("README")).unwrap(),
        "no submodules here\n"
    );

    let plain = tmp.join("plain");
    let run = unfurl(&checkout_args(rt, &[], &store, "main", &plain));
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = unfurl(&checkout_args(rt, &[], &store, "dropped", &plain));
    assert_eq!(run.code, Some(0), "{run:?}");
    for link in &gitlinks {
        assert!(
            !plain.join(link).exists(),
            "{link}: the empty directory goes"
        );
    }
}

/// A copy of the fixture's `top` store in `tmp`, to add commits to.
fn copy_of_top(f: &fixture::Fixture, tmp: &TempDir) -> std::path::PathBuf {
    let store = tmp.join("top.git");
    g(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            f.store("top").to_str().unwrap(),
            store.to_str().unwrap(),
        ],
    );
    store
}
