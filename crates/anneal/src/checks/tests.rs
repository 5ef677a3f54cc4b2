//! The checks on hand-computed fixtures: slices, the rates and each gap, every gate made to
//! fail, and the gaps equal to `anneal audit`'s on the same predictions.

use std::collections::BTreeMap;

use anneal_pack::Metrics;
use anneal_spec::{Check, LABEL, Metric, Slice};

use super::*;

/// A check of `metric`, unbounded below and above, named `c`.
fn check(metric: Metric) -> Check {
    Check {
        name: "c".into(),
        metric,
        slice: None,
        for_each: None,
        by: None,
        at_least: Some(0.0),
        at_most: None,
        min_group: None,
        positive: None,
        attack: None,
    }
}

fn sliced(slice: Option<Slice>, for_each: Option<&str>) -> Check {
    Check {
        slice,
        for_each: for_each.map(str::to_string),
        ..check(Metric::Accuracy)
    }
}

/// A gap of `metric` by `g` with a ceiling (or, for the ratio, a floor) of `bound`.
fn gap(metric: Metric, bound: f64, min_group: usize) -> Check {
    let ratio = metric == Metric::DemographicParityRatio;
    Check {
        by: Some("g".into()),
        at_least: ratio.then_some(bound),
        at_most: (!ratio).then_some(bound),
        min_group: Some(min_group),
        positive: Some(1),
        ..check(metric)
    }
}

/// Two classes, one test example of class `a` predicted right; no slices measured.
fn metrics() -> Metrics {
    Metrics::compute(&[0.9, 0.1], &[0], &["a".to_string(), "b".to_string()])
}

/// Classes `no`, `yes`; group `A` (40 examples): 12 true positives, 4 false negatives,
/// 4 false positives, 20 true negatives; `B` (40): 4, 4, 0, 32; `C` (5): 5 true positives.
///
/// | group | selection | TPR | FPR |
/// |---|---|---|---|
/// | A | 16/40 = 0.4 | 12/16 = 0.75 | 4/24 |
/// | B | 4/40 = 0.1 | 4/8 = 0.5 | 0/32 = 0 |
/// | C | 5/5 = 1 | 5/5 = 1 | undefined |
///
/// Over A and B: DPD 0.3, DPR 0.25, EOD max(0.25, 1/6) = 0.25. With C: 0.9, 0.1, 0.5.
fn groups() -> (Vec<f32>, Vec<u32>, Vec<BTreeMap<String, String>>) {
    let counts = [
        ("A", [(1, 1, 12), (1, 0, 4), (0, 1, 4), (0, 0, 20)]),
        ("B", [(1, 1, 4), (1, 0, 4), (0, 1, 0), (0, 0, 32)]),
        ("C", [(1, 1, 5), (1, 0, 0), (0, 1, 0), (0, 0, 0)]),
    ];
    let (mut probs, mut labels, mut meta) = (vec![], vec![], vec![]);
    for (group, cells) in counts {
        for (y, p, n) in cells {
            for _ in 0..n {
                probs.extend(if p == 1 { [0.3, 0.7] } else { [0.7, 0.3] });
                labels.push(y);
                meta.push(BTreeMap::from([("g".to_string(), group.to_string())]));
            }
        }
    }
    (probs, labels, meta)
}

fn grouped() -> Metrics {
    let (probs, labels, meta) = groups();
    let classes = ["no".to_string(), "yes".to_string()];
    Metrics::compute(&probs, &labels, &classes).with_slices(&probs, &labels, &meta)
}

