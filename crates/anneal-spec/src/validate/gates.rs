//! A check's bound (`at_least` or `at_most`) and the keys of the group metrics: `by` (the
//! field whose groups a gap compares), `min_group` (the smallest group a gap counts) and
//! `positive` (the class the rates and gaps count as selected).

use toml::Spanned;

use super::Validator;
use super::checks::bare;
use crate::error::ManifestError;
use crate::layer::suggest;
use crate::manifest::CheckTable;
use crate::program::{DEFAULT_MIN_GROUP, LABEL, Metric};

/// The gap metrics, for messages.
const GAPS: &str =
    "`demographic_parity_difference`, `demographic_parity_ratio`, `equalized_odds_difference`";

impl Validator<'_> {
    /// A gap is measured over every group of `by`: `where` and `for_each` do not apply.
    pub(super) fn gap_unsliced(&self, c: &CheckTable) -> Result<(), ManifestError> {
        let (key, span) = match (&c.where_, &c.for_each) {
            (Some(w), _) => ("where", w.span()),
            (None, Some(f)) => ("for_each", f.span()),
            (None, None) => return Ok(()),
        };
        let m = c.metric.get_ref();
        let why = match Metric::named(m) {
            Some(Metric::RobustAccuracy) => "a robust accuracy, measured on the whole test split",
            _ => "a gap, which is measured between every group of `by`",
        };
        let message = format!("check `{m}`: `{key}` does not apply to {why}");
        Err(self
            .fail(span, message)
            .with_hint(format!("remove `{key}`")))
    }

    /// `by = "FIELD"`: required by the gap metrics, refused by the others.
    pub(super) fn by(
        &self,
        c: &CheckTable,
        metric: Metric,
    ) -> Result<Option<String>, ManifestError> {
        let m = c.metric.get_ref();
        match (&c.by, metric.is_gap()) {
            (None, false) => Ok(None),
            (Some(by), false) => {
                let message = format!("check `{m}`: `by` is for the gap metrics ({GAPS})");
                let hint = "for one result per value of a field, write `for_each = \"FIELD\"`";
                Err(self.fail(by.span(), message).with_hint(hint))
            }
            (None, true) => {
                let message = format!(
                    "check `{m}`: a gap needs `by`, the metadata field whose groups it compares"
                );
                let hint = "write e.g. `by = \"sex\"`";
                Err(self.fail(c.metric.span(), message).with_hint(hint))
            }
            (Some(by), true) => self.by_field(m, by).map(Some),
        }
    }

    /// The field of `by`: a metadata field's name.
    fn by_field(&self, m: &str, by: &Spanned<String>) -> Result<String, ManifestError> {
        let text = by.get_ref();
        let field = bare(text);
        let problem = if field.is_empty() || field.contains('=') {
            "expected a metadata field's name"
        } else if field == LABEL {
            "a gap compares the groups of a metadata field, not the true labels"
        } else {
            return Ok(field.to_string());
        };
        let message = format!("check `{m}`: invalid `by = \"{text}\"`: {problem}");
        let hint = "write e.g. `by = \"sex\"`";
        Err(self.fail(by.span(), message).with_hint(hint))
    }

    /// Exactly one of `at_least` and `at_most`, each a fraction.
    pub(super) fn bounds(
        &self,
        c: &CheckTable,
        metric: Metric,
        name: &str,
    ) -> Result<(Option<f64>, Option<f64>), ManifestError> {
        match (&c.at_least, &c.at_most) {
            (Some(_), Some(most)) => {
                let message =
                    format!("check `{name}`: takes one of `at_least` and `at_most`, not both");
                let hint = "split it into two `[[check]]`s";
                Err(self.fail(most.span(), message).with_hint(hint))
            }
            (None, None) => Err(self.no_bound(c, metric, name)),
            (Some(least), None) => Ok((Some(self.fraction(name, "at_least", least)?), None)),
            (None, Some(most)) => Ok((None, Some(self.fraction(name, "at_most", most)?))),
        }
    }

    /// A check without a bound, with the bound its metric usually takes as the hint.
    fn no_bound(&self, c: &CheckTable, metric: Metric, name: &str) -> ManifestError {
        let message = format!(
            "check `{name}`: expected a bound, `at_least = X` (a floor) or `at_most = X` (a ceiling)"
        );
        let hint = match metric {
            Metric::DemographicParityDifference | Metric::EqualizedOddsDifference => {
                "a gap takes a ceiling: write e.g. `at_most = 0.1`"
            }
            Metric::DemographicParityRatio => "a ratio takes a floor: write e.g. `at_least = 0.8`",
            _ => "write e.g. `at_least = 0.9`",
        };
        self.fail(c.metric.span(), message).with_hint(hint)
    }

    /// `key = X` with X in [0, 1].
    fn fraction(&self, name: &str, key: &str, bound: &Spanned<f64>) -> Result<f64, ManifestError> {
        let x = *bound.get_ref();
        if (0.0..=1.0).contains(&x) {
            return Ok(x);
        }
        let message = format!("check `{name}`: `{key} = {x}` is outside [0, 1]");
        let hint = format!("metrics are fractions: write e.g. `{key} = 0.9`");
        Err(self.fail(bound.span(), message).with_hint(hint))
    }

    /// `min_group = N`: a gap's smallest group ([`DEFAULT_MIN_GROUP`] by default); refused on
    /// other metrics.
    pub(super) fn min_group(
        &self,
        c: &CheckTable,
        metric: Metric,
        name: &str,
    ) -> Result<Option<usize>, ManifestError> {
        let Some(n) = &c.min_group else {
            return Ok(metric.is_gap().then_some(DEFAULT_MIN_GROUP));
        };
        if !metric.is_gap() {
            let message = format!("check `{name}`: `min_group` is for the gap metrics ({GAPS})");
            return Err(self.fail(n.span(), message).with_hint("remove `min_group`"));
        }
        usize::try_from(*n.get_ref()).map(Some).map_err(|_| {
            let message = format!(
                "check `{name}`: `min_group = {}` is negative: expected a number of test examples",
                n.get_ref()
            );
            self.fail(n.span(), message)
                .with_hint(format!("write e.g. `min_group = {DEFAULT_MIN_GROUP}`"))
        })
    }

    /// `positive = "CLASS"` for the rates and gaps: its index; the second of two classes by
    /// default; refused on other metrics.
    pub(super) fn positive(
        &self,
        c: &CheckTable,
        metric: Metric,
        name: &str,
        classes: &[String],
    ) -> Result<Option<usize>, ManifestError> {
        let counts_positive = metric.is_rate() || metric.is_gap();
        match (&c.positive, counts_positive) {
            (None, false) => Ok(None),
            (Some(p), false) => {
                let message = format!(
                    "check `{name}`: `positive` is for the rates and the gaps, which count predictions of one class"
                );
                Err(self.fail(p.span(), message).with_hint("remove `positive`"))
            }
            (Some(p), true) => self.positive_class(name, p, classes).map(Some),
            (None, true) if classes.len() == 2 => Ok(Some(1)),
            (None, true) => Err(self.no_positive(c, name, classes)),
        }
    }

    fn positive_class(
        &self,
        name: &str,
        p: &Spanned<String>,
        classes: &[String],
    ) -> Result<usize, ManifestError> {
        let class = bare(p.get_ref());
        if let Some(i) = classes.iter().position(|c| c == class) {
            return Ok(i);
        }
        let message = format!(
            "check `{name}`: unknown class `{class}` for `positive`: the classes are {}",
            classes.join(", ")
        );
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        let hint = suggest(class, &names).map(|s| format!("did you mean `{s}`?"));
        Err(self.err(p.span(), message, hint))
    }

    fn no_positive(&self, c: &CheckTable, name: &str, classes: &[String]) -> ManifestError {
        let message = format!(
            "check `{name}`: a program of {} classes needs `positive`, the class counted as selected: expected one of {}",
            classes.len(),
            classes.join(", ")
        );
        let last = classes.last().map_or("", String::as_str);
        let hint = format!("write e.g. `positive = \"{last}\"`");
        self.fail(c.metric.span(), message).with_hint(hint)
    }
}
