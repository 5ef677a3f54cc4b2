//! How 8-bit pixels become model inputs: `(x * scale - mean) / std`, with the statistics fitted
//! on the training split. One type for the build that fits it, the package that records it
//! (`anneal.signature`'s `normalization`), and every reader that applies it.

use serde::{Deserialize, Serialize};

use crate::program::Normalize;

/// The normalisation applied to 8-bit pixels: `(x * scale - mean) / std`.
///
/// Recorded in the package signature so that every reader (anneal, a Python script, a
/// server) computes exactly the same inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Multiplier applied first (1/255 for `unit` and `standard`, 1 for `none`).
    pub scale: f32,
    /// Subtracted after scaling.
    pub mean: f32,
    /// Divided by last.
    pub std: f32,
}

impl Normalization {
    /// The normalisation for `kind` of features whose `full_scale` maps to 1 (255 for 8-bit
    /// pixels, 1 for log-mel values), with statistics computed from `training` features when
    /// the kind needs them.
    pub fn fit(kind: Normalize, full_scale: f32, training: &[f32]) -> Normalization {
        match kind {
            Normalize::None => Normalization::new(1.0, 0.0, 1.0),
            Normalize::Unit => Normalization::new(1.0 / full_scale, 0.0, 1.0),
            Normalize::Standard => Normalization::standard(full_scale, training),
        }
    }

    fn new(scale: f32, mean: f32, std: f32) -> Normalization {
        Normalization { scale, mean, std }
    }

    /// Features scaled by `1 / full_scale`, then to mean 0 and deviation 1 over `training`.
    fn standard(full_scale: f32, training: &[f32]) -> Normalization {
        let (mean, std) = moments(full_scale, training);
        Normalization::new(1.0 / full_scale, mean as f32, std as f32)
    }
}

/// The mean and deviation of the features over `full_scale` (the deviation at least 1e-6).
fn moments(full_scale: f32, features: &[f32]) -> (f64, f64) {
    let n = features.len().max(1) as f64;
    let scaled = features
        .iter()
        .map(|&v| f64::from(v) / f64::from(full_scale));
    let (sum, sq) = scaled.fold((0f64, 0f64), |(s, q), v| (s + v, q + v * v));
    let mean = sum / n;
    (mean, (sq / n - mean * mean).max(1e-12).sqrt())
}
