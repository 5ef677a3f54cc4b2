//! `anneal test`: a program's checks against a package's metrics.
//!
//! - here: a check on the whole test split or one class, and the result type;
//! - [`slices`]: a check on one value of a metadata field (`where`), or on each (`for_each`);
//! - [`gaps`]: a gap between the groups of a field (`by`): demographic parity difference and
//!   ratio, equalized-odds difference, as `anneal audit` and Fairlearn define them;
//! - [`junit`]: the results as JUnit XML.

use std::fmt;

use anneal_pack::{ClassMetrics, Metrics};
use anneal_spec::{Check, Metric, Slice};
use serde::Serialize;

mod gaps;
mod junit;
mod slices;
#[cfg(test)]
mod tests;

pub use gaps::Group;
pub use junit::junit;

/// The outcome of one check, or of one value of a `for_each` check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    // Fields in name order, the order `anneal test --json` has always printed them in.
    /// The floor, for a check that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// The ceiling, for a check that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// Test examples in the slice (absent for a check on the whole split, or a gap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<usize>,
    /// A gap's groups, those it was measured between and those too small to count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    /// A gap's smallest group that counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_group: Option<usize>,
    /// The check's name (`accuracy where speaker = lucas` for one value of a `for_each`).
    pub name: String,
    /// The value is within the bound, and it was measured.
    pub passed: bool,
    /// Why the check could not be measured (a slice with no test examples): a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The measured value (0 when it could not be).
    pub value: f64,
}

/// A measured value and the size of its slice (`None`: the whole split), or why there is none.
type Measured = Result<(f64, Option<usize>), String>;

impl CheckResult {
    /// The result of `check` named `name`: measured, or failed saying why it could not be.
    fn of(check: &Check, name: String, measured: Measured) -> Self {
        let blank = CheckResult {
            at_least: check.at_least,
            at_most: check.at_most,
            examples: Some(0),
            groups: None,
            min_group: None,
            name,
            passed: false,
            problem: None,
            value: 0.0,
        };
        match measured {
            Ok((value, examples)) => CheckResult {
                examples,
                passed: check.admits(value),
                value,
                ..blank
            },
            Err(problem) => CheckResult {
                problem: Some(problem),
                ..blank
            },
        }
    }

    /// "at least 0.9000" or "at most 0.1000".
    pub fn bound(&self) -> String {
        match (self.at_least, self.at_most) {
            (_, Some(ceiling)) => format!("at most {ceiling:.4}"),
            (floor, None) => format!("at least {:.4}", floor.unwrap_or(0.0)),
        }
    }
}

/// Evaluate one check: one result, or one per value of its `for_each` field.
pub fn run(check: &Check, metrics: &Metrics) -> Vec<CheckResult> {
    if let Some(field) = &check.by {
        return vec![gaps::run(check, field, metrics)];
    }
    if let Some(field) = &check.for_each {
        return slices::for_each(check, field, metrics);
    }
    let measured = match &check.slice {
        None => whole(check, metrics).map(|v| (v, None)),
        Some(Slice::Label { class, name }) => match metrics.per_class.get(*class) {
            Some(c) => class_slice(c, check.metric),
            None => Err(format!("no test examples where label = {name}")),
        },
        Some(Slice::Meta { field, value }) => slices::meta_slice(check, metrics, field, value),
    };
    vec![CheckResult::of(check, check.name.clone(), measured)]
}

/// A metric over the whole test split (precision, recall and F1 macro-averaged).
fn whole(check: &Check, metrics: &Metrics) -> Result<f64, String> {
    match check.metric {
        Metric::Accuracy => Ok(metrics.accuracy),
        Metric::Precision => Ok(metrics.macro_avg(|c| c.precision)),
        Metric::Recall => Ok(metrics.macro_avg(|c| c.recall)),
        Metric::F1 => Ok(metrics.macro_avg(|c| c.f1)),
        Metric::SelectionRate | Metric::TruePositiveRate | Metric::FalsePositiveRate => {
            whole_rate(check, metrics)
        }
        Metric::DemographicParityDifference
        | Metric::DemographicParityRatio
        | Metric::EqualizedOddsDifference => {
            Err("a gap needs `by`, the field of its groups".into())
        }
        Metric::RobustAccuracy => {
            Err("robust accuracy is measured on the test split, not the package's metrics".into())
        }
    }
}

