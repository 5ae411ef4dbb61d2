//! The sandbox as the orchestrator's backend: a planner guest, then writer guests.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use unfurl_engine::plan::Plan;
use unfurl_engine::publish::Staging;
use unfurl_engine::wire::{self, Reply, StoreLayout};
use unfurl_engine::write::Stats;
use unfurl_engine::{Claims, Options, Planned, Progress};

use super::sandbox::{Preopens, Sandbox};
use super::{Error, Limits};
use crate::store::Located;

/// Stages 1 to 3 in WASI guests (see the [module docs](super)): hand it to
/// [`unfurl_engine::run`].
pub struct Backend<'a> {
    sandbox: &'a Sandbox,
    /// The store and its alternates, as every guest sees them.
    preopens: Preopens,
    /// Where the staging directory lives on the host (the destination's parent).
    dest_parent: PathBuf,
    limits: &'a Limits,
    /// When every guest of this checkout must be done.
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Backend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("preopens", &self.preopens)
            .finish_non_exhaustive()
    }
}

/// The preopens every guest of a checkout of `located` gets: the store and its alternates.
pub(crate) fn preopens(located: &Located) -> Preopens {
    Preopens {
        store: located.git_dir.clone(),
        alternates: located
            .alternates
            .iter()
            .enumerate()
            .map(|(i, dir)| (dir.clone(), format!("/alt/{i}")))
            .collect(),
        dest: None,
        lfs_objects: located.lfs_objects.clone(),
    }
}

impl<'a> Backend<'a> {
    /// Guests of `sandbox` reading the store `located` describes and writing into staging
    /// directories in `dest_parent`, within `limits` (the deadline counts from now).
    pub(crate) fn new(
        sandbox: &'a Sandbox,
        located: &Located,
        dest_parent: PathBuf,
        limits: &'a Limits,
    ) -> Backend<'a> {
        Backend {
            sandbox,
            preopens: preopens(located),
            dest_parent,
            limits,
            deadline: limits.timeout.map(|t| Instant::now() + t),
        }
    }

    /// [`Backend::new`], with the deadline of a checkout already under way (a submodule's
    /// guests share their superproject's `--wasm-timeout`).
    pub(crate) fn with_deadline(
        sandbox: &'a Sandbox,
        located: &Located,
        dest_parent: PathBuf,
        limits: &'a Limits,
        deadline: Option<Instant>,
    ) -> Backend<'a> {
        Backend {
            deadline,
            ..Backend::new(sandbox, located, dest_parent, limits)
        }
    }

    fn layout(&self) -> StoreLayout {
        StoreLayout {
            alternates: self
                .preopens
                .alternates
                .iter()
                .map(|(_, guest)| guest.clone())
                .collect(),
            lfs_objects: self
                .preopens
                .lfs_objects
                .as_ref()
                .map(|_| wire::LFS_OBJECTS.to_owned()),
        }
    }
}

