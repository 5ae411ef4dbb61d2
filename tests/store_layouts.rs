//! The same history stored in different layouts (loose, packed, both, borrowed through
//! alternates, inside a work tree, references in reftable as git 3 keeps them) checks out
//! like `git archive | tar -x` from each.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::*;

runtime_tests!(
    a_store_of_loose_objects_only_matches_git_archive,
    a_store_of_packs_and_packed_refs_only_matches_git_archive,
    a_loose_commit_on_top_of_a_pack_matches_git_archive,
    a_store_borrowing_objects_through_alternates_matches_git_archive,
    a_non_bare_repository_given_by_its_work_tree_matches_git_archive,
    a_non_bare_repository_given_by_its_git_dir_matches_git_archive,
    a_reftable_store_checks_out_by_name_as_git_resolves_it,
    a_store_with_references_in_an_unknown_format_checks_out_only_by_object_id,
);

/// Object files under `objects/xx/` (loose objects) of a store.
fn loose_objects(store: &Path) -> usize {
    fs::read_dir(store.join("objects"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().len() == 2 && e.file_type().unwrap().is_dir())
        .map(|e| fs::read_dir(e.path()).unwrap().count())
        .sum()
}

/// `.pack` files of a store.
fn packs(store: &Path) -> usize {
    fs::read_dir(store.join("objects/pack"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pack")
            })
            .count()
        })
        .unwrap_or(0)
}

/// A place for this module's shared fixtures, alive for the whole test process.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| TempDir::new("layouts")).path()
}

/// The corpus exploded into loose objects (`unpack-objects`), with the same refs, loose.
fn loose_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let c = corpus();
        let store = init_bare(&fixtures().join("loose.git"));
        let pack = run(git_cmd(&c.store).args(["pack-objects", "--all", "--stdout", "-q"]));
        assert!(
            pack.status.success(),
            "expected git pack-objects to succeed, got: {}",
            String::from_utf8_lossy(&pack.stderr)
        );
        git_stdin(&store, &["unpack-objects", "-q"], &pack.stdout);
        for line in git(
            &c.store,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        )
        .lines()
        {
            let (name, id) = line.split_once(' ').unwrap();
            git(&store, &["update-ref", name, id]);
        }
        assert_eq!(packs(&store), 0, "expected the loose store to have no pack");
        assert!(
            loose_objects(&store) > 300,
            "expected the loose store to hold loose objects, got {}",
            loose_objects(&store)
        );
        store
    })
}

/// The corpus repacked into one pack, loose objects pruned, every ref in packed-refs.
fn packed_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = fixtures().join("packed.git");
        copy_tree(&corpus().store, &store);
        git(&store, &["repack", "-adq"]);
        git(&store, &["prune-packed"]);
        git(&store, &["pack-refs", "--all", "--prune"]);
        assert_eq!(
            loose_objects(&store),
            0,
            "expected no loose objects after repack and prune-packed"
        );
        assert!(packs(&store) >= 1, "expected a pack");
        let loose_refs = fs::read_dir(store.join("refs/heads")).unwrap().count()
            + fs::read_dir(store.join("refs/tags")).unwrap().count();
        assert_eq!(loose_refs, 0, "expected every ref packed into packed-refs");
        store
    })
}

/// A new commit made of loose objects on top of `main` in `store`: README.md changed and
/// EXTRA.md added. Moves `main` to it.
fn add_loose_commit(store: &Path) -> String {
    let readme = write_blob(store, b"# changed on top of the pack\n");
    let extra = write_blob(store, b"an extra file, loose\n");
    let listing = git(store, &["ls-tree", "-z", "main"]);
    let mut input = String::new();
    for record in listing.split('\0').filter(|r| !r.is_empty()) {
        let (meta, name) = record.split_once('\t').unwrap();
        if name == "README.md" {
            input += &format!("100644 blob {readme}\tREADME.md\0");
        } else {
            input += &format!("{meta}\t{name}\0");
        }
    }
    input += &format!("100644 blob {extra}\tEXTRA.md\0");
    let tree = git_stdin(store, &["mktree", "-z"], input.as_bytes());
    let commit = git(
        store,
        &["commit-tree", &tree, "-p", "main", "-m", "loose on top"],
    );
    git(store, &["update-ref", "refs/heads/main", &commit]);
    commit
}

