//! Group gates (issue 14): the rates per group and the gaps between the groups of a field,
//! with a floor or a ceiling; every error names the check and points at the key.

use anneal_spec::{Check, DEFAULT_MIN_GROUP, Metric, Program, Slice};

/// A binary program (classes `no`, `yes`) whose checks are `checks`.
fn binary(checks: &str) -> Result<Program, anneal_spec::ManifestError> {
    with_classes("[\"no\", \"yes\"]", checks)
}

fn with_classes(classes: &str, checks: &str) -> Result<Program, anneal_spec::ManifestError> {
    Program::parse("anneal.toml", &manifest(classes, checks))
}

/// A tiny image program of `classes` (a TOML list) with `checks`.
fn manifest(classes: &str, checks: &str) -> String {
    format!(
        "[program]\nname = \"g\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 2, 2]\nclasses = {classes}\n[model]\nlayers = [\"flatten\", \"dense {}\"]\n{checks}",
        classes.matches(',').count() + 1
    )
}

fn one(check: &str) -> Check {
    let p = binary(&format!("[[check]]\n{check}")).unwrap();
    p.revalidate().unwrap();
    let again = Program::parse("again", &p.to_manifest().unwrap()).unwrap();
    assert_eq!(again, p, "the round trip packages get");
    p.checks[0].clone()
}

#[test]
fn a_gap_takes_a_field_a_ceiling_and_defaults_for_group_size_and_positive_class() {
    let c = one("metric = \"demographic_parity_difference\"\nby = \"sex\"\nat_most = 0.1\n");
    assert_eq!(c.name, "demographic_parity_difference by sex");
    assert_eq!(c.metric, Metric::DemographicParityDifference);
    assert_eq!(
        (c.by.as_deref(), c.at_most, c.at_least),
        (Some("sex"), Some(0.1), None)
    );
    assert_eq!(
        (c.min_group, c.positive),
        (Some(DEFAULT_MIN_GROUP), Some(1))
    );
    assert!(c.admits(0.1) && !c.admits(0.11));
    // Kebab spelling of the metric and the keys; a floor on a ratio; another positive class.
    let c = one(
        "metric = \"demographic-parity-ratio\"\nby = \"race\"\nat-least = 0.8\nmin-group = 100\npositive = \"no\"\n",
    );
    assert_eq!(c.metric, Metric::DemographicParityRatio);
    assert_eq!(
        (c.at_least, c.min_group, c.positive),
        (Some(0.8), Some(100), Some(0))
    );
    assert!(c.admits(0.8) && !c.admits(0.79));
    let c = one("metric = \"equalized_odds_difference\"\nby = \"sex\"\nat_most = 0.15\n");
    assert_eq!(c.metric, Metric::EqualizedOddsDifference);
}

#[test]
fn the_rates_are_measured_per_group_or_on_the_whole_split() {
    let c = one("metric = \"selection_rate\"\nfor_each = \"sex\"\nat_least = 0.05\n");
    assert_eq!(c.name, "selection_rate for each sex");
    assert_eq!(
        (c.metric, c.positive, c.min_group),
        (Metric::SelectionRate, Some(1), None)
    );
    let c = one("metric = \"true-positive-rate\"\nwhere = \"sex = Female\"\nat_least = 0.5\n");
    let female = Slice::Meta {
        field: "sex".into(),
        value: "Female".into(),
    };
    assert_eq!(
        (c.metric, c.slice),
        (Metric::TruePositiveRate, Some(female))
    );
    let c = one("metric = \"false_positive_rate\"\nat_most = 0.1\n");
    assert_eq!((c.at_most, c.slice, c.for_each), (Some(0.1), None, None));
    // Any metric takes a ceiling.
    assert_eq!(
        one("metric = \"accuracy\"\nat_most = 0.99\n").at_most,
        Some(0.99)
    );
}

#[test]
fn a_package_written_before_the_gates_reads_its_checks() {
    let old = r#"{"name":"accuracy","metric":"accuracy","slice":null,"at_least":0.9}"#;
    let c: Check = serde_json::from_str(old).unwrap();
    assert_eq!(
        (c.at_least, c.at_most, c.by.as_deref(), c.positive),
        (Some(0.9), None, None, None)
    );
    // A floor alone serializes as it did.
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(json, old);
}

#[test]
fn a_new_gate_does_not_change_the_build_key() {
    let a = binary("[[check]]\nmetric = \"accuracy\"\nat_least = 0.5\n").unwrap();
    let gate = "[[check]]\nmetric = \"equalized_odds_difference\"\nby = \"sex\"\nat_most = 0.1\n";
    let b = binary(&format!(
        "[[check]]\nmetric = \"accuracy\"\nat_least = 0.5\n{gate}"
    ))
    .unwrap();
    assert_eq!(a.canonical_json(), b.canonical_json());
}

/// (check body, the key the error points at, message, hint).
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

