//! Table programs (issue 13): UCI Adult rows imported from CSV, built as `examples/income`
//! declares (numeric columns standardised, categorical ones one-hot, fitted on the train
//! split), tested per `sex`, and raw CSV and JSONL rows predicted; rows the package cannot take
//! refused naming the file, line and column.

use super::*;

/// The first `n` data rows of `src` (after its header) into `dst`, trailing full stops of the
/// label dropped as `examples/income/import.sh` does.
fn head_rows(src: &Path, dst: &Path, n: usize) {
    let text = std::fs::read_to_string(src).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .take(n.saturating_add(1))
        .map(|l| l.trim_end_matches('.'))
        .collect();
    std::fs::write(dst, rows.join("\n") + "\n").unwrap();
}

/// A temp folder with `prog/` holding the income example's manifest (floors lowered and
/// ceilings raised for a subset), `train.csv` (3,000 rows) and `test.csv` (1,000 rows)
/// imported.
fn income_program(adult: &Path) -> tempfile::TempDir {
    let subset = [
        ("at_least = 0.85", "at_least = 0.75"),
        ("at_least = 0.80", "at_least = 0.7"),
        // 304 women in the first 1,000 test rows, 38 of them earning over $50K: wide gaps.
        ("at_most = 0.25", "at_most = 0.5"),
        ("at_most = 0.15", "at_most = 0.5"),
    ];
    income_rows(adult, 3000, 1000, &subset)
}

/// The income example as it is, every row of UCI Adult imported as `import.sh` does.
pub(super) fn full_income_program(adult: &Path) -> tempfile::TempDir {
    income_rows(adult, usize::MAX, usize::MAX, &[])
}

/// A temp folder with `prog/` holding the income example's manifest with `edits` made, the
/// first `train` rows of adult.data and `test` of adult.test imported.
fn income_rows(
    adult: &Path,
    train: usize,
    test: usize,
    edits: &[(&str, &str)],
) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let prog = tmp.path().join("prog");
    std::fs::create_dir_all(&prog).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/income/anneal.toml");
    let mut manifest = std::fs::read_to_string(example).unwrap();
    for (from, to) in edits {
        assert!(manifest.contains(from), "the example has no `{from}`");
        manifest = manifest.replace(from, to);
    }
    std::fs::write(prog.join("anneal.toml"), manifest).unwrap();
    head_rows(
        &adult.join("adult.data"),
        &tmp.path().join("train.csv"),
        train,
    );
    head_rows(
        &adult.join("adult.test"),
        &tmp.path().join("test.csv"),
        test,
    );
    for split in ["train", "test"] {
        let csv = format!("{split}.csv");
        let args = [
            "data",
            "import",
            &csv,
            "--label-column",
            "Y",
            "--split",
            split,
            "-C",
            "prog",
        ];
        ok(tmp.path(), &args);
    }
    tmp
}

#[test]
fn a_table_program_builds_from_adult_is_tested_per_sex_and_predicts_raw_rows() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let tmp = income_program(&adult);
    let check = ok(tmp.path(), &["check", "-C", "prog"]);
    assert!(
        check.contains("input [B, ") && check.contains("fitted on the training split at HEAD"),
        "{check}"
    );
    let built = json_of(
        ok(tmp.path(), &["build", "--json", "-C", "prog"])
            .lines()
            .last()
            .unwrap(),
    );
    assert!(built["accuracy"].as_f64().unwrap() > 0.8, "{built}");
    let tested = ok(tmp.path(), &["test", "-C", "prog"]);
    assert!(
        tested.contains("sex = Female") && tested.contains("sex = Male"),
        "{tested}"
    );

    // Raw rows: the test file's first 20, as CSV and as JSONL records, predict the same.
    let package = "prog/target/income-0.1.0.anneal";
    head_rows(
        &tmp.path().join("test.csv"),
        &tmp.path().join("rows.csv"),
        20,
    );
    let csv = json_of(&ok(tmp.path(), &["predict", package, "rows.csv", "--json"]));
    write_jsonl(&tmp.path().join("rows.csv"), &tmp.path().join("rows.jsonl"));
    let jsonl = json_of(&ok(
        tmp.path(),
        &["predict", package, "rows.jsonl", "--json"],
    ));
    let probs = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["probabilities"].clone())
            .collect()
    };
    assert_eq!(probs(&csv).len(), 20);
    assert_eq!(probs(&csv), probs(&jsonl));
}

/// The CSV rows of `src` as JSON records, numbers as numbers.
fn write_jsonl(src: &Path, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let record = |line: &str| {
        let values = line
            .split(',')
            .map(str::trim)
            .map(|v| match v.parse::<f64>() {
                Ok(x) => serde_json::json!(x),
                Err(_) => serde_json::json!(v),
            });
        let map: serde_json::Map<String, serde_json::Value> =
            header.iter().map(|h| h.to_string()).zip(values).collect();
        serde_json::Value::Object(map).to_string()
    };
    let out: Vec<String> = lines.map(record).collect();
    std::fs::write(dst, out.join("\n") + "\n").unwrap();
}

