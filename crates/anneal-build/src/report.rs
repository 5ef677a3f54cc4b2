//! What a build leaves beside its package: the report (per-example training loss at each
//! epoch and test-set probabilities, for mislabel review and the studio) and `anneal.lock`.

use std::path::Path;

use anneal_data::fs::write_atomic;
use anneal_data::{CommitId, ExampleId};
use anneal_engine::{ENGINE, ENGINE_VERSION};
use anneal_pack::Package;
use serde::{Deserialize, Serialize};

use crate::BuildError;
use crate::lock::{BuildLock, Lock};

/// The report encoding this build writes: 2 added the probabilities on the training and
/// unlabeled examples that the queues rank by.
pub const FORMAT: u32 = 2;

/// `target/NAME-VERSION.report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Encoding version ([`FORMAT`]).
    pub format: u32,
    /// The build it describes.
    pub build_key: String,
    /// The dataset commit trained on.
    pub dataset_commit: String,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// The training split.
    pub train: TrainReport,
    /// The test split.
    pub test: TestReport,
    /// The unlabeled pool, as the built model predicts it (empty in reports written before
    /// it was added).
    #[serde(default)]
    pub pool: PoolReport,
}

/// The training split in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Example ids.
    pub ids: Vec<ExampleId>,
    /// Class index per example.
    pub labels: Vec<u32>,
    /// `loss[epoch][example]`
    pub loss: Vec<Vec<f32>>,
    /// `probs[example][class]`: the built model's probabilities for each training example
    /// (empty in reports written before it was added).
    #[serde(default)]
    pub probs: Vec<Vec<f32>>,
}

/// The test split in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    /// Example ids.
    pub ids: Vec<ExampleId>,
    /// Class index per example.
    pub labels: Vec<u32>,
    /// `probs[example][class]`
    pub probs: Vec<Vec<f32>>,
}

/// The unlabeled examples in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolReport {
    /// Example ids.
    pub ids: Vec<ExampleId>,
    /// `probs[example][class]`
    pub probs: Vec<Vec<f32>>,
}

impl Report {
    /// True when the report at `path` is of the current [`FORMAT`], read from its first bytes
    /// (this crate writes `format` first) so that a cache hit stays instant: a build whose
    /// report is older is built again.
    pub fn is_current(path: &Path) -> bool {
        let mut head = [0u8; 16];
        let prefix = format!("{{\"format\":{FORMAT},");
        let read =
            std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head));
        read.is_ok_and(|n| head[..n].starts_with(prefix.as_bytes()))
    }

    /// Read a report.
    pub fn read(path: &Path) -> Result<Report, BuildError> {
        let io = |source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        let bytes = std::fs::read(path).map_err(io)?;
        let report: Report = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        report.check().map_err(invalid)?;
        Ok(report)
    }

    /// Every list the same length as its ids, every class index and probability row in range:
    /// what the queues index by.
    fn check(&self) -> Result<(), String> {
        let k = self.classes.len();
        let (train, test, pool) = (&self.train, &self.test, &self.pool);
        let n = train.ids.len();
        same("train.labels", train.labels.len(), n)?;
        train
            .loss
            .iter()
            .try_for_each(|l| same("train.loss[epoch]", l.len(), n))?;
        if !train.probs.is_empty() {
            same("train.probs", train.probs.len(), n)?;
        }
        same("test.labels", test.labels.len(), test.ids.len())?;
        same("test.probs", test.probs.len(), test.ids.len())?;
        same("pool.probs", pool.probs.len(), pool.ids.len())?;
        let rows = train.probs.iter().chain(&test.probs).chain(&pool.probs);
        rows.into_iter()
            .try_for_each(|p| same("a probability row", p.len(), k))?;
        match train
            .labels
            .iter()
            .chain(&test.labels)
            .find(|&&l| l as usize >= k)
        {
            Some(l) => Err(format!("class index {l} is out of range for {k} classes")),
            None => Ok(()),
        }
    }

    /// Write it atomically.
    pub fn write(&self, path: &Path) -> Result<(), BuildError> {
        let bytes = serde_json::to_vec(self).map_err(|e| BuildError::Serialize {
            what: "report",
            message: e.to_string(),
        })?;
        write_atomic(path, &bytes).map_err(|source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `Ok` when list `what` has the `expected` length.
fn same(what: &str, len: usize, expected: usize) -> Result<(), String> {
    if len == expected {
        return Ok(());
    }
    Err(format!("{what} has {len} entries, expected {expected}"))
}

/// Write `anneal.lock` in `dir` for a package of `bytes`, keeping its `[[dependency]]`
/// tables, unless it already says exactly that. A lock edited into nonsense is an error.
pub fn write_lock(
    dir: &Path,
    commit: &CommitId,
    key: &str,
    bytes: &[u8],
) -> Result<(), BuildError> {
    let mut lock = Lock::read(dir)?;
    lock.build = Some(BuildLock {
        dataset_commit: commit.to_string(),
        engine: format!("{ENGINE} {ENGINE_VERSION}"),
        build_key: key.to_string(),
        package: Package::digest(bytes),
    });
    Ok(lock.write(dir)?)
}