fn mixed_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = fixtures().join("mixed.git");
        copy_tree(packed_store(), &store);
        add_loose_commit(&store);
        assert!(
            loose_objects(&store) >= 4,
            "expected the new commit's objects loose, got {}",
            loose_objects(&store)
        );
        store
    })
}

fn alternates_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = fixtures().join("borrowing.git");
        let out = run(git_cmd(fixtures())
            .args(["clone", "-q", "--bare", "--shared"])
            .arg(&corpus().store)
            .arg(&store));
        assert!(
            out.status.success(),
            "expected git clone --shared to succeed, got: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let alternates =
            fs::read_to_string(store.join("objects/info/alternates")).unwrap_or_default();
        assert!(
            !alternates.trim().is_empty(),
            "expected objects/info/alternates to name the corpus, got {alternates:?}"
        );
        assert_eq!(
            packs(&store) + loose_objects(&store),
            0,
            "expected the borrowing store to own no objects"
        );
        add_loose_commit(&store);
        store
    })
}

/// A non-bare clone whose work tree has uncommitted changes, which must not be checked out.
fn non_bare_repo() -> &'static Path {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let repo = fixtures().join("work");
        let out = run(git_cmd(fixtures())
            .args(["clone", "-q"])
            .arg(&corpus().store)
            .arg(&repo));
        assert!(
            out.status.success(),
            "expected git clone to succeed, got: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(repo.join("README.md"), "uncommitted change\n").unwrap();
        fs::write(repo.join("UNTRACKED.txt"), "untracked\n").unwrap();
        repo
    })
}

fn check_revs(rt: Runtime, store: &Path, revs: &[&str]) {
    let tmp = TempDir::new("layout-dest");
    check_each(
        &store.display().to_string(),
        revs,
        |r| r.to_string(),
        |rev| {
            let dest = tmp.join(rev.replace(['/', '~', '^', '{', '}', ':'], "_"));
            assert_checkout_matches(rt, store, rev, &dest, &[]);
        },
    );
}

fn a_store_of_loose_objects_only_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        loose_store(),
        &["main", "HEAD", "release", "side", "main~2", "v1"],
    );
}

fn a_store_of_packs_and_packed_refs_only_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        packed_store(),
        &[
            "main",
            "HEAD",
            "refs/heads/side",
            "release",
            "v1^{commit}",
            "side^",
        ],
    );
}

fn a_loose_commit_on_top_of_a_pack_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        mixed_store(),
        &["main", "main~1", "main^{tree}", "release"],
    );
}

fn a_store_borrowing_objects_through_alternates_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        alternates_store(),
        &["main", "main~1", "side", "release"],
    );
}

fn a_non_bare_repository_given_by_its_work_tree_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        non_bare_repo(),
        &["HEAD", "main", "v2", "release", "refs/remotes/origin/side"],
    );
}

fn a_non_bare_repository_given_by_its_git_dir_matches_git_archive(rt: Runtime) {
    check_revs(
        rt,
        &non_bare_repo().join(".git"),
        &["HEAD", "main", "release"],
    );
}

