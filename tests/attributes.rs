//! Attributes: unfurl's checkout against a real `git clone` work tree (no user or system
//! configuration, `.git` left out) on a store covering every attribute unfurl applies,
//! with git's defaults, `-c core.autocrlf=true`, `-c core.autocrlf=input` and
//! `-c core.eol=crlf`; then `git status` is clean with the checkout's `.git` and `unfurl
//! verify` accepts the checkout (and names a file written unconverted), and `-c` keys
//! other than those two are usage errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::*;

runtime_tests!(
    attributes_apply_as_git_clone_applies_them_with_no_configuration,
    core_autocrlf_true_applies_as_git_clone_applies_it,
    core_autocrlf_input_applies_as_git_clone_applies_it,
    core_eol_crlf_applies_as_git_clone_applies_it,
    git_status_is_clean_in_a_checkout_with_converted_files,
    a_checkout_with_core_autocrlf_records_it_in_its_git_config,
    a_gitattributes_that_is_a_symlink_applies_as_git_reads_it_from_the_tree,
);

/// Each attribute line of the root `.gitattributes`, by the extension it applies to.
const ROOT_ATTRIBUTES: &str = "\
*.txt text
*.crlf text eol=crlf
*.lf text eol=lf
*.auto text=auto
*.autocrlf text=auto eol=crlf
*.autolf text=auto eol=lf
*.bin binary
*.notext -text
*.notexteol -text eol=crlf
*.eolonly eol=crlf
*.legacy crlf
*.legacyin crlf=input
*.nolegacy -crlf
*.id ident
*.idcrlf ident text eol=crlf
*.u16 working-tree-encoding=UTF-16
*.u16le working-tree-encoding=UTF-16LE-BOM text eol=crlf
*.u16be working-tree-encoding=UTF-16BE
*.latin working-tree-encoding=ISO-8859-1
*.filt filter=nosuch text eol=crlf
[attr]windows text eol=crlf
*.mac windows
";

/// Extensions given every content variant: those of the root file, and `none` (no
/// attribute at all).
const EXTENSIONS: [&str; 18] = [
    "txt",
    "crlf",
    "lf",
    "auto",
    "autocrlf",
    "autolf",
    "bin",
    "notext",
    "notexteol",
    "eolonly",
    "legacy",
    "legacyin",
    "nolegacy",
    "filt",
    "mac",
    "idcrlf",
    "none",
    "info",
];

/// The contents each extension is stored with.
const VARIANTS: [(&str, &[u8]); 8] = [
    ("plain", b"one\ntwo\n"),
    ("no-final-newline", b"one\ntwo"),
    ("mixed", b"one\r\ntwo\nthree\r\n"),
    ("stored-crlf", b"one\r\ntwo\r\n"),
    ("binary-looking", b"one\0two\nthree\n"),
    ("lone-cr", b"one\rtwo\n"),
    ("empty", b""),
    ("ctrl-z", b"one\ntwo\n\x1a"),
];

