//! `unfurl`: check out one commit of a local git store, never with hardlinks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod cli;
mod git_config;

use cli::commands::{lfs_objects, print_json, submodules, verify};
use cli::parse::{parse_cache_size, parse_duration, parse_size, parse_url_dir};
use cli::progress::{Bar, human_bytes, printable};
use cli::signals::Signals;

/// Portable git checkout: materialize one commit of a local store, natively or confined under WASI.
#[derive(Debug, Parser)]
#[command(name = "unfurl", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check out REV of STORE into DEST (which must not exist, or be empty).
    Checkout(CheckoutArgs),
    /// Compare the checkout DEST with REV of STORE: exit 0 if identical, 1 if not (the differences are listed), 2 if it cannot be compared.
    Verify(VerifyArgs),
    /// List the submodules of REV of STORE: what `checkout --recurse-submodules` needs (status, commit, path, name, URL).
    Submodules(SubmodulesArgs),
    /// List the Git LFS objects a checkout of REV needs, one `oid size path` line each, so that an installer can fetch exactly those.
    LfsObjects(LfsObjectsArgs),
}

/// Where submodule stores are (shared by `checkout` and `submodules`).
#[derive(Debug, clap::Args)]
struct SubmoduleStoreArgs {
    /// The store for the submodule whose resolved URL is URL (repeatable).
    #[arg(long = "submodule-store", value_name = "URL=DIR", value_parser = parse_url_dir)]
    submodule_store: Vec<(String, PathBuf)>,
    /// A directory of submodule stores, each named by the SHA-1 (hex) of its resolved URL (`unfurl submodules --json` prints it as `store_key`).
    #[arg(long = "submodule-stores", value_name = "DIR")]
    submodule_stores: Option<PathBuf>,
    /// The URL STORE was fetched from: relative submodule URLs resolve against it when STORE has no remote.origin.url.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

impl SubmoduleStoreArgs {
    /// Exit with a usage error if any is given without `--recurse-submodules`.
    fn require_recurse(&self, recurse_submodules: bool) {
        if !recurse_submodules
            && (!self.submodule_store.is_empty()
                || self.submodule_stores.is_some()
                || self.url.is_some())
        {
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--submodule-store, --submodule-stores and --url apply only with --recurse-submodules",
                )
                .exit();
        }
    }