const CASES: &[Case] = &[
    (
        "metric = \"demographic_parity_difference\"\nat_most = 0.1\n",
        "metric",
        "check `demographic_parity_difference`: a gap needs `by`, the metadata field whose groups it compares",
        Some("write e.g. `by = \"sex\"`"),
    ),
    (
        "metric = \"accuracy\"\nby = \"sex\"\nat_least = 0.8\n",
        "by",
        "check `accuracy`: `by` is for the gap metrics (`demographic_parity_difference`, `demographic_parity_ratio`, `equalized_odds_difference`)",
        Some("for one result per value of a field, write `for_each = \"FIELD\"`"),
    ),
    (
        "metric = \"demographic_parity_ratio\"\nby = \"label\"\nat_least = 0.8\n",
        "by",
        "check `demographic_parity_ratio`: invalid `by = \"label\"`: a gap compares the groups of a metadata field, not the true labels",
        None,
    ),
    (
        "metric = \"demographic_parity_ratio\"\nby = \"sex = F\"\nat_least = 0.8\n",
        "by",
        "check `demographic_parity_ratio`: invalid `by = \"sex = F\"`: expected a metadata field's name",
        None,
    ),
    (
        "metric = \"equalized_odds_difference\"\nwhere = \"sex = F\"\nby = \"race\"\nat_most = 0.1\n",
        "where",
        "check `equalized_odds_difference`: `where` does not apply to a gap, which is measured between every group of `by`",
        Some("remove `where`"),
    ),
    (
        "metric = \"equalized_odds_difference\"\nfor_each = \"sex\"\nat_most = 0.1\n",
        "for_each",
        "check `equalized_odds_difference`: `for_each` does not apply to a gap",
        None,
    ),
    (
        "metric = \"demographic_parity_difference\"\nby = \"sex\"\n",
        "metric",
        "check `demographic_parity_difference by sex`: expected a bound, `at_least = X` (a floor) or `at_most = X` (a ceiling)",
        Some("a gap takes a ceiling: write e.g. `at_most = 0.1`"),
    ),
    (
        "metric = \"demographic_parity_ratio\"\nby = \"sex\"\n",
        "metric",
        "check `demographic_parity_ratio by sex`: expected a bound",
        Some("a ratio takes a floor: write e.g. `at_least = 0.8`"),
    ),
    (
        "metric = \"accuracy\"\nat_least = 0.8\nat_most = 0.9\n",
        "at_most",
        "check `accuracy`: takes one of `at_least` and `at_most`, not both",
        Some("split it into two `[[check]]`s"),
    ),
    (
        "name = \"parity\"\nmetric = \"demographic_parity_difference\"\nby = \"sex\"\nat_most = 1.5\n",
        "at_most",
        "check `parity`: `at_most = 1.5` is outside [0, 1]",
        Some("metrics are fractions: write e.g. `at_most = 0.9`"),
    ),
    (
        "metric = \"accuracy\"\nmin_group = 10\nat_least = 0.8\n",
        "min_group",
        "check `accuracy`: `min_group` is for the gap metrics",
        Some("remove `min_group`"),
    ),
    (
        "metric = \"demographic_parity_difference\"\nby = \"sex\"\nmin_group = -1\nat_most = 0.1\n",
        "min_group",
        "check `demographic_parity_difference by sex`: `min_group = -1` is negative: expected a number of test examples",
        Some("write e.g. `min_group = 30`"),
    ),
    (
        "metric = \"recall\"\npositive = \"yes\"\nat_least = 0.8\n",
        "positive",
        "check `recall`: `positive` is for the rates and the gaps",
        Some("remove `positive`"),
    ),
    (
        "metric = \"selection_rate\"\nfor_each = \"sex\"\npositive = \"yess\"\nat_least = 0.1\n",
        "positive",
        "check `selection_rate for each sex`: unknown class `yess` for `positive`: the classes are no, yes",
        Some("did you mean `yes`?"),
    ),
    (
        "metric = \"demographic_parity_diference\"\nby = \"sex\"\nat_most = 0.1\n",
        "metric",
        "unknown metric `demographic_parity_diference`: expected one of accuracy, precision, recall, f1, selection_rate,",
        Some("did you mean `demographic_parity_difference`?"),
    ),
    (
        "metric = \"selection-rat\"\nat_most = 0.1\n",
        "metric",
        "unknown metric `selection-rat`",
        Some("did you mean `selection_rate`?"),
    ),
    (
        "metric = \"true_positive_rate\"\nfor_each = \"label\"\nat_least = 0.8\n",
        "metric",
        "metric `true_positive_rate` on `label`: the rates are measured on the whole test split or per value of a metadata field",
        Some("slice by a metadata field, e.g. `for_each = \"sex\"`, or use `recall`"),
    ),
];

#[test]
fn gate_errors_name_the_check_and_point_at_the_key() {
    for (body, key, message, hint) in CASES {
        let checks = format!("[[check]]\n{body}");
        let e = binary(&checks).unwrap_err();
        let (line, column) = position_of(&manifest("[\"no\", \"yes\"]", &checks), key);
        assert_eq!((e.line, e.column), (line, column), "{body:?}: {e}");
        assert!(e.message.starts_with(message), "{body:?}: {}", e.message);
        if hint.is_some() {
            assert_eq!(e.hint.as_deref(), *hint, "{body:?}");
        }
    }
}

#[test]
fn a_group_metric_of_more_than_two_classes_needs_a_positive_class() {
    let checks = "[[check]]\nmetric = \"selection_rate\"\nfor_each = \"sex\"\nat_least = 0.1\n";
    let e = with_classes("[\"a\", \"b\", \"c\"]", checks).unwrap_err();
    assert_eq!(
        e.message,
        "check `selection_rate for each sex`: a program of 3 classes needs `positive`, the class counted as selected: expected one of a, b, c"
    );
    assert_eq!(e.hint.as_deref(), Some("write e.g. `positive = \"c\"`"));
    let named = checks.replace("at_least", "positive = \"b\"\nat_least");
    let p = with_classes("[\"a\", \"b\", \"c\"]", &named).unwrap();
    assert_eq!(p.checks[0].positive, Some(1));
    p.revalidate().unwrap();
}

/// 1-based line and column of the value of `key` (its opening quote, for a string).
fn position_of(text: &str, key: &str) -> (usize, usize) {
    let prefix = format!("{key} = ");
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with(&prefix))
        .unwrap();
    assert!(line.len() > prefix.len());
    (i + 1, prefix.len() + 1)
}