/// The store (bare, with `info/attributes`) and the commit to check out.
struct Fixture {
    _tmp: TempDir,
    store: PathBuf,
    commit: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = TempDir::new("attributes-store");
        let store = init_bare(&tmp.join("store.git"));
        let mut root: Vec<(String, String, &str)> = Vec::new();
        let add = |entries: &mut Vec<(String, String, &str)>, name: &str, data: &[u8]| {
            entries.push((name.to_owned(), write_blob(&store, data), FILE));
        };
        add(&mut root, ".gitattributes", ROOT_ATTRIBUTES.as_bytes());
        for ext in EXTENSIONS {
            for (variant, data) in VARIANTS {
                add(&mut root, &format!("{variant}.{ext}"), data);
            }
        }
        add(
            &mut root,
            "keyword.id",
            b"$Id$\nold $Id: 1234 $ and $Id: two words $\n$Id: a\nb$\n",
        );
        add(&mut root, "keyword.idcrlf", b"$Id$\nline\n");
        for ext in ["u16", "u16le", "u16be", "latin"] {
            add(
                &mut root,
                &format!("text.{ext}"),
                "h\u{e9}llo\nw\u{f6}rld\n".as_bytes(),
            );
            add(&mut root, &format!("invalid.{ext}"), b"not utf-8 \xff\n");
        }
        add(&mut root, "override.crlf", b"info wins\n");
        // Nested files override the root's, and deeper ones override those.
        let deep = {
            let mut deep = Vec::new();
            add(&mut deep, ".gitattributes", b"*.txt text eol=crlf\n");
            add(&mut deep, "plain.txt", b"one\ntwo\n");
            add(&mut deep, "plain.lf", b"one\ntwo\n");
            tree(&store, &deep)
        };
        let mut sub = Vec::new();
        add(
            &mut sub,
            ".gitattributes",
            b"*.txt -text\n*.lf text eol=crlf\n[attr]nested text eol=crlf\n*.mac nested\n",
        );
        add(&mut sub, "plain.txt", b"one\ntwo\n");
        add(&mut sub, "plain.lf", b"one\ntwo\n");
        add(&mut sub, "plain.crlf", b"one\ntwo\n");
        add(&mut sub, "plain.mac", b"one\ntwo\n");
        let sub = tree(&store, &sub);
        let mut entries: Vec<(&str, &[u8], &str)> = root
            .iter()
            .map(|(name, id, mode)| (*mode, name.as_bytes(), id.as_str()))
            .collect();
        let sub_with_deep = {
            let mut listed = git(&store, &["ls-tree", &sub]);
            listed.push_str(&format!("\n040000 tree {deep}\tdeep"));
            git_stdin(&store, &["mktree"], listed.as_bytes())
        };
        entries.push((DIR, b"sub", &sub_with_deep));
        let root_tree = write_tree(&store, &entries);
        let commit = commit_tree(&store, &root_tree, "attributes");
        git(&store, &["update-ref", "refs/heads/main", &commit]);
        fs::create_dir_all(store.join("info")).unwrap();
        fs::write(
            store.join("info/attributes"),
            "*.info text eol=crlf\noverride.crlf -text\n",
        )
        .unwrap();
        Fixture {
            _tmp: tmp,
            store,
            commit,
        }
    })
}

fn tree(store: &Path, entries: &[(String, String, &str)]) -> String {
    let entries: Vec<(&str, &[u8], &str)> = entries
        .iter()
        .map(|(name, id, mode)| (*mode, name.as_bytes(), id.as_str()))
        .collect();
    write_tree(store, &entries)
}

/// What `git clone` writes with these `-c` settings: a clone of the store, given the
/// store's `info/attributes` (a clone does not copy it), checked out.
fn git_clone_tree(config: &[&str]) -> TempDir {
    let f = fixture();
    let tmp = TempDir::new("attributes-clone");
    let clone = tmp.join("clone");
    let mut args: Vec<&str> = Vec::new();
    for c in config {
        args.extend(["-c", c]);
    }
    args.extend(["clone", "-q", "--no-checkout"]);
    let store = f.store.to_str().unwrap();
    let dest = clone.to_str().unwrap();
    args.extend([store, dest]);
    git(tmp.path(), &args);
    fs::create_dir_all(clone.join(".git/info")).unwrap();
    fs::copy(
        f.store.join("info/attributes"),
        clone.join(".git/info/attributes"),
    )
    .unwrap();
    let mut checkout: Vec<&str> = Vec::new();
    for c in config {
        checkout.extend(["-c", c]);
    }
    checkout.extend(["checkout", "-q", "--detach", &f.commit]);
    git(&clone, &checkout);
    tmp
}

