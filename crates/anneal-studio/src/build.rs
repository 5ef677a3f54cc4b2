//! Rebuilding from the studio: `POST /api/rebuild` runs [`anneal_build::build`] on a blocking
//! thread; `GET /api/build` reports its progress and outcome, which the page polls. One build
//! at a time; the new report is joined on the next request like any other.

use std::sync::{Arc, PoisonError};

use anneal_engine::{EpochStats, Observer};
use serde::Serialize;

use crate::error::StudioError;
use crate::state::{Inner, Studio};

/// Where the studio's build stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildState {
    /// A build is running.
    pub running: bool,
    /// Epochs finished, of `epochs`.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
    /// The last line of its log, or its outcome.
    pub note: String,
    /// The last build failed.
    pub failed: bool,
}

/// Forwards training progress into the shared state.
struct Progress(Arc<Inner>);

impl Progress {
    fn update(&self, f: impl FnOnce(&mut BuildState)) {
        f(&mut self.0.build.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, _steps: usize) {
        self.update(|s| (s.epoch, s.epochs) = (epoch, epochs));
    }

    fn epoch_end(&mut self, stats: &EpochStats) {
        let note = format!(
            "epoch {}/{}: loss {:.4}",
            stats.epoch, stats.epochs, stats.loss
        );
        self.update(|s| (s.epoch, s.note) = (stats.epoch, note));
    }
}

impl Studio {
    /// The build's state.
    pub fn build_state(&self) -> BuildState {
        self.inner
            .build
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Start a build unless one is running.
    pub fn start_build(&self) -> Result<(), StudioError> {
        let project = self.inner.project.clone().ok_or_else(|| {
            StudioError::BadRequest("no anneal.toml here: nothing to build".into())
        })?;
        {
            let mut state = self
                .inner
                .build
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if state.running {
                return Err(StudioError::Busy);
            }
            *state = BuildState {
                running: true,
                note: "starting".into(),
                ..BuildState::default()
            };
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || run(&inner, &project));
        Ok(())
    }
}

fn run(inner: &Arc<Inner>, project: &anneal_build::Project) {
    let mut progress = Progress(inner.clone());
    let log_to = Progress(inner.clone());
    let mut log = |line: String| log_to.update(|s| s.note = line);
    let outcome = anneal_build::build(project, &mut progress, &mut log);
    progress.update(|s| {
        s.running = false;
        match outcome {
            Ok(built) => s.note = format!("built: test accuracy {:.4}", built.accuracy),
            Err(e) => (s.note, s.failed) = (format!("build failed: {e}"), true),
        }
    });
}
