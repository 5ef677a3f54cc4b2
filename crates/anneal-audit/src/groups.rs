//! Metrics per group of a metadata field, with bootstrap intervals, and the gaps between the
//! groups, as Fairlearn defines them:
//!
//! | figure | definition |
//! |---|---|
//! | selection rate | share of the group predicted as the positive class |
//! | true / false positive rate | share of the group's positives / negatives predicted positive |
//! | demographic parity difference | largest minus smallest selection rate |
//! | demographic parity ratio | smallest over largest selection rate |
//! | equalized-odds difference | the larger of the true-positive-rate gap and the false-positive-rate gap |
//! | accuracy difference | largest minus smallest accuracy |
//!
//! The rates need a positive class, so only binary tasks (or a class named as positive) have
//! them. Gaps are taken over the groups of at least [`Options::min_group`] examples: a group
//! of 12 is reported, with its wide interval, but does not decide a gap. Intervals are
//! percentile bootstrap intervals: the test examples resampled with replacement
//! [`Options::resamples`] times from a fixed seed, every figure computed on each resample.

use std::collections::BTreeMap;

use anneal_engine::SplitMix64;
use serde::Serialize;

/// `0.9295 [0.9226, 0.9361]`: a figure and its interval, or `-` where it is undefined.
pub fn shown(e: Option<Estimate>) -> String {
    e.map_or("-".into(), |e| {
        format!("{:.4} [{:.4}, {:.4}]", e.value, e.low, e.high)
    })
}

/// A figure and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// On the test split as it is.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// The test split's true and predicted classes.
#[derive(Debug, Clone, Copy)]
pub struct Outcomes<'a> {
    /// True class per example.
    pub labels: &'a [u32],
    /// Predicted class per example.
    pub predicted: &'a [u32],
    /// Class names.
    pub classes: &'a [String],
}

/// How an audit is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The class counted as selected (its index); `None`: the second of two classes, and no
    /// rates for more than two.
    pub positive: Option<u32>,
    /// Groups with fewer examples are reported but left out of the gaps.
    pub min_group: usize,
    /// Bootstrap resamples (0: no intervals, each the value itself).
    pub resamples: usize,
    /// Interval coverage.
    pub confidence: f64,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            positive: None,
            min_group: 30,
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// One group: the examples whose field has one value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAudit {
    /// The value (`Female`).
    pub value: String,
    /// Test examples in the group.
    pub examples: usize,
    /// Whether the group is large enough to count in the gaps.
    pub gated: bool,
    /// Share predicted correctly.
    pub accuracy: Option<Estimate>,
    /// Share predicted positive.
    pub selection_rate: Option<Estimate>,
    /// Share of its positives predicted positive.
    pub true_positive_rate: Option<Estimate>,
    /// Share of its negatives predicted positive.
    pub false_positive_rate: Option<Estimate>,
}

/// A field's groups and the gaps between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldAudit {
    /// The metadata field.
    pub field: String,
    /// The class counted as selected, where there is one.
    pub positive: Option<String>,
    /// Test examples without the field (in no group).
    pub missing: usize,
    /// The smallest group that counts in the gaps.
    pub min_group: usize,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// The groups, in value order.
    pub groups: Vec<GroupAudit>,
    /// Largest minus smallest accuracy.
    pub accuracy_difference: Option<Estimate>,
    /// Largest minus smallest selection rate.
    pub demographic_parity_difference: Option<Estimate>,
    /// Smallest over largest selection rate.
    pub demographic_parity_ratio: Option<Estimate>,
    /// The larger of the true- and false-positive-rate gaps.
    pub equalized_odds_difference: Option<Estimate>,
}

/// Figures per group: accuracy, selection rate, true and false positive rates.
const PER_GROUP: usize = 4;

/// Counts of one group.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    n: usize,
    correct: usize,
    selected: usize,
    positives: usize,
    true_positives: usize,
    false_positives: usize,
}

impl Counts {
    fn add(&mut self, label: u32, predicted: u32, positive: Option<u32>) {
        self.n += 1;
        self.correct += usize::from(label == predicted);
        let Some(pos) = positive else { return };
        let (is, said) = (label == pos, predicted == pos);
        self.selected += usize::from(said);
        self.positives += usize::from(is);
        self.true_positives += usize::from(is && said);
        self.false_positives += usize::from(!is && said);
    }

    /// Accuracy, selection rate, TPR, FPR; NaN where undefined.
    fn rates(&self, binary: bool) -> [f64; PER_GROUP] {
        let share = |a: usize, b: usize| {
            if b == 0 {
                f64::NAN
            } else {
                a as f64 / b as f64
            }
        };
        let accuracy = share(self.correct, self.n);
        if !binary {
            return [accuracy, f64::NAN, f64::NAN, f64::NAN];
        }
        let negatives = self.n - self.positives;
        [
            accuracy,
            share(self.selected, self.n),
            share(self.true_positives, self.positives),
            share(self.false_positives, negatives),
        ]
    }
}

