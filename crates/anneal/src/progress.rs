//! Training progress: a bar per epoch (loss, samples/s, ETA) or JSON events, and Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anneal_engine::{EpochStats, Observer};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Reports progress on stderr (bars) or stdout (JSON lines), and stops on Ctrl-C.
pub struct Progress {
    json: bool,
    bar: Option<ProgressBar>,
    interrupted: Arc<AtomicBool>,
    batch: usize,
}

impl Progress {
    /// A reporter; installs a Ctrl-C handler that asks training to stop.
    pub fn new(json: bool, batch: usize) -> Progress {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        // If a handler is already installed (tests), training simply cannot be interrupted.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        Progress {
            json,
            bar: None,
            interrupted,
            batch,
        }
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        if self.json {
            println!(
                "{}",
                json!({"event": "epoch_start", "epoch": epoch, "epochs": epochs, "steps": steps})
            );
            return;
        }
        let template =
            format!("epoch {epoch:>2}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}");
        self.bar = Some(styled_bar(steps as u64, &template));
    }

    fn step(&mut self, step: usize, loss: f32, _seen: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            if step.is_multiple_of(10) {
                let rate = bar.per_sec() * self.batch as f64;
                bar.set_message(format!("loss {loss:.4} {rate:>6.0} samples/s"));
            }
        }
    }

    fn epoch_end(&mut self, s: &EpochStats) {
        if self.json {
            println!(
                "{}",
                json!({"event": "epoch_end", "epoch": s.epoch, "epochs": s.epochs, "loss": s.loss,
                       "train_accuracy": s.accuracy, "samples_per_sec": s.samples_per_sec, "seconds": s.seconds})
            );
        } else if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!(
                "epoch {:>2}/{} loss {:.4} train-accuracy {:.4} {:.0} samples/s {:.1}s",
                s.epoch, s.epochs, s.loss, s.accuracy, s.samples_per_sec, s.seconds
            );
        }
    }

    fn cancelled(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}

/// A bar of `len` steps drawn by indicatif `template` (its default bar if that does not parse).
fn styled_bar(len: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style)
}

/// A source too small to be worth a bar: under 8 MiB, or under 500 of its `unit`.
fn too_small(total: u64, unit: &str) -> bool {
    if unit == "bytes" {
        total < 8 << 20
    } else {
        total < 500
    }
}

/// An import's reading progress on stderr: hidden with `--json`, when stderr is not a terminal
/// (indicatif's stderr target), and for small sources.
pub struct ImportBar {
    json: bool,
    bar: Option<ProgressBar>,
}

impl ImportBar {
    /// A bar, or none with `json`.
    pub fn new(json: bool) -> ImportBar {
        ImportBar { json, bar: None }
    }
}

impl Drop for ImportBar {
    /// An import that failed mid-way clears its bar before the error is printed.
    fn drop(&mut self) {
        anneal_data::import::Progress::finish(self);
    }
}

impl anneal_data::import::Progress for ImportBar {
    fn start(&mut self, total: u64, unit: &'static str) {
        anneal_data::import::Progress::finish(self);
        if self.json || too_small(total, unit) {
            return;
        }
        let counts = if unit == "bytes" {
            "{bytes}/{total_bytes}".to_string()
        } else {
            format!("{{pos}}/{{len}} {unit}")
        };
        let template = format!("reading [{{bar:30}}] {counts} eta {{eta}}");
        self.bar = Some(styled_bar(total, &template));
    }

    fn set(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// An audit's progress on stderr (`label [bar] pos/len unit`): hidden with `--json` and when
/// stderr is not a terminal.
pub struct AuditBar {
    json: bool,
    template: String,
    bar: Option<ProgressBar>,
}

impl AuditBar {
    /// A bar, or none with `json`.
    pub fn new(json: bool, label: &str, unit: &str) -> AuditBar {
        let template = format!("{label} [{{bar:30}}] {{pos}}/{{len}} {unit} eta {{eta}}");
        AuditBar {
            json,
            template,
            bar: None,
        }
    }
}

impl Drop for AuditBar {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl anneal_audit::Progress for AuditBar {
    fn start(&mut self, total: u64) {
        if !self.json {
            self.bar = Some(styled_bar(total, &self.template));
        }
    }

    fn tick(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}
