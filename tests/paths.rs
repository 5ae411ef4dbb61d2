//! `--path PREFIX`: checkouts of selected subtrees compared with `git archive REV PREFIX… |
//! tar -x`; with a `.git`, git sees a clean sparse checkout; a path naming nothing fails
//! with its own kind; a 1% selection of a 20k-file store reads about 1% of the blob bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

runtime_tests!(
    selected_paths_check_out_what_git_archive_extracts_for_them,
    with_a_git_the_rest_is_skip_worktree_and_git_status_is_clean,
    a_path_naming_nothing_fails_naming_it_and_publishes_nothing,
    a_one_percent_selection_reads_about_one_percent_of_the_blob_bytes,
);

/// `git archive REV PATHS… | tar -x` into a new directory.
pub(crate) fn archive_of(store: &Path, rev: &str, paths: &[&str]) -> TempDir {
    let dir = TempDir::new("reference-paths");
    extract_archive_of(store, rev, paths, dir.path());
    dir
}

/// `--path P` for each of `paths`, then `extra`.
fn path_args<'a>(paths: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = Vec::new();
    for p in paths {
        args.extend(["--path", p]);
    }
    args.extend(extra);
    args
}

/// Entries of `rev`'s tree (recursive), by path: `(mode, type)`.
fn entries(store: &Path, rev: &str) -> BTreeMap<String, String> {
    git(store, &["ls-tree", "-r", "-z", "--full-tree", rev])
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (meta, path) = l.split_once('\t').expect("ls-tree line");
            (path.to_owned(), meta.to_owned())
        })
        .collect()
}

/// Selections of the shared corpus: a directory, several paths, a nested directory (with a
/// trailing `/`), a file, a symlink; each as the reference names them.
fn selections(store: &Path) -> Vec<Vec<String>> {
    let all = entries(store, "main");
    let nested = all
        .keys()
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d))
        .find(|d| d.contains('/'))
        .expect("main has a nested directory")
        .to_owned();
    let top = nested.split('/').next().unwrap().to_owned();
    let file = all
        .iter()
        .find(|(p, m)| p.contains('/') && m.starts_with("100") && !p.starts_with(&top))
        .map(|(p, _)| p.clone())
        .expect("main has a file in a directory");
    let link = all
        .iter()
        .find(|(_, m)| m.starts_with("120000"))
        .map(|(p, _)| p.clone())
        .expect("main has a symlink");
    vec![
        vec![top.clone()],
        vec![format!("{nested}/")],
        vec![file.clone()],
        vec![link.clone()],
        vec![top, file, link],
    ]
}

fn selected_paths_check_out_what_git_archive_extracts_for_them(rt: Runtime) {
    let c = corpus();
    let tmp = TempDir::new("paths");
    let mut cases: Vec<(String, Vec<String>)> = selections(&c.store)
        .into_iter()
        .map(|s| ("main".to_owned(), s))
        .collect();
    // Under `REV:dir`, paths are relative to that subtree.
    let sub = git(&c.store, &["ls-tree", "-d", "--name-only", "main"])
        .lines()
        .find(|d| !d.contains('"'))
        .unwrap()
        .to_owned();
    let inner = entries(&c.store, &format!("main:{sub}"))
        .into_keys()
        .next()
        .unwrap();
    cases.push((format!("main:{sub}"), vec![inner]));
    check_each(
        "selections",
        &cases.iter().enumerate().collect::<Vec<_>>(),
        |(_, (rev, paths))| format!("{rev} {paths:?}"),
        |(i, (rev, paths))| {
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            let reference = archive_of(&c.store, rev, &paths);
            let expected = snapshot(reference.path());
            let dest = tmp.join(format!("dest-{i}"));
            let args = path_args(&paths, &["--json", "--git", "none"]);
            let run = unfurl(&checkout_args(rt, &args, &c.store, rev, &dest));
            let what = format!("unfurl checkout {rev} {paths:?} ({})", rt.name());
            assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
            assert_same_tree(&expected, &snapshot(&dest), &what);
            let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            let (commit, tree) = expected_ids(&c.store, rev);
            assert_json(&json, &expected, commit.as_deref(), &tree, rt, &what);
            let reported: Vec<&str> = json["paths"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(
                reported, paths,
                "{what}: expected `paths` in the JSON, got {json}"
            );
        },
    );
}

fn with_a_git_the_rest_is_skip_worktree_and_git_status_is_clean(rt: Runtime) {
    let c = corpus();
    let selection = &selections(&c.store)[4];
    let paths: Vec<&str> = selection.iter().map(String::as_str).collect();
    let tmp = TempDir::new("paths-git");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        rt,
        &path_args(&paths, &[]),
        &c.store,
        "main",
        &dest,
    ));
    let what = format!("unfurl checkout --path {paths:?} main ({})", rt.name());
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    let status = git(&dest, &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(
        status, "",
        "{what}: expected `git status --porcelain` empty"
    );
    // Every entry of the commit is in the index: the selected ones present (`H`), the rest
    // skip-worktree (`S`).
    let listed = git(&dest, &["ls-files", "-t", "-z"]);
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for item in listed.split('\0').filter(|s| !s.is_empty()) {
        let (tag, path) = item.split_once(' ').expect("tag and path");
        tags.insert(path.to_owned(), tag.to_owned());
    }
    let all = git(&c.store, &["ls-tree", "-r", "-z", "--name-only", "main"]);
    let all: Vec<&str> = all.split('\0').filter(|s| !s.is_empty()).collect();
    assert_eq!(
        tags.len(),
        all.len(),
        "{what}: expected every entry in the index"
    );
    let inside = |p: &str| {
        paths
            .iter()
            .any(|s| p == *s || p.starts_with(&format!("{s}/")))
    };
    for path in all {
        let want = if inside(path) { "H" } else { "S" };
        assert_eq!(
            tags.get(path).map(String::as_str),
            Some(want),
            "{what}: expected {path:?} tagged {want} by `git ls-files -t`"
        );
    }
    // git's own sparse checkout agrees with what was written: reapplying the patterns
    // changes nothing, and nothing differs from HEAD.
    let before = snapshot(&dest);
    git(&dest, &["sparse-checkout", "reapply"]);
    let d = diff(&before, &snapshot(&dest), 10);
    assert!(
        d.is_empty(),
        "{what}: `git sparse-checkout reapply` changed {d:?}"
    );
    assert_eq!(
        git(&dest, &["diff", "HEAD", "--stat"]),
        "",
        "{what}: a diff"
    );
    let list = git(&dest, &["sparse-checkout", "list"]);
    let listed: Vec<&str> = list.lines().collect();
    let want: Vec<String> = paths.iter().map(|p| format!("/{p}")).collect();
    assert_eq!(listed, want, "{what}: expected the non-cone patterns");
}

