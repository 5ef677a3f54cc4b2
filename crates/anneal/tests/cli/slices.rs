//! Checks over metadata slices (issue 13): a program whose test examples carry a `group`,
//! built, tested with `where` and `for_each`, and evaluated `--by` the field.

use super::*;

const SLICED: &str = r#"[program]
name = "sliced"
version = "0.1.0"

[data]
input = "image"
shape = [1, 8, 8]
classes = 2

[model]
layers = ["flatten", "dense 16", "relu", "dense 2", "softmax"]

[train]
epochs = 3
batch = 16
optimizer = "adam 1e-2"
seed = 7

[[check]]
metric = "accuracy"
where = "group = clean"
at_least = 0.9

[[check]]
metric = "accuracy"
for_each = "group"
at_least = 0.9

[[check]]
metric = "accuracy"
where = "group = clen"
at_least = 0.5

[[check]]
metric = "recall"
for_each = "label"
at_least = 0.5
"#;

/// `DIR/{label}_{group}_{take}.png`, 16x16: in group `clean` label 0 is bright on top and 1 at
/// the bottom; in group `flipped` the other way round, so a model trained on clean examples
/// gets them wrong.
fn write_grouped(dir: &Path, clean: usize, flipped: usize, seed: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..clean + flipped {
        let (class, group) = (i % 2, if i < clean { "clean" } else { "flipped" });
        let top = (class == 0) == (group == "clean");
        let img = image::GrayImage::from_fn(16, 16, |x, y| {
            let noise = ((x * 7 + y * 13 + i as u32 * 31 + seed) % 40) as u8;
            image::Luma([if (y < 8) == top { 180 + noise } else { noise }])
        });
        img.save(dir.join(format!("{class}_{group}_{i}.png")))
            .unwrap();
    }
}

/// The program with 200 clean training images and a test split of 60 clean and 20 flipped,
/// imported with their group (and take) from the file name, and built.
pub(super) fn built() -> (TempDir, PathBuf) {
    let (tmp, prog) = tiny_program(SLICED);
    write_grouped(&prog.join("imgs/train"), 200, 0, 1);
    write_grouped(&prog.join("imgs/test"), 60, 20, 2);
    for split in ["train", "test"] {
        let src = format!("prog/imgs/{split}");
        let pattern = "{label}_{group}_{take}.png";
        let args = [
            "data",
            "import",
            &src,
            "--split",
            split,
            "--pattern",
            pattern,
        ];
        ok(tmp.path(), &[&args[..], &["-C", "prog"]].concat());
    }
    ok(tmp.path(), &["build", "-C", "prog"]);
    (tmp, prog)
}

