//! Manifest errors: each names the file, line and column, what was expected, and a fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use anneal_spec::{Optimizer, Program, Schedule};

#[path = "manifest/gates.rs"]
mod gates;
#[path = "manifest/robust.rs"]
mod robust;

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
            "check `recall[label = 7]`: `at_least = 90` is outside [0, 1]",
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
            ("input = \"image\"", "input = \"table\""),
            (6, 9),
            "a table program needs `[data.table]`",
            None,
        ),
        (
            ("input = \"image\"", "input = \"tabel\""),
            (6, 9),
            "unknown input kind `tabel`",
            Some("did you mean `table`?"),
        ),
        (
            ("input = \"image\"", "input = \"audio\""),
            (7, 9),
            "`shape` [1, 28, 28] does not match the audio front end's [1, 40, 61]",
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

/// Programs no machine could build: `check` refuses each with the figure and the limit, and
/// nothing wraps or panics on the way (these passed `check` or aborted it before).
#[test]
fn absurd_programs_are_refused_with_the_figure_and_the_limit() {
    let many_layers = format!("layers = [{}\"dense 10\"]", "\"relu\", ".repeat(500_000));
    let cases: &[((&str, &str), &str)] = &[
        (
            ("\"dense 10\"]", "\"dense 99999999999\"]"),
            "must be at most 16777216",
        ),
        (
            ("classes = 10", "classes = 10000000000"),
            "10000000000 classes; at most 100000",
        ),
        (
            ("epochs = 2", "epochs = 2\nbatch = 1000000000000"),
            "between 1 and 65536",
        ),
        (
            ("epochs = 2", "epochs = 1000000000000"),
            "between 1 and 10000",
        ),
        (
            ("[1, 28, 28]", "[1, 100000, 100000]"),
            "each side must be at most 65536",
        ),
        (
            ("[1, 28, 28]", "[3, 30000, 30000]"),
            "at most 67108864 are allowed",
        ),
        (
            ("pad 1", "pad 9223372036854775808"),
            "must be at most 16777216",
        ),
        (("3x3", "16777216x16777216"), "does not fit"),
        (
            ("\"conv 8 3x3 pad 1\"", "\"conv 16777216 3x3 pad 1\""),
            "values per example; at most 67108864",
        ),
        (
            ("\"dense 10\"]", "\"dense 16777216\", \"dense 10\"]"),
            "parameters",
        ),
    ];
    for (edit, expected) in cases {
        let e = err(*edit);
        assert!(e.message.contains(expected), "{edit:?}: {}", e.message);
    }
    let big = GOOD.replace("conv 8 3x3", "conv 512 3x3");
    let e =
        Program::parse("a", &big.replace("epochs = 2", "epochs = 2\nbatch = 4096")).unwrap_err();
    assert!(
        e.message.starts_with(
            "a batch of 4096 has 16441835520 bytes of activations; at most 8589934592"
        ),
        "{}",
        e.message
    );
    let layers_line = GOOD.lines().find(|l| l.starts_with("layers")).unwrap();
    let e = Program::parse("a", &GOOD.replace(layers_line, &many_layers)).unwrap_err();
    assert!(
        e.message.contains("500001 layers; at most 1024"),
        "{}",
        e.message
    );
}

mod arithmetic {
    use anneal_spec::shape::{infer, infer_layers};
    use anneal_spec::{Layer, Shape};
    use proptest::prelude::*;

    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..40, any::<usize>(), Just(usize::MAX), Just(1 << 32)]
    }

    fn layer() -> impl Strategy<Value = Layer> {
        prop_oneof![
            size().prop_map(|units| Layer::Dense { units }),
            (size(), size(), size(), size(), size()).prop_map(|(channels, a, b, stride, pad)| {
                Layer::Conv {
                    channels,
                    kernel: [a, b],
                    stride,
                    pad,
                }
            }),
            (size(), size()).prop_map(|(kernel, stride)| Layer::MaxPool { kernel, stride }),
            (size(), size()).prop_map(|(kernel, stride)| Layer::AvgPool { kernel, stride }),
            Just(Layer::Flatten),
            Just(Layer::Relu),
            Just(Layer::BatchNorm),
            Just(Layer::Softmax),
        ]
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            size().prop_map(|n| Shape::Flat([n])),
            (size(), size(), size()).prop_map(|(c, h, w)| Shape::Image([c, h, w])),
        ]
    }

    proptest! {
        /// No input, however absurd, makes shape and cost inference wrap or panic; what it
        /// accepts has every layer within the per-example bound and totals that add up.
        #[test]
        fn shape_and_cost_inference_never_wraps(
            input in shape(),
            layers in prop::collection::vec(layer(), 0..8),
            classes in size(),
        ) {
            let _ = infer(input, &layers, classes);
            if let Ok(t) = infer_layers(input, &layers) {
                prop_assert!(t.layers.iter().all(|r| r.output.elements() <= anneal_spec::budget::MAX_EXAMPLE_ELEMENTS));
                prop_assert_eq!(t.params, t.layers.iter().map(|r| r.params).sum::<usize>());
                prop_assert_eq!(t.weight_bytes, 4 * t.params as u64);
            }
        }
    }
}

