//! The robustness audit of a program's built package: its test split at the package's dataset
//! commit, attacked as [`crate::attack`] describes.

use std::io::ErrorKind;

use anneal_build::{Project, split};
use anneal_data::{CommitId, Store};
use anneal_engine::Model;
use anneal_pack::{PackError, Package};
use anneal_spec::InputKind;
use serde::Serialize;

use crate::attack::{AttackOptions, Point, Space, curve, steps_total};
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
    let space = space(&package);
    let x = space.to_units(&test.features[..n * space.features]);
    let labels = &test.labels[..n];
    let model = Model::new(program, &package.weights)?;
    progress.start(steps_total(opts, n));
    let points = curve(&model, &space, &x, labels, opts, &mut || progress.tick())?;
    Ok(Robustness {
        units: units(program.input.kind).into(),
        examples: n,
        clean_accuracy: clean_accuracy(&model, &space, &x, labels)?,
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

/// Where attacks on this package's inputs move.
pub fn space(package: &Package) -> Space {
    let input = &package.program.input;
    let features = input.shape.elements();
    let (unit, bounds, editable) = match input.kind {
        InputKind::Image => (255.0, Some((0.0, 1.0)), features),
        InputKind::Audio => {
            let range = input.audio.as_ref().and_then(|a| a.range);
            (1.0, range.map(|r| (-r, 0.0)), features)
        }
        InputKind::Table => {
            let numeric = input.table.as_ref().map_or(0, |t| t.numeric.len());
            (1.0, None, numeric)
        }
    };
    Space {
        norm: package.signature.normalization,
        unit,
        bounds,
        features,
        editable,
    }
}

/// What epsilon means for inputs of `kind`.
fn units(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Image => "fraction of the full pixel range (L-infinity; inputs kept in [0, 1])",
        InputKind::Audio => "log-mel units (L-infinity, on the spectrogram)",
        InputKind::Table => {
            "standard deviations of each numeric column (L-infinity; categories unchanged)"
        }
    }
}

/// Accuracy on `x` (attack units) as it is.
fn clean_accuracy(
    model: &Model,
    space: &Space,
    x: &[f32],
    labels: &[u32],
) -> Result<f64, AuditError> {
    let probs = model.predict(&space.model_input(x))?;
    let k = model.classes();
    let rows = probs.chunks(k).zip(labels);
    let correct = rows.filter(|(p, y)| anneal_pack::argmax(p) == **y as usize);
    Ok(correct.count() as f64 / labels.len().max(1) as f64)
}