#[test]
fn rows_a_table_package_cannot_take_are_refused_naming_file_line_and_column() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let tmp = income_program(&adult);
    ok(tmp.path(), &["build", "-C", "prog"]);
    let package = "prog/target/income-0.1.0.anneal";
    let header = "age, workclass, fnlwgt, education, education-num, marital-status, occupation, relationship, race, sex, capital-gain, capital-loss, hours-per-week, native-country";
    let row = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States";
    let unseen = "39, Astronaut, 77516, Bachelors, 13, , Adm-clerical, Not-in-family, White, Male, 2174, 0, , Atlantis";
    let cases = [
        (
            format!("{header}\n{row}, extra\n"),
            "rows.csv:2: 15 fields; the header has 14",
        ),
        (
            format!("{header}\n{}\n", row.replace("39,", "thirty-nine,")),
            "rows.csv:2: column `age`: expected a number, found `thirty-nine`",
        ),
        (
            format!("{}\n{row}\n", header.replace(", sex", ", gender")),
            "rows.csv:1: no column `sex` in the header",
        ),
    ];
    for (text, message) in cases {
        std::fs::write(tmp.path().join("rows.csv"), text).unwrap();
        let o = anneal(tmp.path(), &["predict", package, "rows.csv"]);
        assert!(
            !o.status.success() && stderr(&o).contains(message),
            "{message}: {}",
            stderr(&o)
        );
    }
    // An unseen category and missing values are not errors: they are encoded as "other" and
    // as the training mean.
    std::fs::write(tmp.path().join("rows.csv"), format!("{header}\n{unseen}\n")).unwrap();
    let out = ok(tmp.path(), &["predict", package, "rows.csv"]);
    assert!(out.starts_with("rows.csv:2: "), "{out}");
    std::fs::write(tmp.path().join("rows.jsonl"), "[1, 2]\n").unwrap();
    let o = anneal(tmp.path(), &["predict", package, "rows.jsonl"]);
    assert!(
        stderr(&o).contains("rows.jsonl:1: expected a JSON object"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_table_program_whose_columns_do_not_match_its_rows_is_refused_before_training() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let tmp = income_program(&adult);
    let manifest = tmp.path().join("prog/anneal.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"fnlwgt\", ", "")).unwrap();
    let o = anneal(tmp.path(), &["build", "-C", "prog"]);
    let e = stderr(&o);
    assert!(
        e.contains("its row has 6 numeric values; `[data.table] numeric` names 5"),
        "{e}"
    );
    std::fs::write(&manifest, text.replace("\"sex\"", "\"gender\"")).unwrap();
    let e = stderr(&anneal(tmp.path(), &["build", "-C", "prog"]));
    assert!(
        e.contains("no example of split `train` has the metadata field `gender`"),
        "{e}"
    );
    assert!(!tmp.path().join("prog/target/income-0.1.0.anneal").exists());
}

#[test]
fn audit_reports_groups_with_intervals_and_the_fairness_gaps() {
    let Some(adult) = shared_dataset("adult") else {
        return;
    };
    let tmp = income_program(&adult);
    let o = anneal(tmp.path(), &["audit", "-C", "prog"]);
    assert!(stderr(&o).contains("no build report"), "{}", stderr(&o));
    ok(tmp.path(), &["build", "-C", "prog"]);
    let audit = json_of(&ok(
        tmp.path(),
        &["audit", "-C", "prog", "--by", "sex", "--json"],
    ));
    let sex = &audit["fields"][0];
    assert_eq!(sex["field"], "sex");
    assert_eq!(sex["positive"], ">50K");
    let groups: Vec<&str> = sex["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["Female", "Male"]);
    let dpd = &sex["demographic_parity_difference"];
    let (v, lo, hi) = (
        dpd["value"].as_f64().unwrap(),
        dpd["low"].as_f64().unwrap(),
        dpd["high"].as_f64().unwrap(),
    );
    assert!(lo < v && v < hi && v > 0.0, "{dpd}");
    // Every field with 2 to 64 values when none is named; the text form prints the gaps.
    let text = ok(tmp.path(), &["audit", "-C", "prog", "--resamples", "100"]);
    for field in ["race", "sex", "workclass"] {
        assert!(text.contains(&format!("\n{field} (")), "{field}: {text}");
    }
    assert!(text.contains("demographic parity difference"), "{text}");
    let e = stderr(&anneal(
        tmp.path(),
        &["audit", "-C", "prog", "--by", "gender"],
    ));
    assert!(e.contains("has the metadata field `gender`"), "{e}");
    let e = stderr(&anneal(
        tmp.path(),
        &["audit", "-C", "prog", "--positive", "rich"],
    ));
    assert!(
        e.contains("--positive `rich` is not one of the program's classes (<=50K, >50K)"),
        "{e}"
    );
}
