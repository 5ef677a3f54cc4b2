//! `[model] quantize = "int8"`: post-training quantization of the trained weights. The
//! activation ranges are calibrated on up to [`CALIBRATION_EXAMPLES`] examples of the train
//! split, spread evenly over it (in id order, so the same commit always gives the same
//! package); the f32 model's test accuracy is kept beside the quantization so that the
//! package says what int8 cost.

use anneal_engine::{Model, Normalization, calibrate, preprocess};
use anneal_pack::Metrics;
use anneal_spec::{NamedTensor, Program, Quantization, Scheme};

use crate::BuildError;
use crate::split::Split;

/// The most train-split examples the activation ranges are calibrated on.
pub const CALIBRATION_EXAMPLES: usize = 1000;

/// The weights and quantization a package of `program` holds: `weights` as they are (and no
/// quantization) for an f32 program; for an int8 one, rounded to their int8 grid, with the
/// calibrated ranges and the f32 accuracy on `test`.
pub fn quantize(
    program: &Program,
    weights: Vec<NamedTensor>,
    norm: &Normalization,
    (train, test): (&Split, &Split),
) -> Result<(Vec<NamedTensor>, Option<Quantization>), BuildError> {
    let Some(scheme @ Scheme::Int8) = program.quantize else {
        return Ok((weights, None));
    };
    let (x, n) = calibration_examples(program, train, norm);
    let calibrated = calibrate(program, &weights, &x)?;
    let f32_probs = Model::new(program, &weights)?.predict(&preprocess(&test.features, norm))?;
    let f32_accuracy = Metrics::compute(&f32_probs, &test.labels, &program.classes).accuracy;
    let quantization = Quantization {
        scheme,
        calibration_examples: n,
        f32_accuracy,
        layers: calibrated.layers,
    };
    Ok((calibrated.weights, Some(quantization)))
}

/// Up to [`CALIBRATION_EXAMPLES`] examples of `train`, evenly spread, preprocessed; and how
/// many.
fn calibration_examples(
    program: &Program,
    train: &Split,
    norm: &Normalization,
) -> (Vec<f32>, usize) {
    let per = program.input.shape.elements();
    let n = train.labels.len();
    let step = n.div_ceil(CALIBRATION_EXAMPLES).max(1);
    let picked: Vec<f32> = train
        .features
        .chunks_exact(per)
        .step_by(step)
        .flatten()
        .copied()
        .collect();
    let count = picked.len() / per.max(1);
    (preprocess(&picked, norm), count)
}
