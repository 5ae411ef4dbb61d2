//! `unfurl verify STORE REV DEST`: exit 0 for a checkout that is exactly REV; exit 1 listing
//! a modified byte, a changed mode, a deleted file, an extra file and a retargeted symlink.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

fn verify(store: &Path, rev: &str, dest: &Path) -> (Run, serde_json::Value) {
    let run = unfurl(&[
        "verify".as_ref(),
        "--json".as_ref(),
        store.as_os_str(),
        rev.as_ref(),
        dest.as_os_str(),
    ]);
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
