//! Metrics per value of each metadata field of the evaluated examples: the slices
//! `speaker = lucas`, `sex = Female` that `[[check]]`s with `where` and `for_each` read.
//!
//! Every field any example has is listed, with how many distinct values it takes and how many
//! examples lack it; the per-value figures are kept for fields of at most
//! [`MAX_SLICE_VALUES`] values (an id-like field such as a file name has as many values as
//! examples, and a slice of one example says nothing). So the package header grows with the
//! number of (field, value) pairs, not with the number of examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::argmax;

/// Per-value metrics are kept for fields with at most this many distinct values.
pub const MAX_SLICE_VALUES: usize = 64;

/// One metadata field of the evaluated examples, and the metrics of each of its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSlices {
    /// The field (`speaker`).
    pub field: String,
    /// Distinct values the examples have.
    pub distinct: usize,
    /// Examples without this field.
    pub missing: usize,
    /// Per value, in value order; empty when `distinct` is over the bound it was computed with.
    pub values: Vec<SliceMetrics>,
}

/// The examples whose field has one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceMetrics {
    /// The value (`lucas`).
    pub value: String,
    /// Examples with it.
    pub examples: usize,
    /// Of those, predicted correctly.
    pub correct: usize,
    /// `correct / examples`.
    pub accuracy: f64,
    /// Mean cross-entropy (natural log).
    pub loss: f64,
}

impl FieldSlices {
    /// The metrics of `value`, if any example has it (and the values were kept).
    pub fn value(&self, value: &str) -> Option<&SliceMetrics> {
        self.values.iter().find(|v| v.value == value)
    }

    /// Whether the per-value figures were left out, the field having too many values.
    pub fn truncated(&self) -> bool {
        self.values.len() < self.distinct
    }
}

/// Running sums of one slice.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    examples: usize,
    correct: usize,
    loss: f64,
}

/// Field, then value, then its tally.
type Tallies<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Tally>>;

/// Every field of `meta` (one map per example, beside `probs` with `classes` values per example
/// and `labels`), with per-value metrics for those of at most [`MAX_SLICE_VALUES`] values.
pub fn slices(
    probs: &[f32],
    labels: &[u32],
    classes: usize,
    meta: &[BTreeMap<String, String>],
) -> Vec<FieldSlices> {
    let tallies = tally(probs, labels, classes, meta, |_| true);
    let n = labels.len();
    let field = |(f, t)| field_slices(f, &t, n, MAX_SLICE_VALUES);
    tallies.into_iter().map(field).collect()
}

/// One field, every value of it however many there are; `None` when no example has it.
pub fn slices_of(
    field: &str,
    probs: &[f32],
    labels: &[u32],
    classes: usize,
    meta: &[BTreeMap<String, String>],
) -> Option<FieldSlices> {
    let tallies = tally(probs, labels, classes, meta, |f| f == field);
    let values = tallies.get(field)?;
    Some(field_slices(field, values, labels.len(), usize::MAX))
}

/// Tallies of the fields `keep` selects.
fn tally<'a>(
    probs: &[f32],
    labels: &[u32],
    classes: usize,
    meta: &'a [BTreeMap<String, String>],
    keep: impl Fn(&str) -> bool,
) -> Tallies<'a> {
    let mut tallies = Tallies::new();
    let rows = probs.chunks(classes.max(1)).zip(labels).zip(meta);
    for ((p, &y), fields) in rows {
        let y = y as usize;
        let (correct, loss) = match p.get(y) {
            Some(py) => (argmax(p) == y, -f64::from(py.max(1e-12)).ln()),
            None => (false, 0.0),
        };
        for (f, v) in fields.iter().filter(|(f, _)| keep(f)) {
            let t = tallies.entry(f).or_default().entry(v).or_default();
            t.examples += 1;
            t.correct += usize::from(correct);
            t.loss += loss;
        }
    }
    tallies
}

/// A field's summary from its tallies, of `n` examples in all, values kept up to `limit`.
fn field_slices(
    field: &str,
    values: &BTreeMap<&str, Tally>,
    n: usize,
    limit: usize,
) -> FieldSlices {
    let with: usize = values.values().map(|t| t.examples).sum();
    let kept = if values.len() <= limit {
        values.iter().map(|(v, t)| slice_metrics(v, t)).collect()
    } else {
        Vec::new()
    };
    FieldSlices {
        field: field.to_string(),
        distinct: values.len(),
        missing: n.saturating_sub(with),
        values: kept,
    }
}

fn slice_metrics(value: &str, t: &Tally) -> SliceMetrics {
    let per = |x: f64| {
        if t.examples == 0 {
            0.0
        } else {
            x / t.examples as f64
        }
    };
    SliceMetrics {
        value: value.to_string(),
        examples: t.examples,
        correct: t.correct,
        accuracy: per(t.correct as f64),
        loss: per(t.loss),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let own = |(f, v): &(&str, &str)| (f.to_string(), v.to_string());
        pairs.iter().map(own).collect()
    }

    #[test]
    fn each_value_of_each_field_is_counted() {
        // Predictions: right, wrong, right, right (two classes).
        let probs = [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4];
        let labels = [0, 1, 1, 0];
        let meta = [
            meta(&[("sex", "F"), ("speaker", "ann")]),
            meta(&[("sex", "F"), ("speaker", "bo")]),
            meta(&[("sex", "M"), ("speaker", "bo")]),
            meta(&[("speaker", "cy")]),
        ];
        let s = slices(&probs, &labels, 2, &meta);
        let fields: Vec<&str> = s.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["sex", "speaker"]);
        assert_eq!((s[0].distinct, s[0].missing), (2, 1));
        let f = s[0].value("F").unwrap();
        assert_eq!((f.examples, f.correct, f.accuracy), (2, 1, 0.5));
        assert!((f.loss - (-(0.9f64.ln()) - 0.2f64.ln()) / 2.0).abs() < 1e-6);
        let bo = s[1].value("bo").unwrap();
        assert_eq!((bo.examples, bo.correct), (2, 1));
        assert_eq!(s[1].value("dee"), None);
        let one = slices_of("speaker", &probs, &labels, 2, &meta).unwrap();
        assert_eq!(one, s[1]);
        assert_eq!(slices_of("accent", &probs, &labels, 2, &meta), None);
    }

    #[test]
    fn fields_of_too_many_values_keep_only_their_count() {
        let n = MAX_SLICE_VALUES + 1;
        let probs: Vec<f32> = (0..n).flat_map(|_| [1.0, 0.0]).collect();
        let meta: Vec<_> = (0..n).map(|i| meta(&[("file", &i.to_string())])).collect();
        let s = slices(&probs, &vec![0; n], 2, &meta);
        assert_eq!((s[0].distinct, s[0].values.len()), (n, 0));
        assert!(s[0].truncated());
        let all = slices_of("file", &probs, &vec![0; n], 2, &meta).unwrap();
        assert_eq!(all.values.len(), n);
    }
}
