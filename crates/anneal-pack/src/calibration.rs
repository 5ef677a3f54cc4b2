//! Calibration: whether a model's confidence means what it says. Each test prediction's
//! confidence (its top probability) falls into one of [`BINS`] equal-width bins over
//! `[0, 1]`; a calibrated model is right as often, in each bin, as its mean confidence there.
//! The expected calibration error (ECE, Guo et al. 2017) is the gap between the two, weighted
//! by each bin's share of the examples; the maximum calibration error (MCE) is the largest
//! gap of a non-empty bin.

use serde::Serialize;

/// Equal-width confidence bins (Guo et al.'s 15).
pub const BINS: usize = 15;

/// One bin of the reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge of the confidence interval `(low, low + 1 / BINS]`.
    pub low: f64,
    /// Predictions whose confidence falls in it.
    pub examples: usize,
    /// Their mean confidence (0 when empty).
    pub confidence: f64,
    /// How many of them are right, as a share (0 when empty).
    pub accuracy: f64,
}

/// A model's calibration on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Expected calibration error.
    pub ece: f64,
    /// Maximum calibration error over the non-empty bins.
    pub mce: f64,
    /// Mean negative log-likelihood of the true class (natural log).
    pub nll: f64,
    /// The reliability diagram's data.
    pub bins: Vec<Bin>,
    /// The package's temperature scaling, when it has one ([`Calibration::with_temperature`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Scaling>,
}

/// What temperature scaling did to the test predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scaling {
    /// The temperature the build fitted on its validation split.
    pub temperature: f32,
    /// The ECE of the same predictions unscaled.
    pub unscaled_ece: f64,
    /// Their NLL unscaled.
    pub unscaled_nll: f64,
}

impl Calibration {
    /// This calibration of predictions made at temperature `t`, with the figures the
    /// predictions would have had unscaled.
    pub fn with_temperature(self, t: f32, probs: &[Vec<f32>], labels: &[u32]) -> Calibration {
        let unscale = |p: &Vec<f32>| {
            let back = crate::temperature::scaled(p, 1.0 / f64::from(t));
            back.iter().map(|&v| v as f32).collect::<Vec<f32>>()
        };
        let raw = calibration(&probs.iter().map(unscale).collect::<Vec<_>>(), labels);
        let temperature = Some(Scaling {
            temperature: t,
            unscaled_ece: raw.ece,
            unscaled_nll: raw.nll,
        });
        Calibration {
            temperature,
            ..self
        }
    }
}

/// Running sums of one bin.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    n: usize,
    confidence: f64,
    correct: usize,
}

/// The calibration of the predictions `probs` (one row of class probabilities per example)
/// against the true classes `labels`.
pub fn calibration(probs: &[Vec<f32>], labels: &[u32]) -> Calibration {
    let mut sums = [Sums::default(); BINS];
    let mut nll = 0f64;
    for (p, &y) in probs.iter().zip(labels) {
        let top = crate::argmax(p);
        let confidence = f64::from(p.get(top).copied().unwrap_or(0.0));
        let s = &mut sums[bin_of(confidence)];
        s.n += 1;
        s.confidence += confidence;
        s.correct += usize::from(top == y as usize);
        let py = p.get(y as usize).copied().unwrap_or(0.0);
        nll -= f64::from(py.max(1e-12)).ln();
    }
    let bins: Vec<Bin> = sums.iter().enumerate().map(|(i, s)| bin(i, s)).collect();
    let total = probs.len().max(1) as f64;
    let gap = |b: &Bin| (b.accuracy - b.confidence).abs();
    let filled = bins.iter().filter(|b| b.examples > 0);
    Calibration {
        ece: bins
            .iter()
            .map(|b| b.examples as f64 / total * gap(b))
            .sum(),
        mce: filled.map(gap).fold(0.0, f64::max),
        nll: nll / total,
        bins,
        temperature: None,
    }
}

/// The bin of a confidence: `(k/BINS, (k+1)/BINS]` as Guo et al. bin them (0 in the first).
fn bin_of(confidence: f64) -> usize {
    let k = (confidence * BINS as f64).ceil() as usize;
    k.saturating_sub(1).min(BINS - 1)
}

fn bin(i: usize, s: &Sums) -> Bin {
    let per = |x: f64| if s.n == 0 { 0.0 } else { x / s.n as f64 };
    Bin {
        low: i as f64 / BINS as f64,
        examples: s.n,
        confidence: per(s.confidence),
        accuracy: per(s.correct as f64),
    }
}