mod fuzz {
    use anneal_spec::Program;
    use proptest::prelude::*;

    fn seeds() -> Vec<String> {
        let digits = include_str!("../../../examples/digits/anneal.toml");
        vec![super::GOOD.to_string(), digits.to_string()]
    }

    proptest! {
        #![proptest_config(anneal_fuzz::config())]

        /// Manifests: any text parses or gets a located error, and whatever parses survives
        /// its own round trip (the check packages get).
        #[test]
        fn fuzz_manifest(text in anneal_fuzz::text(seeds())) {
            if let Ok(p) = Program::parse("f.toml", &text) {
                prop_assert!(p.revalidate().is_ok(), "{:?}", p.revalidate());
            }
        }
    }
}

/// Found by `fuzz_manifest` after 2.9 million cases: an escape before a multi-byte character
/// in a layer string put the error's span inside that character, and rendering it panicked.
#[test]
fn an_error_span_inside_a_multibyte_character_is_not_a_panic() {
    let layers =
        "layers = [\"conv 8 3x3 pad 1\", \"conv\\\\\u{fffd} 32 5x5\", \"flatten\", \"dense 10\"]";
    let line = GOOD.lines().find(|l| l.starts_with("layers")).unwrap();
    let e = Program::parse("m.toml", &GOOD.replace(line, layers)).unwrap_err();
    assert!(e.render().contains("m.toml"), "{}", e.render());
}

/// GOOD with its check replaced by `check` (the lines after `[[check]]`).
fn with_check(check: &str) -> Result<Program, anneal_spec::ManifestError> {
    let head = GOOD.split("[[check]]").next().unwrap();
    Program::parse("anneal.toml", &format!("{head}[[check]]\n{check}"))
}

#[test]
fn checks_slice_by_metadata_fields_and_for_each_value() {
    use anneal_spec::Slice;
    let p =
        with_check("metric = \"accuracy\"\nwhere = \"sex = Female\"\nat_least = 0.8\n").unwrap();
    let c = &p.checks[0];
    let sex = Slice::Meta {
        field: "sex".into(),
        value: "Female".into(),
    };
    assert_eq!(
        (c.slice.as_ref(), c.name.as_str()),
        (Some(&sex), "accuracy where sex = Female")
    );
    // Spaces and quotes around a field or value are not part of it; values may hold spaces.
    let p = with_check("metric = \"accuracy\"\nwhere = \" city='New York' \"\nat_least = 0.8\n");
    let slice = p.unwrap().checks[0].slice.clone().unwrap();
    assert_eq!(slice.to_string(), "city = New York");
    let p = with_check("metric = \"accuracy\"\nfor_each = \"speaker\"\nat_least = 0.75\n").unwrap();
    let c = &p.checks[0];
    assert_eq!(
        (c.for_each.as_deref(), c.slice.as_ref()),
        (Some("speaker"), None)
    );
    assert_eq!(c.name, "accuracy for each speaker");
    // `for-each` is the kebab-case spelling; `label` slices per class, with any metric.
    let p = with_check("metric = \"recall\"\nfor-each = \"label\"\nat_least = 0.9\n").unwrap();
    assert_eq!(p.checks[0].for_each.as_deref(), Some("label"));
    // Both survive the round trip packages get.
    p.revalidate().unwrap();
    let p = with_check("metric = \"accuracy\"\nwhere = \"sex = Female\"\nat_least = 0.8\n");
    p.unwrap().revalidate().unwrap();
}

