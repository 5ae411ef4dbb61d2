//! Wall time and peak memory of `unfurl checkout` against gitoxide, git and tar, all
//! checking out the same revision of the same store into fresh directories.
//!
//! Run it (release profile; cargo also builds `target/release/unfurl`, the binary measured):
//!
//! ```text
//! cargo bench -p unfurl --bench compare -- [--files N] [--big-mib M] [--skew X]
//!     [--store PATH] [--rev REV] [--rounds R] [--skip-wasm] [--only NAME,...]
//!     [--inode-wait SECS] [--no-sync] [--keep-caches] [--scaling]
//! ```
//!
//! * `--files N` (default 20000), `--big-mib M` (default 0), `--skew X` (none): the store,
//!   made once by `shared/corpus/make-store` with those arguments and cached in
//!   `target/bench-stores/files-N-big-M[-skew-X]/` together with `rev.tar` (`git archive
//!   --format=tar REV`, the input of `tar-floor`).
//! * `--store PATH` (repeatable): existing stores instead (real repositories fetched
//!   locally), all measured in the same rounds, each job labelled `CONTENDER @ STORE`, each
//!   with its own targets; a store's tar is cached under `target/bench-stores/NAME-DIGEST/`.
//!   `--rev REV` (default `main`): the revision every contender checks out.
//! * `--rounds R` (default 5): every round runs each contender once, in an order shuffled
//!   anew each round (the first round in the order given), so drift and the after-effects of
//!   a neighbour's writes hit all contenders alike (rotating one order gave each job the
//!   same predecessor in every round: on netket, unfurl-native always ran right after
//!   cargo's `tar -x` and measured 0.068 s, against 0.044 s in a run of netket alone). Each run writes into a new directory under `target/bench-out/`. Before
//!   every run the bench calls sync(2), untimed (`--no-sync` to skip), so no run pays for
//!   writing back its predecessor's files, then drops the page cache and reads the store,
//!   its tar and the binaries back in (`--keep-caches` to skip; needs root): on this VM a
//!   growing page cache makes the kernel side of file creation slower run after run, for
//!   every contender alike, and dropping it is what makes runs repeatable.
//! * Deleting is what skews timings most. ext4 without a journal (this machine's disk) does not
//!   reuse an inode for 60 s after it was deleted, 360 s while its inode-table block is dirty,
//!   and skips such inodes by rescanning them for every new file: after big `rm -rf`s, a
//!   20 000-file `tar -x` took 6 s instead of 0.4 s, all of it in the kernel
//!   (`recently_deleted`). So outputs are kept until all rounds are done (when the disk has
//!   room; otherwise they are deleted after each round, outside the timed region) and deleted at
//!   the end; and before the first timed run the bench syncs and waits until `--inode-wait`
//!   seconds (default 361 on such a filesystem, else 0) have passed since its last deletion,
//!   noted in `target/bench-stores/deleted-at`.
//! * `--only unfurl-native,gitoxide,...`: a subset of the contenders; `--skip-wasm` drops
//!   `unfurl-wasm` (which is also skipped, with a note, when the binary cannot run it).
//! * `--scaling`: time only `unfurl-native` on a 20 000-file and a 200 000-file store (the
//!   latter takes minutes to generate, once) and check that 10x the files take at most 11x
//!   the time.
//!
//! Contenders: `unfurl-native`, `unfurl-wasm` (`--runtime wasm`), `gitoxide` (gitoxide's
//! parallel checkout, `gix::worktree::state::checkout`, run in a child process: this binary
//! re-executes itself as `compare __gix-checkout STORE REV DEST`), `git-clone-no-hardlinks`,
//! `git-archive-tar` (`git archive | tar -x`) and `tar-floor` (`tar -x` of a prepared tar).
//!
//! Before timing, every contender runs once untimed (this also warms the page cache, after the
//! store was read once) and its output is compared with `git archive`'s: files, symlinks,
//! directories, executables and bytes must match, or the table flags the contender.
//!
//! Measured: wall time from spawn to reaping the child, and the child's peak RSS (`ru_maxrss`
//! from `wait4`, which covers the descendants it waited for: for `git-archive-tar` the largest
//! of sh, git and tar, not their sum).
//! The report is a markdown table, then PASS/FAIL lines for the performance targets. Under the
//! table, unfurl-native's time over each contender's is also given round by round (median and
//! range): the medians of a run drift together as the disk fills with kept outputs, and a
//! ratio of two runs from the same round is less exposed to that than the ratio of medians
//! the targets use.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The revision every contender checks out.
/// The hidden first argument that turns this binary into the gitoxide contender.
const GIX_CHECKOUT: &str = "__gix-checkout";
const MAKE_STORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/make-store"
);

type Result<T, E = String> = std::result::Result<T, E>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(GIX_CHECKOUT) {
        match gix_checkout_child(&args[1..]) {
            Ok(()) => return,
            Err(err) => {
                eprintln!("gitoxide checkout: {err}");
                std::process::exit(1);
            }
        }
    }
    if let Err(err) = bench(&args) {
        eprintln!("compare: error: {err}");
        std::process::exit(1);
    }
}