/// A store made with `git init --ref-format=reftable` (git 2.45 and later; the default from
/// git 3): the corpus's branches and tags, 1 200 more tags (so that the first table spans
/// many blocks), then, each in a table of its own, a deleted tag, a symbolic branch and a
/// branch moved back a commit. Every name resolves as git resolves it and checks out like
/// `git archive`; the deleted tag is unknown; a `.git` lists the store's tags as git does.
fn a_reftable_store_checks_out_by_name_as_git_resolves_it(rt: Runtime) {
    let tmp = TempDir::new("reftable");
    let store = tmp.join("store.git");
    let out = run(git_cmd(tmp.path())
        .args(["init", "-q", "--bare", "--ref-format=reftable"])
        .arg(&store));
    assert!(
        out.status.success(),
        "git init --ref-format=reftable (git 2.45 or later): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(
        &store,
        &[
            "fetch",
            "-q",
            corpus().store.to_str().unwrap(),
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ],
    );
    git(&store, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    let main = git(&store, &["rev-parse", "main"]);
    let bulk: String = (0..1200)
        .map(|i| format!("create refs/tags/bulk-{i:04} {main}\n"))
        .collect();
    let separate = ["-c", "reftable.autoCompaction=false"];
    git_stdin(
        &store,
        &[separate[0], separate[1], "update-ref", "--stdin"],
        bulk.as_bytes(),
    );
    git(
        &store,
        &[
            separate[0],
            separate[1],
            "update-ref",
            "-d",
            "refs/tags/bulk-0007",
        ],
    );
    git(
        &store,
        &[
            separate[0],
            separate[1],
            "symbolic-ref",
            "refs/heads/alias",
            "refs/heads/main",
        ],
    );
    let parent = git(&store, &["rev-parse", "main~1"]);
    git(
        &store,
        &[
            separate[0],
            separate[1],
            "update-ref",
            "refs/heads/moved",
            &parent,
        ],
    );
    let tables = fs::read_to_string(store.join("reftable/tables.list")).unwrap();
    assert!(
        tables.lines().count() >= 2,
        "expected several tables, got {tables:?}"
    );
    let first = store.join("reftable").join(tables.lines().next().unwrap());
    assert!(
        fs::metadata(&first).unwrap().len() > 3 * 4096,
        "expected the first table to span several blocks"
    );
    let tags = git(&store, &["tag", "-l"]);
    let corpus_tag = tags
        .lines()
        .find(|t| !t.starts_with("bulk-"))
        .expect("the corpus has tags");
    for rev in [
        "HEAD",
        "main",
        "alias",
        "refs/heads/moved",
        "moved",
        corpus_tag,
        "bulk-0000",
        "bulk-1199",
        &main[..12],
    ] {
        let dest = tmp.join("by-name");
        let json = assert_checkout_matches(rt, &store, rev, &dest, &["--git", "none"]);
        let resolved = git(&store, &["rev-parse", &format!("{rev}^{{commit}}")]);
        assert_eq!(json["commit"], resolved.as_str(), "{rev}");
        fs::remove_dir_all(&dest).unwrap();
    }
    let dest = tmp.join("refused");
    let mut cmd = unfurl_cmd();
    cmd.args(checkout_args(
        rt,
        &["--git", "none"],
        &store,
        "bulk-0007",
        &dest,
    ));
    assert_fails_cleanly_with(&mut cmd, tmp.path(), &["bulk-0007"], "a deleted tag");
    let dest = tmp.join("with-git");
    assert_checkout_matches(rt, &store, "HEAD", &dest, &[]);
    let listed = |dir: &Path| {
        git(
            dir,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/tags",
            ],
        )
    };
    assert_eq!(listed(&dest), listed(&store), "the .git's tags");
    assert_eq!(git(&dest, &["status", "--porcelain"]), "", "a clean status");
}

/// A store whose `extensions.refStorage` names a format unfurl does not know: its objects
/// are still read, so a commit given by its id checks out with `--git none`; a name, or a
/// `.git` (which needs the store's tags), fails in one line naming the format, and nothing
/// is left.
fn a_store_with_references_in_an_unknown_format_checks_out_only_by_object_id(rt: Runtime) {
    let tmp = TempDir::new("refs-format");
    let store = tmp.join("store.git");
    copy_tree(&corpus().store, &store);
    let commit = git(&store, &["rev-parse", "main"]);
    let mut config = fs::read_to_string(store.join("config")).unwrap();
    config.push_str("[extensions]\n\trefStorage = someday\n");
    fs::write(store.join("config"), config).unwrap();
    // git itself refuses the store, so the reference is the archive of the corpus's.
    let dest = tmp.join("by-id");
    let run = unfurl(&checkout_args(
        rt,
        &["--git", "none"],
        &store,
        &commit,
        &dest,
    ));
    assert_eq!(run.code, Some(0), "checkout by id: {run:?}");
    let expected = reference(&corpus().store, &commit);
    assert_same_tree(
        &snapshot(expected.path()),
        &snapshot(&dest),
        "checkout by id",
    );
    for (rev, extra, what) in [
        ("main", &["--git", "none"][..], "a branch name"),
        (commit.as_str(), &[][..], "with a .git"),
    ] {
        let dest = tmp.join("refused");
        let mut cmd = unfurl_cmd();
        cmd.args(checkout_args(rt, extra, &store, rev, &dest));
        assert_fails_cleanly_with(&mut cmd, tmp.path(), &["someday"], what);
    }
}