#[test]
fn slice_errors_point_at_the_check() {
    // (check body, (line, column), message, hint)
    type Case<'a> = (&'a str, (usize, usize), &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            "metric = \"accuracy\"\nwhere = \"speaker\"\nat_least = 0.8\n",
            (20, 9),
            "invalid slice `speaker`: expected `FIELD = VALUE`",
            Some("write e.g. `where = \"label = 7\"` or `where = \"speaker = lucas\"`"),
        ),
        (
            "metric = \"accuracy\"\nwhere = \"sex = \"\nat_least = 0.8\n",
            (20, 9),
            "invalid slice `sex = `: the value is empty",
            None,
        ),
        (
            "metric = \"accuracy\"\nwhere = \"sex = F\"\nfor_each = \"speaker\"\nat_least = 0.8\n",
            (21, 12),
            "a check takes `where` or `for_each`, not both",
            Some("split it into two `[[check]]`s"),
        ),
        (
            "metric = \"accuracy\"\nfor_each = \"speaker = lucas\"\nat_least = 0.8\n",
            (20, 12),
            "invalid `for_each = \"speaker = lucas\"`: expected a field name",
            Some("for one slice, write `where = \"speaker = lucas\"`"),
        ),
        (
            "metric = \"accuracy\"\nfor_each = \" \"\nat_least = 0.8\n",
            (20, 12),
            "invalid `for_each = \" \"`: expected a field name",
            None,
        ),
        (
            "metric = \"recall\"\nfor_each = \"speaker\"\nat_least = 0.8\n",
            (19, 10),
            "metric `recall` on the metadata field `speaker`: only `accuracy` and the rates (`selection_rate`, `true_positive_rate`, `false_positive_rate`) are measured per metadata value",
            Some("write `metric = \"accuracy\"`, or slice by `label`"),
        ),
        (
            "metric = \"f1\"\nwhere = \"sex = Female\"\nat_least = 0.8\n",
            (19, 10),
            "metric `f1` on the metadata field `sex`",
            None,
        ),
        (
            "metric = \"accuracy\"\nfor_eachh = \"speaker\"\nat_least = 0.8\n",
            (20, 1),
            "unknown field `for_eachh`",
            Some("did you mean `for_each`?"),
        ),
    ];
    for (check, (line, col), message, hint) in cases {
        let e = with_check(check).unwrap_err();
        assert_eq!((e.line, e.column), (*line, *col), "{check:?}: {e}");
        assert!(e.message.starts_with(message), "{check:?}: {}", e.message);
        if hint.is_some() {
            assert_eq!(e.hint.as_deref(), *hint, "{check:?}");
        }
    }
}

#[test]
fn a_check_with_both_where_and_for_each_renders_like_a_compiler_error() {
    let check =
        "metric = \"accuracy\"\nwhere = \"sex = F\"\nfor_each = \"speaker\"\nat_least = 0.8\n";
    insta::assert_snapshot!(with_check(check).unwrap_err().render());
}

const TABLE: &str = r#"[program]
name = "income"
version = "0.1.0"

[data]
input = "table"
classes = ["<=50K", ">50K"]

[data.table]
numeric = ["age", { name = "capital-gain", log = true }]
categorical = ["workclass", { name = "sex", values = ["Female", "Male"] }]