#[test]
fn checks_over_metadata_slices_pass_fail_and_name_what_is_missing() {
    let (tmp, prog) = built();
    let header = anneal_pack::Header::read(&prog.join("target/sliced-0.1.0.anneal")).unwrap();
    let group = header.metrics.field("group").unwrap();
    let (clean, flipped) = (
        group.value("clean").unwrap(),
        group.value("flipped").unwrap(),
    );
    assert_eq!((clean.examples, flipped.examples), (60, 20));
    assert!(
        clean.accuracy >= 0.9 && flipped.accuracy <= 0.2,
        "{group:?}"
    );
    let all = (clean.correct + flipped.correct) as f64 / 80.0;
    assert!((header.metrics.accuracy - all).abs() < 1e-12);
    let take = header.metrics.field("take").unwrap();
    assert_eq!(
        (take.distinct, take.values.len()),
        (80, 0),
        "too many values to keep"
    );

    let o = anneal(tmp.path(), &["test", "-C", "prog"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ok   accuracy where group = clean"),
        "{text}"
    );
    assert!(lines[0].ends_with("on 60 examples"), "{text}");
    assert!(
        lines[1].starts_with("ok   accuracy where group = clean"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FAIL accuracy where group = flipped"),
        "{text}"
    );
    assert!(
        lines[2].ends_with("(at least 0.9000) on 20 examples"),
        "{text}"
    );
    assert_eq!(
        lines[3],
        "FAIL accuracy where group = clen      no test examples where group = clen; did you mean `clean`?"
    );
    assert!(
        lines[4].starts_with("ok   recall where label = 0"),
        "{text}"
    );
    assert!(
        lines[5].starts_with("ok   recall where label = 1"),
        "{text}"
    );
    assert_eq!(lines[6], "4 passed, 2 failed");

    let o = anneal(
        tmp.path(),
        &["test", "-C", "prog", "--json", "--junit", "j.xml"],
    );
    let json = json_of(&stdout(&o));
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[2]["name"], "accuracy where group = flipped");
    assert_eq!(results[2]["examples"], 20);
    assert_eq!(results[2]["passed"], false);
    assert_eq!(results[2]["value"], flipped.accuracy);
    assert_eq!(results[3]["examples"], 0);
    assert_eq!(
        results[3]["problem"],
        "no test examples where group = clen; did you mean `clean`?"
    );
    let junit = std::fs::read_to_string(tmp.path().join("j.xml")).unwrap();
    assert!(junit.contains("tests=\"6\" failures=\"2\""), "{junit}");
    assert!(
        junit.contains("message=\"no test examples where group = clen; did you mean `clean`?\"")
    );
}

#[test]
fn a_field_with_too_many_values_or_none_at_all_fails_the_check_clearly() {
    let (tmp, prog) = built();
    let checks = "[[check]]\nmetric = \"accuracy\"\nfor_each = \"take\"\nat_least = 0.5\n\n\
        [[check]]\nmetric = \"accuracy\"\nwhere = \"speaker = lucas\"\nat_least = 0.5\n";
    let head = SLICED.split("[[check]]").next().unwrap();
    std::fs::write(prog.join("anneal.toml"), format!("{head}{checks}")).unwrap();
    let o = anneal(tmp.path(), &["test", "-C", "prog", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let json = json_of(&stdout(&o));
    assert_eq!(
        json["results"][0]["problem"],
        "the metadata field `take` has 80 values in the test split; per-value metrics are kept for fields of at most 64"
    );
    assert_eq!(
        json["results"][1]["problem"],
        "no test examples have the metadata field `speaker` (their fields: group, take)"
    );
}

#[test]
fn eval_by_a_field_gives_the_builds_own_slices() {
    let (tmp, prog) = built();
    let header = anneal_pack::Header::read(&prog.join("target/sliced-0.1.0.anneal")).unwrap();
    let m = json_of(&ok(
        tmp.path(),
        &["eval", "-C", "prog", "--by", "group", "--json"],
    ));
    assert_eq!(m["examples"], 80);
    assert_eq!(m["accuracy"], header.metrics.accuracy);
    let built = serde_json::to_value(header.metrics.field("group").unwrap()).unwrap();
    assert_eq!(m["slices"][0], built);
    // Every value of a field, however many: `take` has one per example.
    let m = json_of(&ok(
        tmp.path(),
        &["eval", "-C", "prog", "--by", "take", "--json"],
    ));
    assert_eq!(m["slices"][0]["values"].as_array().unwrap().len(), 80);
    // The training split, by its own values.
    let text = ok(
        tmp.path(),
        &["eval", "-C", "prog", "--split", "train", "--by", "group"],
    );
    assert!(text.starts_with("200 examples, accuracy"), "{text}");
    assert!(text.contains("\n\nby group: 1 value\nvalue "), "{text}");
    // A field no example has, and an IDX source (no metadata).
    let o = anneal(tmp.path(), &["eval", "-C", "prog", "--by", "grup"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).lines().next().unwrap(),
        "error: no example of split `test` has the metadata field `grup`; did you mean `group`?"
    );
    write_idx(&prog, "extra", 10, 3);
    let pkg = "prog/target/sliced-0.1.0.anneal";
    let o = anneal(tmp.path(), &["eval", pkg, "prog/extra", "--by", "group"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("an IDX source has no splits or metadata"),
        "{}",
        stderr(&o)
    );
}