fn one(check: &Check) -> CheckResult {
    let mut results = run(check, &grouped());
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn an_empty_slice_fails_even_under_a_floor_of_zero() {
    let b = Slice::Label {
        class: 1,
        name: "b".into(),
    };
    let r = &run(&sliced(Some(b), None), &metrics())[0];
    assert!(!r.passed);
    assert_eq!(
        r.problem.as_deref(),
        Some("no test examples where label = b")
    );
    let each = run(&sliced(None, Some(LABEL)), &metrics());
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
    let r = &run(&sliced(Some(sex), None), &metrics())[0];
    assert!(!r.passed);
    assert!(
        r.problem
            .as_deref()
            .unwrap()
            .ends_with("run `anneal build`")
    );
}

#[test]
fn each_gap_is_measured_between_the_groups_large_enough() {
    let cases = [
        (Metric::DemographicParityDifference, 0.3),
        (Metric::DemographicParityRatio, 0.25),
        (Metric::EqualizedOddsDifference, 0.25),
    ];
    for (metric, want) in cases {
        let r = one(&gap(metric, 0.5, 30));
        assert!(close(r.value, want), "{metric:?}: {}", r.value);
        let groups = r.groups.unwrap();
        let gated: Vec<(&str, usize, bool)> = groups
            .iter()
            .map(|g| (g.value.as_str(), g.examples, g.gated))
            .collect();
        assert_eq!(gated, [("A", 40, true), ("B", 40, true), ("C", 5, false)]);
    }
    let odds = one(&gap(Metric::EqualizedOddsDifference, 0.5, 30));
    let a = &odds.groups.unwrap()[0];
    assert_eq!((a.true_positive_rate, a.selection_rate), (Some(0.75), None));
    assert!(close(a.false_positive_rate.unwrap(), 1.0 / 6.0));
}

#[test]
fn each_gate_fails_past_its_bound() {
    let dpd = one(&gap(Metric::DemographicParityDifference, 0.2, 30));
    let dpr = one(&gap(Metric::DemographicParityRatio, 0.8, 30));
    let eod = one(&gap(Metric::EqualizedOddsDifference, 0.1, 30));
    for r in [&dpd, &dpr, &eod] {
        assert!(!r.passed && r.problem.is_none(), "{r:?}");
    }
    assert_eq!((dpd.at_most, dpd.at_least), (Some(0.2), None));
    assert_eq!((dpr.at_most, dpr.at_least), (None, Some(0.8)));
    // The same gates pass within their bounds.
    assert!(one(&gap(Metric::DemographicParityDifference, 0.3, 30)).passed);
    assert!(one(&gap(Metric::DemographicParityRatio, 0.25, 30)).passed);
    assert!(one(&gap(Metric::EqualizedOddsDifference, 0.25, 30)).passed);
}

#[test]
fn a_small_group_does_not_decide_a_gap() {
    // C (5 examples, all selected) is left out at the default 30: the gate passes only
    // because of it; counted, it fails every gap.
    assert!(one(&gap(Metric::DemographicParityDifference, 0.35, 30)).passed);
    let counted = [
        (Metric::DemographicParityDifference, 0.35, 0.9),
        (Metric::DemographicParityRatio, 0.2, 0.1),
        (Metric::EqualizedOddsDifference, 0.35, 0.5),
    ];
    for (metric, bound, want) in counted {
        let r = one(&gap(metric, bound, 5));
        assert!(!r.passed && close(r.value, want), "{metric:?}: {r:?}");
    }
}

#[test]
fn a_gap_without_two_groups_to_compare_fails_saying_why() {
    let r = one(&gap(Metric::DemographicParityDifference, 1.0, 41));
    assert!(!r.passed);
    assert_eq!(
        r.problem.as_deref(),
        Some(
            "fewer than two groups of `g` have at least 41 test examples (A 40, B 40, C 5): a gap needs two; lower `min_group` to compare smaller groups"
        )
    );
    assert_eq!(
        r.groups.map(|g| g.len()),
        Some(3),
        "the groups are still reported"
    );
    let missing = Check {
        by: Some("sex".into()),
        ..gap(Metric::DemographicParityDifference, 1.0, 30)
    };
    let problem = one(&missing).problem.unwrap();
    assert_eq!(
        problem,
        "no test examples have the metadata field `sex` (their fields: g)"
    );
    // A field of more values than the package keeps figures for.
    let n = anneal_pack::MAX_SLICE_VALUES + 1;
    let probs: Vec<f32> = (0..n).flat_map(|_| [0.3, 0.7]).collect();
    let ids: Vec<_> = (0..n)
        .map(|i| BTreeMap::from([("g".to_string(), i.to_string())]))
        .collect();
    let classes = ["no".to_string(), "yes".to_string()];
    let m = Metrics::compute(&probs, &vec![1; n], &classes).with_slices(&probs, &vec![1; n], &ids);
    let r = &run(&gap(Metric::DemographicParityDifference, 1.0, 1), &m)[0];
    assert!(!r.passed && r.groups.is_none());
    assert!(
        r.problem
            .as_deref()
            .unwrap()
            .starts_with("the metadata field `g` has 65 values")
    );
}

#[test]
fn a_package_whose_slices_predate_the_counts_says_to_build_again() {
    let mut m = grouped();
    for f in m.slices.iter_mut().flatten() {
        for v in &mut f.values {
            (v.labelled, v.predicted, v.hits) = (vec![], vec![], vec![]);
        }
    }
    let gap = run(&gap(Metric::DemographicParityDifference, 1.0, 30), &m);
    let rate = Check {
        for_each: Some("g".into()),
        positive: Some(1),
        ..check(Metric::SelectionRate)
    };
    for r in [&gap[0], &run(&rate, &m)[0]] {
        assert!(!r.passed);
        assert_eq!(r.problem.as_deref(), Some(slices::PREDATES_COUNTS));
    }
}

#[test]
fn a_rate_per_group_gets_its_floor_on_each_value() {
    let floor = Check {
        for_each: Some("g".into()),
        at_least: Some(0.2),
        positive: Some(1),
        ..check(Metric::SelectionRate)
    };
    let results = run(&floor, &grouped());
    let got: Vec<(&str, f64, bool)> = results
        .iter()
        .map(|r| (r.name.as_str(), r.value, r.passed))
        .collect();
    assert_eq!(
        got,
        [
            ("c where g = A", 0.4, true),
            ("c where g = B", 0.1, false),
            ("c where g = C", 1.0, true),
        ]
    );
    let fpr_of_c = Check {
        slice: Some(Slice::Meta {
            field: "g".into(),
            value: "C".into(),
        }),
        positive: Some(1),
        ..check(Metric::FalsePositiveRate)
    };
    assert_eq!(
        one(&fpr_of_c).problem.as_deref(),
        Some(
            "false_positive_rate is undefined: all the test examples where g = C are of class yes"
        )
    );
}

#[test]
fn the_rates_of_the_whole_split_come_from_the_confusion_matrix() {
    // 85 examples: 25 predicted yes, 29 of class yes (21 found), 56 of class no (4 selected).
    let rates = [
        (Metric::SelectionRate, 25.0 / 85.0),
        (Metric::TruePositiveRate, 21.0 / 29.0),
        (Metric::FalsePositiveRate, 4.0 / 56.0),
    ];
    for (metric, want) in rates {
        let r = one(&check(metric));
        assert!(close(r.value, want), "{metric:?}: {}", r.value);
    }
    let no = Check {
        positive: Some(0),
        ..check(Metric::SelectionRate)
    };
    assert!(close(one(&no).value, 60.0 / 85.0));
}

#[test]
fn the_gaps_equal_the_audits_on_the_same_predictions() {
    use anneal_audit::{Options, Outcomes, audit_field};
    let (probs, labels, meta) = groups();
    let classes = ["no".to_string(), "yes".to_string()];
    let predicted: Vec<u32> = probs
        .chunks(2)
        .map(|p| anneal_pack::argmax(p) as u32)
        .collect();
    let outcomes = Outcomes {
        labels: &labels,
        predicted: &predicted,
        classes: &classes,
    };
    let values: Vec<Option<String>> = meta.iter().map(|m| m.get("g").cloned()).collect();
    for min_group in [5, 30] {
        let opts = Options {
            min_group,
            resamples: 0,
            ..Options::default()
        };
        let audit = audit_field("g", &outcomes, &values, &opts);
        let theirs = [
            (
                Metric::DemographicParityDifference,
                audit.demographic_parity_difference,
            ),
            (
                Metric::DemographicParityRatio,
                audit.demographic_parity_ratio,
            ),
            (
                Metric::EqualizedOddsDifference,
                audit.equalized_odds_difference,
            ),
        ];
        for (metric, estimate) in theirs {
            let ours = one(&gap(metric, 1.0, min_group)).value;
            assert_eq!(
                Some(ours),
                estimate.map(|e| e.value),
                "{metric:?} at {min_group}"
            );
        }
    }
}

#[test]
fn a_ceiling_reads_at_most_in_text_json_and_junit() {
    let r = one(&gap(Metric::DemographicParityDifference, 0.2, 30));
    let text = r.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "FAIL c                                0.3000 (at most 0.2000)"
    );
    assert_eq!(lines[1], "       A: selection rate 0.4000 on 40 examples");
    assert_eq!(
        lines[3],
        "       C: 5 examples, under min_group 30: left out"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["at_most"], 0.2);
    assert!(json.get("at_least").is_none() && json.get("examples").is_none());
    assert_eq!(json["groups"][1]["selection_rate"], 0.1);
    assert_eq!(json["min_group"], 30);
    let xml = junit("s", &[r]);
    assert!(
        xml.contains("message=\"c = 0.3000, above 0.2000\""),
        "{xml}"
    );
    // A floor keeps the JSON it always had.
    let floor = serde_json::to_value(&run(&sliced(None, None), &metrics())[0]).unwrap();
    let keys: Vec<&str> = floor
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["at_least", "name", "passed", "value"]);
}
