//! Checks on the values of a metadata field: one value (`where = "sex = Female"`) or each
//! (`for_each = "sex"`), measuring accuracy or a rate of the positive class.

use anneal_pack::{ClassMetrics, FieldSlices, MAX_SLICE_VALUES, Metrics, SliceMetrics};
use anneal_spec::layer::suggest;
use anneal_spec::{Check, LABEL, Metric};

use super::{CheckResult, Measured, class_slice, positive, undefined};

/// The metric of the slice `field = value`, and its size, or why there is none.
pub(super) fn meta_slice(check: &Check, metrics: &Metrics, field: &str, value: &str) -> Measured {
    let slices = sliced_field(metrics, field)?;
    match slices.value(value) {
        Some(s) => of_slice(check, metrics, s, field).map(|v| (v, Some(s.examples))),
        None => Err(format!(
            "no test examples where {field} = {value}{}",
            close_values(slices, value)
        )),
    }
}

/// The check's metric on one value of `field`.
fn of_slice(
    check: &Check,
    metrics: &Metrics,
    s: &SliceMetrics,
    field: &str,
) -> Result<f64, String> {
    if check.metric == Metric::Accuracy {
        return Ok(s.accuracy);
    }
    if !check.metric.is_rate() {
        return Err(format!(
            "`{}` is not measured per metadata value",
            check.metric.name()
        ));
    }
    if !s.has_counts() {
        return Err(PREDATES_COUNTS.into());
    }
    let p = positive(check, metrics)?;
    let rate = match check.metric {
        Metric::SelectionRate => s.selection_rate(p),
        Metric::TruePositiveRate => s.true_positive_rate(p),
        _ => s.false_positive_rate(p),
    };
    let what = format!("test examples where {field} = {}", s.value);
    rate.ok_or_else(|| undefined(check.metric, &metrics.per_class[p].class, &what))
}

/// The problem of a package whose slices lack the per-class counts the rates need.
pub(super) const PREDATES_COUNTS: &str =
    "the package's slices have no per-class counts (it predates them): run `anneal build`";

/// One result per value of `field` (a metadata field, or `label`), named `NAME where F = V`.
pub(super) fn for_each(check: &Check, field: &str, metrics: &Metrics) -> Vec<CheckResult> {
    let base = check.name.strip_suffix(&format!(" for each {field}"));
    let base = base.unwrap_or(&check.name);
    let named = |value: &str| format!("{base} where {field} = {value}");
    if field == LABEL {
        let class = |c: &ClassMetrics| {
            CheckResult::of(check, named(&c.class), class_slice(c, check.metric))
        };
        return metrics.per_class.iter().map(class).collect();
    }
    match sliced_field(metrics, field) {
        Ok(slices) => slices
            .values
            .iter()
            .map(|s| {
                let measured = of_slice(check, metrics, s, field).map(|v| (v, Some(s.examples)));
                CheckResult::of(check, named(&s.value), measured)
            })
            .collect(),
        Err(problem) => vec![CheckResult::of(check, check.name.clone(), Err(problem))],
    }
}

/// The per-value metrics of `field`, or why the package has none.
pub(super) fn sliced_field<'m>(
    metrics: &'m Metrics,
    field: &str,
) -> Result<&'m FieldSlices, String> {
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
