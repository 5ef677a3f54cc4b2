//! `anneal.audit`: what a build measured of its package's risks, in the package, for a
//! registry or a server to show without the dataset: the test predictions' calibration, the
//! gaps between the groups of each metadata field (from the per-class counts the metrics keep),
//! and the accuracy under each attack the program's checks name. `anneal audit` measures more
//! (intervals, attributions, whole curves); this is its summary, fixed at build time.

use anneal_spec::Adversarial;
use serde::{Deserialize, Serialize};

use crate::calibration::calibration;
use crate::{FieldSlices, Metrics, SliceMetrics};

/// Groups smaller than this are left out of the summary's gaps (as `anneal audit`'s default).
pub const MIN_GROUP: usize = 30;

/// The summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSummary {
    /// Calibration of the test predictions.
    pub calibration: Calibrated,
    /// The gaps of each metadata field with at least two groups of [`MIN_GROUP`] examples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Gaps>,
    /// Accuracy under the attacks the program's checks name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustness: Vec<Robust>,
}

/// Calibration figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibrated {
    /// Expected calibration error (15 bins).
    pub ece: f64,
    /// Maximum calibration error.
    pub mce: f64,
    /// Mean negative log-likelihood.
    pub nll: f64,
}

/// The gaps between the groups of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gaps {
    /// The field.
    pub field: String,
    /// The groups compared (those of at least [`MIN_GROUP`] examples).
    pub groups: usize,
    /// Largest minus smallest accuracy.
    pub accuracy_difference: f64,
    /// Binary programs (the second class counted as selected): largest minus smallest
    /// selection rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographic_parity_difference: Option<f64>,
    /// Smallest over largest selection rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographic_parity_ratio: Option<f64>,
    /// The larger of the true- and false-positive-rate gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalized_odds_difference: Option<f64>,
}

/// Accuracy on the test split under one attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robust {
    /// The attack.
    #[serde(flatten)]
    pub attack: Adversarial,
    /// Accuracy under it.
    pub accuracy: f64,
    /// Test examples attacked.
    pub examples: usize,
}

impl AuditSummary {
    /// The summary of test predictions `probs` (one row per example) with true classes
    /// `labels`, whose metrics are `metrics`, with the robustness measured.
    pub fn new(
        probs: &[Vec<f32>],
        labels: &[u32],
        metrics: &Metrics,
        robustness: Vec<Robust>,
    ) -> Self {
        let c = calibration(probs, labels);
        let binary = metrics.per_class.len() == 2;
        let fields = metrics.slices.iter().flatten();
        AuditSummary {
            calibration: Calibrated {
                ece: c.ece,
                mce: c.mce,
                nll: c.nll,
            },
            groups: fields.filter_map(|f| gaps(f, binary)).collect(),
            robustness,
        }
    }

    /// Whether every figure is a finite number (a package is untrusted input).
    pub fn is_finite(&self) -> bool {
        let c = &self.calibration;
        let gaps = self.groups.iter().flat_map(|g| {
            let rates = [
                g.demographic_parity_difference,
                g.demographic_parity_ratio,
                g.equalized_odds_difference,
            ];
            std::iter::once(g.accuracy_difference).chain(rates.into_iter().flatten())
        });
        let robust = self.robustness.iter().map(|r| r.accuracy);
        [c.ece, c.mce, c.nll]
            .into_iter()
            .chain(gaps)
            .chain(robust)
            .all(f64::is_finite)
    }
}

/// The gaps of `field` over its groups of at least [`MIN_GROUP`] examples, if two are.
fn gaps(field: &FieldSlices, binary: bool) -> Option<Gaps> {
    let gated: Vec<&SliceMetrics> = field
        .values
        .iter()
        .filter(|v| v.examples >= MIN_GROUP)
        .collect();
    if gated.len() < 2 {
        return None;
    }
    let spread = |rate: &dyn Fn(&SliceMetrics) -> Option<f64>| {
        let rates = gated.iter().filter_map(|g| rate(g));
        rates.fold(None, |acc: Option<(f64, f64)>, r| match acc {
            None => Some((r, r)),
            Some((lo, hi)) => Some((lo.min(r), hi.max(r))),
        })
    };
    let difference =
        |rate: &dyn Fn(&SliceMetrics) -> Option<f64>| spread(rate).map(|(lo, hi)| hi - lo);
    let selection = spread(&|g| g.selection_rate(1)).filter(|_| binary);
    let odds = [
        difference(&|g| g.true_positive_rate(1)),
        difference(&|g| g.false_positive_rate(1)),
    ];
    Some(Gaps {
        field: field.field.clone(),
        groups: gated.len(),
        accuracy_difference: difference(&|g| Some(g.accuracy)).unwrap_or(0.0),
        demographic_parity_difference: selection.map(|(lo, hi)| hi - lo),
        demographic_parity_ratio: selection.and_then(|(lo, hi)| (hi > 0.0).then(|| lo / hi)),
        equalized_odds_difference: odds
            .into_iter()
            .flatten()
            .reduce(f64::max)
            .filter(|_| binary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Group `a` (40 examples): selected half the time; group `b` (40): a quarter; group `c` (5):
    /// always, but too small to count.
    #[test]
    fn the_summary_gaps_follow_the_slice_counts() {
        let mut probs = Vec::new();
        let (mut labels, mut meta) = (Vec::new(), Vec::new());
        let mut add = |group: &str, n: usize, selected: usize| {
            for i in 0..n {
                let p = if i < selected { [0.2, 0.8] } else { [0.8, 0.2] };
                probs.extend(p);
                labels.push((i % 2) as u32);
                meta.push(BTreeMap::from([("g".to_string(), group.to_string())]));
            }
        };
        add("a", 40, 20);
        add("b", 40, 10);
        add("c", 5, 5);
        let classes = ["no".to_string(), "yes".to_string()];
        let metrics =
            Metrics::compute(&probs, &labels, &classes).with_slices(&probs, &labels, &meta);
        let rows: Vec<Vec<f32>> = probs.chunks(2).map(<[f32]>::to_vec).collect();
        let s = AuditSummary::new(&rows, &labels, &metrics, Vec::new());
        let g = &s.groups[0];
        assert_eq!((g.field.as_str(), g.groups), ("g", 2));
        assert!((g.demographic_parity_difference.unwrap() - 0.25).abs() < 1e-12);
        assert!((g.demographic_parity_ratio.unwrap() - 0.5).abs() < 1e-12);
        assert!(s.is_finite() && s.calibration.ece > 0.0);
    }
}
