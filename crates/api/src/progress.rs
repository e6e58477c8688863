//! Progress for long commands: a bar on a terminal, a log line every few seconds
//! otherwise (so CI logs and redirected output stay readable).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use udd_ports::Progress;

/// Picks the bar on a terminal and log lines elsewhere.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(LogLines::default())
    }
}

/// An indicatif bar per phase.
#[derive(Default)]
pub struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn start(&self, label: &str, total: Option<u64>) {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{prefix:>13} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_prefix(label.to_owned());
        if let Ok(mut current) = self.current.lock() {
            *current = Some(bar);
        }
    }

    fn set(&self, done: u64) {
        if let Ok(current) = self.current.lock() {
            if let Some(bar) = current.as_ref() {
                bar.set_position(done);
            }
        }
    }

    fn finish(&self, message: &str) {
        if let Ok(mut current) = self.current.lock() {
            if let Some(bar) = current.take() {
                bar.finish_and_clear();
            }
        }
        eprintln!("✓ {message}");
    }
}

/// Plain `tracing` lines, at most one every five seconds per phase.
#[derive(Default)]
pub struct LogLines {
    state: Mutex<Option<(String, Option<u64>, Instant)>>,
}

impl Progress for LogLines {
    fn start(&self, label: &str, total: Option<u64>) {
        tracing::info!(phase = label, total, "started");
        if let Ok(mut state) = self.state.lock() {
            *state = Some((label.to_owned(), total, Instant::now()));
        }
    }

    fn set(&self, done: u64) {
        if let Ok(mut state) = self.state.lock() {
            if let Some((label, total, last)) = state.as_mut() {
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    tracing::info!(phase = %label, done, total = *total, "progress");
                }
            }
        }
    }

    fn finish(&self, message: &str) {
        tracing::info!("{message}");
    }
}
