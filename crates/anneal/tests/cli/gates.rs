//! Group gates (issue 14): `[[check]]`s bounding the gaps between the groups of a metadata
//! field, measured by `anneal test` from the package as `anneal audit` measures them from the
//! build report; changing them does not retrain.

use super::*;

/// `prog/anneal.toml` with its `[[check]]`s replaced by `checks`.
fn set_checks(prog: &Path, checks: &str) {
    let manifest = prog.join("anneal.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let head = text.split("[[check]]").next().unwrap();
    std::fs::write(manifest, format!("{head}{checks}")).unwrap();
}

/// `anneal test --json` of `prog`, and its exit code.
fn tested(cwd: &Path) -> (Option<i32>, serde_json::Value) {
    let o = anneal(cwd, &["test", "-C", "prog", "--json"]);
    (o.status.code(), json_of(&stdout(&o)))
}

/// The value of `gap` in `anneal audit --by FIELD --json` (with `--min-group`).
fn audited(cwd: &Path, field: &str, min_group: &str, gap: &str) -> f64 {
    let args = [
        "audit",
        "-C",
        "prog",
        "--by",
        field,
        "--min-group",
        min_group,
        "--resamples",
        "0",
        "--json",
    ];
    let audit = json_of(&ok(cwd, &args));
    audit["fields"][0][gap]["value"].as_f64().unwrap()
}

const INCOME_GATES: &str = r#"[[check]]
metric = "demographic_parity_difference"
by = "sex"
at_most = 0.1

[[check]]
metric = "equalized-odds-difference"
by = "sex"
at-most = 0.15
"#;

#[test]
fn income_fails_a_parity_ceiling_of_a_tenth_and_passes_a_quarter_as_the_audit_measures() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let tmp = table::full_income_program(&adult);
    let prog = tmp.path().join("prog");
    ok(tmp.path(), &["build", "-C", "prog"]);
    set_checks(&prog, INCOME_GATES);
    let built = ok(tmp.path(), &["build", "-C", "prog"]);
    assert!(built.starts_with("fresh "), "a new gate retrained: {built}");

    let (code, json) = tested(tmp.path());
    assert_eq!(code, Some(1), "{json}");
    let dpd = &json["results"][0];
    assert_eq!(dpd["name"], "demographic_parity_difference by sex");
    assert_eq!(
        (dpd["passed"].as_bool(), dpd["at_most"].as_f64()),
        (Some(false), Some(0.1))
    );
    let value = dpd["value"].as_f64().unwrap();
    assert!(
        (value - 0.182).abs() < 0.01,
        "README's audit measured 0.182: {dpd}"
    );
    let groups: Vec<(&str, bool)> = dpd["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["value"].as_str().unwrap(), g["gated"].as_bool().unwrap()))
        .collect();
    assert_eq!(groups, [("Female", true), ("Male", true)]);
    let eod = &json["results"][1];
    assert_eq!(eod["passed"], true, "{eod}");
    // The same definitions as the audit's, to the last digit.
    let gaps = [
        (dpd, "demographic_parity_difference"),
        (eod, "equalized_odds_difference"),
    ];
    for (result, gap) in gaps {
        let theirs = audited(tmp.path(), "sex", "30", gap);
        assert!(
            (result["value"].as_f64().unwrap() - theirs).abs() < 1e-12,
            "{gap}: {theirs}"
        );
    }
    let text = stdout(&anneal(tmp.path(), &["test", "-C", "prog"]));
    assert!(
        text.contains("FAIL demographic_parity_difference by sex 0.18")
            && text.contains("(at most 0.1000)\n       Female: selection rate 0.08"),
        "{text}"
    );

    set_checks(
        &prog,
        &INCOME_GATES.replace("at_most = 0.1\n", "at_most = 0.25\n"),
    );
    let text = ok(tmp.path(), &["test", "-C", "prog"]);
    assert!(text.ends_with("2 passed, 0 failed\n"), "{text}");
}

const GROUP_GATES: &str = r#"[[check]]
metric = "equalized_odds_difference"
by = "group"
at_most = 0.5

[[check]]
metric = "equalized_odds_difference"
by = "group"
min_group = 10
at_most = 0.5

[[check]]
metric = "selection_rate"
for_each = "group"
at_least = 0.0
"#;

#[test]
fn a_gap_between_a_clean_and_a_flipped_group_fails_once_both_are_large_enough() {
    let (tmp, prog) = slices::built();
    set_checks(&prog, GROUP_GATES);
    let (code, json) = tested(tmp.path());
    assert_eq!(code, Some(1), "{json}");
    let results = json["results"].as_array().unwrap();
    // 20 flipped test examples: under the default 30, there is no second group to compare.
    assert_eq!(
        results[0]["problem"],
        "fewer than two groups of `group` have at least 30 test examples (clean 60, flipped 20): a gap needs two; lower `min_group` to compare smaller groups"
    );
    // At 10 both count: the flipped group's positives are missed, its negatives selected.
    let eod = results[1]["value"].as_f64().unwrap();
    assert!(eod > 0.5 && results[1]["passed"] == false, "{}", results[1]);
    let theirs = audited(tmp.path(), "group", "10", "equalized_odds_difference");
    assert!((eod - theirs).abs() < 1e-12, "audit: {theirs}, test: {eod}");
    let names: Vec<&str> = results[2..]
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "selection_rate where group = clean",
            "selection_rate where group = flipped"
        ]
    );
    assert!(results[2..].iter().all(|r| r["passed"] == true));

    let o = anneal(tmp.path(), &["test", "-C", "prog", "--junit", "j.xml"]);
    assert_eq!(o.status.code(), Some(1));
    let junit = std::fs::read_to_string(tmp.path().join("j.xml")).unwrap();
    let above = format!("equalized_odds_difference by group = {eod:.4}, above 0.5000");
    assert!(junit.contains(&above), "{junit}");
}
