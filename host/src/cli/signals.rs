//! The signals that stop a checkout, and which one did.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A signal that stops a checkout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    pub(crate) number: u8,
    pub(crate) name: &'static str,
}

/// SIGINT, SIGTERM and SIGHUP (Ctrl-C on Windows): each sets the interrupt flag the engine
/// polls, so it stops at the next file, removes its staging directory and any parent it
/// created, and the process exits 128 + the signal's number with one `error:` line. A
/// second signal ends the process at once (the same status); what it leaves behind is a
/// staging directory whose owner is gone, which the next run into that destination
/// removes. So does the first one if the run has not ended [`GRACE`] after it: a read
/// blocked on a hung network filesystem, or any step that does not poll the flag, must not
/// make one signal useless. A signal that arrives once the checkout has been published
/// changes nothing: the checkout is complete, and the exit status says so.
pub(crate) struct Signals {
    pub(crate) interrupt: Arc<AtomicBool>,
    /// The number of the first signal received, 0 until then.
    which: Arc<AtomicUsize>,
}

/// How long after the first signal the run may take to stop by itself.
pub(crate) const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl Signals {
    const STOPPING: [Signal; 3] = [
        Signal {
            number: 2,
            name: "SIGINT",
        },
        Signal {
            number: 15,
            name: "SIGTERM",
        },
        Signal {
            number: 1,
            name: "SIGHUP",
        },
    ];

    /// Install the handlers; with `json`, the line a run ended by [`GRACE`] prints is also
    /// printed as `--json`'s error object.
    pub(crate) fn install(json: bool) -> Signals {
        let signals = Signals {
            interrupt: Arc::new(AtomicBool::new(false)),
            which: Arc::new(AtomicUsize::new(0)),
        };
        signals.register();
        signals.watch(json);
        signals
    }

    /// End the process [`GRACE`] after the first signal if it is still running then, as a
    /// second signal would, with one line saying so. A thread that looks at the flag ten
    /// times a second (a signal handler cannot start one); it never keeps the process
    /// alive.
    fn watch(&self, json: bool) {
        let (interrupt, which) = (self.interrupt.clone(), self.which.clone());
        let _ = std::thread::Builder::new()
            .name("unfurl-signals".into())
            .spawn(move || {
                while !interrupt.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                std::thread::sleep(GRACE);
                let number = which.load(Ordering::SeqCst);
                let name = Self::STOPPING
                    .into_iter()
                    .find(|s| usize::from(s.number) == number)
                    .map_or("a signal", |s| s.name);
                let message = format!(
                    "interrupted by {name}; the run had not stopped {} s later (blocked reading or writing?), so it ended without cleaning up: the next run into the same destination removes what is left",
                    GRACE.as_secs()
                );
                eprintln!("error: {message}");
                if json {
                    let failure = serde_json::json!({"error": {
                        "kind": "interrupted", "message": message, "path": null, "object": null,
                    }});
                    println!("{failure}");
                }
                std::process::exit(128 + number.min(127) as i32);
            });
    }

    #[cfg(unix)]
    fn register(&self) {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        debug_assert_eq!(
            [SIGINT, SIGTERM, SIGHUP],
            Self::STOPPING.map(|s| s.number as i32)
        );
        for signal in Self::STOPPING {
            let number = i32::from(signal.number);
            // In this order: the shutdown looks at the flag before this signal sets it, so
            // only a second signal ends the process. `which` keeps the first signal only.
            let _ = signal_hook::flag::register_conditional_shutdown(
                number,
                128 + number,
                self.interrupt.clone(),
            );
            let which = self.which.clone();
            let first = usize::from(signal.number);
            // SAFETY: the action only touches an atomic, which is async-signal-safe.
            #[expect(unsafe_code, reason = "a signal action that records the first signal")]
            let _ = unsafe {
                signal_hook::low_level::register(number, move || {
                    let _ = which.compare_exchange(0, first, Ordering::SeqCst, Ordering::SeqCst);
                })
            };
            let _ = signal_hook::flag::register(number, self.interrupt.clone());
        }
    }

    #[cfg(not(unix))]
    fn register(&self) {
        let interrupt = self.interrupt.clone();
        let which = self.which.clone();
        let _ = ctrlc::set_handler(move || {
            let _ = which.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
            interrupt.store(true, Ordering::SeqCst);
        });
    }

    /// The first stopping signal received, if any.
    pub(crate) fn received(&self) -> Option<Signal> {
        let number = self.which.load(Ordering::SeqCst);
        Self::STOPPING
            .into_iter()
            .find(|s| usize::from(s.number) == number)
    }
}
