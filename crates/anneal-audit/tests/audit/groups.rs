use anneal_audit::{Estimate, Options, Outcomes, audit_field};

fn classes(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("c{k}")).collect()
}

fn value(e: Option<Estimate>) -> f64 {
    e.expect("a defined figure").value
}

/// Group a: labels 1 1 0 0, predicted 1 0 1 0. Group b: 1 0 0 / 1 1 1. Group c: one negative
/// predicted negative. One example without the field.
fn table() -> (Vec<u32>, Vec<u32>, Vec<Option<String>>) {
    let labels = vec![1, 1, 0, 0, 1, 0, 0, 0, 1];
    let predicted = vec![1, 0, 1, 0, 1, 1, 1, 0, 1];
    let g = |s: &str| Some(s.to_string());
    let values = vec![
        g("a"),
        g("a"),
        g("a"),
        g("a"),
        g("b"),
        g("b"),
        g("b"),
        g("c"),
        None,
    ];
    (labels, predicted, values)
}

#[test]
fn group_metrics_and_gaps_match_a_table_computed_by_hand() {
    let (labels, predicted, values) = table();
    let classes = classes(2);
    let outcomes = Outcomes {
        labels: &labels,
        predicted: &predicted,
        classes: &classes,
    };
    let opts = Options {
        min_group: 2,
        resamples: 0,
        ..Options::default()
    };
    let audit = audit_field("g", &outcomes, &values, &opts);
    assert_eq!(audit.positive.as_deref(), Some("c1"));
    assert_eq!(audit.missing, 1);
    let [a, b, c] = &audit.groups[..] else {
        panic!("{:?}", audit.groups)
    };
    assert_eq!((a.examples, b.examples, c.examples), (4, 3, 1));
    assert!(a.gated && b.gated && !c.gated);
    assert_eq!(value(a.accuracy), 0.5);
    assert_eq!(value(a.selection_rate), 0.5);
    assert_eq!(value(a.true_positive_rate), 0.5);
    assert_eq!(value(a.false_positive_rate), 0.5);
    assert_eq!(value(b.accuracy), 1.0 / 3.0);
    assert_eq!(value(b.selection_rate), 1.0);
    assert_eq!(
        (value(b.true_positive_rate), value(b.false_positive_rate)),
        (1.0, 1.0)
    );
    assert_eq!(c.true_positive_rate, None, "c has no positives");
    assert_eq!(value(c.selection_rate), 0.0);
    // Gaps over a and b only: c (one example) would make the parity ratio 0.
    assert!((value(audit.accuracy_difference) - (0.5 - 1.0 / 3.0)).abs() < 1e-12);
    assert_eq!(value(audit.demographic_parity_difference), 0.5);
    assert_eq!(value(audit.demographic_parity_ratio), 0.5);
    assert_eq!(value(audit.equalized_odds_difference), 0.5);
    // With every group counted, as Fairlearn does.
    let all = audit_field(
        "g",
        &outcomes,
        &values,
        &Options {
            min_group: 0,
            ..opts
        },
    );
    assert_eq!(value(all.demographic_parity_difference), 1.0);
    assert_eq!(value(all.demographic_parity_ratio), 0.0);
}

#[test]
fn a_program_of_more_than_two_classes_gets_accuracy_alone() {
    let (labels, predicted, values) = table();
    let labels: Vec<u32> = labels.iter().map(|l| l * 2).collect();
    let classes = classes(3);
    let outcomes = Outcomes {
        labels: &labels,
        predicted: &predicted,
        classes: &classes,
    };
    let opts = Options {
        min_group: 2,
        resamples: 50,
        ..Options::default()
    };
    let audit = audit_field("g", &outcomes, &values, &opts);
    assert_eq!(audit.positive, None);
    assert!(audit.groups.iter().all(|g| g.selection_rate.is_none()));
    assert_eq!(audit.demographic_parity_difference, None);
    assert_eq!(audit.equalized_odds_difference, None);
    assert!(audit.accuracy_difference.is_some());
    // Naming a positive class gives the rates back.
    let named = audit_field(
        "g",
        &outcomes,
        &values,
        &Options {
            positive: Some(2),
            ..opts
        },
    );
    assert_eq!(named.positive.as_deref(), Some("c2"));
    assert!(named.demographic_parity_difference.is_some());
}

#[test]
fn bootstrap_intervals_hold_the_value_narrow_with_size_and_repeat_with_the_seed() {
    // Two groups with selection rates 0.3 and 0.6: 100 and 10,000 examples each.
    let sized = |n: usize| {
        let mut labels = Vec::new();
        let mut predicted = Vec::new();
        let mut values = Vec::new();
        for i in 0..2 * n {
            let group = i % 2;
            let selected = (i / 2) % 10 < if group == 0 { 3 } else { 6 };
            labels.push(u32::from(i % 3 == 0));
            predicted.push(u32::from(selected));
            values.push(Some(["x", "y"][group].to_string()));
        }
        (labels, predicted, values)
    };
    let classes = classes(2);
    let width = |n: usize| {
        let (labels, predicted, values) = sized(n);
        let outcomes = Outcomes {
            labels: &labels,
            predicted: &predicted,
            classes: &classes,
        };
        let audit = audit_field("g", &outcomes, &values, &Options::default());
        let dpd = audit.demographic_parity_difference.unwrap();
        assert!((dpd.value - 0.3).abs() < 1e-12, "{dpd:?}");
        assert!(dpd.low <= dpd.value && dpd.value <= dpd.high, "{dpd:?}");
        let again = audit_field("g", &outcomes, &values, &Options::default());
        assert_eq!(again, audit, "the same seed gives the same intervals");
        dpd.high - dpd.low
    };
    let (small, large) = (width(100), width(10_000));
    assert!(small > 5.0 * large, "{small} vs {large}");
    assert!(large > 0.0);
}