/// The result of a `robust_accuracy` check: the accuracy under its attack and the examples
/// attacked, or why they could not be.
pub fn robust(check: &Check, measured: Result<(f64, usize), String>) -> CheckResult {
    CheckResult::of(
        check,
        check.name.clone(),
        measured.map(|(v, n)| (v, Some(n))),
    )
}

/// A rate of the positive class over the whole test split, from the confusion matrix.
fn whole_rate(check: &Check, metrics: &Metrics) -> Result<f64, String> {
    let p = positive(check, metrics)?;
    let c = &metrics.confusion;
    let total: u64 = c.iter().flatten().sum();
    let labelled: u64 = c.get(p).map_or(0, |row| row.iter().sum());
    let predicted: u64 = c.iter().filter_map(|row| row.get(p)).sum();
    let hits = c.get(p).and_then(|row| row.get(p)).copied().unwrap_or(0);
    let share = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let rate = match check.metric {
        Metric::SelectionRate => share(predicted, total),
        Metric::TruePositiveRate => share(hits, labelled),
        _ => share(
            predicted.saturating_sub(hits),
            total.saturating_sub(labelled),
        ),
    };
    rate.ok_or_else(|| undefined(check.metric, &metrics.per_class[p].class, "test examples"))
}

/// The class a rate or gap counts as selected: the check's, or the second of two.
fn positive(check: &Check, metrics: &Metrics) -> Result<usize, String> {
    let classes = metrics.per_class.len();
    let p = check.positive.or((classes == 2).then_some(1));
    p.filter(|p| *p < classes).ok_or_else(|| {
        format!("the check has no positive class among the package's {classes} classes: name one with `positive`")
    })
}

/// Why a rate of class `positive` over `what` is undefined.
fn undefined(metric: Metric, positive: &str, what: &str) -> String {
    let none = match metric {
        Metric::TruePositiveRate => format!("none of the {what} are of class {positive}"),
        Metric::FalsePositiveRate => format!("all the {what} are of class {positive}"),
        _ => format!("there are no {what}"),
    };
    format!("{} is undefined: {none}", metric.name())
}

/// A metric on the slice of one true label: there, accuracy is that class's recall.
fn of_class(c: &ClassMetrics, metric: Metric) -> f64 {
    match metric {
        Metric::Precision => c.precision,
        Metric::F1 => c.f1,
        // The validator keeps rates and gaps off label slices; recall is the nearest figure.
        _ => c.recall,
    }
}

/// A metric on the slice of one class, and its size, or why there is none.
fn class_slice(c: &ClassMetrics, metric: Metric) -> Measured {
    if metric.is_rate() || metric.is_gap() {
        return Err(format!("`{}` is not measured per class", metric.name()));
    }
    match c.support {
        0 => Err(format!("no test examples where label = {}", c.class)),
        n => Ok((of_class(c, metric), Some(n as usize))),
    }
}

impl fmt::Display for CheckResult {
    /// `ok   NAME   VALUE (at least FLOOR) on N examples`, or the problem; a gap's groups
    /// follow, one a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "ok  " } else { "FAIL" };
        let (name, value, bound) = (&self.name, self.value, self.bound());
        match (&self.problem, self.examples) {
            (Some(problem), _) => write!(f, "{mark} {name:<32} {problem}")?,
            (None, None) => write!(f, "{mark} {name:<32} {value:.4} ({bound})")?,
            (None, Some(n)) => write!(f, "{mark} {name:<32} {value:.4} ({bound}) on {n} examples")?,
        }
        for g in self.groups.iter().flatten() {
            write!(f, "\n       {}", g.line(self.min_group.unwrap_or(0)))?;
        }
        Ok(())
    }
}