fn a_path_naming_nothing_fails_naming_it_and_publishes_nothing(rt: Runtime) {
    let c = corpus();
    let file = selections(&c.store)[2][0].clone();
    let through_file = format!("{file}/x");
    let site = FailureSite::new();
    let paths = ["no-such-dir", through_file.as_str()];
    let args = checkout_args(rt, &path_args(&paths, &[]), &c.store, "main", &site.dest);
    let run = assert_fails_cleanly(&args, &site.parent, &["not in the tree"], "missing paths");
    for p in paths {
        assert!(
            run.stderr.contains(p),
            "expected the error to name {p:?}, got {run:?}"
        );
    }
    let args = checkout_args(
        rt,
        &path_args(&paths, &["--json"]),
        &c.store,
        "main",
        &site.dest,
    );
    let run = unfurl(&args);
    assert_eq!(run.code, Some(1), "expected exit 1, got {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["error"]["kind"], "path-not-found",
        "expected the kind path-not-found, got {json}"
    );
    assert_eq!(
        json["error"]["path"], "no-such-dir",
        "the first path: {json}"
    );
    // A path that cannot name anything is refused before any work.
    let args = checkout_args(
        rt,
        &path_args(&["../up"], &["--json"]),
        &c.store,
        "main",
        &site.dest,
    );
    let run = unfurl(&args);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (run.code, json["error"]["kind"].as_str()),
        (Some(1), Some("invalid-options")),
        "expected `../up` refused as invalid, got {run:?}"
    );
    assert!(
        !site.dest.exists() && fs::read_dir(&site.parent).unwrap().next().is_none(),
        "expected nothing written"
    );
}

/// A 20 000-file make-store store, built once.
fn big_store() -> &'static PathBuf {
    static STORE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let tmp = TempDir::new("big");
            let store = tmp.join("big.git");
            let out = run(Command::new("python3")
                .arg(MAKE_STORE)
                .arg(&store)
                .args(["--files", "20000", "--seed", "12"]));
            assert!(out.status.success(), "make-store --files 20000: {out:?}");
            (tmp, store)
        })
        .1
}

fn a_one_percent_selection_reads_about_one_percent_of_the_blob_bytes(rt: Runtime) {
    let store = big_store();
    // Every directory with its files' count and bytes, from git.
    let listing = git(store, &["ls-tree", "-r", "-l", "-z", "HEAD"]);
    let mut dirs: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    for line in listing.split('\0').filter(|s| !s.is_empty()) {
        let (meta, path) = line.split_once('\t').unwrap();
        let size: u64 = meta.split_whitespace().nth(3).unwrap().parse().unwrap_or(0);
        files += 1;
        bytes += size;
        let mut at = 0;
        while let Some(slash) = path[at..].find('/') {
            let e = dirs.entry(path[..at + slash].to_owned()).or_default();
            e.0 += 1;
            e.1 += size;
            at += slash + 1;
        }
    }
    // Small directories, none inside another, until about 1% of the files.
    let mut chosen: Vec<&str> = Vec::new();
    let (mut chosen_files, mut chosen_bytes) = (0, 0);
    for (dir, (n, b)) in &dirs {
        let related =
            |c: &&str| dir.starts_with(&format!("{c}/")) || c.starts_with(&format!("{dir}/"));
        if *n > files / 200 || chosen.iter().any(related) {
            continue;
        }
        chosen.push(dir);
        chosen_files += n;
        chosen_bytes += b;
        if chosen_files >= files / 100 {
            break;
        }
    }
    let tmp = TempDir::new("one-percent");
    let dest = tmp.join("dest");
    let args = path_args(&chosen, &["--json", "--git", "none"]);
    let run = unfurl(&checkout_args(rt, &args, store, "HEAD", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let inflated = json["inflated_bytes"].as_u64().expect("inflated_bytes");
    let share = inflated as f64 / bytes as f64;
    eprintln!(
        "{} of {files} files selected ({chosen_bytes} of {bytes} blob bytes); {inflated} bytes inflated ({:.2}%)",
        chosen_files,
        share * 100.0
    );
    assert!(
        inflated >= chosen_bytes,
        "expected at least the selection's {chosen_bytes} blob bytes inflated, got {inflated}"
    );
    assert!(
        share < 0.02,
        "expected about 1% of the {bytes} blob bytes inflated for {chosen_files} of {files} files, got {inflated} ({:.2}%)",
        share * 100.0
    );
    let reference = archive_of(store, "HEAD", &chosen);
    assert_same_tree(
        &snapshot(reference.path()),
        &snapshot(&dest),
        "the 1% selection",
    );
}
