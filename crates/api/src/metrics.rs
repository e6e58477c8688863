//! Counters and histograms of this process, and `/metrics` in Prometheus' text format
//! (version 0.0.4). Counters are per process (Prometheus sums them across the
//! processes it scrapes); the queue depth is read from the database, so every process
//! reports the same, whole-installation figure.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use udd_app::{DeliveryReport, Outcome};
use udd_domain::ExportStatus;

/// A Prometheus histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for `+Inf`.
    counts: Vec<AtomicU64>,
    sum: Mutex<f64>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: Mutex::new(0.0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sum) = self.sum.lock() {
            *sum += value;
        }
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum.lock().map(|s| *s).unwrap_or_default();
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

const SECONDS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];
const BYTES: &[f64] = &[1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// What this process counted since it started.
#[derive(Debug)]
pub struct Metrics {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    lease_lost: AtomicU64,
    interrupted: AtomicU64,
    skipped: AtomicU64,
    takeovers: AtomicU64,
    mail: [AtomicU64; 4],
    download_bytes: AtomicU64,
    downloads: AtomicU64,
    /// Seconds from claim to the end of a completed export's handling.
    pub export_seconds: Histogram,
    /// Sizes of finished archives.
    pub export_bytes: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            lease_lost: AtomicU64::new(0),
            interrupted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            mail: Default::default(),
            download_bytes: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            export_seconds: Histogram::new(SECONDS),
            export_bytes: Histogram::new(BYTES),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// A worker took an operation up (counted at its claim, so a running export shows).
    pub fn claimed(&self) {
        add(&self.started, 1);
    }

    /// A worker handled an operation it claimed, taking `seconds`.
    pub fn handled(&self, outcome: &Outcome, seconds: f64) {
        match outcome {
            Outcome::Completed { file, .. } => {
                add(&self.completed, 1);
                self.export_seconds.observe(seconds);
                #[allow(clippy::cast_precision_loss)]
                self.export_bytes.observe(file.size as f64);
            }
            Outcome::Failed { .. } => add(&self.failed, 1),
            Outcome::Retrying { .. } => add(&self.retried, 1),
            Outcome::LeaseLost { .. } => add(&self.lease_lost, 1),
            Outcome::Interrupted { .. } => add(&self.interrupted, 1),
            Outcome::Skipped { .. } => add(&self.skipped, 1),
        }
    }

    /// Operations of dead worker instances released for takeover.
    pub fn took_over(&self, operations: usize) {
        add(&self.takeovers, operations as u64);
    }

    /// A round of mail delivery.
    pub fn mailed(&self, report: &DeliveryReport) {
        for (counter, n) in self.mail.iter().zip([
            report.sent,
            report.retrying,
            report.gave_up,
            report.no_address,
        ]) {
            add(counter, u64::from(n));
        }
    }

    /// A download that sent `bytes`.
    pub fn downloaded(&self, bytes: u64) {
        add(&self.downloads, 1);
        add(&self.download_bytes, bytes);
    }

    /// The text Prometheus scrapes: the queue depth given, then this process's counts.
    pub fn render(&self, depth: &[(ExportStatus, u64)], workers: (usize, usize)) -> String {
        let mut out = String::new();
        out.push_str("# HELP udd_operations Export operations in the database, by status.\n# TYPE udd_operations gauge\n");
        for status in ExportStatus::ALL {
            let n = depth
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "udd_operations{{status=\"{status}\"}} {n}");
        }
        let counter = |out: &mut String, name: &str, help: &str, values: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut out,
            "udd_operations_started_total",
            "Operations this process's workers took up.",
            &[("", get(&self.started))],
        );
        counter(
            &mut out,
            "udd_operations_ended_total",
            "How this process's workers' handling of an operation ended.",
            &[
                ("{outcome=\"completed\"}", get(&self.completed)),
                ("{outcome=\"failed\"}", get(&self.failed)),
                ("{outcome=\"retrying\"}", get(&self.retried)),
                ("{outcome=\"lease_lost\"}", get(&self.lease_lost)),
                ("{outcome=\"interrupted\"}", get(&self.interrupted)),
                ("{outcome=\"skipped\"}", get(&self.skipped)),
            ],
        );
        counter(
            &mut out,
            "udd_lease_takeovers_total",
            "Operations released from dead worker instances by this process.",
            &[("", get(&self.takeovers))],
        );
        counter(
            &mut out,
            "udd_mail_total",
            "Mail to owners by outcome.",
            &[
                ("{outcome=\"sent\"}", get(&self.mail[0])),
                ("{outcome=\"retrying\"}", get(&self.mail[1])),
                ("{outcome=\"gave_up\"}", get(&self.mail[2])),
                ("{outcome=\"no_address\"}", get(&self.mail[3])),
            ],
        );
        counter(
            &mut out,
            "udd_downloads_total",
            "Downloads that sent content.",
            &[("", get(&self.downloads))],
        );
        counter(
            &mut out,
            "udd_download_bytes_total",
            "Bytes of archives sent.",
            &[("", get(&self.download_bytes))],
        );
        self.export_seconds.render(
            "udd_export_duration_seconds",
            "Time to complete an export, from its claim.",
            &mut out,
        );
        self.export_bytes
            .render("udd_export_bytes", "Sizes of finished archives.", &mut out);
        let _ = writeln!(
            out,
            "# HELP udd_workers Export worker threads of this process.\n# TYPE udd_workers gauge\nudd_workers{{state=\"alive\"}} {}\nudd_workers{{state=\"expected\"}} {}",
            workers.0, workers.1
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_add_up() {
        let metrics = Metrics::default();
        metrics.export_seconds.observe(0.5);
        metrics.export_seconds.observe(10.0);
        metrics.export_seconds.observe(99_999.0);
        metrics.downloaded(100);
        metrics.downloaded(50);
        // Started when claimed; its end is counted apart.
        metrics.claimed();
        metrics.handled(
            &Outcome::Interrupted {
                operation_id: "OP1".into(),
            },
            1.0,
        );
        let text = metrics.render(&[(ExportStatus::Pending, 3)], (2, 2));
        for line in [
            "udd_export_duration_seconds_bucket{le=\"1\"} 1",
            "udd_export_duration_seconds_bucket{le=\"15\"} 2",
            "udd_export_duration_seconds_bucket{le=\"+Inf\"} 3",
            "udd_export_duration_seconds_count 3",
            "udd_operations{status=\"pending\"} 3",
            "udd_operations{status=\"completed\"} 0",
            "udd_download_bytes_total 150",
            "udd_downloads_total 2",
            "udd_operations_started_total 1",
            "udd_operations_ended_total{outcome=\"interrupted\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
