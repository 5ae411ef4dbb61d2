//! `--archive`: unfurl's output against `git archive REV | tar -x` on a store whose
//! attributes use `export-ignore` (files, directories, patterns, a nested
//! `.gitattributes`, a symlink) and `export-subst` (setuptools-scm's `.git_archival.txt`
//! template and every placeholder unfurl expands), for an exact tag, commits after tags,
//! a merge and a tree; and setuptools-scm reads the same version from both.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::gitdir::scm_version;
use crate::support::*;

runtime_tests!(
    archive_output_equals_git_archive_for_every_revision,
    setuptools_scm_reads_the_same_version_as_from_git_archive,
    abbreviations_grow_with_the_store_as_git_s,
);

const ATTRIBUTES: &str = "\
.git_archival.txt export-subst
ver.txt export-subst text eol=crlf
secret export-ignore
private/ export-ignore
*.log export-ignore
link-ignored export-ignore
*.crlf text eol=crlf
";

/// setuptools-scm's template, as its documentation gives it.
const ARCHIVAL: &str = "\
node: $Format:%H$
node-date: $Format:%cI$
describe-name: $Format:%(describe:tags=true,match=*[0-9]*)$
";

const VER: &str = "\
H=$Format:%H$ h=$Format:%h$ T=$Format:%T$ t=$Format:%t$ P=$Format:%P$ p=$Format:%p$
d=$Format:%d$
D=$Format:%D$
ci=$Format:%ci$ cd=$Format:%cd$ cI=$Format:%cI$ ct=$Format:%ct$ cn=$Format:%cn$ ce=$Format:%ce$
ai=$Format:%ai$ ad=$Format:%ad$ aD=$Format:%aD$ an=$Format:%an$ ae=$Format:%ae$
s=$Format:%s$
literal=$Format:100%% %n%x41 %Q %(nope)$ unterminated $Format:%H
second describe=$Format:%(describe)$
";

struct Fixture {
    _tmp: TempDir,
    store: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = TempDir::new("archive-store");
        let work = tmp.join("work");
        git(
            tmp.path(),
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        let write = |path: &str, data: &str| {
            let path = work.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        };
        write(".gitattributes", ATTRIBUTES);
        write(".git_archival.txt", ARCHIVAL);
        write("ver.txt", VER);
        write("kept.txt", "kept\n");
        write("secret", "ignored\n");
        write("private/a.txt", "ignored\n");
        write("private/deep/b.txt", "ignored\n");
        write("build.log", "ignored\n");
        write("sub/build.log", "ignored\n");
        write("sub/keep.crlf", "one\ntwo\n");
        write(
            "docs/.gitattributes",
            "drafts export-ignore\n*.md export-subst\n",
        );
        write("docs/drafts/x.md", "ignored\n");
        write("docs/guide.md", "Guide for $Format:%h$ ($Format:%s$)\n");
        // git archive keeps a directory holding only ignored files (empty), and leaves out
        // one holding only ignored directories.
        write("docs/only-ignored/secret", "ignored\n");
        write("only-dirs/private/x.txt", "ignored\n");
        std::os::unix::fs::symlink("kept.txt", work.join("link-ignored")).unwrap();
        std::os::unix::fs::symlink("kept.txt", work.join("link-kept")).unwrap();
        let commit = |message: &str, date: &str| {
            git(&work, &["add", "-A"]);
            let out = run(git_cmd(&work)
                .args(["commit", "-q", "-m", message])
                .env("GIT_COMMITTER_DATE", date)
                .env("GIT_AUTHOR_DATE", date));
            assert!(out.status.success(), "git commit: {out:?}");
        };
        commit("first release\n\nWith a body.", "1700000000 +0100");
        git(&work, &["tag", "-a", "v0.1.0", "-m", "first"]);
        write("kept.txt", "kept, changed\n");
        commit("second", "1700001000 -0500");
        git(&work, &["tag", "not-a-version"]);
        git(&work, &["checkout", "-q", "-b", "side"]);
        write("side.txt", "side\n");
        commit("on the side", "1700002000 +0000");
        git(&work, &["tag", "-a", "v0.2.0rc1", "-m", "rc"]);
        git(&work, &["checkout", "-q", "main"]);
        write("main.txt", "main\n");
        commit("on main", "1700003000 +0530");
        let out = run(git_cmd(&work)
            .args(["merge", "-q", "--no-ff", "-m", "merge side", "side"])
            .env("GIT_COMMITTER_DATE", "1700004000 +0000"));
        assert!(out.status.success(), "git merge: {out:?}");
        write("after.txt", "after\n");
        commit("after the merge", "1700005000 +0000");
        let store = tmp.join("store.git");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                store.to_str().unwrap(),
            ],
        );
        Fixture { _tmp: tmp, store }
    })
}

const REVS: [&str; 7] = [
    "v0.1.0",
    "main",
    "main~1",
    "main~2",
    "side",
    "not-a-version",
    "main^{tree}",
];

