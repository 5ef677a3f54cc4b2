//! `anneal test`: a program's checks against a package's metrics.

use anneal_pack::{ClassMetrics, FieldSlices, MAX_SLICE_VALUES, Metrics};
use anneal_spec::layer::suggest;
use anneal_spec::{Check, LABEL, Metric, Slice};
use serde::Serialize;

/// The outcome of one check, or of one value of a `for_each` check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    // Fields in name order, the order `anneal test --json` has always printed them in.
    /// The floor.
    pub at_least: f64,
    /// Test examples in the slice (absent for a check on the whole split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<usize>,
    /// The check's name (`accuracy where speaker = lucas` for one value of a `for_each`).
    pub name: String,
    /// `value >= at_least`, and the slice was measured.
    pub passed: bool,
    /// Why the check could not be measured (a slice with no test examples): a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The measured value (0 when it could not be).
    pub value: f64,
}

impl CheckResult {
    /// A measured result.
    fn measured(check: &Check, name: String, value: f64, examples: Option<usize>) -> Self {
        CheckResult {
            at_least: check.at_least,
            examples,
            name,
            passed: value >= check.at_least,
            problem: None,
            value,
        }
    }

    /// A check that could not be measured: it fails, saying why.
    fn unmeasured(check: &Check, name: String, problem: String) -> Self {
        CheckResult {
            at_least: check.at_least,
            examples: Some(0),
            name,
            passed: false,
            problem: Some(problem),
            value: 0.0,
        }
    }
}

/// Evaluate one check: one result, or one per value of its `for_each` field.
pub fn run(check: &Check, metrics: &Metrics) -> Vec<CheckResult> {
    if let Some(field) = &check.for_each {
        return for_each(check, field, metrics);
    }
    let name = check.name.clone();
    let result = match &check.slice {
        None => Ok((whole(check.metric, metrics), None)),
        Some(Slice::Label { class, name }) => match metrics.per_class.get(*class) {
            Some(c) => class_slice(c, check.metric),
            None => Err(format!("no test examples where label = {name}")),
        },
        Some(Slice::Meta { field, value }) => meta_slice(metrics, field, value),
    };
    vec![match result {
        Ok((value, examples)) => CheckResult::measured(check, name, value, examples),
        Err(problem) => CheckResult::unmeasured(check, name, problem),
    }]
}

/// A macro-averaged metric over the whole test split.
fn whole(metric: Metric, metrics: &Metrics) -> f64 {
    match metric {
        Metric::Accuracy => metrics.accuracy,
        Metric::Precision => metrics.macro_avg(|c| c.precision),
        Metric::Recall => metrics.macro_avg(|c| c.recall),
        Metric::F1 => metrics.macro_avg(|c| c.f1),
    }
}

/// A metric on the slice of one true label: there, accuracy is that class's recall.
fn of_class(c: &ClassMetrics, metric: Metric) -> f64 {
    match metric {
        Metric::Accuracy | Metric::Recall => c.recall,
        Metric::Precision => c.precision,
        Metric::F1 => c.f1,
    }
}

/// A metric on the slice of one class, and its size, or why there is none.
fn class_slice(c: &ClassMetrics, metric: Metric) -> Result<(f64, Option<usize>), String> {
    match c.support {
        0 => Err(format!("no test examples where label = {}", c.class)),
        n => Ok((of_class(c, metric), Some(n as usize))),
    }
}

/// Accuracy and size of the slice `field = value`, or why there is none.
fn meta_slice(metrics: &Metrics, field: &str, value: &str) -> Result<(f64, Option<usize>), String> {
    let slices = sliced_field(metrics, field)?;
    match slices.value(value) {
        Some(s) => Ok((s.accuracy, Some(s.examples))),
        None => Err(format!(
            "no test examples where {field} = {value}{}",
            close_values(slices, value)
        )),
    }
}

/// One result per value of `field` (a metadata field, or `label`), named `NAME where F = V`.
fn for_each(check: &Check, field: &str, metrics: &Metrics) -> Vec<CheckResult> {
    let base = check.name.strip_suffix(&format!(" for each {field}"));
    let base = base.unwrap_or(&check.name);
    let named = |value: &str| format!("{base} where {field} = {value}");
    if field == LABEL {
        let class = |c: &ClassMetrics| match class_slice(c, check.metric) {
            Ok((value, n)) => CheckResult::measured(check, named(&c.class), value, n),
            Err(problem) => CheckResult::unmeasured(check, named(&c.class), problem),
        };
        return metrics.per_class.iter().map(class).collect();
    }
    match sliced_field(metrics, field) {
        Ok(slices) => slices
            .values
            .iter()
            .map(|v| CheckResult::measured(check, named(&v.value), v.accuracy, Some(v.examples)))
            .collect(),
        Err(problem) => vec![CheckResult::unmeasured(check, check.name.clone(), problem)],
    }
}