impl unfurl_engine::Backend for Backend<'_> {
    fn plan(
        &self,
        rev: &str,
        options: &Options,
        interrupt: &AtomicBool,
    ) -> Result<Planned, unfurl_engine::Error> {
        // The selected paths cross the wire as UTF-8, as every name does.
        let paths = options
            .paths
            .iter()
            .map(|path| {
                std::str::from_utf8(path).map(str::to_owned).map_err(|_| {
                    unfurl_engine::plan::Error::BadPath {
                        path: path.clone(),
                        reason: "it is not UTF-8, which the sandboxed planner cannot be given (use --runtime native)",
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = wire::Request::Plan {
            rev: rev.to_owned(),
            store: self.layout(),
            delta_cache_bytes: options.write.delta_cache_bytes as u64,
            refs: options.git.mode != unfurl_engine::gitdir::Mode::None,
            paths,
            gitmodules: options.submodules.gitmodules || options.submodules.stores.is_some(),
            attributes: options.attributes,
            archive: options.archive,
            verify_objects: options.write.verify_objects,
        };
        let reply = self.sandbox.guarded(self.deadline, interrupt, || {
            self.sandbox
                .run(&request, &self.preopens, None, self.limits, interrupt)
        })?;
        match reply {
            Reply::Planned {
                commit,
                tree,
                plan,
                phases,
                refs,
                gitmodules,
            } => {
                // The plan is untrusted data: it must hold together before the host uses
                // it; its names and paths are checked where they are used.
                plan.check_structure()?;
                Ok(Planned {
                    commit,
                    tree,
                    plan: Arc::new(plan),
                    resolve: Duration::from_micros(phases.resolve_us),
                    planning: Duration::from_micros(phases.plan_us),
                    refs,
                    gitmodules: gitmodules.map(Vec::from),
                })
            }
            Reply::Failed(failure) => Err(unfurl_engine::Error::Remote(Box::new(failure))),
            Reply::Wrote { .. } => Err(protocol("the planner answered as a writer")),
        }
    }

    fn write(
        &self,
        plan: &Arc<Plan>,
        staging: &Staging<'_>,
        options: &Options,
        progress: &dyn Progress,
        interrupt: &AtomicBool,
    ) -> Result<Stats, unfurl_engine::Error> {
        let claims = Arc::new(Claims::new(
            plan.clone(),
            options.write.group_files,
            options.write.writers(),
        ));
        // wasm32-wasip1 has no threads: parallelism is one guest per writer.
        let writers = options.write.writers().min(claims.len()).max(1);
        let mut preopens = self.preopens.clone();
        preopens.dest = Some(self.dest_parent.join(staging.name()));
        let request = wire::Request::Write {
            store: self.layout(),
            delta_cache_bytes: (options.write.delta_cache_bytes / writers) as u64,
            mtime: options
                .write
                .mtime
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            verify_objects: options.write.verify_objects,
            packs: plan.pack_names().to_vec(),
        };
        let replies = self.sandbox.guarded(self.deadline, interrupt, || {
            // Dropped when the writers are done, which wakes the reporter at once.
            let (finished, done) = std::sync::mpsc::channel::<()>();
            std::thread::scope(|scope| {
                // Guests report no progress as they go: count the files they claimed.
                scope.spawn(|| report_claims(&claims, done, progress));
                let replies = unfurl_engine::write::fan_out(writers, || {
                    let reply = self.sandbox.run(
                        &request,
                        &preopens,
                        Some(claims.clone()),
                        self.limits,
                        interrupt,
                    );
                    if !matches!(reply, Ok(Reply::Wrote { .. })) {
                        // The checkout has failed: the other writers need not go on.
                        claims.stop();
                    }
                    reply
                });
                drop(finished);
                replies
            })
        });
        let mut stats = Stats::default();
        let mut failure: Option<unfurl_engine::Error> = None;
        for reply in replies {
            let err = match reply {
                Ok(Reply::Wrote { stats: s, .. }) => {
                    stats.add(s);
                    continue;
                }
                Ok(Reply::Failed(f)) => unfurl_engine::Error::Remote(Box::new(f)),
                Ok(Reply::Planned { .. }) => protocol("a writer answered as the planner"),
                Err(e) => e.into(),
            };
            // What a guest reported beats a guest stopped because another failed.
            let keep = failure.as_ref().is_none_or(|f| {
                f.kind() == unfurl_engine::ErrorKind::Interrupted
                    && err.kind() != unfurl_engine::ErrorKind::Interrupted
            });
            if keep {
                failure = Some(err);
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        Ok(stats)
    }
}

/// Tell `progress` about the files writers claimed, every 50 ms until `done` hangs up.
/// (It wakes as soon as the writers finish: a plain sleep here once added up to 50 ms to
/// every sandboxed checkout.)
fn report_claims(claims: &Claims, done: std::sync::mpsc::Receiver<()>, progress: &dyn Progress) {
    let mut told = 0;
    loop {
        let finished = !matches!(
            done.recv_timeout(Duration::from_millis(50)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        let claimed = claims.claimed_files();
        for _ in told..claimed {
            progress.wrote_file(0);
        }
        told = claimed;
        if finished {
            return;
        }
    }
}

fn protocol(what: &str) -> unfurl_engine::Error {
    Error::Runtime(what.to_owned()).into()
}
