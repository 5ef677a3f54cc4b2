//! The robustness audit of a program's built package: its test split at the package's dataset
//! commit, attacked as [`crate::attack`] describes.

use anneal_build::Project;
use anneal_engine::Model;
use serde::Serialize;

use crate::attack::{AttackOptions, Inputs, Point, curve, steps_total};
use crate::error::AuditError;
use crate::testset::TestSet;

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
    let set = TestSet::load(project)?;
    let n = limit.map_or(set.examples(), |l| l.min(set.examples()));
    let program = &set.package.program;
    let x = &set.x[..n * set.features()];
    let labels = &set.split.labels[..n];
    let inputs = Inputs {
        input: &program.input,
        norm: &set.package.signature.normalization,
        x,
        labels,
    };
    progress.start(steps_total(opts, n));
    let points = curve(&set.model, inputs, opts, &mut || progress.tick())?;
    Ok(Robustness {
        units: program.input.attack_units().into(),
        examples: n,
        clean_accuracy: clean_accuracy(&set.model, x, labels)?,
        points,
    })
}

/// Accuracy on the model inputs `x` as they are.
fn clean_accuracy(model: &Model, x: &[f32], labels: &[u32]) -> Result<f64, AuditError> {
    let probs = model.predict(x)?;
    let k = model.classes();
    let rows = probs.chunks(k).zip(labels);
    let correct = rows.filter(|(p, y)| anneal_pack::argmax(p) == **y as usize);
    Ok(correct.count() as f64 / labels.len().max(1) as f64)
}
