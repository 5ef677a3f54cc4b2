//! `anneal build --width` and `anneal tune`: variants built apart from the program's package,
//! the Pareto front marked, a budget picking one (and written with --pick), an impossible
//! budget refused naming the smallest variant.

use super::*;

#[test]
fn width_scales_the_build_and_its_key() {
    let (tmp, _) = tiny_program(TINY);
    let full = json_of(
        ok(tmp.path(), &["build", "-C", "prog", "--json"])
            .lines()
            .last()
            .unwrap(),
    );
    let half = ok(
        tmp.path(),
        &["build", "-C", "prog", "--json", "--width", "0.5"],
    );
    let half = json_of(half.lines().last().unwrap());
    assert_ne!(full["build_key"], half["build_key"]);
    let check = ok(tmp.path(), &["check", "-C", "prog", "--json"]);
    assert!(check.contains("\"units\":16"), "{check}");
    // `anneal test` knows the package was built at width 0.5: not stale.
    let o = anneal(tmp.path(), &["test", "-C", "prog"]);
    assert!(
        o.status.success() && !stderr(&o).contains("stale"),
        "{}",
        stderr(&o)
    );
    let o = anneal(tmp.path(), &["build", "-C", "prog", "--width", "0"]);
    assert!(
        stderr(&o).contains("`width` must be above 0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tune_marks_the_front_and_picks_within_a_budget() {
    let (tmp, prog) = tiny_program(TINY);
    let args = ["tune", "-C", "prog", "--widths", "0.25,1", "--json"];
    let tuned = json_of(ok(tmp.path(), &args).lines().last().unwrap());
    let variants = tuned["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    let flops: Vec<u64> = variants
        .iter()
        .map(|v| v["flops"].as_u64().unwrap())
        .collect();
    assert!(flops[0] < flops[1], "{flops:?}");
    assert!(variants.iter().any(|v| v["pareto"] == true));
    assert!(
        prog.join("target/tune/w0.25").is_dir() && prog.join("target/tune/pareto.svg").is_file()
    );
    assert!(
        !prog.join("target/tiny-0.1.0.anneal").exists(),
        "tune wrote the program's package"
    );
    // The budget admits only the small variant: it is picked and written.
    let budget = (flops[0] + flops[1]) / 2;
    let args = [
        "tune", "-C", "prog", "--widths", "0.25,1", "--json", "--pick",
    ];
    let budget_arg = budget.to_string();
    let mut with_budget = args.to_vec();
    with_budget.extend(["--budget-flops", &budget_arg]);
    let tuned = json_of(ok(tmp.path(), &with_budget).lines().last().unwrap());
    assert_eq!(tuned["picked"], 0);
    let written = prog.join("target/tiny-0.1.0.anneal");
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(prog.join("target/tune/w0.25/tiny-0.1.0.anneal")).unwrap()
    );
    ok(tmp.path(), &["test", "-C", "prog"]);
    let o = anneal(
        tmp.path(),
        &[
            "tune",
            "-C",
            "prog",
            "--widths",
            "0.25,1",
            "--budget-flops",
            "1",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "no variant fits the budget of 1 FLOPs per example; the smallest is width 0.25"
        ),
        "{}",
        stderr(&o)
    );
}

/// `anneal build --int8`: its own build key, I8 weights in the package with the f32 accuracy
/// beside them, used by `test`, `eval` and `predict` (not stale); `anneal tune --int8` builds
/// each width both ways.
#[test]
fn int8_builds_and_is_used_by_test_eval_and_predict() {
    let (tmp, prog) = tiny_program(TINY);
    let f32_build = ok(tmp.path(), &["build", "-C", "prog", "--json"]);
    let int8_build = ok(tmp.path(), &["build", "-C", "prog", "--json", "--int8"]);
    let key = |s: &str| json_of(s.lines().last().unwrap())["build_key"].clone();
    assert_ne!(key(&f32_build), key(&int8_build));
    let package = prog.join("target/tiny-0.1.0.anneal");
    let bytes = std::fs::read(&package).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let dtypes: Vec<&str> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with(".weight"))
        .map(|(_, v)| v["dtype"].as_str().unwrap())
        .collect();
    assert!(
        !dtypes.is_empty() && dtypes.iter().all(|d| *d == "I8"),
        "{dtypes:?}"
    );
    let q: serde_json::Value = serde_json::from_str(
        header["__metadata__"]["anneal.quantization"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(q["f32_accuracy"].as_f64().unwrap() > 0.5, "{q}");
    let o = anneal(tmp.path(), &["test", "-C", "prog"]);
    assert!(
        o.status.success() && !stderr(&o).contains("stale"),
        "{}",
        stderr(&o)
    );
    let eval = ok(tmp.path(), &["eval", "-C", "prog", "--json"]);
    assert!(eval.contains("accuracy"), "{eval}");
    let args = ["tune", "-C", "prog", "--widths", "0.5", "--int8", "--json"];
    let tuned = json_of(ok(tmp.path(), &args).lines().last().unwrap());
    let kinds: Vec<bool> = tuned["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["int8"].as_bool().unwrap())
        .collect();
    assert_eq!(kinds, [false, true]);
    assert!(
        prog.join("target/tune/w0.5-int8/tiny-0.1.0.anneal")
            .is_file()
    );
}