fn archive_output_equals_git_archive_for_every_revision(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("archive-out");
    check_each(
        "--archive",
        &REVS,
        |rev| rev.to_string(),
        |rev| {
            let dest = tmp.join(rev.replace(['^', '{', '}', '~'], "_"));
            let reference = reference(&f.store, rev);
            let expected = snapshot(reference.path());
            assert!(
                !expected.contains_key(Path::new("secret"))
                    && expected.contains_key(Path::new("kept.txt")),
                "expected git archive to honour export-ignore, got {:?}",
                expected.keys().collect::<Vec<_>>()
            );
            let run = unfurl(&checkout_args(rt, &["--archive"], &f.store, rev, &dest));
            assert_eq!(
                run.code,
                Some(0),
                "--archive {rev}: expected exit 0, got {run:?}"
            );
            let differences = diff(&expected, &snapshot(&dest), 40);
            let mismatch = |name: &str| {
                let (want, got) = (fs::read(reference.join(name)), fs::read(dest.join(name)));
                format!(
                    "{name}: git archive wrote {:?}, unfurl wrote {:?}",
                    want.map(|b| String::from_utf8_lossy(&b).into_owned()),
                    got.map(|b| String::from_utf8_lossy(&b).into_owned())
                )
            };
            assert!(
                differences.is_empty(),
                "--archive {rev}: expected git archive's tree, got differences:\n{}\n{}\n{}",
                differences.join("\n"),
                mismatch("ver.txt"),
                mismatch(".git_archival.txt"),
            );
            assert!(
                !dest.join(".git").exists(),
                "--archive {rev}: expected no .git (it implies --git none)"
            );
        },
    );
    // Not vacuous: the expansion happened where git's did.
    let archival = fs::read_to_string(tmp.join("main/.git_archival.txt")).unwrap();
    assert!(
        archival.contains("describe-name: v0.2.0rc1-") && !archival.contains("$Format"),
        "expected setuptools-scm's describe-name expanded, got {archival:?}"
    );
}

fn setuptools_scm_reads_the_same_version_as_from_git_archive(rt: Runtime) {
    let f = fixture();
    let tmp = TempDir::new("archive-scm");
    for rev in ["v0.1.0", "main", "side"] {
        let reference = reference(&f.store, rev);
        let dest = tmp.join(rev);
        let run = unfurl(&checkout_args(rt, &["--archive"], &f.store, rev, &dest));
        assert_eq!(
            run.code,
            Some(0),
            "--archive {rev}: expected exit 0, got {run:?}"
        );
        let (want, got) = (scm_version(reference.path()), scm_version(&dest));
        assert_eq!(
            got, want,
            "{rev}: expected setuptools-scm to read git archive's version from unfurl's output"
        );
        assert!(
            !want.starts_with("0.0"),
            "{rev}: expected a version from the tags, got {want:?}"
        );
    }
}

#[test]
fn archive_and_an_explicit_git_mode_are_a_usage_error() {
    let f = fixture();
    let tmp = TempDir::new("archive-usage");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(
        Runtime::Native,
        &["--archive", "--git", "copy"],
        &f.store,
        "main",
        &dest,
    ));
    assert_eq!(run.code, Some(2), "expected a usage error, got {run:?}");
    assert!(!dest.exists(), "expected nothing written");
}

/// A store of over 16 384 packed objects, where git abbreviates to 8 digits: made with
/// `git fast-import` (one pack), a tagged commit and one after it.
fn large_store() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = TempDir::new("archive-large");
        let store = init_bare(&tmp.join("store.git"));
        let mut stream = String::new();
        for i in 0..17_000 {
            let data = format!("blob {i}\n");
            stream.push_str(&format!("blob\nmark :{}\ndata {}\n{data}\n", i + 1, data.len()));
        }
        let attrs = ".git_archival.txt export-subst\n";
        let archival = "h=$Format:%h$ describe=$Format:%(describe)$\n";
        for (n, message) in [(1, "first"), (2, "second")] {
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter C <c@d> {} +0000\ndata {}\n{message}\n",
                1_700_000_000 + n,
                message.len() + 1
            ));
            for (name, data) in [(".gitattributes", attrs), (".git_archival.txt", archival)] {
                stream.push_str(&format!("M 100644 inline {name}\ndata {}\n{data}\n", data.len()));
            }
            stream.push_str(&format!("M 100644 :{n} f{n}\n\n"));
            if n == 1 {
                stream.push_str("tag v1.0.0\nfrom refs/heads/main\ntagger T <t@d> 1700000001 +0000\ndata 3\nv1\n\n");
            }
        }
        git_stdin(&store, &["fast-import", "--quiet"], stream.as_bytes());
        Fixture { _tmp: tmp, store }
    })
}

fn abbreviations_grow_with_the_store_as_git_s(rt: Runtime) {
    let f = large_store();
    assert_eq!(
        git(&f.store, &["rev-parse", "--short", "main"]).len(),
        8,
        "expected git to abbreviate to 8 digits in a store this large"
    );
    let tmp = TempDir::new("archive-large-out");
    let dest = tmp.join("dest");
    let run = unfurl(&checkout_args(rt, &["--archive"], &f.store, "main", &dest));
    assert_eq!(run.code, Some(0), "expected exit 0, got {run:?}");
    let reference = reference(&f.store, "main");
    let (want, got) = (
        fs::read_to_string(reference.join(".git_archival.txt")).unwrap(),
        fs::read_to_string(dest.join(".git_archival.txt")).unwrap(),
    );
    assert_eq!(got, want, "expected git archive's expansion");
    assert!(
        want.contains("describe=v1.0.0-1-g"),
        "expected a describe, got {want:?}"
    );
}
