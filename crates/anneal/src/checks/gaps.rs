//! A gap between the groups of a metadata field (`by = "sex"`), from the per-class counts the
//! package keeps for each value, with `anneal audit`'s definitions (Fairlearn's):
//!
//! | metric | value |
//! |---|---|
//! | `demographic_parity_difference` | largest minus smallest selection rate |
//! | `demographic_parity_ratio` | smallest over largest selection rate |
//! | `equalized_odds_difference` | the larger of the true- and false-positive-rate gaps |
//!
//! Only the groups of at least `min_group` test examples count; the smaller ones are reported
//! and left out. A rate a group does not define (a true positive rate without positives) is
//! left out of its gap, as the audit leaves it.

use anneal_pack::{Metrics, SliceMetrics};
use anneal_spec::{Check, DEFAULT_MIN_GROUP, Metric};
use serde::Serialize;

use super::slices::{PREDATES_COUNTS, sliced_field};
use super::{CheckResult, positive};

/// One group of a gap check: its size, whether it counts, and the rates the gap compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    // Fields in name order, as the rest of `anneal test --json`.
    /// Its test examples.
    pub examples: usize,
    /// Share of its negatives predicted positive (equalized odds only; absent if it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_positive_rate: Option<f64>,
    /// Whether it has at least `min_group` examples, and so counts in the gap.
    pub gated: bool,
    /// Share of it predicted positive (the demographic parity metrics only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection_rate: Option<f64>,
    /// Share of its positives predicted positive (equalized odds only; absent if it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub true_positive_rate: Option<f64>,
    /// The field's value (`Female`).
    pub value: String,
}

impl Group {
    /// `Female: selection rate 0.0820 on 5421 examples`, or why it was left out.
    pub fn line(&self, min_group: usize) -> String {
        let (value, n) = (&self.value, self.examples);
        if !self.gated {
            return format!("{value}: {n} examples, under min_group {min_group}: left out");
        }
        let rates = [
            ("selection rate", self.selection_rate),
            ("true positive rate", self.true_positive_rate),
            ("false positive rate", self.false_positive_rate),
        ];
        let shown: Vec<String> = rates
            .iter()
            .filter_map(|(name, rate)| rate.map(|r| format!("{name} {r:.4}")))
            .collect();
        format!("{value}: {} on {n} examples", shown.join(", "))
    }
}

/// The gap check `check` between the groups of `field`: one result, with its groups.
pub(super) fn run(check: &Check, field: &str, metrics: &Metrics) -> CheckResult {
    let min_group = check.min_group.unwrap_or(DEFAULT_MIN_GROUP);
    let (measured, groups) = match groups(check, field, metrics, min_group) {
        Ok(groups) => (gap(check.metric, field, &groups, min_group), Some(groups)),
        Err(problem) => (Err(problem), None),
    };
    let result = CheckResult::of(check, check.name.clone(), measured.map(|v| (v, None)));
    CheckResult {
        examples: None,
        groups,
        min_group: Some(min_group),
        ..result
    }
}

/// Every group of `field`, or why the package cannot tell them apart.
fn groups(
    check: &Check,
    field: &str,
    metrics: &Metrics,
    min_group: usize,
) -> Result<Vec<Group>, String> {
    let slices = sliced_field(metrics, field)?;
    if !slices.values.iter().all(SliceMetrics::has_counts) {
        return Err(PREDATES_COUNTS.into());
    }
    let p = positive(check, metrics)?;
    let group = |s: &SliceMetrics| group(check.metric, s, p, min_group);
    Ok(slices.values.iter().map(group).collect())
}

/// One value's group, with the rates `metric` compares for the positive class `p`.
fn group(metric: Metric, s: &SliceMetrics, p: usize, min_group: usize) -> Group {
    let odds = metric == Metric::EqualizedOddsDifference;
    Group {
        examples: s.examples,
        false_positive_rate: s.false_positive_rate(p).filter(|_| odds),
        gated: s.examples >= min_group,
        selection_rate: s.selection_rate(p).filter(|_| !odds),
        true_positive_rate: s.true_positive_rate(p).filter(|_| odds),
        value: s.value.clone(),
    }
}

/// The gap between the groups that count, or why it is not measured.
fn gap(metric: Metric, field: &str, groups: &[Group], min_group: usize) -> Result<f64, String> {
    let gated: Vec<&Group> = groups.iter().filter(|g| g.gated).collect();
    if gated.len() < 2 {
        return Err(too_few(field, groups, min_group));
    }
    let spread = |rate: fn(&Group) -> Option<f64>| spread(gated.iter().filter_map(|g| rate(g)));
    let difference = |rate| spread(rate).map(|(low, high)| high - low);
    let value = match metric {
        Metric::DemographicParityDifference => difference(|g| g.selection_rate),
        Metric::DemographicParityRatio => {
            spread(|g| g.selection_rate).and_then(|(low, high)| (high > 0.0).then(|| low / high))
        }
        Metric::EqualizedOddsDifference => {
            let tpr = difference(|g| g.true_positive_rate);
            let fpr = difference(|g| g.false_positive_rate);
            tpr.into_iter().chain(fpr).reduce(f64::max)
        }
        _ => return Err(format!("`{}` is not a gap", metric.name())),
    };
    value.ok_or_else(|| undefined_gap(metric, field))
}

/// The smallest and largest of `rates`, if there are any.
fn spread(rates: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    rates.fold(None, |acc, r| match acc {
        None => Some((r, r)),
        Some((low, high)) => Some((low.min(r), high.max(r))),
    })
}

/// The problem of a field with fewer than two groups of `min_group` examples.
fn too_few(field: &str, groups: &[Group], min_group: usize) -> String {
    let sizes: Vec<String> = groups
        .iter()
        .map(|g| format!("{} {}", g.value, g.examples))
        .collect();
    format!(
        "fewer than two groups of `{field}` have at least {min_group} test examples ({}): a gap needs two; lower `min_group` to compare smaller groups",
        sizes.join(", ")
    )
}

fn undefined_gap(metric: Metric, field: &str) -> String {
    let why = match metric {
        Metric::DemographicParityRatio => "no group is ever predicted positive",
        _ => "no group defines the rates it compares",
    };
    format!("{} by {field} is undefined: {why}", metric.name())
}