[model]
layers = ["dense 8", "relu", "dense 2"]
"#;

#[test]
fn a_table_program_is_provisional_until_fitted_and_its_fitted_form_round_trips() {
    let p = Program::parse("anneal.toml", TABLE).unwrap();
    let table = p.input.table.clone().unwrap();
    assert!(!table.is_fitted());
    assert!(table.numeric[1].log && !table.numeric[0].log);
    assert_eq!(
        p.input.shape.dims(),
        vec![2 + 1 + 3],
        "workclass counts its `other` slot only"
    );
    p.revalidate().unwrap();

    let mut fitted = table.clone();
    for (c, (mean, std)) in fitted.numeric.iter_mut().zip([(38.5, 13.6), (0.7, 2.4)]) {
        (c.mean, c.std) = (Some(mean), Some(std));
    }
    fitted.categorical[0].values = Some(vec!["Private".into(), "?".into()]);
    let p = p.with_table(fitted).unwrap();
    assert_eq!(p.input.shape.dims(), vec![2 + 3 + 3]);
    assert_eq!(p.cost.params, 8 * 8 + 8 + 8 * 2 + 2);
    p.revalidate().unwrap();
    let again = Program::parse("anneal.program", &p.to_manifest().unwrap()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn table_manifest_errors_name_the_column_or_field() {
    let bad =
        |from: &str, to: &str| Program::parse("anneal.toml", &TABLE.replace(from, to)).unwrap_err();
    let cases = [
        (
            bad("\"workclass\"", "\"age\""),
            "[data.table] `name` `age` is empty or named twice",
        ),
        (
            bad("log = true", "mean = 1.0"),
            "[data.table] `capital-gain` gives one of `mean` and `std`",
        ),
        (
            bad("log = true", "mean = 1.0, std = 0.0"),
            "[data.table] `capital-gain` needs a finite `mean` and `std` > 0",
        ),
        (
            bad("\"Female\", \"Male\"", "\"Male\", \"Male\""),
            "[data.table] `sex` lists `Male` twice",
        ),
        (
            bad("[data.table]", "shape = [1, 2, 2]\n[data.table]"),
            "`shape` does not apply to a table program",
        ),
        (
            bad("input = \"table\"", "input = \"image\"\nshape = [1, 2, 2]"),
            "`[data.table]` is for table programs",
        ),
        (
            bad("log = true", "bins = 4"),
            "a column name, or a table: `{ name = \"age\", log = true",
        ),
    ];
    for (e, message) in cases {
        assert!(e.message.contains(message), "{message}: {}", e.message);
    }
    let e = bad(
        "numeric = [\"age\", { name = \"capital-gain\", log = true }]\ncategorical = [\"workclass\", { name = \"sex\", values = [\"Female\", \"Male\"] }]",
        "",
    );
    assert!(
        e.message
            .contains("`numeric` and `categorical` are both empty"),
        "{}",
        e.message
    );
}

#[test]
fn audio_front_end_errors_name_the_field() {
    let audio = |body: &str| {
        let text = format!(
            "[program]\nname = \"a\"\nversion = \"0.1.0\"\n[data]\ninput = \"audio\"\nclasses = 3\n[data.audio]\n{body}\n[model]\nlayers = [\"flatten\", \"dense 3\"]\n"
        );
        Program::parse("anneal.toml", &text)
    };
    assert_eq!(
        audio("range = 8.0").unwrap().input.audio.unwrap().range,
        Some(8.0)
    );
    for (body, message) in [
        (
            "range = 0.0",
            "[data.audio] `range` must be a positive number",
        ),
        (
            "range = -3.0",
            "[data.audio] `range` must be a positive number",
        ),
        (
            "floor = 0.0",
            "[data.audio] `floor` must be a positive number",
        ),
        (
            "mels = 200",
            "[data.audio] `mels` must be 1 to n-fft / 2 (128)",
        ),
    ] {
        let e = audio(body).unwrap_err();
        assert_eq!(e.message, message, "{body}");
    }
}

#[test]
fn adversarial_training_is_stated_in_train_and_keyed() {
    use anneal_spec::{Adversarial, Attack};
    let with = |a: &str| GOOD.replace("epochs = 2", &format!("epochs = 2\nadversarial = \"{a}\""));
    let p = Program::parse("a", &with("pgd 0.1 7")).unwrap();
    let a = p.train.adversarial.unwrap();
    assert_eq!(
        (a.attack, a.epsilon, a.steps, a.step),
        (Attack::Pgd, 0.1, 7, None)
    );
    assert!((a.step_size() - 2.5 * 0.1 / 7.0).abs() < 1e-7);
    let stepped = Program::parse("a", &with("pgd 0.3 40 step 0.01")).unwrap();
    assert_eq!(stepped.train.adversarial.unwrap().step_size(), 0.01);
    let fgsm = Program::parse("a", &with("fgsm 0.2")).unwrap();
    assert_eq!(fgsm.train.adversarial, Some(Adversarial::fgsm(0.2)));
    // `none` is no adversarial training, and keys as a program without the line does.
    let plain = Program::parse("a", GOOD).unwrap();
    let none = Program::parse("a", &with("none")).unwrap();
    assert_eq!(none.canonical_json(), plain.canonical_json());
    assert_ne!(p.canonical_json(), plain.canonical_json());
    for (bad, message) in [
        (
            "pgd 0.1",
            "`pgd 0.1` is not an attack: expected `fgsm EPSILON` or `pgd EPSILON STEPS [step SIZE]`",
        ),
        (
            "pgd -0.1 7",
            "`-0.1` is not a radius: expected a number above 0",
        ),
        (
            "pgd 0.1 0",
            "`0` is not a number of steps: expected 1 to 1000",
        ),
        ("fgsm nan", "`nan` is not a radius"),
    ] {
        let e = Program::parse("anneal.toml", &with(bad)).unwrap_err();
        assert!(e.message.contains(message), "{bad}: {}", e.message);
        assert_eq!(e.line, 15, "{bad}");
        assert!(e.hint.as_deref().unwrap().contains("pgd 0.1 7"));
    }
}

#[test]
fn dependencies_are_read_and_checked() {
    let deps = "\n[dependencies]\nfeatures = { oci = \"127.0.0.1:5000/team/digits\", version = \"^0.1\" }\n";
    let p = Program::parse("anneal.toml", &format!("{GOOD}{deps}")).unwrap();
    let d = &p.dependencies()[0];
    assert_eq!(
        (d.name.as_str(), d.oci.as_str(), d.version.as_str()),
        ("features", "127.0.0.1:5000/team/digits", "^0.1")
    );
    p.revalidate().unwrap();
    let text = p.to_manifest().unwrap();
    assert_eq!(Program::parse("again", &text).unwrap(), p);
    let cases = [
        (
            "^0.1",
            "^one",
            "`version = \"^one\"` is not a semver requirement",
        ),
        (
            "127.0.0.1:5000/team/digits",
            "team/digits:0.1.0",
            "has a tag",
        ),
        (
            "127.0.0.1:5000/team/digits",
            "oci://h/team/digits",
            "has a scheme",
        ),
        (
            "127.0.0.1:5000/team/digits",
            "digits",
            "has no repository path",
        ),
        ("127.0.0.1:5000/team/digits", "h/Team", "not lowercase"),
        ("features =", "Features =", "dependency name `Features`"),
    ];
    for (from, to, expected) in cases {
        let e = Program::parse("anneal.toml", &format!("{GOOD}{}", deps.replace(from, to)))
            .unwrap_err();
        assert!(e.message.contains(expected), "{to}: {}", e.message);
        assert_eq!(e.line, 24, "{to}: {e}");
    }
    let unknown = deps.replace("version", "versoin");
    let e = Program::parse("anneal.toml", &format!("{GOOD}{unknown}")).unwrap_err();
    assert!(
        e.message.contains("unknown field `versoin`"),
        "{}",
        e.message
    );
}