fn bench(raw_args: &[String]) -> Result<()> {
    let args = Args::parse(raw_args)?;
    let mut paths = Paths::locate()?;
    let _lock = lock_bench(&paths.target)?;
    let machine = Machine::describe(&paths);
    let (stores, jobs) = if args.scaling {
        let small = Rc::new(Store::ensure(&paths, &Shape::generated(20_000, 0, None))?);
        let large = Rc::new(Store::ensure(&paths, &Shape::generated(200_000, 0, None))?);
        let jobs = vec![
            Job::new(
                Contender::UnfurlNative,
                &small,
                "unfurl-native, 20000 files",
            ),
            Job::new(
                Contender::UnfurlNative,
                &large,
                "unfurl-native, 200000 files",
            ),
        ];
        (vec![small, large], jobs)
    } else {
        let stores = args
            .shapes()
            .iter()
            .map(|shape| Store::ensure(&paths, shape).map(Rc::new))
            .collect::<Result<Vec<_>>>()?;
        let several = stores.len() > 1;
        let mut jobs = Vec::new();
        for store in &stores {
            for c in args.contenders() {
                jobs.push(Job::new(c, store, &job_label(c, store, several)));
            }
        }
        (stores, jobs)
    };
    let out = paths.target.join("bench-out");
    let deletions = Deletions::new(&paths, &args);
    if out.exists() {
        eprintln!("cleanup: removing {} left by an earlier run", out.display());
        deletions.remove(&out)?;
    }
    paths.unfurl = snapshot(&paths.unfurl, &out.join("bin"))?;
    for store in &stores {
        warm_page_cache(store)?;
    }
    deletions.wait_until_aged()?;
    let load_before = loadavg();
    let (mut jobs, notes) = check_runs(&paths, jobs, &out)?;
    let keep_outputs = room_for_all_rounds(&out, args.rounds)?;
    run_rounds(&paths, &mut jobs, &out, &args, keep_outputs, &deletions)?;
    let load = format!("{load_before} before, {} after", loadavg());
    eprintln!("cleanup: removing {}", out.display());
    deletions.remove(&out)?;
    let protocol = format!(
        "outputs {}; untimed before each run: sync(2) {}, page cache dropped and store, tar \
         and binaries read back in {}; {}",
        if keep_outputs {
            "kept until all rounds were done, then deleted"
        } else {
            "deleted after each round (no room to keep them all), untimed"
        },
        if args.sync { "yes" } else { "no" },
        if args.drop_caches { "yes" } else { "no" },
        deletions.describe()
    );
    let context = Context {
        args: &args,
        machine: &machine,
        load: &load,
        protocol: &protocol,
        raw_args,
    };
    print_report(&context, &stores, &jobs, &notes);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Arguments and locations

struct Args {
    files: u64,
    big_mib: u64,
    rounds: usize,
    skip_wasm: bool,
    only: Option<Vec<Contender>>,
    /// Seconds to keep timed runs away from our own deletions; None: decide from the filesystem.
    inode_wait: Option<u64>,
    sync: bool,
    drop_caches: bool,
    scaling: bool,
    /// make-store's `--skew`: directory sizes with Zipf weights, as real repositories have.
    skew: Option<String>,
    /// Existing stores to benchmark instead of a generated one (each in the same rounds).
    stores: Vec<PathBuf>,
    /// The revision checked out.
    rev: String,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Args> {
        let mut args = Args {
            files: 20_000,
            big_mib: 0,
            rounds: 5,
            skip_wasm: false,
            only: None,
            inode_wait: None,
            sync: true,
            drop_caches: true,
            scaling: false,
            skew: None,
            stores: Vec::new(),
            rev: "main".into(),
        };
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                "--files" => args.files = parse_num(&value("--files")?, "--files")?,
                "--big-mib" => args.big_mib = parse_num(&value("--big-mib")?, "--big-mib")?,
                "--rounds" => args.rounds = parse_num(&value("--rounds")?, "--rounds")? as usize,
                "--inode-wait" => {
                    args.inode_wait = Some(parse_num(&value("--inode-wait")?, "--inode-wait")?)
                }
                "--skip-wasm" => args.skip_wasm = true,
                "--no-sync" => args.sync = false,
                "--keep-caches" => args.drop_caches = false,
                "--scaling" => args.scaling = true,
                "--skew" => {
                    let skew = value("--skew")?;
                    skew.parse::<f64>()
                        .map_err(|e| format!("--skew {skew:?}: {e}"))?;
                    args.skew = Some(skew);
                }
                "--store" => args.stores.push(PathBuf::from(value("--store")?)),
                "--rev" => args.rev = value("--rev")?,
                "--only" => {
                    let list = value("--only")?;
                    let names = list.split(',').map(str::trim).filter(|s| !s.is_empty());
                    args.only = Some(names.map(Contender::from_name).collect::<Result<_>>()?);
                }
                "-h" | "--help" => {
                    println!(
                        "cargo bench -p unfurl --bench compare -- [--files N] [--big-mib M] \
                         [--skew X] [--store PATH --rev REV] [--rounds R] [--skip-wasm] [--only NAME,...] [--inode-wait SECS] [--no-sync] [--keep-caches] [--scaling]\n\
                         contenders: {}",
                        Contender::ALL.map(Contender::name).join(", ")
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        if args.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if !args.stores.is_empty() && (args.skew.is_some() || args.big_mib > 0 || args.scaling) {
            return Err(
                "--store benchmarks an existing store: --skew, --big-mib and --scaling \
                        shape a generated one"
                    .into(),
            );
        }
        Ok(args)
    }

    /// The stores this run measures.
    fn shapes(&self) -> Vec<Shape> {
        if self.stores.is_empty() {
            let mut shape = Shape::generated(self.files, self.big_mib, self.skew.clone());
            if let Shape::Generated { rev, .. } = &mut shape {
                rev.clone_from(&self.rev);
            }
            return vec![shape];
        }
        self.stores
            .iter()
            .map(|path| Shape::Existing {
                path: path.clone(),
                rev: self.rev.clone(),
            })
            .collect()
    }

    /// The contenders of a normal (not `--scaling`) run, in table order.
    fn contenders(&self) -> Vec<Contender> {
        Contender::ALL
            .into_iter()
            .filter(|c| self.only.as_ref().is_none_or(|only| only.contains(c)))
            .filter(|c| !(self.skip_wasm && *c == Contender::UnfurlWasm))
            .collect()
    }
}

fn parse_num(s: &str, name: &str) -> Result<u64> {
    s.parse().map_err(|e| format!("{name} {s:?}: {e}"))
}

/// Where things are: this binary is `target/release/deps/compare-HASH`.
struct Paths {
    /// This binary, for the gitoxide contender: `/proc/self/exe`, which still works when a
    /// rebuild replaces the file during the run.
    self_exe: PathBuf,
    target: PathBuf,
    unfurl: PathBuf,
}

impl Paths {
    fn locate() -> Result<Paths> {
        let self_exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let profile_dir = self_exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("{} is not in target/PROFILE/deps", self_exe.display()))?;
        let target = profile_dir
            .parent()
            .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?
            .to_path_buf();
        let unfurl = profile_dir.join("unfurl");
        if !unfurl.is_file() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release -p unfurl` \
                 (cargo bench -p unfurl normally builds it too)",
                unfurl.display()
            ));
        }
        let self_exe = if Path::new("/proc/self/exe").exists() {
            PathBuf::from("/proc/self/exe")
        } else {
            self_exe
        };
        Ok(Paths {
            self_exe,
            target,
            unfurl,
        })
    }
}

/// Hold an exclusive lock (`target/bench-stores/lock`) for the whole run: two runs at once
/// would delete each other's outputs and skew each other's timings.
fn lock_bench(target: &Path) -> Result<fs::File> {
    let dir = target.join("bench-stores");
    mkdir(&dir)?;
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!(
                "lock: another compare run holds {}; waiting for it to finish",
                path.display()
            );
            file.lock()
                .map_err(|e| format!("lock {}: {e}", path.display()))?;
            Ok(file)
        }
        Err(fs::TryLockError::Error(e)) => Err(format!("lock {}: {e}", path.display())),
    }
}

/// Copy `binary` into `dir` and return the copy: every round then measures the same binary,
/// even if a concurrent `cargo build` replaces the original.
fn snapshot(binary: &Path, dir: &Path) -> Result<PathBuf> {
    mkdir(dir)?;
    let name = binary
        .file_name()
        .ok_or_else(|| format!("{} has no file name", binary.display()))?;
    let copy = dir.join(name);
    fs::copy(binary, &copy)
        .map_err(|e| format!("copy {} to {}: {e}", binary.display(), copy.display()))?;
    Ok(copy)
}

/// The machine line of the report.
struct Machine {
    cores: usize,
    kernel: String,
    cpu: String,
    mem: String,
    versions: String,
}

impl Machine {
    fn describe(paths: &Paths) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| "?".into())
        };
        let first_line = |program: &Path, arg: &str| {
            command_stdout(Command::new(program).arg(arg))
                .map(|s| s.lines().next().unwrap_or("").trim().to_string())
                .unwrap_or_else(|e| format!("? ({e})"))
        };
        Machine {
            cores: cores(),
            kernel: first_line(Path::new("uname"), "-r"),
            cpu: field(&cpuinfo, "model name"),
            mem: field(&meminfo, "MemTotal"),
            versions: {
                let built =
                    command_stdout(Command::new("date").arg("-u").arg("-r").arg(&paths.unfurl))
                        .map(|d| d.trim().to_string())
                        .unwrap_or_else(|e| format!("? ({e})"));
                format!(
                    "{} (target/release/unfurl of {built}); {}; {}; gix 0.90",
                    first_line(&paths.unfurl, "--version"),
                    first_line(Path::new("git"), "--version"),
                    first_line(Path::new("tar"), "--version"),
                )
            },
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

// ---------------------------------------------------------------------------------------------
// Step 1: the store, generated once and cached

/// What store to measure: one make-store generates (cached by its arguments), or an
/// existing one.
#[derive(Clone)]
enum Shape {
    Generated {
        files: u64,
        big_mib: u64,
        skew: Option<String>,
        rev: String,
    },
    Existing {
        path: PathBuf,
        rev: String,
    },
}

impl Shape {
    fn generated(files: u64, big_mib: u64, skew: Option<String>) -> Shape {
        Shape::Generated {
            files,
            big_mib,
            skew,
            rev: "main".into(),
        }
    }
}

struct Store {
    /// A short name for tables and directories.
    label: String,
    /// What the report says the store is.
    description: String,
    repo: PathBuf,
    /// The revision every contender checks out.
    rev: String,
    /// `git archive --format=tar REV`, made once: the input of `tar-floor`.
    tar: PathBuf,
}

impl Store {
    fn ensure(paths: &Paths, shape: &Shape) -> Result<Store> {
        let (label, description, repo_in, rev) = match shape {
            Shape::Generated {
                files,
                big_mib,
                skew,
                rev,
            } => {
                let mut label = format!("files-{files}-big-{big_mib}");
                let mut args = format!("--files {files} --big-mib {big_mib}");
                if let Some(skew) = skew {
                    label.push_str(&format!("-skew-{skew}"));
                    args.push_str(&format!(" --skew {skew}"));
                }
                (
                    label,
                    format!("make-store {args} (default --commits/--seed)"),
                    None,
                    rev,
                )
            }
            Shape::Existing { path, rev } => {
                let path = fs::canonicalize(path)
                    .map_err(|e| format!("--store {}: {e}", path.display()))?;
                let name = path
                    .components()
                    .rev()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    // `…/NAME/repo`, `…/NAME/.git`, `…/NAME/store.git`: name it NAME.
                    .find(|c| !matches!(c.as_str(), "repo" | ".git" | "store.git" | "store"))
                    .unwrap_or_else(|| "store".into());
                let digest = fnv1a(format!("{}\0{rev}", path.display()).as_bytes());
                let label = format!("{name}-{digest:08x}");
                (label, "existing store".to_string(), Some(path), rev)
            }
        };
        let dir = paths.target.join("bench-stores").join(&label);
        let repo = repo_in.clone().unwrap_or_else(|| dir.join("store.git"));
        let store = Store {
            label,
            description,
            repo,
            rev: rev.clone(),
            tar: dir.join("rev.tar"),
        };
        let complete = dir.join("complete");
        if complete.exists() {
            eprintln!("store: reusing {}", dir.display());
            return Ok(store);
        }
        remove_tree(&dir)?;
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let started = Instant::now();
        if let Shape::Generated {
            files,
            big_mib,
            skew,
            ..
        } = shape
        {
            eprintln!(
                "store: generating {} ({}; once, then cached)",
                dir.display(),
                store.description
            );
            let mut make = Command::new("python3");
            make.arg(MAKE_STORE).arg(&store.repo).args([
                "--files",
                &files.to_string(),
                "--big-mib",
                &big_mib.to_string(),
            ]);
            if let Some(skew) = skew {
                make.args(["--skew", skew]);
            }
            let listing = command_stdout(&mut make)?;
            write_file(&dir.join("make-store.out"), listing.as_bytes())?;
        }
        let tar = fs::File::create(&store.tar)
            .map_err(|e| format!("create {}: {e}", store.tar.display()))?;
        let status = Command::new("git")
            .arg("-C")
            .arg(&store.repo)
            .args(["archive", "--format=tar", &store.rev])
            .stdout(tar)
            .status()
            .map_err(|e| format!("git archive: {e}"))?;
        if !status.success() {
            return Err(format!(
                "git archive --format=tar {} failed: {status}",
                store.rev
            ));
        }
        write_file(&complete, b"")?;
        // make-store's git commands deleted files too (loose objects, lock files).
        Deletions::record(&paths.target)?;
        eprintln!("store: ready in {:.1} s", started.elapsed().as_secs_f64());
        Ok(store)
    }

    fn label(&self) -> String {
        self.label.clone()
    }
}

/// A job's label: the contender's name, and the store's when a run measures several.
fn job_label(contender: Contender, store: &Store, several: bool) -> String {
    match several {
        true => format!("{} @ {}", contender.name(), store.label),
        false => contender.name().to_owned(),
    }
}

/// FNV-1a, 32 bits: a short, stable name for an existing store's cache directory.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Untimed, before every run: drop the page cache (which also frees the pages the last run
/// dirtied and synced), then read the store, its tar and the binaries back in, so every run
/// starts warm and equal.
///
/// Why: on this VM, each run that grows the page cache touches guest memory the hypervisor
/// has to fault in, and kernel time (page zeroing in file creation) grows from run to run
/// for every contender, tar included: measured, `tar -x` of the 20k store went from 0.34 s
/// to over 1 s across a few runs, and back to 0.34 s after dropping caches.
fn reset_page_cache(paths: &Paths, store: &Store) -> Result<()> {
    fs::write("/proc/sys/vm/drop_caches", "3").map_err(|e| {
        format!("cannot drop the page cache (run as root, or pass --keep-caches): {e}")
    })?;
    read_tree(&store.repo)?;
    read_file_fully(&store.tar)?;
    read_file_fully(&paths.unfurl)?;
    read_file_fully(&paths.self_exe)?;
    // The sandbox's compiled guest, as a warm start finds it.
    if let Some(home) = std::env::var_os("HOME") {
        let cache = PathBuf::from(home).join(".cache/unfurl");
        if cache.is_dir() {
            read_tree(&cache)?;
        }
    }
    Ok(())
}

/// Read every file of the store and the prepared tar once, so the first run is not cold.
fn warm_page_cache(store: &Store) -> Result<()> {
    let started = Instant::now();
    let mut bytes = read_tree(&store.repo)?;
    bytes += read_file_fully(&store.tar)?;
    eprintln!(
        "warm: read {:.1} MiB of {} in {:.1} s",
        bytes as f64 / MIB,
        store.label(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_tree(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("read {}: {e}", dir.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("stat {}: {e}", entry.path().display()))?;
        if kind.is_dir() {
            total += read_tree(&entry.path())?;
        } else if kind.is_file() {
            total += read_file_fully(&entry.path())?;
        }
    }
    Ok(total)
}

fn read_file_fully(path: &Path) -> Result<u64> {
    let mut file = fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read {}: {e}", path.display())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Step 2: the contenders and the interleaved rounds

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    UnfurlNative,
    UnfurlWasm,
    Gitoxide,
    GitCloneNoHardlinks,
    GitArchiveTar,
    TarFloor,
}

impl Contender {
    const ALL: [Contender; 6] = [
        Contender::UnfurlNative,
        Contender::UnfurlWasm,
        Contender::Gitoxide,
        Contender::GitCloneNoHardlinks,
        Contender::GitArchiveTar,
        Contender::TarFloor,
    ];

    fn name(self) -> &'static str {
        match self {
            Contender::UnfurlNative => "unfurl-native",
            Contender::UnfurlWasm => "unfurl-wasm",
            Contender::Gitoxide => "gitoxide",
            Contender::GitCloneNoHardlinks => "git-clone-no-hardlinks",
            Contender::GitArchiveTar => "git-archive-tar",
            Contender::TarFloor => "tar-floor",
        }
    }

    fn from_name(name: &str) -> Result<Contender> {
        Contender::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown contender {name:?}; known: {}",
                    Contender::ALL.map(Contender::name).join(", ")
                )
            })
    }

    /// The command checking out `store` into `dest`.
    fn command(self, paths: &Paths, store: &Store, dest: &Path) -> Command {
        let mut cmd;
        match self {
            Contender::UnfurlNative | Contender::UnfurlWasm => {
                cmd = Command::new(&paths.unfurl);
                // The tree only, like every other contender (none writes a repository).
                cmd.args(["checkout", "--quiet", "--git", "none"]);
                if self == Contender::UnfurlWasm {
                    cmd.args(["--runtime", "wasm"]);
                }
                cmd.arg(&store.repo).arg(&store.rev).arg(dest);
            }
            Contender::Gitoxide => {
                cmd = Command::new(&paths.self_exe);
                cmd.arg(GIX_CHECKOUT)
                    .arg(&store.repo)
                    .arg(&store.rev)
                    .arg(dest);
            }
            Contender::GitCloneNoHardlinks => {
                // The revision the others check out, detached.
                cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(
                        r#"git clone --local --no-hardlinks -q --no-checkout "$1" "$2" && git -C "$2" checkout -q --detach "$3""#,
                    )
                    .arg("sh")
                    .arg(&store.repo)
                    .arg(dest)
                    .arg(&store.rev);
            }
            Contender::GitArchiveTar => {
                cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(r#"git -C "$1" archive "$3" | tar -x -C "$2""#)
                    .arg("sh")
                    .arg(&store.repo)
                    .arg(dest)
                    .arg(&store.rev);
            }
            Contender::TarFloor => {
                cmd = Command::new("tar");
                cmd.arg("-x").arg("-f").arg(&store.tar).arg("-C").arg(dest);
            }
        }
        cmd
    }

    /// tar needs its destination to exist; it is created outside the timed region.
    fn needs_existing_dest(self) -> bool {
        matches!(self, Contender::GitArchiveTar | Contender::TarFloor)
    }

    /// git clone also writes the repository, `DEST/.git`, which is not part of the tree.
    fn writes_dot_git(self) -> bool {
        self == Contender::GitCloneNoHardlinks
    }
}

/// One row of the table: a contender on a store, and its samples.
struct Job {
    label: String,
    contender: Contender,
    store: Rc<Store>,
    samples: Vec<Sample>,
    /// Set when the untimed check run's output differs from `git archive`'s.
    mismatch: Option<String>,
    failure: Option<String>,
}

impl Job {
    fn new(contender: Contender, store: &Rc<Store>, label: &str) -> Job {
        Job {
            label: label.to_string(),
            contender,
            store: Rc::clone(store),
            samples: Vec::new(),
            mismatch: None,
            failure: None,
        }
    }

    /// A directory name for this job's outputs.
    fn slug(&self) -> String {
        format!("{}-{}", self.contender.name(), self.store.label())
    }
}

/// Run every job once, untimed, into `out/check/`, and compare its output with `git archive`'s
/// (extracted there too). This also warms the page cache. Jobs that fail
/// are dropped (unfurl-wasm with a note when the binary cannot run it), or kept but flagged
/// when their output differs.
fn check_runs(paths: &Paths, jobs: Vec<Job>, out: &Path) -> Result<(Vec<Job>, Vec<String>)> {
    let check_dir = out.join("check");
    let mut notes = Vec::new();
    let mut kept = Vec::new();
    let mut references: Vec<(String, TreeStats)> = Vec::new();
    for mut job in jobs {
        let key = job.store.label();
        let reference = match references.iter().find(|(k, _)| *k == key) {
            Some((_, stats)) => *stats,
            None => {
                let dest = check_dir.join(format!("reference-{}", job.store.label()));
                mkdir(&dest)?;
                command_stdout(
                    Command::new("tar")
                        .arg("-x")
                        .arg("-f")
                        .arg(&job.store.tar)
                        .arg("-C")
                        .arg(&dest),
                )?;
                let stats = TreeStats::of(&dest, false)?;
                eprintln!("check: git archive of {}: {stats}", job.store.label());
                references.push((key, stats));
                stats
            }
        };
        let dest = check_dir.join(job.slug());
        if job.contender.needs_existing_dest() {
            mkdir(&dest)?;
        }
        let log = check_dir.join(format!("{}.stderr", job.slug()));
        let cmd = job.contender.command(paths, &job.store, &dest);
        match measure(cmd, &log) {
            Err(err) => {
                let note = format!(
                    "{}: skipped, its untimed check run failed: {err}",
                    job.label
                );
                eprintln!("check: {note}");
                notes.push(note);
                continue;
            }
            Ok(sample) => {
                let stats = TreeStats::of(&dest, job.contender.writes_dot_git())?;
                if stats == reference {
                    eprintln!(
                        "check: {} ok ({:.3} s untimed): {stats}",
                        job.label,
                        sample.wall.as_secs_f64()
                    );
                } else {
                    let note = format!("output differs from git archive: {stats} vs {reference}");
                    eprintln!("check: {}: {note}", job.label);
                    job.mismatch = Some(note);
                }
            }
        }
        kept.push(job);
    }
    // The outputs stay until the end: deleting them now would slow the timed runs.
    Ok((kept, notes))
}

/// `rounds` rounds; each runs every job once, in an order shuffled anew each round.
fn run_rounds(
    paths: &Paths,
    jobs: &mut [Job],
    out: &Path,
    args: &Args,
    keep_outputs: bool,
    deletions: &Deletions,
) -> Result<()> {
    let rounds = args.rounds;
    let logs = out.join("logs");
    mkdir(&logs)?;
    for round in 0..rounds {
        let round_dir = out.join(format!("round-{round}"));
        for i in round_order(jobs.len(), round) {
            let job = &mut jobs[i];
            if job.failure.is_some() {
                continue;
            }
            let dest = round_dir.join(job.slug());
            if job.contender.needs_existing_dest() {
                mkdir(&dest)?;
            } else {
                mkdir(&round_dir)?;
            }
            let log = logs.join(format!("{}-round-{round}.stderr", job.slug()));
            let cmd = job.contender.command(paths, &job.store, &dest);
            if args.sync {
                // SAFETY: sync(2) takes no arguments and cannot fail.
                unsafe { libc::sync() };
            }
            if args.drop_caches {
                reset_page_cache(paths, &job.store)?;
            }
            match measure(cmd, &log) {
                Ok(sample) => {
                    eprintln!(
                        "round {}/{rounds}: {:<28} {:>7.3} s wall {:>7.3} s user {:>7.3} s sys \
                         {:>7.1} MiB",
                        round + 1,
                        job.label,
                        sample.wall.as_secs_f64(),
                        sample.user.as_secs_f64(),
                        sample.sys.as_secs_f64(),
                        sample.maxrss_kib as f64 / 1024.0
                    );
                    job.samples.push(sample);
                }
                Err(err) => {
                    eprintln!("round {}/{rounds}: {} FAILED: {err}", round + 1, job.label);
                    job.failure = Some(format!("round {} failed: {err}", round + 1));
                }
            }
        }
        if !keep_outputs && round + 1 < rounds {
            // Outside the timed region, and long enough before the next run.
            deletions.remove(&round_dir)?;
            deletions.wait_until_aged()?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keeping deletions away from the timed runs

/// When the bench last deleted files, kept across runs in `target/bench-stores/deleted-at`
/// (unix seconds), and how long to keep timed runs away from that.
struct Deletions {
    target: PathBuf,
    wait: Duration,
    why: String,
}

impl Deletions {
    fn new(paths: &Paths, args: &Args) -> Deletions {
        let (no_journal, fs) = ext4_without_journal(&paths.target);
        let (secs, why) = match args.inode_wait {
            Some(secs) => (secs, format!("{fs}; --inode-wait {secs}")),
            None if no_journal => (361, fs),
            None => (0, fs),
        };
        Deletions {
            target: paths.target.clone(),
            wait: Duration::from_secs(secs),
            why,
        }
    }

    fn stamp_path(target: &Path) -> PathBuf {
        target.join("bench-stores").join("deleted-at")
    }

    /// Note that files were just deleted.
    fn record(target: &Path) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("clock before 1970: {e}"))?;
        let stamp = Deletions::stamp_path(target);
        mkdir(&target.join("bench-stores"))?;
        write_file(&stamp, now.as_secs().to_string().as_bytes())
    }

    /// Delete a tree and note when.
    fn remove(&self, dir: &Path) -> Result<()> {
        remove_tree(dir)?;
        Deletions::record(&self.target)
    }

    /// Sync, then sleep until `wait` has passed since the last recorded deletion.
    fn wait_until_aged(&self) -> Result<()> {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let stamp = Deletions::stamp_path(&self.target);
        let Ok(text) = fs::read_to_string(&stamp) else {
            return Ok(());
        };
        let deleted_at: u64 = text
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", stamp.display()))?;
        let ready_at = std::time::UNIX_EPOCH + Duration::from_secs(deleted_at) + self.wait;
        if let Ok(left) = ready_at.duration_since(std::time::SystemTime::now()) {
            eprintln!(
                "wait: {} s, until the bench's last deletion is {} s old ({})",
                left.as_secs() + 1,
                self.wait.as_secs(),
                self.why
            );
            std::thread::sleep(left + Duration::from_secs(1));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "no timed run within {} s of the bench's own deletions ({})",
            self.wait.as_secs(),
            self.why
        )
    }
}

/// Whether `dir` is on ext4 mounted without a journal (no `data=` mode in
/// `/proc/fs/ext4/DEV/options`), and what the filesystem is, for the report.
fn ext4_without_journal(dir: &Path) -> (bool, String) {
    let Ok(dir) = dir.canonicalize() else {
        return (false, format!("{} not found", dir.display()));
    };
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    let mount = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = right.next()?.to_string();
            dir.starts_with(mount_point)
                .then_some((mount_point.len(), fstype, source))
        })
        .max_by_key(|(len, _, _)| *len);
    let Some((_, fstype, source)) = mount else {
        return (false, "filesystem unknown".into());
    };
    if fstype != "ext4" {
        return (false, format!("{fstype} on {source}"));
    }
    let dev = source.rsplit('/').next().unwrap_or(&source);
    match fs::read_to_string(format!("/proc/fs/ext4/{dev}/options")) {
        Ok(options) if !options.lines().any(|l| l.starts_with("data=")) => {
            (true, format!("ext4 without a journal on {source}"))
        }
        Ok(_) => (false, format!("ext4 with a journal on {source}")),
        Err(e) => (false, format!("ext4 on {source} (options: {e})")),
    }
}

/// The order in which round `round` runs `n` jobs: the first round in the order given, the
/// others shuffled (Fisher-Yates with a fixed xorshift seed per round, so runs repeat).
///
/// Rotating one order would give every job the same neighbour in every round; when a run
/// pays for its predecessor's after-effects (a tar-floor run's writes, a 20 000-file run's
/// inode tables), rotation charges it to the same job each round. Shuffling spreads it.
fn round_order(n: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if round == 0 {
        return order;
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (round as u64).wrapping_mul(0xA076_1D64_78BD_642F);
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// Whether the disk has room to keep every round's outputs: as many bytes and inodes per round
/// as the check runs took, with a quarter to spare.
fn room_for_all_rounds(out: &Path, rounds: usize) -> Result<bool> {
    let (bytes, inodes) = disk_usage(&out.join("check"))?;
    let c_path = std::ffi::CString::new(out.as_os_str().as_encoded_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    // SAFETY: statvfs is plain old data, for which all zeroes is a valid value.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a pointer to a live local.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut vfs) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!("statvfs {}: {err}", out.display()));
    }
    let free_bytes = vfs.f_bavail * vfs.f_frsize;
    let free_inodes = vfs.f_favail;
    let rounds = rounds as u64;
    let fits = bytes * rounds * 5 / 4 < free_bytes && inodes * rounds * 5 / 4 < free_inodes;
    eprintln!(
        "space: a round takes {:.2} GiB and {inodes} inodes; {:.1} GiB and {free_inodes} inodes \
         are free: {}",
        bytes as f64 / MIB / 1024.0,
        free_bytes as f64 / MIB / 1024.0,
        if fits {
            "keeping every round's outputs until the end"
        } else {
            "deleting them after each round"
        }
    );
    Ok(fits)
}

/// Bytes allocated and inodes used under `dir`.
fn disk_usage(dir: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let (mut bytes, mut inodes) = (0, 0);
    for entry in fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("read {}: {e}", dir.display()))?;
        let path = entry.path();
        let meta =
            fs::symlink_metadata(&path).map_err(|e| format!("stat {}: {e}", path.display()))?;
        bytes += meta.blocks() * 512;
        inodes += 1;
        if meta.is_dir() {
            let (b, i) = disk_usage(&path)?;
            bytes += b;
            inodes += i;
        }
    }
    Ok((bytes, inodes))
}

// ---------------------------------------------------------------------------------------------
// Step 3: measuring one run

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    /// CPU time of the child and the descendants it waited for.
    user: Duration,
    sys: Duration,
    maxrss_kib: u64,
}

/// Spawn `cmd`, wait for it with `wait4`, and return its wall time and peak RSS. stderr goes
/// to `log`, which is quoted when the command fails.
fn measure(mut cmd: Command, log: &Path) -> Result<Sample> {
    let log_file = fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| format!("pid: {e}"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; pid is our own unreaped child.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4 {cmd:?}: {err}"));
        }
    }
    let wall = started.elapsed();
    // Already reaped by wait4; dropping a std Child neither waits nor kills.
    drop(child);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(status))
        };
        let stderr = fs::read_to_string(log).unwrap_or_default();
        let stderr = stderr.trim();
        return Err(format!(
            "{cmd:?}: {how}: {}",
            stderr.lines().next().unwrap_or("")
        ));
    }
    let cpu = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(Sample {
        wall,
        user: cpu(usage.ru_utime),
        sys: cpu(usage.ru_stime),
        maxrss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// What a checkout produced, for comparison with `git archive`'s output.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct TreeStats {
    files: u64,
    executables: u64,
    symlinks: u64,
    dirs: u64,
    bytes: u64,
}

impl TreeStats {
    fn of(root: &Path, skip_dot_git: bool) -> Result<TreeStats> {
        let mut stats = TreeStats::default();
        stats.add(root, skip_dot_git)?;
        Ok(stats)
    }

    fn add(&mut self, dir: &Path, skip_dot_git: bool) -> Result<()> {
        for entry in fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| format!("read {}: {e}", dir.display()))?;
            if skip_dot_git && entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("stat {}: {e}", path.display()))?;
            if meta.is_dir() {
                self.dirs += 1;
                self.add(&path, false)?;
            } else if meta.file_type().is_symlink() {
                self.symlinks += 1;
            } else {
                self.files += 1;
                self.bytes += meta.len();
                if meta.permissions().mode() & 0o111 != 0 {
                    self.executables += 1;
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for TreeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files ({} executable, {:.1} MiB), {} symlinks, {} dirs",
            self.files,
            self.executables,
            self.bytes as f64 / MIB,
            self.symlinks,
            self.dirs
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The gitoxide contender, in a child process

/// `compare __gix-checkout STORE REV DEST`: gitoxide's parallel checkout of REV's tree, with
/// the options `gix clone` uses (the repository's checkout options, an initially empty
/// destination) and one thread per core.
fn gix_checkout_child(args: &[String]) -> Result<()> {
    let [store, rev, dest] = args else {
        return Err(format!(
            "usage: {GIX_CHECKOUT} STORE REV DEST, got {args:?}"
        ));
    };
    let repo = gix::open(store).map_err(|e| format!("open {store}: {e:?}"))?;
    let tree_id = repo
        .find_reference(rev.as_str())
        .map_err(|e| format!("find {rev}: {e:?}"))?
        .peel_to_tree()
        .map_err(|e| format!("peel {rev} to a tree: {e:?}"))?
        .id;
    let mut index = repo
        .index_from_tree(&tree_id)
        .map_err(|e| format!("index from tree {tree_id}: {e:?}"))?;
    let mut options = repo
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(|e| format!("checkout options: {e:?}"))?;
    options.thread_limit = Some(cores());
    options.destination_is_initially_empty = true;
    fs::create_dir_all(dest).map_err(|e| format!("create {dest}: {e}"))?;
    let objects = repo
        .objects
        .clone()
        .into_arc()
        .map_err(|e| format!("thread-safe object database: {e}"))?;
    let outcome = gix::worktree::state::checkout(
        &mut index,
        dest,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &AtomicBool::new(false),
        options,
    )
    .map_err(|e| format!("checkout: {e:?}"))?;
    if !outcome.errors.is_empty() || !outcome.collisions.is_empty() {
        return Err(format!(
            "{} errors, {} collisions; first error: {:?}",
            outcome.errors.len(),
            outcome.collisions.len(),
            outcome
                .errors
                .first()
                .map(|e| (&e.path, e.error.to_string()))
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Step 4: the report

const MIB: f64 = 1024.0 * 1024.0;

struct Summary {
    median: f64,
    min: f64,
    max: f64,
    peak_rss_mib: f64,
    median_user: f64,
    median_sys: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// unfurl-native's wall time over `job`'s in each round, on `job`'s store: the median,
/// smallest and largest. `None` for unfurl-native itself, or when either lacks a round.
fn paired_ratios(jobs: &[Job], job: &Job) -> Option<(f64, f64, f64)> {
    if job.contender == Contender::UnfurlNative || job.failure.is_some() {
        return None;
    }
    let native = jobs.iter().find(|j| {
        j.contender == Contender::UnfurlNative
            && Rc::ptr_eq(&j.store, &job.store)
            && j.failure.is_none()
    })?;
    if native.samples.len() != job.samples.len() || job.samples.is_empty() {
        return None;
    }
    let ratios: Vec<f64> = native
        .samples
        .iter()
        .zip(&job.samples)
        .map(|(n, o)| n.wall.as_secs_f64() / o.wall.as_secs_f64())
        .collect();
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(0.0, f64::max);
    Some((median(ratios), min, max))
}

fn summarize(job: &Job) -> Option<Summary> {
    if job.samples.is_empty() || job.failure.is_some() {
        return None;
    }
    let secs = |f: fn(&Sample) -> Duration| {
        job.samples
            .iter()
            .map(|s| f(s).as_secs_f64())
            .collect::<Vec<_>>()
    };
    let walls = secs(|s| s.wall);
    let peak = job.samples.iter().map(|s| s.maxrss_kib).max().unwrap_or(0);
    Some(Summary {
        median: median(walls.clone()),
        min: walls.iter().copied().fold(f64::INFINITY, f64::min),
        max: walls.iter().copied().fold(0.0, f64::max),
        peak_rss_mib: peak as f64 / 1024.0,
        median_user: median(secs(|s| s.user)),
        median_sys: median(secs(|s| s.sys)),
    })
}

/// What the report says about the run besides its numbers.
struct Context<'a> {
    args: &'a Args,
    machine: &'a Machine,
    load: &'a str,
    protocol: &'a str,
    raw_args: &'a [String],
}

fn print_report(context: &Context<'_>, stores: &[Rc<Store>], jobs: &[Job], notes: &[String]) {
    let Context {
        args,
        machine,
        load,
        protocol,
        raw_args,
    } = *context;
    let mut r = String::new();
    let find = |label: &str| {
        jobs.iter()
            .find(|j| j.label == label)
            .and_then(|j| summarize(j).map(|s| (j, s)))
    };
    // Each job's ratio is to unfurl-native on the same store.
    let baseline = |job: &Job| {
        jobs.iter()
            .find(|j| j.contender == Contender::UnfurlNative && Rc::ptr_eq(&j.store, &job.store))
            .and_then(summarize)
            .map(|s| s.median)
    };
    let shown_args: Vec<&str> = raw_args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    let _ = writeln!(r, "\n## unfurl checkout benchmark\n");
    let _ = writeln!(
        r,
        "- machine: nproc {}, kernel {}, {}, RAM {}",
        machine.cores, machine.kernel, machine.cpu, machine.mem
    );
    let _ = writeln!(r, "- tools: {}", machine.versions);
    let _ = writeln!(r, "- load average (1/5/15 min): {load}");
    for store in stores {
        let _ = writeln!(
            r,
            "- store: {}, rev `{}`, {}",
            store.description,
            store.rev,
            store.repo.display()
        );
    }
    let _ = writeln!(
        r,
        "- rounds: {} (interleaved, order shuffled each round, each run into a new \
         directory, after one untimed check run each); {protocol}",
        args.rounds,
    );
    let _ = writeln!(
        r,
        "- command: `cargo bench -p unfurl --bench compare -- {}`\n",
        shown_args.join(" ")
    );
    let _ = writeln!(
        r,
        "| contender | median wall (s) | min | max | ratio vs unfurl-native | peak RSS (MiB, max over rounds) |"
    );
    let _ = writeln!(r, "|---|---:|---:|---:|---:|---:|");
    for job in jobs {
        let flag = if job.mismatch.is_some() { " ⚠" } else { "" };
        match summarize(job) {
            Some(s) => {
                let ratio = baseline(job).map_or("–".into(), |b| format!("{:.2}×", s.median / b));
                let rss_note = if job.contender == Contender::GitArchiveTar {
                    " ¹"
                } else {
                    ""
                };
                let _ = writeln!(
                    r,
                    "| {}{flag} | {:.3} | {:.3} | {:.3} | {ratio} | {:.1}{rss_note} |",
                    job.label, s.median, s.min, s.max, s.peak_rss_mib
                );
            }
            None => {
                let why = job.failure.as_deref().unwrap_or("no samples");
                let _ = writeln!(r, "| {} | failed: {why} | | | | |", job.label);
            }
        }
    }
    let _ = writeln!(r);
    let cpu: Vec<String> = jobs
        .iter()
        .filter_map(|job| {
            let s = summarize(job)?;
            Some(format!(
                "{} {:.2}/{:.2}",
                job.label, s.median_user, s.median_sys
            ))
        })
        .collect();
    let _ = writeln!(r, "- median CPU s (user/sys): {}", cpu.join(", "));
    let paired: Vec<String> = jobs
        .iter()
        .filter_map(|job| {
            let (median, min, max) = paired_ratios(jobs, job)?;
            Some(format!("{} {median:.2}× ({min:.2}–{max:.2})", job.label))
        })
        .collect();
    if !paired.is_empty() {
        let _ = writeln!(
            r,
            "- unfurl-native over each contender round by round (two runs of one round share \
             the disk's state, which drifts over the run as outputs are kept; median, \
             range): {}",
            paired.join(", ")
        );
    }
    for job in jobs {
        if let Some(m) = &job.mismatch {
            let _ = writeln!(r, "- ⚠ {}: {m}", job.label);
        }
    }
    for note in notes {
        let _ = writeln!(r, "- note: {note}");
    }
    if jobs.iter().any(|j| j.contender == Contender::GitArchiveTar) {
        let _ = writeln!(
            r,
            "- ¹ peak RSS is wait4's ru_maxrss, the largest of the child and the descendants it \
             waited for: for git-archive-tar, of sh, git and tar (not their sum)"
        );
    }

    let _ = writeln!(r, "\n### targets (from medians)\n");
    let mut check = |name: String,
                     lhs: Option<(String, f64)>,
                     rhs: Option<(String, f64)>,
                     limit: f64,
                     unit: &str| {
        match (lhs, rhs) {
            (Some((l, lv)), Some((rname, rv))) => {
                let ratio = lv / rv;
                let verdict = if ratio <= limit { "PASS" } else { "FAIL" };
                let _ = writeln!(
                    r,
                    "- {verdict} {name}: {l} {lv:.3} {unit} / {rname} {rv:.3} {unit} = {ratio:.2}× (limit {limit}×)"
                );
            }
            _ => {
                let _ = writeln!(r, "- SKIP {name}: not measured in this run");
            }
        }
    };
    let median_of = |label: &str| find(label).map(|(j, s)| (j.label.clone(), s.median));
    if args.scaling {
        check(
            "scaling: 200000 files ≤ 11× the time of 20000 files".into(),
            median_of("unfurl-native, 200000 files"),
            median_of("unfurl-native, 20000 files"),
            11.0,
            "s",
        );
    } else {
        for store in stores {
            let at = if stores.len() > 1 {
                format!(" @ {}", store.label)
            } else {
                String::new()
            };
            let median_of = |name: &str| median_of(&format!("{name}{at}"));
            let native = median_of("unfurl-native");
            check(
                format!("unfurl-native ≤ 0.9× gitoxide{at}"),
                native.clone(),
                median_of("gitoxide"),
                0.9,
                "s",
            );
            check(
                format!("unfurl-native ≤ 0.35× git-clone-no-hardlinks{at}"),
                native.clone(),
                median_of("git-clone-no-hardlinks"),
                0.35,
                "s",
            );
            check(
                format!("unfurl-native ≤ 1.0× tar-floor{at}"),
                native.clone(),
                median_of("tar-floor"),
                1.0,
                "s",
            );
            check(
                format!("unfurl-wasm ≤ 2× unfurl-native{at}"),
                median_of("unfurl-wasm"),
                native,
                2.0,
                "s",
            );
        }
        if args.big_mib > 0 {
            for label in ["unfurl-native", "unfurl-wasm"] {
                match find(label) {
                    Some((_, s)) => {
                        let verdict = if s.peak_rss_mib <= 64.0 {
                            "PASS"
                        } else {
                            "FAIL"
                        };
                        let _ = writeln!(
                            r,
                            "- {verdict} {label} peak RSS ≤ 64 MiB with a {} MiB file: {:.1} MiB",
                            args.big_mib, s.peak_rss_mib
                        );
                    }
                    None => {
                        let _ = writeln!(
                            r,
                            "- SKIP {label} peak RSS ≤ 64 MiB: not measured in this run"
                        );
                    }
                }
            }
        }
    }
    println!("{r}");
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// Run `cmd` to completion and return its stdout; fail with its stderr.
fn command_stdout(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {cmd:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews the timings.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("? ({e})"))
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    fs::write(path, data).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Remove a directory tree if it exists.
fn remove_tree(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", dir.display())),
    }
}