fn matches_git_clone(rt: Runtime, config: &[&str]) {
    let f = fixture();
    let reference = git_clone_tree(config);
    let expected = snapshot(&reference.join("clone"));
    let tmp = TempDir::new("attributes-unfurl");
    let dest = tmp.join("dest");
    let mut extra = vec!["--git", "none"];
    for c in config {
        extra.extend(["-c", c]);
    }
    let run = unfurl(&checkout_args(rt, &extra, &f.store, "main", &dest));
    let what = format!(
        "unfurl checkout {} (runtime {})",
        config.join(" "),
        rt.name()
    );
    assert_eq!(run.code, Some(0), "{what}: expected exit 0, got {run:?}");
    let actual = snapshot(&dest);
    let differences = diff(&expected, &actual, 40);
    assert!(
        differences.is_empty(),
        "{what}: expected the files git clone writes, got differences:\n{}",
        differences.join("\n")
    );
    // Not vacuous: the configuration converts something, and the attributes always do.
    let converted = expected
        .iter()
        .filter(|(path, entry)| {
            let stored = fs::read(reference.join("clone").join(path)).ok();
            matches!(entry, Entry::File { .. })
                && stored.as_deref() != Some(stored_content(path).as_slice())
        })
        .count();
    assert!(
        converted >= 10,
        "{what}: expected git to convert at least 10 files here, it converted {converted}"
    );
}

/// The bytes the store holds for `path` at the fixture's commit.
fn stored_content(path: &Path) -> Vec<u8> {
    let f = fixture();
    let spec = format!("{}:{}", f.commit, path.display());
    let out = run(git_cmd(&f.store).args(["cat-file", "blob", &spec]));
    assert!(out.status.success(), "cat-file {spec}: {out:?}");
    out.stdout
}

fn attributes_apply_as_git_clone_applies_them_with_no_configuration(rt: Runtime) {
    matches_git_clone(rt, &[]);
}

fn core_autocrlf_true_applies_as_git_clone_applies_it(rt: Runtime) {
    matches_git_clone(rt, &["core.autocrlf=true"]);
}

fn core_autocrlf_input_applies_as_git_clone_applies_it(rt: Runtime) {
    matches_git_clone(rt, &["core.autocrlf=input"]);
}

fn core_eol_crlf_applies_as_git_clone_applies_it(rt: Runtime) {
    matches_git_clone(rt, &["core.eol=crlf"]);
}

