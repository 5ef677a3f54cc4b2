//! `anneal audit`'s attacks on a tiny image program: the accuracy-vs-epsilon curve in the
//! JSON, with the examples each attack turns wrong, and the refusals of bad settings.

use super::*;

fn accuracy(point: &serde_json::Value) -> f64 {
    point["accuracy"].as_f64().unwrap()
}

#[test]
fn audit_measures_accuracy_under_fgsm_and_pgd() {
    let (tmp, _) = tiny_program(TINY);
    ok(tmp.path(), &["build", "-C", "prog"]);
    let args = [
        "audit",
        "-C",
        "prog",
        "--json",
        "--epsilon",
        "0,0.1,0.5",
        "--steps",
        "5",
        "--html",
        "report.html",
    ];
    let audit = json_of(&ok(tmp.path(), &args));
    let r = &audit["robustness"];
    assert_eq!(r["examples"], 100);
    let clean = r["clean_accuracy"].as_f64().unwrap();
    assert_eq!(clean, audit["accuracy"].as_f64().unwrap());
    let points = r["points"].as_array().unwrap();
    let names: Vec<(&str, f64)> = points
        .iter()
        .map(|p| {
            (
                p["attack"].as_str().unwrap(),
                p["epsilon"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("fgsm", 0.0),
        ("fgsm", 0.1),
        ("fgsm", 0.5),
        ("pgd", 0.0),
        ("pgd", 0.1),
    ];
    for (got, want) in names.iter().zip(expected) {
        assert_eq!(got.0, want.0);
        assert!((got.1 - want.1).abs() < 1e-6, "{names:?}");
    }
    assert_eq!(points[3]["steps"], 5);
    for p in points {
        let wrong = p["wrong"].as_array().unwrap().len() as f64;
        assert!((accuracy(p) - (1.0 - wrong / 100.0)).abs() < 1e-9, "{p}");
    }
    assert_eq!(
        accuracy(&points[0]),
        clean,
        "epsilon 0 is the clean accuracy"
    );
    assert!(accuracy(&points[5]) < clean, "PGD at 0.5 must hurt: {r}");
    assert!(accuracy(&points[5]) <= accuracy(&points[2]) + 0.02, "{r}");

    let text = ok(
        tmp.path(),
        &[
            "audit",
            "-C",
            "prog",
            "--attacks",
            "fgsm",
            "--epsilon",
            "0.1",
        ],
    );
    assert!(text.contains("robustness on 100 test examples"), "{text}");
    assert!(text.contains("\n  fgsm "), "{text}");
    assert!(!text.contains("pgd-"), "{text}");
    let o = &audit["opacity"];
    assert_eq!(o["examples"].as_array().unwrap().len(), 8);
    assert_eq!(o["faithfulness"]["examples"], 100);
    let worst = &o["examples"][0];
    let (ig, gap) = (
        &worst["integrated"],
        worst["integrated"]["completeness_gap"].as_f64().unwrap(),
    );
    assert!(
        gap.abs() <= 0.05 * ig["output_difference"].as_f64().unwrap().abs() + 1e-4,
        "{ig}"
    );
    let id = worst["id"].as_str().unwrap().replace(':', "_");
    for map in ["input", "saliency", "ig"] {
        let png =
            std::fs::read(tmp.path().join(format!("prog/target/audit/{id}.{map}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{map}");
    }
    let page = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    for part in [
        "<h2>Calibration</h2>",
        "<h2>Opacity</h2>",
        "<h2>Adversarial robustness</h2>",
        "data:image/png;base64,",
    ] {
        assert!(page.contains(part), "{part}");
    }
    let none = json_of(&ok(
        tmp.path(),
        &[
            "audit",
            "-C",
            "prog",
            "--attacks",
            "none",
            "--explain",
            "0",
            "--json",
        ],
    ));
    assert!(none.get("robustness").is_none(), "{none}");
    assert!(none.get("opacity").is_none(), "{none}");
}

#[test]
fn bad_attack_settings_are_refused_by_name() {
    let (tmp, _) = tiny_program(TINY);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--baseline", "grey"],
            "`grey` is not a baseline: zero or mean",
        ),
        (&["--ig-steps", "0"], "--ig-steps is 1 to 10000"),
        (
            &["--attacks", "cw"],
            "`cw` is not an attack: fgsm, pgd or none",
        ),
        (
            &["--epsilon", "0.1,-1"],
            "--epsilon -1: a radius is a finite number >= 0",
        ),
        (&["--steps", "0"], "--steps is at least 1"),
    ];
    ok(tmp.path(), &["build", "-C", "prog"]);
    for (extra, message) in cases {
        let mut args = vec!["audit", "-C", "prog"];
        args.extend_from_slice(extra);
        let e = stderr(&anneal(tmp.path(), &args));
        assert!(e.contains(message), "{extra:?}: {e}");
    }
}
