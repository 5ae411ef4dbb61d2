//! What the terminal sees: the progress bar, and names and sizes made printable.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

/// Progress on stderr: a bar on a terminal, a line a second otherwise (`--progress` into a
/// pipe or a CI log), or nothing.
pub(crate) enum Bar {
    Hidden,
    Terminal(indicatif::ProgressBar),
    Lines {
        total: AtomicU64,
        done: AtomicU64,
        last: std::sync::Mutex<std::time::Instant>,
    },
}

impl Bar {
    pub(crate) fn new(show: bool) -> Bar {
        if !show {
            return Bar::Hidden;
        }
        if !std::io::stderr().is_terminal() {
            return Bar::Lines {
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
                last: std::sync::Mutex::new(std::time::Instant::now()),
            };
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} files [{elapsed}]")
                .expect("valid template"),
        );
        Bar::Terminal(bar)
    }

    pub(crate) fn finish(&self) {
        match self {
            Bar::Hidden => {}
            Bar::Terminal(bar) => bar.finish_and_clear(),
            // Where it ended, so that a log shows the last count however fast it went.
            Bar::Lines { total, done, .. } => {
                let total = total.load(Ordering::Relaxed);
                if total > 0 {
                    eprintln!("unfurl: {}/{total} files", done.load(Ordering::Relaxed));
                }
            }
        }
    }
}

impl unfurl_engine::Progress for Bar {
    fn planned(&self, files: u64) {
        match self {
            Bar::Hidden => {}
            Bar::Terminal(bar) => bar.set_length(files),
            Bar::Lines { total, done, .. } => {
                total.store(files, Ordering::Relaxed);
                eprintln!("unfurl: {}/{files} files", done.load(Ordering::Relaxed));
            }
        }
    }

    fn comparing(&self, entries: u64) {
        self.planned(entries);
    }

    fn compared(&self) {
        self.wrote_file(0);
    }

    fn wrote_file(&self, _bytes: u64) {
        match self {
            Bar::Hidden => {}
            Bar::Terminal(bar) => bar.inc(1),
            Bar::Lines { total, done, last } => {
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                // Workers call this concurrently: whoever holds the lock after a second prints.
                if let Ok(mut last) = last.try_lock()
                    && last.elapsed() >= std::time::Duration::from_secs(1)
                {
                    *last = std::time::Instant::now();
                    eprintln!("unfurl: {done}/{} files", total.load(Ordering::Relaxed));
                }
            }
        }
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`), as the `error:` line has
/// them.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