    fn stores(&self) -> unfurl::SubmoduleStores {
        unfurl::SubmoduleStores {
            by_url: self.submodule_store.clone(),
            dir: self.submodule_stores.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
struct SubmodulesArgs {
    /// The superproject's store.
    store: PathBuf,
    /// The revision (a commit).
    rev: String,
    /// Also list the submodules of each submodule whose store holds its commit, to any depth.
    #[arg(long)]
    recursive: bool,
    /// Print one JSON array: `path`, `name`, `url`, `commit`, `store_key`, `store`, `status` (ok, skipped, missing-store, missing-commit).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stores: SubmoduleStoreArgs,
}

#[derive(Debug, clap::Args)]
struct LfsObjectsArgs {
    /// The store.
    store: PathBuf,
    /// The revision.
    rev: String,
    /// Print one JSON object on stdout: `objects` (`oid`, `size`, `path`).
    #[arg(long)]
    json: bool,
    /// List what an --archive checkout needs (export-ignore paths left out).
    #[arg(long)]
    archive: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The store the checkout came from.
    store: PathBuf,
    /// The revision the checkout should be.
    rev: String,
    /// The checkout.
    dest: PathBuf,
    /// Print one JSON object on stdout: `commit`, `tree`, `identical`, `differences` (`path`, `change`).
    #[arg(long)]
    json: bool,
    /// Also compare each submodule, recursively, with its commit from its store (see --submodule-store, --submodule-stores); without it, a submodule's contents are not compared.
    #[arg(long)]
    recurse_submodules: bool,
    /// Show progress even when stderr is not a terminal (a line a second).
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    stores: SubmoduleStoreArgs,
}

#[derive(Debug, clap::Args)]
struct CheckoutArgs {
    /// The store: a bare repository, a `.git` directory, or a work tree containing `.git`.
    store: PathBuf,
    /// The revision: a branch, tag, full or short commit id, `main~2`, `v1^{commit}`, `main:dir`, a tree id.
    rev: String,
    /// The checkout's directory: new (missing parents are created), empty, or an unfurl checkout with a .git, which is switched in place to REV, touching only the paths that differ.
    dest: PathBuf,
    /// Print one JSON object describing the checkout on stdout.
    #[arg(long)]
    json: bool,
    /// When DEST is a checkout being switched: overwrite its local changes instead of refusing and listing them.
    #[arg(long)]
    force: bool,
    /// Worker threads writing files (default: one per core).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Where the engine runs.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Native)]
    runtime: RuntimeArg,
    /// The checkout's .git: none (the tree only); alternates (objects stay in the store, which must stay); copy (a self-contained .git).
    #[arg(long, value_enum, default_value_t = GitArg::Alternates)]
    git: GitArg,
    /// Print nothing on stderr on success (errors are still printed).
    #[arg(long, short = 'q', conflicts_with = "progress")]
    quiet: bool,
    /// Show a progress bar even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Memory for decoded delta bases, shared by the workers (bytes, or with a K, M or G suffix).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_cache_size)]
    delta_cache: usize,
    /// With --runtime wasm: the most memory each sandboxed guest may use (bytes, or with a K, M or G suffix; default 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    wasm_max_memory: Option<usize>,
    /// When DEST's filesystem ignores case and two entries would be one file there (README and readme): fail naming both, or keep the later one as git does, with a warning.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = CaseCollisionsArg::Error)]
    case_collisions: CaseCollisionsArg,
    /// The most files a writer claims at once (wide directories are shared out in runs of this many); for measuring.
    #[arg(long, hide = true, value_name = "N", default_value_t = unfurl_engine::plan::GROUP_FILES)]
    group_files: usize,
    /// With --runtime wasm: stop the sandboxed engine after this long (e.g. 90s, 500ms, 5m; default: no limit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    wasm_timeout: Option<std::time::Duration>,
    /// Check out only this path of the tree (a directory or a file, relative to the tree), at its place, as `git archive REV PATH` does; repeatable. With a .git, the rest is marked skip-worktree (sparse checkout).
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<std::ffi::OsString>,
    /// Check out each submodule at the commit its parent records, recursively, from its store (see --submodule-store, --submodule-stores); with a .git, each gets its own.
    #[arg(long)]
    recurse_submodules: bool,
    #[command(flatten)]
    stores: SubmoduleStoreArgs,
    /// A git setting to apply, as git's -c does: only core.autocrlf=true|input|false and core.eol=lf|crlf|native (by default no git configuration is read).
    #[arg(short = 'c', value_name = "KEY=VALUE", value_parser = git_config::parse)]
    config: Vec<git_config::Setting>,
    /// Write the tree exactly as `git archive REV | tar -x` would: leave out export-ignore paths, expand export-subst files; implies --git none.
    #[arg(long, conflicts_with = "git")]
    archive: bool,
    /// Git LFS files: smudge (write the objects their pointers name, from the store's lfs/objects or --lfs-objects, checked) or pointers (write the pointers as stored, as GIT_LFS_SKIP_SMUDGE=1 does).
    /// (Default: smudge; a checkout switched in place keeps what it was made with.)
    #[arg(long, value_enum, value_name = "WHAT")]
    lfs: Option<LfsArg>,
    /// Where the Git LFS objects are (laid out as .git/lfs/objects: aa/bb/OID); default: the store's lfs/objects. Under --runtime wasm it is preopened read-only.
    #[arg(long, value_name = "DIR")]
    lfs_objects: Option<PathBuf>,
    /// Hash every object read (commit, trees, blobs) and fail if one's content is not its id: catches a store altered consistently, which zlib's checksum cannot.
    #[arg(long)]
    verify_objects: bool,
    /// Sync every file and directory to disk before the publishing rename, and the parent after it: DEST survives a power cut once unfurl reports success.
    #[arg(long)]
    fsync: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LfsArg {
    /// Write the objects the pointers name.
    Smudge,
    /// Write the pointers as stored.
    Pointers,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GitArg {
    /// No .git: the tree only.
    None,
    /// A .git whose objects are the store's, named through objects/info/alternates.
    Alternates,
    /// A self-contained .git: the store's objects are copied (never linked).
    Copy,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuntimeArg {
    /// In this process.
    Native,
    /// In an embedded wasmtime, confined to the store (read-only) and the destination.
    Wasm,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CaseCollisionsArg {
    /// Fail before writing, naming both entries.
    Error,
    /// The later entry in git's index order is written, the earlier left out (git's behaviour).
    LastWins,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Usage errors exit 2; --help and --version exit 0.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    // `verify` answers with 0 (identical) or 1 (different), so it fails with 2, as `cmp` and
    // `diff` do: a script must not take a checkout it could not read for one that differs.
    let failure_code = if matches!(cli.command, Command::Verify(_)) {
        2
    } else {
        1
    };
    let json = match &cli.command {
        Command::Checkout(args) => args.json,
        Command::Verify(args) => args.json,
        Command::Submodules(args) => args.json,
        Command::LfsObjects(args) => args.json,
    };
    let signals = Signals::install(json);
    match run(cli, &signals) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            // One line, the whole chain: what failed and why.
            let message = unfurl_engine::one_line(err.as_ref() as &dyn std::error::Error);
            eprintln!("error: {message}");
            if json {
                // The same failure as data on stdout, for an installer to branch on its kind.
                let failure = match (
                    err.downcast_ref::<unfurl::Error>(),
                    err.downcast_ref::<Interrupted>(),
                ) {
                    (Some(e), _) => unfurl_engine::Failure {
                        message,
                        ..e.failure()
                    },
                    (None, Some(e)) => unfurl_engine::Failure {
                        kind: unfurl_engine::ErrorKind::Interrupted,
                        message,
                        ..e.failure.clone()
                    },
                    (None, None) => unfurl_engine::Failure {
                        kind: unfurl_engine::ErrorKind::Io,
                        message,
                        path: None,
                        object: None,
                        missing: Vec::new(),
                        changed: Vec::new(),
                    },
                };
                let _ = print_json(&serde_json::json!({ "error": failure }));
            }
            // Stopped by a signal: 128 + its number, as a shell reports a process it killed.
            match signals.received() {
                Some(signal) => ExitCode::from(128u8.saturating_add(signal.number)),
                None => ExitCode::from(failure_code),
            }
        }
    }
}

/// Runs the command: `Ok(false)` when it ran and the answer is no (verify found differences).
fn run(cli: Cli, signals: &Signals) -> anyhow::Result<bool> {
    match cli.command {
        Command::Checkout(args) => checkout(args, signals).map(|()| true),
        Command::Verify(args) => verify(args),
        Command::Submodules(args) => submodules(args).map(|()| true),
        Command::LfsObjects(args) => lfs_objects(args).map(|()| true),
    }
}

fn checkout(args: CheckoutArgs, signals: &Signals) -> anyhow::Result<()> {
    if matches!(args.runtime, RuntimeArg::Native)
        && (args.wasm_timeout.is_some() || args.wasm_max_memory.is_some())
    {
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--wasm-timeout and --wasm-max-memory apply only with --runtime wasm",
            )
            .exit();
    }
    args.stores.require_recurse(args.recurse_submodules);
    let interrupt = &signals.interrupt;
    let mut request = unfurl::Request::new(&args.store, &args.rev, &args.dest);
    request.runtime = match args.runtime {
        RuntimeArg::Native => unfurl::Runtime::Native,
        RuntimeArg::Wasm => unfurl::Runtime::Wasm,
    };
    request.options.write.delta_cache_bytes = args.delta_cache;
    request.options.write.verify_objects = args.verify_objects;
    request.options.publish.fsync = args.fsync;
    request.options.git.mode = match args.git {
        GitArg::None => unfurl_engine::gitdir::Mode::None,
        GitArg::Alternates => unfurl_engine::gitdir::Mode::Alternates,
        GitArg::Copy => unfurl_engine::gitdir::Mode::Copy,
    };
    request.options.case_collisions = match args.case_collisions {
        CaseCollisionsArg::Error => unfurl_engine::CaseCollisions::Error,
        CaseCollisionsArg::LastWins => unfurl_engine::CaseCollisions::LastWins,
    };
    request.options.force = args.force;
    request.options.write.group_files = args.group_files;
    if let Some(max) = args.wasm_max_memory {
        request.wasm.max_memory = max;
    }
    request.wasm.timeout = args.wasm_timeout;
    if args.archive {
        request.options.archive = true;
        request.options.git.mode = unfurl_engine::gitdir::Mode::None;
    }
    request.options.attributes.lfs_pointers = matches!(args.lfs, Some(LfsArg::Pointers));
    request.options.attributes_given.lfs_pointers = args.lfs.is_some();
    request.lfs_objects = args.lfs_objects.clone();
    for setting in &args.config {
        setting.apply(
            &mut request.options.attributes,
            &mut request.options.attributes_given,
        );
    }
    if let Some(jobs) = args.jobs {
        request.options.write.jobs = usize::from(jobs);
    }
    request.options.paths = args
        .paths
        .iter()
        .map(|p| p.as_encoded_bytes().to_vec().into())
        .collect();
    if args.recurse_submodules {
        request.submodules = Some(args.stores.stores());
        request.url = args.stores.url.clone();
    }
    let show_progress = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    let bar = Bar::new(show_progress);
    let result = unfurl::checkout(&request, &bar, interrupt);
    bar.finish();
    let report = match result {
        Ok(report) => report,
        // The interrupt is the whole story: the engine's own "interrupted", or whatever a
        // stopped guest reported, adds nothing.
        Err(err)
            if err.kind() == unfurl_engine::ErrorKind::Interrupted
                || signals.received().is_some() =>
        {
            let by = signals.received().map_or("a signal", |s| s.name);
            let err = Interrupted {
                by,
                failure: err.failure(),
            };
            return Err(anyhow::Error::new(err));
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!(
                "could not check out '{}' from {}",
                args.rev,
                args.store.display()
            )));
        }
    };
    if args.json {
        print_json(&report)?;
    }
    if !args.quiet {
        for collision in &report.case_collisions {
            eprintln!(
                "unfurl: warning: {:?} and {:?} are one file on this case-insensitive filesystem: wrote the later, {:?}, left out {:?}",
                collision.lost, collision.kept, collision.kept, collision.lost
            );
        }
        let short = report
            .commit
            .as_deref()
            .map_or(&report.tree[..12], |c| &c[..12]);
        // A destination named with a newline or an escape sequence must not break the line
        // or drive the terminal.
        let dest = printable(&args.dest.display().to_string());
        if report.unchanged {
            eprintln!("unfurl: {dest} already holds {short}: nothing to do");
            return Ok(());
        }
        if let Some(switch) = &report.switch {
            for kept in &switch.kept {
                eprintln!(
                    "unfurl: warning: {} is not a submodule in {short} any more; kept its directory, which is not empty (remove it yourself if you no longer need it)",
                    printable(kept)
                );
            }
            let from = switch
                .from
                .as_deref()
                .map_or("an unborn HEAD", |c| &c[..12]);
            eprintln!(
                "unfurl: switched {dest} from {from} to {short}: {} paths written ({}), {} removed, {} unchanged{} in {:.2} s [{}]",
                switch.written,
                human_bytes(report.bytes),
                switch.removed,
                switch.unchanged,
                if switch.repaired {
                    ", after repairing an interrupted switch"
                } else {
                    ""
                },
                report.elapsed_ms as f64 / 1000.0,
                report.runtime,
            );
            return Ok(());
        }
        eprintln!(
            "unfurl: checked out {} into {}: {} files ({}), {} dirs, {} symlinks in {:.2} s [{}]",
            short,
            dest,
            report.files,
            human_bytes(report.bytes),
            report.dirs,
            report.symlinks,
            report.elapsed_ms as f64 / 1000.0,
            report.runtime,
        );
    }
    Ok(())
}

/// A checkout stopped by a signal: one message, and the failure's kind kept (always
/// `interrupted`) for `--json`.
#[derive(Debug)]
struct Interrupted {
    by: &'static str,
    failure: unfurl_engine::Failure,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted by {}; nothing was written (no destination, no staging directory)",
            self.by
        )
    }
}

impl std::error::Error for Interrupted {}
