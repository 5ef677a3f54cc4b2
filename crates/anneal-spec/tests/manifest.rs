//! Manifest errors: each names the file, line and column, what was expected, and a fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use anneal_spec::{Optimizer, Program, Schedule};

const GOOD: &str = r#"[program]
name = "digits"
version = "0.1.0"

[data]
input = "image"
shape = [1, 28, 28]
classes = 10

[model]
layers = ["conv 8 3x3 pad 1", "relu", "maxpool 2", "flatten", "dense 10"]

[train]
epochs = 2
optimizer = "sgd 0.1 momentum 0.9"
schedule = "cosine"

[[check]]
metric = "recall"
where = "label = 7"
at_least = 0.9
"#;

fn err(edit: (&str, &str)) -> anneal_spec::ManifestError {
    assert!(GOOD.contains(edit.0), "fixture lacks {:?}", edit.0);
    Program::parse("anneal.toml", &GOOD.replace(edit.0, edit.1)).unwrap_err()
}

#[test]
fn a_good_manifest_means_what_it_says() {
    let p = Program::parse("anneal.toml", GOOD).unwrap();
    assert_eq!(
        p.train.optimizer,
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9
        }
    );
    assert_eq!(p.train.schedule, Schedule::Cosine);
    assert_eq!(p.train.batch, 64);
    assert_eq!(p.classes.len(), 10);
    assert_eq!(p.checks[0].name, "recall[label = 7]");
    assert_eq!(
        p.cost.layers[2].output,
        anneal_spec::Shape::Image([8, 14, 14])
    );
}

#[test]
fn the_build_key_ignores_names_and_checks() {
    let a = Program::parse("a", GOOD).unwrap();
    let b = Program::parse(
        "b",
        &GOOD
            .replace("at_least = 0.9", "at_least = 0.95")
            .replace("\"digits\"", "\"other\""),
    )
    .unwrap();
    let c = Program::parse("c", &GOOD.replace("epochs = 2", "epochs = 3")).unwrap();
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_ne!(a.canonical_json(), c.canonical_json());
}

#[test]
fn errors_point_at_the_offending_text() {
    // (edit, (line, column), message prefix, hint)
    type Case<'a> = ((&'a str, &'a str), (usize, usize), &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            ("\"relu\"", "\"rleu\""),
            (11, 32),
            "unknown layer `rleu`",
            Some("did you mean `relu`?"),
        ),
        (
            ("pad 1", "pad x"),
            (11, 27),
            "expected the pad value (a whole number), found `x`",
            Some("the form is `conv C KxK [stride S] [pad P]`"),
        ),
        (
            ("epochs = 2", "epochz = 2"),
            (14, 1),
            "unknown field `epochz`",
            Some("did you mean `epochs`?"),
        ),
        (
            ("sgd 0.1", "sgdd 0.1"),
            (15, 13),
            "unknown optimizer `sgdd`: expected `adam` or `sgd` (did you mean `sgd`?)",
            None,
        ),
        (
            ("label = 7", "label = 11"),
            (20, 9),
            "unknown class `11` in slice",
            None,
        ),
        (
            ("at_least = 0.9", "at_least = 90"),
            (21, 12),
            "`at_least = 90` is outside [0, 1]",
            None,
        ),
        (
            ("\"0.1.0\"", "\"1\""),
            (3, 11),
            "invalid version `1`: expected MAJOR.MINOR.PATCH",
            None,
        ),
        (
            ("\"digits\"", "\"Digits!\""),
            (2, 8),
            "invalid program name `Digits!`",
            Some("try `digits-`"),
        ),
        (
            ("[1, 28, 28]", "[28, 28]"),
            (7, 9),
            "invalid image shape [28, 28]",
            None,
        ),
        (
            ("\"dense 10\"", "\"dense 9\""),
            (11, 63),
            "layer 4 `dense 9`: the model's output is [B, 9], but the program has 10 classes",
            Some("end the model with `dense 10`"),
        ),
        (
            ("metric = \"recall\"", "metric = \"recal\""),
            (19, 10),
            "unknown metric `recal`",
            Some("did you mean `recall`?"),
        ),
        (
            ("input = \"image\"", "input = \"audio\""),
            (6, 9),
            "unsupported input kind `audio`",
            None,
        ),
    ];
    let mut wrong = Vec::new();
    for (edit, (line, col), message, hint) in cases {
        let e = err(*edit);
        if (e.line, e.column) != (*line, *col) {
            wrong.push(format!(
                "{edit:?}: at {}:{}, expected {line}:{col}: {e}",
                e.line, e.column
            ));
            continue;
        }
        assert!(e.message.starts_with(message), "{edit:?}: {}", e.message);
        if hint.is_some() {
            assert_eq!(e.hint.as_deref(), *hint, "{edit:?}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn not_toml_is_located_too() {
    let e = Program::parse("m.toml", "[program\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 9));
    let e = Program::parse("m.toml", "").unwrap_err();
    assert!(
        e.message.contains("missing field `program`"),
        "{}",
        e.message
    );
}
