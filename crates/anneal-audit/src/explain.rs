//! Opacity: which inputs a prediction rests on. Two attributions of the predicted class's logit
//! to each input value:
//!
//! - saliency (Simonyan et al.): the absolute gradient of the logit;
//! - integrated gradients (Sundararajan et al.): `(x - x0)` times the logit's gradient averaged
//!   along the straight path from a baseline `x0` to `x` (midpoint rule). Its attributions add
//!   up to `logit(x) - logit(x0)` in the limit; the gap left by the finite steps is reported.
//!
//! And how faithful each is: how many predictions change when the top share of the inputs it
//! ranks highest are set to the baseline, against the same share chosen at random.
//!
//! Everything here is on model inputs (after normalisation); baselines are given there too.

use anneal_engine::{EngineError, Model, Objective, SplitMix64};
use serde::Serialize;

/// Where integrated gradients start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// The emptiest valid input: a black image, a silent spectrogram (every value at the
    /// floor of its `range`), a table row of column means and no category.
    Blank,
    /// The mean input of the examples explained.
    Mean,
}

impl std::fmt::Display for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Baseline::Blank => "blank",
            Baseline::Mean => "mean",
        })
    }
}

/// Integrated gradients of one example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integrated {
    /// One attribution per input value.
    pub attributions: Vec<f32>,
    /// `logit(x) - logit(baseline)`: what the attributions should add up to.
    pub output_difference: f32,
    /// `sum(attributions) - output_difference`.
    pub completeness_gap: f32,
}

/// Saliency of each example of `x` for its class in `targets`: `|d logit / d input|`.
pub fn saliency(model: &Model, x: &[f32], targets: &[u32]) -> Result<Vec<f32>, EngineError> {
    let g = model.gradient(x, Objective::Logit(targets))?;
    Ok(g.input.iter().map(|v| v.abs()).collect())
}

/// Integrated gradients of one example `x` for class `target` from `baseline`, over `steps`
/// points of the path.
pub fn integrated_gradients(
    model: &Model,
    x: &[f32],
    baseline: &[f32],
    target: u32,
    steps: usize,
) -> Result<Integrated, EngineError> {
    let steps = steps.max(1);
    let mut path = Vec::with_capacity(x.len() * (steps + 2));
    for k in 0..steps {
        let alpha = (k as f32 + 0.5) / steps as f32;
        path.extend(x.iter().zip(baseline).map(|(x, b)| b + alpha * (x - b)));
    }
    path.extend_from_slice(x);
    path.extend_from_slice(baseline);
    let g = model.gradient(&path, Objective::Logit(&vec![target; steps + 2]))?;
    let mut attributions = vec![0f32; x.len()];
    for grad in g.input.chunks(x.len()).take(steps) {
        attributions.iter_mut().zip(grad).for_each(|(a, g)| *a += g);
    }
    for ((a, x), b) in attributions.iter_mut().zip(x).zip(baseline) {
        *a *= (x - b) / steps as f32;
    }
    let output_difference = g.value[steps] - g.value[steps + 1];
    let completeness_gap = attributions.iter().sum::<f32>() - output_difference;
    Ok(Integrated {
        attributions,
        output_difference,
        completeness_gap,
    })
}

/// The share of examples whose prediction changes when, in each, the `share` of its inputs
/// with the largest attributions are set to the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faithfulness {
    /// Examples measured.
    pub examples: usize,
    /// The share of each example's inputs replaced.
    pub share: f64,
    /// Predictions changed, ranking inputs by integrated gradients.
    pub integrated_gradients: f64,
    /// Ranking by saliency.
    pub saliency: f64,
    /// Choosing the inputs at random (the bar the others must clear).
    pub random: f64,
}

/// How many of `predicted` (the classes `model` gives `x`) change when the top `share` of each
/// example's inputs by `scores` (one per input value) are set to `baseline`.
pub fn changed_by_removal(
    model: &Model,
    (x, predicted): (&[f32], &[u32]),
    scores: &[f32],
    baseline: &[f32],
    share: f64,
) -> Result<f64, EngineError> {
    let f = baseline.len();
    let k = ((f as f64 * share).round() as usize).clamp(1, f);
    let mut masked = x.to_vec();
    for (m, s) in masked.chunks_mut(f).zip(scores.chunks(f)) {
        for i in top(s, k) {
            m[i] = baseline[i];
        }
    }
    let probs = model.predict(&masked)?;
    let rows = probs.chunks(model.classes()).zip(predicted);
    let changed = rows.filter(|(p, c)| anneal_pack::argmax(p) != **c as usize);
    Ok(changed.count() as f64 / predicted.len().max(1) as f64)
}

/// The indices of the `k` largest scores.
fn top(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(k);
    order
}

/// Scores that rank inputs in a random order.
pub fn random_scores(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.symmetric()).collect()
}
