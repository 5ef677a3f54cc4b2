//! Metrics per value of each metadata field of the evaluated examples: the slices
//! `speaker = lucas`, `sex = Female` that `[[check]]`s with `where` and `for_each` read.
//!
//! Every field any example has is listed, with how many distinct values it takes and how many
//! examples lack it; the per-value figures are kept for fields of at most
//! [`MAX_SLICE_VALUES`] values (an id-like field such as a file name has as many values as
//! examples, and a slice of one example says nothing). So the package header grows with the
//! number of (field, value) pairs, not with the number of examples.
//!
//! Each value also keeps three counts per class, from which the group rates of a positive
//! class `p` follow (the figures Fairlearn's `MetricFrame` gives, and `anneal audit` reports):
//!
//! | rate | from the counts | undefined when |
//! |---|---|---|
//! | selection rate | `predicted[p] / examples` | never (a value has examples) |
//! | true positive rate | `hits[p] / labelled[p]` | no example of the group is of class `p` |
//! | false positive rate | `(predicted[p] - hits[p]) / (examples - labelled[p])` | every example is |

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
    /// Per class, examples whose true label it is; empty in a package built before the counts
    /// were kept.
    #[serde(default)]
    pub labelled: Vec<usize>,
    /// Per class, examples predicted as it (empty in an older package).
    #[serde(default)]
    pub predicted: Vec<usize>,
    /// Per class, examples of it predicted as it (empty in an older package).
    #[serde(default)]
    pub hits: Vec<usize>,
}

impl SliceMetrics {
    /// Whether the per-class counts were kept (a package built before them has none).
    pub fn has_counts(&self) -> bool {
        !self.labelled.is_empty()
    }

    /// Share of the examples predicted as class `p`; `None` without counts.
    pub fn selection_rate(&self, p: usize) -> Option<f64> {
        share(*self.predicted.get(p)?, self.examples)
    }

    /// Share of the examples of class `p` predicted as it; `None` without counts or such
    /// examples.
    pub fn true_positive_rate(&self, p: usize) -> Option<f64> {
        share(*self.hits.get(p)?, *self.labelled.get(p)?)
    }

    /// Share of the examples of other classes predicted as `p`; `None` without counts or such
    /// examples.
    pub fn false_positive_rate(&self, p: usize) -> Option<f64> {
        let wrong = self.predicted.get(p)?.saturating_sub(*self.hits.get(p)?);
        share(wrong, self.examples.saturating_sub(*self.labelled.get(p)?))
    }
}

/// `part / whole`, `None` for an empty whole.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
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
#[derive(Debug, Default, Clone)]
struct Tally {
    examples: usize,
    correct: usize,
    loss: f64,
    labelled: Vec<usize>,
    predicted: Vec<usize>,
    hits: Vec<usize>,
}

impl Tally {
    fn new(classes: usize) -> Tally {
        Tally {
            labelled: vec![0; classes],
            predicted: vec![0; classes],
            hits: vec![0; classes],
            ..Tally::default()
        }
    }

    /// One example of true class `y` predicted as `guess` (`y` past the classes: counted as
    /// wrong, in no class's labelled count).
    fn add(&mut self, y: usize, guess: usize, loss: f64) {
        let correct = guess == y;
        self.examples += 1;
        self.correct += usize::from(correct);
        self.loss += loss;
        if let Some(n) = self.labelled.get_mut(y) {
            *n += 1;
        }
        if let Some(n) = self.predicted.get_mut(guess) {
            *n += 1;
        }
        if let Some(n) = self.hits.get_mut(y).filter(|_| correct) {
            *n += 1;
        }
    }
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
        let (y, guess) = (y as usize, argmax(p));
        let loss = p.get(y).map_or(0.0, |py| -f64::from(py.max(1e-12)).ln());
        for (f, v) in fields.iter().filter(|(f, _)| keep(f)) {
            let values = tallies.entry(f).or_default();
            let t = values.entry(v).or_insert_with(|| Tally::new(classes));
            t.add(y, guess, loss);
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
        labelled: t.labelled.clone(),
        predicted: t.predicted.clone(),
        hits: t.hits.clone(),
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
    fn each_value_counts_labels_predictions_and_hits_per_class() {
        // (true, predicted) per example, two classes; group a: (1,1) (1,0) (0,1) (0,0) (0,0);
        // group b: (1,1) (0,0); one example of class 2, past the classes, in group b.
        let rows = [
            (1, 1),
            (1, 0),
            (0, 1),
            (0, 0),
            (0, 0),
            (1, 1),
            (0, 0),
            (2, 0),
        ];
        let probs: Vec<f32> = rows.iter().flat_map(|&(_, p)| onehot(p)).collect();
        let labels: Vec<u32> = rows.iter().map(|&(y, _)| y).collect();
        let groups = ["a", "a", "a", "a", "a", "b", "b", "b"];
        let meta: Vec<_> = groups.iter().map(|g| meta(&[("g", g)])).collect();
        let s = slices(&probs, &labels, 2, &meta);
        let a = s[0].value("a").unwrap();
        assert_eq!(
            (&a.labelled, &a.predicted, &a.hits),
            (&vec![3, 2], &vec![3, 2], &vec![2, 1])
        );
        // Selection 2/5, TPR 1/2, FPR 1/3 for the positive class 1.
        let rates = (
            a.selection_rate(1),
            a.true_positive_rate(1),
            a.false_positive_rate(1),
        );
        assert_eq!(rates, (Some(0.4), Some(0.5), Some(1.0 / 3.0)));
        let b = s[0].value("b").unwrap();
        assert_eq!(
            (&b.labelled, &b.predicted, &b.hits),
            (&vec![1, 1], &vec![2, 1], &vec![1, 1])
        );
        assert_eq!(
            b.false_positive_rate(1),
            Some(0.0),
            "2 negatives (one unknown class)"
        );
        assert_eq!(b.false_positive_rate(0), Some(0.5));
        assert_eq!(b.true_positive_rate(5), None, "no such class");
    }

    #[test]
    fn a_rate_of_a_group_without_positives_or_counts_is_undefined() {
        let probs = [0.9, 0.1, 0.8, 0.2];
        let meta = [meta(&[("g", "a")]), meta(&[("g", "a")])];
        let s = slices(&probs, &[0, 0], 2, &meta);
        let a = s[0].value("a").unwrap();
        assert_eq!(a.true_positive_rate(1), None);
        assert_eq!(a.false_positive_rate(0), None);
        assert_eq!(a.selection_rate(1), Some(0.0));
        // A package built before the counts: the slice reads, with no rates.
        let old = r#"{"value":"a","examples":2,"correct":2,"accuracy":1.0,"loss":0.1}"#;
        let old: SliceMetrics = serde_json::from_str(old).unwrap();
        assert!(!old.has_counts() && a.has_counts());
        assert_eq!(old.selection_rate(1), None);
    }

    /// Probabilities that predict class `p` of two.
    fn onehot(p: u32) -> [f32; 2] {
        if p == 1 { [0.2, 0.8] } else { [0.8, 0.2] }
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