fn git_status_is_clean_in_a_checkout_with_converted_files(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("attributes-status");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(rt, &[], &f.store, "main", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let crlf = fs::read(dest.join("plain.crlf")).unwrap();
    assert_eq!(crlf, b"one\r\ntwo\r\n", "expected plain.crlf converted");
    let status = git(&dest, &["status", "--porcelain"]);
    assert_eq!(
        status, "",
        "expected git status to be clean, got {status:?}"
    );
    let verify = |what: &str| {
        let verified = unfurl_verify(&[], &f.store, "main", &dest);
        (
            verified.code,
            verified.stdout.contains("plain.crlf"),
            format!("{what}: {verified:?}"),
        )
    };
    let (code, _, got) = verify("as written");
    assert_eq!(
        code,
        Some(0),
        "expected unfurl verify to accept the converted checkout, got {got}"
    );
    fs::write(dest.join("plain.crlf"), b"one\ntwo\n").unwrap();
    let (code, named, got) = verify("plain.crlf as stored");
    assert!(
        code == Some(1) && named,
        "expected unfurl verify to name plain.crlf, written as stored instead of converted, got {got}"
    );
}

#[test]
fn config_keys_other_than_autocrlf_and_eol_are_usage_errors() {
    let f = fixture();
    let tmp = TempDir::new("attributes-usage");
    for (setting, needle) in [
        ("filter.lfs.smudge=git-lfs smudge %f", "filter.lfs.smudge"),
        ("core.autocrlf=maybe", "true, false or input"),
        ("core.eol", "KEY=VALUE"),
    ] {
        let dest = tmp.join("dest");
        let run = unfurl(&checkout_args(
            Runtime::Native,
            &["-c", setting],
            &f.store,
            "main",
            &dest,
        ));
        assert_eq!(
            run.code,
            Some(2),
            "-c {setting:?}: expected a usage error (exit 2), got {run:?}"
        );
        assert!(
            run.stderr.contains(needle),
            "-c {setting:?}: expected the message to name {needle:?}, got {:?}",
            run.stderr
        );
        assert!(!dest.exists(), "-c {setting:?}: expected nothing written");
    }
}

fn a_checkout_with_core_autocrlf_records_it_in_its_git_config(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("attributes-config");
    let dest = tmp.join("dest");
    let args = ["-c", "core.autocrlf=true", "-c", "core.eol=crlf"];
    let run = unfurl(&checkout_args(rt, &args, &f.store, "main", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let plain = fs::read(dest.join("plain.none")).unwrap();
    assert_eq!(
        plain, b"one\r\ntwo\r\n",
        "expected autocrlf to convert plain.none"
    );
    assert_eq!(
        git(&dest, &["config", "core.autocrlf"]),
        "true",
        "core.autocrlf recorded"
    );
    assert_eq!(
        git(&dest, &["config", "core.eol"]),
        "crlf",
        "core.eol recorded"
    );
    // With every file read again (no index), git converts each back as a clone
    // configured so would: the same files (stored with CRLF, say) show as modified.
    let reread = |dir: &Path| {
        fs::remove_file(dir.join(".git/index")).unwrap();
        git(dir, &["reset", "-q"]);
        git(dir, &["status", "--porcelain"])
    };
    let reference = git_clone_tree(&["core.autocrlf=true", "core.eol=crlf"]);
    let clone = reference.join("clone");
    git(&clone, &["config", "core.autocrlf", "true"]);
    git(&clone, &["config", "core.eol", "crlf"]);
    // The checkout's `.git` does not repeat the store's `info/attributes` (see the README).
    fs::remove_file(clone.join(".git/info/attributes")).unwrap();
    let (want, got) = (reread(&clone), reread(&dest));
    assert_eq!(
        got, want,
        "expected git status after re-reading every file to be a git clone's"
    );
}

/// A `.gitattributes` that is a symlink: git does not follow it in a work tree, but reading
/// attributes from a tree (`git archive`) or an index (the checkout of `git clone`) it takes
/// the link's blob, its target text, as the rules. unfurl does the same, without following
/// anything: `*.txt text eol=crlf` from the root link converts `a.txt`, and `skip.md
/// export-ignore` from `sub/`'s link leaves `sub/skip.md` out of `--archive`.
fn a_gitattributes_that_is_a_symlink_applies_as_git_reads_it_from_the_tree(rt: Runtime) {
    let tmp = TempDir::new("symlinked-attributes");
    let store = init_bare(&tmp.join("store.git"));
    let b = |content: &str| write_blob(&store, content.as_bytes());
    const LINK: &str = "120000";
    let sub = write_tree(
        &store,
        &[
            (LINK, b".gitattributes", &b("skip.md export-ignore")),
            (FILE, b"keep.md", &b("keep\n")),
            (FILE, b"skip.md", &b("skip\n")),
        ],
    );
    let tree = write_tree(
        &store,
        &[
            (LINK, b".gitattributes", &b("*.txt text eol=crlf")),
            (FILE, b"a.txt", &b("hello\n")),
            (DIR, b"sub", &sub),
        ],
    );
    let commit = commit_tree(&store, &tree, "linked attributes");
    git(&store, &["update-ref", "refs/heads/main", &commit]);

    let archived = tmp.join("archived");
    let run = unfurl(&checkout_args(
        rt,
        &["--archive"],
        &store,
        "main",
        &archived,
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_same_tree(
        &snapshot(reference(&store, "main").path()),
        &snapshot(&archived),
        "--archive against git archive",
    );
    assert!(
        !archived.join("sub/skip.md").exists(),
        "export-ignore applied"
    );

    let checkout = tmp.join("checkout");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none"],
        &store,
        "main",
        &checkout,
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    let clone = tmp.join("clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            store.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    for path in ["a.txt", "sub/keep.md", "sub/skip.md"] {
        assert_eq!(
            fs::read(checkout.join(path)).unwrap(),
            fs::read(clone.join(path)).unwrap(),
            "{path} against git clone"
        );
    }
    assert_eq!(fs::read(checkout.join("a.txt")).unwrap(), b"hello\r\n");
}
