//! `[[check]]`: a metric, an optional slice (`where = "label = 7"`, `where = "sex = Female"`)
//! or a field to slice by (`for_each = "speaker"`), and a floor.

use toml::Spanned;

use super::Validator;
use crate::error::ManifestError;
use crate::layer::suggest;
use crate::manifest::CheckTable;
use crate::program::{Check, LABEL, Metric, Slice};

const METRICS: &[&str] = &["accuracy", "precision", "recall", "f1"];

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
        let at_least = self.floor(&c.at_least)?;
        let metric_name = c.metric.get_ref();
        let name = c.name.clone().unwrap_or_else(|| match (&slice, &for_each) {
            (Some(Slice::Label { name, .. }), _) => format!("{metric_name}[label = {name}]"),
            (Some(s @ Slice::Meta { .. }), _) => format!("{metric_name} where {s}"),
            (None, Some(field)) => format!("{metric_name} for each {field}"),
            (None, None) => metric_name.clone(),
        });
        Ok(Check {
            name,
            metric,
            slice,
            for_each,
            at_least,
        })
    }

    /// `at_least`: a fraction.
    fn floor(&self, at_least: &Spanned<f64>) -> Result<f64, ManifestError> {
        let floor = *at_least.get_ref();
        if (0.0..=1.0).contains(&floor) {
            return Ok(floor);
        }
        let message = format!("`at_least = {floor}` is outside [0, 1]");
        let hint = "metrics are fractions: write e.g. `at_least = 0.98`";
        Err(self.fail(at_least.span(), message).with_hint(hint))
    }

    fn metric(&self, m: &Spanned<String>) -> Result<Metric, ManifestError> {
        match m.get_ref().as_str() {
            "accuracy" => Ok(Metric::Accuracy),
            "precision" => Ok(Metric::Precision),
            "recall" => Ok(Metric::Recall),
            "f1" => Ok(Metric::F1),
            other => Err(self.err(
                m.span(),
                format!(
                    "unknown metric `{other}`: expected one of {}",
                    METRICS.join(", ")
                ),
                suggest(other, METRICS).map(|s| format!("did you mean `{s}`?")),
            )),
        }
    }

    /// Metadata slices measure accuracy only (per-class figures are kept for the whole split).
    fn metric_fits(
        &self,
        c: &CheckTable,
        metric: Metric,
        slice: Option<&Slice>,
        for_each: Option<&str>,
    ) -> Result<(), ManifestError> {
        let on_meta = match (slice, for_each) {
            (Some(Slice::Meta { field, .. }), _) => Some(field.as_str()),
            (None, Some(field)) if field != LABEL => Some(field),
            _ => None,
        };
        match on_meta {
            Some(field) if metric != Metric::Accuracy => {
                let m = c.metric.get_ref();
                let message = format!(
                    "metric `{m}` on the metadata field `{field}`: only `accuracy` is measured per metadata value"
                );
                let hint = "write `metric = \"accuracy\"`, or slice by `label`";
                Err(self.fail(c.metric.span(), message).with_hint(hint))
            }
            _ => Ok(()),
        }
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

/// A slice's field or value as written, without surrounding spaces or quotes (`'Female'`).
fn bare(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
}