/// The per-value metrics of `field`, or why the package has none.
fn sliced_field<'m>(metrics: &'m Metrics, field: &str) -> Result<&'m FieldSlices, String> {
    let Some(all) = metrics.slices.as_deref() else {
        return Err(
            "the package has no per-slice metrics (it predates them): run `anneal build`".into(),
        );
    };
    let Some(slices) = metrics.field(field) else {
        let names: Vec<&str> = all.iter().map(|f| f.field.as_str()).collect();
        return Err(format!(
            "no test examples have the metadata field `{field}`{}",
            fields_note(&names, field)
        ));
    };
    if slices.truncated() {
        let n = slices.distinct;
        return Err(format!(
            "the metadata field `{field}` has {n} values in the test split; per-value metrics are kept for fields of at most {MAX_SLICE_VALUES}"
        ));
    }
    Ok(slices)
}

/// "; did you mean `lucas`?", or the values there are when they are few.
fn close_values(slices: &FieldSlices, value: &str) -> String {
    let values: Vec<&str> = slices.values.iter().map(|v| v.value.as_str()).collect();
    if let Some(close) = suggest(value, &values) {
        return format!("; did you mean `{close}`?");
    }
    match values.len() {
        1..=12 => format!(" (its values: {})", values.join(", ")),
        _ => String::new(),
    }
}

/// "; did you mean `speaker`?", or the fields there are.
fn fields_note(fields: &[&str], field: &str) -> String {
    if let Some(close) = suggest(field, fields) {
        return format!("; did you mean `{close}`?");
    }
    match fields {
        [] => " (they have no metadata)".into(),
        _ => format!(" (their fields: {})", fields.join(", ")),
    }
}

/// JUnit XML for a set of results.
pub fn junit(suite: &str, results: &[CheckResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        xml(suite),
        results.len()
    );
    for r in results {
        out.push_str(&testcase(suite, r));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// One `<testcase>`, with its `<failure>` when it failed.
fn testcase(suite: &str, r: &CheckResult) -> String {
    let (suite, name) = (xml(suite), xml(&r.name));
    let open = format!("    <testcase classname=\"{suite}\" name=\"{name}\"");
    if r.passed {
        return open + "/>\n";
    }
    let (value, floor) = (r.value, r.at_least);
    let message = match &r.problem {
        Some(problem) => xml(problem),
        None => format!("{name} = {value:.4}, below {floor:.4}"),
    };
    open + &format!(">\n      <failure message=\"{message}\"/>\n    </testcase>\n")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(slice: Option<Slice>, for_each: Option<&str>) -> Check {
        Check {
            name: "c".into(),
            metric: Metric::Accuracy,
            slice,
            for_each: for_each.map(str::to_string),
            at_least: 0.0,
        }
    }

    /// Two classes, one test example of class `a` predicted right; no slices measured.
    fn metrics() -> Metrics {
        Metrics::compute(&[0.9, 0.1], &[0], &["a".to_string(), "b".to_string()])
    }

    #[test]
    fn an_empty_slice_fails_even_under_a_floor_of_zero() {
        let b = Slice::Label {
            class: 1,
            name: "b".into(),
        };
        let r = &run(&check(Some(b), None), &metrics())[0];
        assert!(!r.passed);
        assert_eq!(
            r.problem.as_deref(),
            Some("no test examples where label = b")
        );
        let each = run(&check(None, Some(LABEL)), &metrics());
        let passed: Vec<bool> = each.iter().map(|r| r.passed).collect();
        assert_eq!(passed, [true, false]);
        assert_eq!(each[1].name, "c where label = b");
    }

    #[test]
    fn a_package_without_slices_says_to_build_again() {
        let sex = Slice::Meta {
            field: "sex".into(),
            value: "F".into(),
        };
        let r = &run(&check(Some(sex), None), &metrics())[0];
        assert!(!r.passed);
        assert!(
            r.problem
                .as_deref()
                .unwrap()
                .ends_with("run `anneal build`")
        );
    }
}
