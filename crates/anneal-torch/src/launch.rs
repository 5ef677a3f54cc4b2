//! Run the job with the user's Python: `python3 train.py JOB` for one process, `python3 -m
//! torch.distributed.run --nproc-per-node N [flags] train.py JOB` (torchrun) for more; rank 0's
//! progress lines drive the observer; stderr goes to `JOB/train.log`, whose tail an error shows.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anneal_engine::{EpochStats, Observer};
use serde::Deserialize;

use crate::{Options, TorchError};

/// PyTorch's version as `python` imports it, or why it cannot.
pub fn probe(python: &str) -> Result<String, TorchError> {
    let out = Command::new(python)
        .args(["-c", "import torch, safetensors; print(torch.__version__)"])
        .output()
        .map_err(|e| TorchError::NoPython {
            python: python.to_string(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(TorchError::NoTorch {
            python: python.to_string(),
            message: last,
        });
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    check_version(python, &version)?;
    Ok(version)
}

/// PyTorch 2.0 or newer.
fn check_version(python: &str, version: &str) -> Result<(), TorchError> {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 2 => Ok(()),
        _ => Err(TorchError::NoTorch {
            python: python.to_string(),
            message: format!("PyTorch {version} is too old; anneal needs 2.0 or newer"),
        }),
    }
}

/// The command that runs the job in `dir`.
fn command(dir: &Path, options: &Options) -> Command {
    let mut cmd = Command::new(&options.python);
    if options.nproc > 1 || !options.torchrun.is_empty() {
        cmd.args(["-m", "torch.distributed.run"]);
        cmd.arg(format!("--nproc-per-node={}", options.nproc));
        cmd.args(&options.torchrun);
    }
    cmd.arg(dir.join("train.py")).arg(dir);
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd
}

/// One line of rank 0's progress.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Start {
        torch: String,
        device: String,
        world: usize,
        threads: usize,
    },
    EpochStart {
        epoch: usize,
        epochs: usize,
        steps: usize,
    },
    Step {
        step: usize,
        loss: f32,
        seen: usize,
    },
    EpochEnd {
        epoch: usize,
        epochs: usize,
        loss: f32,
        accuracy: f32,
        seconds: f64,
        samples_per_sec: f64,
    },
    Diverged {
        epoch: usize,
        step: usize,
    },
    Done {
        /// The global rank that says so: 0 on the node that writes the weights.
        #[serde(default)]
        rank: usize,
        #[serde(default)]
        world: usize,
    },
}

/// What rank 0 said about the run.
#[derive(Debug, Default)]
pub struct Said {
    pub torch: String,
    pub device: String,
    pub world: usize,
    pub threads: usize,
    pub epochs: Vec<EpochStats>,
    pub diverged: Option<(usize, usize)>,
    pub done: bool,
    /// The global rank of this node's first process (0 on the node that writes the weights).
    pub rank: usize,
}

/// Run the job in `dir` to its end, reporting progress to `observer`.
pub fn run(dir: &Path, options: &Options, observer: &mut dyn Observer) -> Result<Said, TorchError> {
    let log_path = dir.join("train.log");
    let log = std::fs::File::create(&log_path).map_err(TorchError::io(&log_path))?;
    let mut child = command(dir, options)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| TorchError::NoPython {
            python: options.python.clone(),
            message: e.to_string(),
        })?;
    let said = follow(&mut child, observer);
    let status = child.wait().map_err(TorchError::io(dir))?;
    let said = said?;
    if let Some((epoch, step)) = said.diverged {
        return Err(TorchError::Diverged { epoch, step });
    }
    if !status.success() || !said.done {
        return Err(TorchError::Failed {
            status: status.to_string(),
            tail: tail(&log_path),
            log: log_path,
        });
    }
    if said.rank > 0 {
        let (rank, world) = (said.rank, said.world);
        return Err(TorchError::OtherNode { rank, world });
    }
    Ok(said)
}