/// Audit `field`: `values[i]` is example `i`'s value of it (`None`: it has none).
pub fn audit_field(
    field: &str,
    outcomes: &Outcomes<'_>,
    values: &[Option<String>],
    opts: &Options,
) -> FieldAudit {
    let positive = opts.positive.or((outcomes.classes.len() == 2).then_some(1));
    let (names, members) = group_members(values);
    let counts = count(outcomes, &members, names.len(), positive, None);
    let gated: Vec<bool> = counts.iter().map(|c| c.n >= opts.min_group).collect();
    let value = figures(&counts, &gated, positive.is_some());
    let samples = bootstrap(outcomes, &members, names.len(), positive, &gated, opts);
    let groups = Groups {
        names,
        counts,
        gated,
        estimates: estimates(&value, samples, opts.confidence),
    };
    FieldAudit {
        field: field.to_string(),
        positive: positive.and_then(|p| outcomes.classes.get(p as usize).cloned()),
        missing: values.len() - members.len(),
        min_group: opts.min_group,
        resamples: opts.resamples,
        ..groups.audits()
    }
}

/// The groups of a field with their counts, whether each is gated, and every figure's
/// estimate ([`PER_GROUP`] per group, then the gaps).
struct Groups {
    names: Vec<String>,
    counts: Vec<Counts>,
    gated: Vec<bool>,
    estimates: Vec<Option<Estimate>>,
}

/// The distinct values in order, and each example's group index (those with a value).
fn group_members(values: &[Option<String>]) -> (Vec<String>, Vec<(usize, usize)>) {
    let mut index: BTreeMap<&str, usize> =
        values.iter().flatten().map(|v| (v.as_str(), 0)).collect();
    for (i, slot) in index.values_mut().enumerate() {
        *slot = i;
    }
    let members = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_deref().map(|v| (i, index[v])))
        .collect();
    (index.keys().map(|k| k.to_string()).collect(), members)
}

/// Counts per group, over `members` or (given `rng`) a resample of them with replacement.
fn count(
    outcomes: &Outcomes<'_>,
    members: &[(usize, usize)],
    groups: usize,
    positive: Option<u32>,
    mut rng: Option<&mut SplitMix64>,
) -> Vec<Counts> {
    let mut counts = vec![Counts::default(); groups];
    for k in 0..members.len() {
        let pick = rng.as_mut().map_or(k, |r| r.below(members.len()));
        let (i, g) = members[pick];
        counts[g].add(outcomes.labels[i], outcomes.predicted[i], positive);
    }
    counts
}

/// Every figure, flat: [`PER_GROUP`] per group, then the four gaps.
fn figures(counts: &[Counts], gated: &[bool], binary: bool) -> Vec<f64> {
    let rates: Vec<[f64; PER_GROUP]> = counts.iter().map(|c| c.rates(binary)).collect();
    let spread = |k: usize| {
        let kept = rates.iter().zip(gated).filter(|(_, g)| **g);
        let finite = kept.map(|(r, _)| r[k]).filter(|v| v.is_finite());
        finite.fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    };
    let gap = |k: usize| spread(k).map_or(f64::NAN, |(lo, hi)| hi - lo);
    let ratio = spread(1).map_or(
        f64::NAN,
        |(lo, hi)| if hi > 0.0 { lo / hi } else { f64::NAN },
    );
    let mut out: Vec<f64> = rates.iter().flatten().copied().collect();
    out.extend([gap(0), gap(1), ratio, gap(2).max(gap(3))]);
    out
}

/// The figures of `opts.resamples` bootstrap resamples, one list per figure.
fn bootstrap(
    outcomes: &Outcomes<'_>,
    members: &[(usize, usize)],
    groups: usize,
    positive: Option<u32>,
    gated: &[bool],
    opts: &Options,
) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(opts.seed);
    let mut samples = vec![Vec::with_capacity(opts.resamples); groups * PER_GROUP + 4];
    for _ in 0..opts.resamples {
        let counts = count(outcomes, members, groups, positive, Some(&mut rng));
        for (s, v) in samples
            .iter_mut()
            .zip(figures(&counts, gated, positive.is_some()))
        {
            s.push(v);
        }
    }
    samples
}

/// Each figure with its percentile interval (`None` where the figure is undefined).
fn estimates(value: &[f64], samples: Vec<Vec<f64>>, confidence: f64) -> Vec<Option<Estimate>> {
    let tail = (1.0 - confidence) / 2.0;
    let interval = |mut s: Vec<f64>, v: f64| {
        s.retain(|x| x.is_finite());
        s.sort_by(f64::total_cmp);
        let at = |q: f64| s.get(((s.len().max(1) - 1) as f64 * q).round() as usize);
        let (low, high) = (at(tail).copied(), at(1.0 - tail).copied());
        Estimate {
            value: v,
            low: low.unwrap_or(v),
            high: high.unwrap_or(v),
        }
    };
    let pairs = value.iter().zip(samples);
    pairs
        .map(|(&v, s)| v.is_finite().then(|| interval(s, v)))
        .collect()
}

impl Groups {
    /// The per-group audits and the gaps (the field's other figures left empty).
    fn audits(self) -> FieldAudit {
        let e = &self.estimates;
        let group = |(g, name): (usize, &String)| GroupAudit {
            value: name.clone(),
            examples: self.counts[g].n,
            gated: self.gated[g],
            accuracy: e[g * PER_GROUP],
            selection_rate: e[g * PER_GROUP + 1],
            true_positive_rate: e[g * PER_GROUP + 2],
            false_positive_rate: e[g * PER_GROUP + 3],
        };
        let gaps = &e[self.names.len() * PER_GROUP..];
        FieldAudit {
            field: String::new(),
            positive: None,
            missing: 0,
            min_group: 0,
            resamples: 0,
            groups: self.names.iter().enumerate().map(group).collect(),
            accuracy_difference: gaps[0],
            demographic_parity_difference: gaps[1],
            demographic_parity_ratio: gaps[2],
            equalized_odds_difference: gaps[3],
        }
    }
}
