//! The robustness audit of a program's built package: its test split at the package's dataset
//! commit, attacked as [`crate::attack`] describes.

use std::io::ErrorKind;

use anneal_build::{Project, split};
use anneal_data::{CommitId, Store};
use anneal_engine::{Model, preprocess};
use anneal_pack::{PackError, Package};
use serde::Serialize;

use crate::attack::{AttackOptions, Inputs, Point, curve, steps_total};
use crate::error::AuditError;

/// Accuracy under attack, per attack and radius.
#[derive(Debug, Clone, Serialize)]
pub struct Robustness {
    /// What epsilon is measured in.
    pub units: String,
    /// Test examples attacked (the first ones in id order when limited).
    pub examples: usize,
    /// Their accuracy unattacked.
    pub clean_accuracy: f64,
    /// The curve: each attack at each radius.
    pub points: Vec<Point>,
}

/// Told how far the attacks have got.
pub trait Progress {
    /// `total` gradient steps over chunks of examples are to come.
    fn start(&mut self, _total: u64) {}
    /// One more is done.
    fn tick(&mut self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// The built package of `project` attacked on (the first `limit` of) its test examples.
pub fn robustness(
    project: &Project,
    opts: &AttackOptions,
    limit: Option<usize>,
    progress: &mut dyn Progress,
) -> Result<Robustness, AuditError> {
    let package = read_package(project)?;
    let program = &package.program;
    let commit: CommitId = package.lineage.dataset_commit.parse().map_err(|e| {
        let path = project.package_path();
        let message = format!("its lineage's dataset commit is not one: {e}");
        AuditError::Package(PackError::Metadata { path, message })
    })?;
    let store = Store::open(&project.dir)?;
    let test =
        split::collect(program, &store, &commit, &program.test_split).map_err(AuditError::from)?;
    let n = limit.map_or(test.labels.len(), |l| l.min(test.labels.len()));
    let norm = package.signature.normalization;
    let x = preprocess(&test.features[..n * program.input.shape.elements()], &norm);
    let labels = &test.labels[..n];
    let model = Model::new(program, &package.weights)?;
    let inputs = Inputs {
        input: &program.input,
        norm: &norm,
        x: &x,
        labels,
    };
    progress.start(steps_total(opts, n));
    let points = curve(&model, inputs, opts, &mut || progress.tick())?;
    Ok(Robustness {
        units: program.input.attack_units().into(),
        examples: n,
        clean_accuracy: clean_accuracy(&model, &x, labels)?,
        points,
    })
}

/// The program's package, or [`AuditError::NoPackage`].
fn read_package(project: &Project) -> Result<Package, AuditError> {
    let path = project.package_path();
    match Package::read(&path) {
        Err(PackError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            Err(AuditError::NoPackage { path })
        }
        other => Ok(other?),
    }
}

/// Accuracy on the model inputs `x` as they are.
fn clean_accuracy(model: &Model, x: &[f32], labels: &[u32]) -> Result<f64, AuditError> {
    let probs = model.predict(x)?;
    let k = model.classes();
    let rows = probs.chunks(k).zip(labels);
    let correct = rows.filter(|(p, y)| anneal_pack::argmax(p) == **y as usize);
    Ok(correct.count() as f64 / labels.len().max(1) as f64)
}