/// Read the child's progress until it closes stdout; kill it when the observer cancels.
fn follow(child: &mut Child, observer: &mut dyn Observer) -> Result<Said, TorchError> {
    let mut said = Said::default();
    let Some(stdout) = child.stdout.take() else {
        return Ok(said);
    };
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if observer.cancelled() {
            let _ = child.kill();
            return Err(TorchError::Interrupted);
        }
        if let Ok(event) = serde_json::from_str::<Event>(&line) {
            said.hear(event, observer);
        }
    }
    Ok(said)
}

impl Said {
    fn hear(&mut self, event: Event, observer: &mut dyn Observer) {
        match event {
            Event::Start {
                torch,
                device,
                world,
                threads,
            } => {
                (self.torch, self.device, self.world, self.threads) =
                    (torch, device, world, threads)
            }
            Event::EpochStart {
                epoch,
                epochs,
                steps,
            } => observer.epoch_start(epoch, epochs, steps),
            Event::Step { step, loss, seen } => observer.step(step, loss, seen),
            Event::EpochEnd {
                epoch,
                epochs,
                loss,
                accuracy,
                seconds,
                samples_per_sec,
            } => {
                let stats = EpochStats {
                    epoch,
                    epochs,
                    loss,
                    accuracy,
                    samples_per_sec,
                    seconds,
                };
                observer.epoch_end(&stats);
                self.epochs.push(stats);
            }
            Event::Diverged { epoch, step } => self.diverged = Some((epoch, step)),
            Event::Done { rank, world } => {
                self.done = true;
                if rank > 0 {
                    (self.rank, self.world) = (rank, world);
                }
            }
        }
    }
}

/// The end of the log, for an error. Under torchrun the log ends with the launcher's own
/// traceback, which says only that a child failed: what the ranks last wrote (before the
/// launcher's first report) and its root-cause lines are shown in its place.
fn tail(path: &Path) -> String {
    // Lossy: a rank that printed bytes that are not UTF-8 still has its last lines shown.
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let launcher = lines
        .iter()
        .position(|l| l.contains("torch/distributed/elastic/"));
    match launcher {
        Some(at) => [last(&lines[..at], 8), root_cause(&lines[at..])]
            .concat()
            .join("\n"),
        None => last(&lines, 12).join("\n"),
    }
}

/// The last `n` of `lines`.
fn last<'a>(lines: &[&'a str], n: usize) -> Vec<&'a str> {
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The rank and exit code under torchrun's "Root Cause" heading.
fn root_cause<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let from = lines.iter().position(|l| l.starts_with("Root Cause"));
    let cause = from.map_or(&[][..], |at| &lines[at..]);
    let wanted = |l: &&str| {
        ["Root Cause", "rank", "exitcode"]
            .iter()
            .any(|k| l.trim_start().starts_with(k))
    };
    cause.iter().copied().filter(wanted).collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fixtures in a temporary folder
mod tests {
    use super::*;

    /// A two-process run whose rank 1 aborted, as torchrun logged it (trimmed).
    const ABORTED: &str = include_str!("../tests/aborted.log");

    #[test]
    fn a_failed_torchrun_shows_the_ranks_last_words_and_the_root_cause() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        std::fs::write(&log, ABORTED).unwrap();
        let shown = tail(&log);
        assert!(
            shown.contains("terminate called without an active exception"),
            "{shown}"
        );
        assert!(shown.contains("rank      : 1 (local_rank: 1)"), "{shown}");
        assert!(shown.contains("exitcode  : -6"), "{shown}");
        assert!(!shown.contains("launch_agent"), "{shown}");
    }

    #[test]
    fn a_log_without_torchrun_shows_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        let text: String = (1..=20).map(|i| format!("line {i}\n\n")).collect();
        std::fs::write(&log, text).unwrap();
        let shown = tail(&log);
        assert_eq!(shown.lines().count(), 12);
        assert!(
            shown.starts_with("line 9\n") && shown.ends_with("line 20"),
            "{shown}"
        );
    }

    #[test]
    fn a_log_with_bytes_that_are_not_utf8_still_shows_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("train.log");
        std::fs::write(&log, b"loss \xff\xfe 0.5\nRuntimeError: out of memory\n").unwrap();
        let shown = tail(&log);
        assert!(shown.contains("RuntimeError: out of memory"), "{shown}");
        assert!(shown.contains("loss \u{fffd}\u{fffd} 0.5"), "{shown}");
    }
}
