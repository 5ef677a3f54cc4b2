//! Classification metrics: accuracy, per-class precision/recall/F1 and the confusion matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::slices::{FieldSlices, SliceMetrics, slices};

/// Metrics of a model on one labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Examples evaluated.
    pub examples: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Mean cross-entropy (natural log).
    pub loss: f64,
    /// Per class, in class order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Per value of each metadata field of the examples (see [`crate::slices`]); `None` in a
    /// package built before slices were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<Vec<FieldSlices>>,
}

/// Metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Of the examples predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the examples of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples of this class.
    pub support: u64,
}

impl Metrics {
    /// Compute from probabilities (`labels.len() * classes.len()` values) and true labels.
    pub fn compute(probs: &[f32], labels: &[u32], classes: &[String]) -> Metrics {
        let k = classes.len();
        let mut confusion = vec![vec![0u64; k]; k];
        let mut loss = 0f64;
        for (p, &y) in probs.chunks(k).zip(labels) {
            let y = y as usize;
            if y < k {
                confusion[y][argmax(p)] += 1;
                loss -= f64::from(p[y].max(1e-12)).ln();
            }
        }
        let n = labels.len();
        let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
        let per_class = (0..k)
            .map(|c| ClassMetrics::of(c, &classes[c], &confusion))
            .collect();
        Metrics {
            examples: n,
            accuracy: ratio(correct as f64, n as u64),
            loss: ratio(loss, n as u64),
            per_class,
            confusion,
            slices: None,
        }
    }

    /// These metrics with the slices of every metadata field of the same examples (`meta`,
    /// one map per example, in the order of `probs` and `labels`).
    pub fn with_slices(
        self,
        probs: &[f32],
        labels: &[u32],
        meta: &[BTreeMap<String, String>],
    ) -> Metrics {
        let slices = slices(probs, labels, self.per_class.len(), meta);
        Metrics {
            slices: Some(slices),
            ..self
        }
    }

    /// Whether the slices were measured with everything this version keeps of them (the
    /// per-class counts too): a package without is built again.
    pub fn slices_current(&self) -> bool {
        let current = |f: &FieldSlices| f.values.iter().all(SliceMetrics::has_counts);
        self.slices
            .as_deref()
            .is_some_and(|s| s.iter().all(current))
    }

    /// The slices of metadata field `field`, if they were measured and an example has it.
    pub fn field(&self, field: &str) -> Option<&FieldSlices> {
        let slices = self.slices.as_deref()?;
        slices.iter().find(|f| f.field == field)
    }

    /// Macro average of a per-class figure.
    pub fn macro_avg(&self, f: impl Fn(&ClassMetrics) -> f64) -> f64 {
        if self.per_class.is_empty() {
            return 0.0;
        }
        self.per_class.iter().map(f).sum::<f64>() / self.per_class.len() as f64
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

impl ClassMetrics {
    /// The figures of class `c` (named `class`) from the confusion matrix.
    fn of(c: usize, class: &str, confusion: &[Vec<u64>]) -> ClassMetrics {
        let tp = confusion[c][c] as f64;
        let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
        let support: u64 = confusion[c].iter().sum();
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let sum = precision + recall;
        let f1 = if sum == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / sum
        };
        ClassMetrics {
            class: class.to_string(),
            precision,
            recall,
            f1,
            support,
        }
    }
}

/// `part / whole`, 0 for an empty whole.
fn ratio(part: f64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_confusion() {
        let classes = vec!["a".to_string(), "b".to_string()];
        // true a, predicted a; true a, predicted b; true b, predicted b.
        let probs = [0.9, 0.1, 0.4, 0.6, 0.2, 0.8];
        let m = Metrics::compute(&probs, &[0, 0, 1], &classes);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 1]]);
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_class[0].recall - 0.5).abs() < 1e-12);
        assert!((m.per_class[1].precision - 0.5).abs() < 1e-12);
        assert!((m.per_class[0].precision - 1.0).abs() < 1e-12);
    }

    #[test]
    fn metrics_without_slices_read_as_an_older_package_wrote_them() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let m = Metrics::compute(&[0.9, 0.1], &[0], &classes);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("slices"), "{json}");
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back.slices, None);
        let meta = [BTreeMap::from([("sex".to_string(), "F".to_string())])];
        let sliced = m.with_slices(&[0.9, 0.1], &[0], &meta);
        let f = sliced.field("sex").unwrap().value("F").unwrap();
        assert_eq!((f.examples, f.correct), (1, 1));
        let json = serde_json::to_string(&sliced).unwrap();
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), sliced);
    }
}
