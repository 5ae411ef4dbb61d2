//! `unfurl verify STORE REV DEST`: exit 0 for a checkout that is exactly REV; exit 1 listing
//! a modified byte, a changed mode, a deleted file, an extra file and a retargeted symlink.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

fn verify(store: &Path, rev: &str, dest: &Path) -> (Run, serde_json::Value) {
    let run = unfurl_verify(&["--json"], store, rev, dest);
    let json = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {run:?}"));
    (run, json)
}

#[test]
fn verify_passes_on_a_clean_checkout_and_names_every_kind_of_difference() {
    let store = &corpus().store;
    let tmp = TempDir::new("verify");
    let dest = tmp.join("checkout");
    assert_checkout_matches(Runtime::Native, store, "main", &dest, &[]);
    let (run, json) = verify(store, "main", &dest);
    assert_eq!(run.code, Some(0), "a clean checkout: {run:?}");
    assert_eq!(json["identical"], true, "{json}");

    // One change of each kind.
    let snap = snapshot(&dest);
    let files: Vec<&std::path::PathBuf> = snap
        .iter()
        .filter(|(_, e)| matches!(e, Entry::File { exec: false, .. }))
        .map(|(p, _)| p)
        .collect();
    let link = snap
        .iter()
        .find(|(_, e)| matches!(e, Entry::Symlink { .. }))
        .map(|(p, _)| p.clone())
        .expect("the corpus has a symlink");
    let (modified, chmodded, deleted) = (files[0], files[1], files[2]);
    let mut bytes = fs::read(dest.join(modified)).unwrap();
    bytes.push(b'!');
    fs::write(dest.join(modified), bytes).unwrap();
    fs::set_permissions(dest.join(chmodded), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(dest.join(deleted)).unwrap();
    fs::write(dest.join("not-in-the-tree"), b"extra").unwrap();
    fs::remove_file(dest.join(&link)).unwrap();
    std::os::unix::fs::symlink("somewhere/else", dest.join(&link)).unwrap();

    let (run, json) = verify(store, "main", &dest);
    assert_eq!(run.code, Some(1), "a changed checkout: {run:?}");
    assert_eq!(json["identical"], false, "{json}");
    let found: Vec<(String, String)> = json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = vec![
        (modified.display().to_string(), "modified".to_owned()),
        (chmodded.display().to_string(), "mode".to_owned()),
        (deleted.display().to_string(), "missing".to_owned()),
        ("not-in-the-tree".to_owned(), "extra".to_owned()),
        (link.display().to_string(), "target".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected, "every difference, and only those");
}

/// A `--path` checkout is compared with its selection (read back from the `.git`), not
/// with the whole tree: clean as written; a selected file deleted is missing, a file
/// outside the selection is extra.
#[test]
fn verify_compares_a_sparse_checkout_with_its_selection() {
    let store = &corpus().store;
    let tmp = TempDir::new("verify-sparse");
    let dest = tmp.join("checkout");
    let top = git(store, &["ls-tree", "-d", "--name-only", "main"]);
    let dir = top
        .lines()
        .next()
        .expect("the corpus has a directory")
        .to_owned();
    let run = unfurl(&checkout_args(
        Runtime::Native,
        &["--path", &dir],
        store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    let (run, json) = verify(store, "main", &dest);
    assert_eq!(run.code, Some(0), "a clean sparse checkout: {run:?}");
    assert_eq!(json["identical"], true, "{json}");

    let selected = git(store, &["ls-tree", "-r", "--name-only", "main", &dir]);
    let deleted = selected.lines().next().unwrap().to_owned();
    fs::remove_file(dest.join(&deleted)).unwrap();
    let outside = git(store, &["ls-tree", "-r", "--name-only", "main"])
        .lines()
        .find(|p| !p.starts_with(&format!("{dir}/")))
        .expect("the corpus has files outside the directory")
        .to_owned();
    fs::create_dir_all(dest.join(&outside).parent().unwrap()).unwrap();
    fs::write(dest.join(&outside), b"not selected").unwrap();
    let (run, json) = verify(store, "main", &dest);
    assert_eq!(run.code, Some(1), "{run:?}");
    let mut found: Vec<String> = json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["change"].as_str().unwrap(),
                d["path"].as_str().unwrap()
            )
        })
        .collect();
    found.sort();
    let mut want = vec![format!("missing {deleted}"), format!("extra {outside}")];
    // A new directory on the way to the extra file is extra too.
    let mut parent = Path::new(&outside).parent();
    while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
        if !selected
            .lines()
            .any(|s| s.starts_with(&format!("{}/", p.display())))
        {
            want.push(format!("extra {}", p.display()));
        }
        parent = p.parent();
    }
    want.sort();
    assert_eq!(found, want, "{json}");
}

/// A checkout written with `-c core.autocrlf=true` records it in its `.git/config`, and
/// verify converts as it was written: identical, though its text files have CRLF endings.
#[test]
fn verify_converts_as_the_checkout_recorded() {
    let store = &corpus().store;
    let tmp = TempDir::new("verify-autocrlf");
    let dest = tmp.join("checkout");
    let run = unfurl(&checkout_args(
        Runtime::Native,
        &["-c", "core.autocrlf=true"],
        store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    let files = git(store, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        any_has_crlf(&dest, &files),
        "expected text files with CRLF endings"
    );
    let (run, json) = verify(store, "main", &dest);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(json["identical"], true, "{json}");
}

/// A checkout that cannot be compared (no such store, no such checkout, no such revision)
/// fails with exit 2, as `cmp` and `diff` do: never 1, which says "different".
#[test]
fn verify_that_cannot_compare_exits_2_not_1() {
    let store = &corpus().store;
    let tmp = TempDir::new("verify-fails");
    let dest = tmp.join("checkout");
    assert_checkout_matches(Runtime::Native, store, "main", &dest, &[]);
    let missing = tmp.join("missing");
    let cases: [(&Path, &str, &Path, &str); 3] = [
        (&missing, "main", &dest, "no such store"),
        (store, "main", &missing, "no such checkout"),
        (store, "no-such-rev", &dest, "no such revision"),
    ];
    for (store, rev, dest, what) in cases {
        let run = unfurl_verify(&[], store, rev, dest);
        assert_eq!(run.code, Some(2), "{what}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{what}: {run:?}");
    }
}

/// `--progress` into a pipe (a CI log): a line when the comparing starts, one a second, and
/// one with the final count, every entry compared.
#[test]
fn verify_with_progress_logs_the_count_of_entries_compared() {
    let store = &corpus().store;
    let tmp = TempDir::new("verify-progress");
    let dest = tmp.join("checkout");
    assert_checkout_matches(Runtime::Native, store, "main", &dest, &[]);
    let run = unfurl_verify(&["--progress"], store, "main", &dest);
    assert_eq!(run.code, Some(0), "{run:?}");
    let counts: Vec<(u64, u64)> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("unfurl: ")?.strip_suffix(" files"))
        .map(|c| {
            let (done, total) = c.split_once('/').expect("done/total");
            (done.parse().unwrap(), total.parse().unwrap())
        })
        .collect();
    let (first, last) = (counts.first(), counts.last());
    let total = first
        .map(|c| c.1)
        .unwrap_or_else(|| panic!("no progress line: {run:?}"));
    assert!(total > 0, "{run:?}");
    assert_eq!(first, Some(&(0, total)), "{run:?}");
    assert_eq!(last, Some(&(total, total)), "{run:?}");
}
