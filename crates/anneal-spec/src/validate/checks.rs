//! `[[check]]`: a metric, an optional slice (`where = "label = 7"`, `where = "sex = Female"`)
//! or a field to slice by (`for_each = "speaker"`), and a floor or a ceiling. The gap metrics
//! and their own keys (`by`, `min_group`, `positive`) are checked in [`super::gates`].

use toml::Spanned;

use super::Validator;
use crate::error::ManifestError;
use crate::layer::suggest;
use crate::manifest::CheckTable;
use crate::program::{Check, LABEL, Metric, Slice};

impl Validator<'_> {
    pub(super) fn check(&self, c: &CheckTable, classes: &[String]) -> Result<Check, ManifestError> {
        let metric = self.metric(&c.metric)?;
        let slice = match &c.where_ {
            None => None,
            Some(w) => Some(self.slice(w, classes)?),
        };
        let for_each = match &c.for_each {
            None => None,
            Some(f) => Some(self.for_each(f, c.where_.is_some())?),
        };
        self.metric_fits(c, metric, slice.as_ref(), for_each.as_deref())?;
        let by = self.by(c, metric)?;
        let written = c.metric.get_ref();
        let name = c.name.clone().unwrap_or_else(|| {
            default_name(written, slice.as_ref(), for_each.as_deref(), by.as_deref())
        });
        let (at_least, at_most) = self.bounds(c, metric, &name)?;
        let attack = self.attack(c, metric, &name)?;
        let name = match (&attack, &c.name) {
            (Some(a), None) => format!("{name}[{} at {}]", a.name(), a.epsilon),
            _ => name,
        };
        Ok(Check {
            attack,
            min_group: self.min_group(c, metric, &name)?,
            positive: self.positive(c, metric, &name, classes)?,
            name,
            metric,
            slice,
            for_each,
            by,
            at_least,
            at_most,
        })
    }

    fn metric(&self, m: &Spanned<String>) -> Result<Metric, ManifestError> {
        let word = m.get_ref();
        if let Some(metric) = Metric::named(word) {
            return Ok(metric);
        }
        let names: Vec<&str> = Metric::NAMES.iter().map(|(n, _)| *n).collect();
        let message = format!(
            "unknown metric `{word}`: expected one of {}",
            names.join(", ")
        );
        let close = suggest(&word.replace('-', "_"), &names);
        Err(self.err(
            m.span(),
            message,
            close.map(|s| format!("did you mean `{s}`?")),
        ))
    }

    /// Metadata slices measure accuracy and the rates (per-class figures are kept for the
    /// whole split); the rates are not measured per true label; a gap takes no slice.
    fn metric_fits(
        &self,
        c: &CheckTable,
        metric: Metric,
        slice: Option<&Slice>,
        for_each: Option<&str>,
    ) -> Result<(), ManifestError> {
        if metric.is_gap() || metric == Metric::RobustAccuracy {
            return self.gap_unsliced(c);
        }
        let field = match (slice, for_each) {
            (Some(Slice::Meta { field, .. }), _) => Some(field.as_str()),
            (Some(Slice::Label { .. }), _) => Some(LABEL),
            (None, field) => field,
        };
        match field {
            Some(LABEL) if metric.is_rate() => Err(self.rate_on_label(c)),
            Some(field) if field != LABEL && !on_metadata(metric) => {
                Err(self.not_on_metadata(c, field))
            }
            _ => Ok(()),
        }
    }

    fn not_on_metadata(&self, c: &CheckTable, field: &str) -> ManifestError {
        let m = c.metric.get_ref();
        let message = format!(
            "metric `{m}` on the metadata field `{field}`: only `accuracy` and the rates (`selection_rate`, `true_positive_rate`, `false_positive_rate`) are measured per metadata value"
        );
        let hint = "write `metric = \"accuracy\"`, or slice by `label`";
        self.fail(c.metric.span(), message).with_hint(hint)
    }

    fn rate_on_label(&self, c: &CheckTable) -> ManifestError {
        let m = c.metric.get_ref();
        let message = format!(
            "metric `{m}` on `label`: the rates are measured on the whole test split or per value of a metadata field"
        );
        let hint = "slice by a metadata field, e.g. `for_each = \"sex\"`, or use `recall`";
        self.fail(c.metric.span(), message).with_hint(hint)
    }

    /// `where = "FIELD = VALUE"`: `label = NAME` (a class) or a metadata field's value.
    fn slice(&self, w: &Spanned<String>, classes: &[String]) -> Result<Slice, ManifestError> {
        let text = w.get_ref();
        let hint = "write e.g. `where = \"label = 7\"` or `where = \"speaker = lucas\"`";
        let Some((field, value)) = text.split_once('=') else {
            let message = format!("invalid slice `{text}`: expected `FIELD = VALUE`");
            return Err(self.fail(w.span(), message).with_hint(hint));
        };
        let (field, value) = (bare(field), bare(value));
        if field.is_empty() || value.is_empty() {
            let what = if field.is_empty() { "field" } else { "value" };
            let message = format!("invalid slice `{text}`: the {what} is empty");
            return Err(self.fail(w.span(), message).with_hint(hint));
        }
        if field != LABEL {
            let (field, value) = (field.to_string(), value.to_string());
            return Ok(Slice::Meta { field, value });
        }
        let Some(class) = classes.iter().position(|c| c == value) else {
            let classes = classes.join(", ");
            let message = format!("unknown class `{value}` in slice: the classes are {classes}");
            return Err(self.fail(w.span(), message));
        };
        let name = value.to_string();
        Ok(Slice::Label { class, name })
    }

    /// `for_each = "FIELD"`: a metadata field, or `label`; not beside `where`.
    fn for_each(&self, f: &Spanned<String>, has_where: bool) -> Result<String, ManifestError> {
        let text = f.get_ref();
        if has_where {
            let message = "a check takes `where` or `for_each`, not both";
            let hint = "split it into two `[[check]]`s";
            return Err(self.fail(f.span(), message).with_hint(hint));
        }
        let field = bare(text);
        if field.is_empty() || field.contains('=') {
            let message = format!("invalid `for_each = \"{text}\"`: expected a field name");
            let hint = match text.split_once('=') {
                Some(_) => format!("for one slice, write `where = \"{text}\"`"),
                None => "write e.g. `for_each = \"speaker\"` or `for_each = \"label\"`".into(),
            };
            return Err(self.fail(f.span(), message).with_hint(hint));
        }
        Ok(field.to_string())
    }
}

/// Whether `metric` is measured per value of a metadata field.
fn on_metadata(metric: Metric) -> bool {
    metric == Metric::Accuracy || metric.is_rate()
}

/// `recall[label = 7]`, `accuracy where sex = Female`, `accuracy for each speaker`,
/// `demographic_parity_difference by sex`, or the metric alone.
fn default_name(
    metric: &str,
    slice: Option<&Slice>,
    for_each: Option<&str>,
    by: Option<&str>,
) -> String {
    match (slice, for_each, by) {
        (Some(Slice::Label { name, .. }), _, _) => format!("{metric}[label = {name}]"),
        (Some(s @ Slice::Meta { .. }), _, _) => format!("{metric} where {s}"),
        (None, Some(field), _) => format!("{metric} for each {field}"),
        (None, None, Some(field)) => format!("{metric} by {field}"),
        (None, None, None) => metric.to_string(),
    }
}

/// A slice's field or value as written, without surrounding spaces or quotes (`'Female'`).
pub(super) fn bare(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
}
