//! Training and inference on small programs: every layer kind runs, the same seed gives the same
//! weights, exported weights reload to the same predictions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use anneal_engine::{
    Backend, EngineError, Examples, Model, NoObserver, Objective, Observer, Threat, train,
    train_with,
};
use anneal_spec::{Adversarial, Program};

#[path = "engine/compose.rs"]
mod compose;
#[path = "engine/int8.rs"]
mod int8;

fn program(layers: &str, extra: &str) -> Program {
    let text = format!(
        "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 6, 6]\nclasses = 3\n\
         [model]\nlayers = [{layers}]\n[train]\nepochs = 3\nbatch = 8\nseed = 5\n{extra}"
    );
    Program::parse("anneal.toml", &text).unwrap()
}

/// 3 classes: a bright row at the top, middle or bottom.
fn data(n: usize) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::with_capacity(n * 36);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        for r in 0..6 {
            for c in 0..6 {
                let on = r / 2 == class;
                x.push(if on { 0.9 } else { 0.05 } + ((i * 7 + r * 5 + c) % 11) as f32 * 0.01);
            }
        }
        y.push(class as u32);
    }
    (x, y)
}

#[test]
fn every_layer_kind_trains_and_reloads() {
    let p = program(
        r#""conv 4 3x3 pad 1", "batchnorm", "gelu", "avgpool 2", "conv 4 2x2 stride 1", "sigmoid", "maxpool 2", "flatten", "dropout 0.2", "dense 8", "tanh", "batchnorm", "layernorm", "relu", "dense 3", "softmax""#,
        "optimizer = \"adam 0.01\"\naugment = \"shift 1\"",
    );
    let (x, y) = data(96);
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    assert_eq!(t.losses.len(), 3);
    assert_eq!(t.losses[0].len(), 96);
    let names: Vec<&str> = t.weights.iter().map(|w| w.name.as_str()).collect();
    assert!(names.contains(&"layers.1.running_var"), "{names:?}");
    let model = Model::new(&p, &t.weights).unwrap();
    let probs = model.predict(&x).unwrap();
    assert_eq!(probs.len(), 96 * 3);
    for row in probs.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // Reloading exported weights gives the same predictions, whatever the tensor order.
    let mut shuffled = t.weights.clone();
    shuffled.reverse();
    assert_eq!(
        Model::new(&p, &shuffled).unwrap().predict(&x).unwrap(),
        probs
    );
}

#[test]
fn a_seed_fixes_the_weights() {
    let (x, y) = data(48);
    let ex = Examples { x: &x, y: &y };
    let p = program(r#""flatten", "dropout 0.1", "dense 3""#, "");
    let a = train(&p, &ex, &mut NoObserver).unwrap();
    let b = train(&p, &ex, &mut NoObserver).unwrap();
    assert_eq!(a.weights, b.weights);
    let q = program(r#""flatten", "dropout 0.1", "dense 3""#, "");
    let q = Program {
        train: anneal_spec::program::Train { seed: 6, ..q.train },
        ..q
    };
    assert_ne!(train(&q, &ex, &mut NoObserver).unwrap().weights, a.weights);
}

#[test]
fn it_learns() {
    let (x, y) = data(150);
    let p = program(
        r#""flatten", "dense 16", "relu", "dense 3""#,
        "optimizer = \"adam 0.02\"",
    );
    let p = Program {
        train: anneal_spec::program::Train {
            epochs: 20,
            ..p.train
        },
        ..p
    };
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    assert!(
        t.epochs.last().unwrap().loss < t.epochs[0].loss / 4.0,
        "{:?}",
        t.epochs
    );
    let probs = Model::new(&p, &t.weights).unwrap().predict(&x).unwrap();
    let right = probs
        .chunks(3)
        .zip(&y)
        .filter(|(p, y)| anneal_pack_free_argmax(p) == **y as usize)
        .count();
    assert!(right >= 145, "{right} of 150");
}

fn anneal_pack_free_argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

#[test]
fn bad_inputs_are_errors() {
    let p = program(r#""flatten", "dense 3""#, "");
    let (x, y) = data(6);
    let short = Examples { x: &x[1..], y: &y };
    assert!(matches!(
        train(&p, &short, &mut NoObserver),
        Err(EngineError::Input(_))
    ));
    let bad_label = [0, 1, 7, 0, 1, 2];
    assert!(
        train(
            &p,
            &Examples {
                x: &x,
                y: &bad_label
            },
            &mut NoObserver
        )
        .unwrap_err()
        .to_string()
        .contains("label index 7")
    );
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let model = Model::new(&p, &t.weights).unwrap();
    assert!(model.predict(&x[..35]).is_err());
    let mut wrong = t.weights.clone();
    wrong[0].shape = vec![36, 2];
    assert!(matches!(
        Model::new(&p, &wrong),
        Err(EngineError::Weights(_))
    ));
}

struct StopAfter(usize, std::cell::Cell<usize>);
impl Observer for StopAfter {
    fn step(&mut self, _: usize, _: f32, _: usize) {
        self.1.set(self.1.get() + 1);
    }
    fn cancelled(&self) -> bool {
        self.1.get() >= self.0
    }
}

#[test]
fn an_observer_can_interrupt() {
    let p = program(r#""flatten", "dense 3""#, "");
    let (x, y) = data(64);
    let mut stop = StopAfter(3, std::cell::Cell::new(0));
    assert!(matches!(
        train(&p, &Examples { x: &x, y: &y }, &mut stop),
        Err(EngineError::Interrupted)
    ));
    assert_eq!(stop.1.get(), 3);
}

/// A program on 3-channel 6x6 inputs, so the compiled engine's channels-last layout is
/// exercised against burn's channel-major one.
fn rgb_program(layers: &str, optimizer: &str) -> Program {
    let text = format!(
        "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [3, 6, 6]\nclasses = 3\n\
         [model]\nlayers = [{layers}]\n[train]\nepochs = 2\nbatch = 8\nseed = 9\noptimizer = \"{optimizer}\"\n"
    );
    Program::parse("anneal.toml", &text).unwrap()
}

fn rgb_data(n: usize) -> (Vec<f32>, Vec<u32>) {
    let (grey, y) = data(n);
    let mut x = Vec::with_capacity(n * 108);
    for (i, img) in grey.chunks(36).enumerate() {
        for ch in 0..3 {
            x.extend(
                img.iter()
                    .map(|v| v * (1.0 + ch as f32 * 0.3) - 0.1 * ((i + ch) % 4) as f32),
            );
        }
    }
    (x, y)
}

/// The largest relative difference between two weight sets, and the tensor it is in.
fn max_difference(
    a: &[anneal_spec::NamedTensor],
    b: &[anneal_spec::NamedTensor],
    ignore: &[&str],
) -> (f32, String) {
    let mut worst = (0f32, String::new());
    for t in a.iter().filter(|t| !ignore.contains(&t.name.as_str())) {
        let u = b.iter().find(|u| u.name == t.name).unwrap();
        assert_eq!(t.shape, u.shape, "{}", t.name);
        for (x, y) in t.data.iter().zip(&u.data) {
            let d = (x - y).abs() / (1.0 + x.abs());
            if d > worst.0 {
                worst = (d, t.name.clone());
            }
        }
    }
    worst
}

/// Every layer kind except dropout (whose masks are drawn in each backend's own layout order),
/// trained from the same initial weights on the same batches by the compiled engine and by
/// burn's autodiff: SGD follows the gradients exactly, so any wrong gradient shows up.
#[test]
fn the_compiled_engine_trains_as_burn_does() {
    let layers = [
        r#""conv 4 3x3 pad 1", "batchnorm", "gelu", "avgpool 2", "conv 5 2x2", "sigmoid", "maxpool 2", "flatten", "dense 8", "tanh", "batchnorm", "relu", "dense 3""#,
        r#""conv 6 3x3 stride 2 pad 1", "relu", "maxpool 2 stride 1", "flatten", "dense 3""#,
        // The second convolution (8 channels in, 3x3, stride 1) infers through Winograd's
        // transforms, its max pooling taken tile by tile.
        r#""conv 8 3x3 pad 1", "relu", "conv 9 3x3 pad 1", "relu", "maxpool 2", "flatten", "dense 3""#,
        r#""flatten", "dense 16", "relu", "dense 3", "softmax""#,
        r#""flatten", "layernorm", "dense 16", "layernorm", "gelu", "dense 3""#,
    ];
    let (x, y) = rgb_data(48);
    for layers in layers {
        for optimizer in ["sgd 0.1 momentum 0.9", "adam 0.01"] {
            let p = rgb_program(layers, optimizer);
            let ex = Examples { x: &x, y: &y };
            let ours = train_with(Backend::Compiled, &p, &ex, &mut NoObserver).unwrap();
            let burn = train_with(Backend::Burn, &p, &ex, &mut NoObserver).unwrap();
            // A bias right before batchnorm has a gradient of exactly zero in exact arithmetic,
            // so each backend's rounding noise is all Adam sees there (it normalises the noise to
            // steps of ±lr): compare it only under SGD, where a noise-sized gradient moves it by
            // a noise-sized step. The batchnorm's running mean carries that bias along.
            let ignore: &[&str] =
                if optimizer.starts_with("adam") && layers.contains(r#"pad 1", "batchnorm""#) {
                    &["layers.0.bias", "layers.1.running_mean"]
                } else {
                    &[]
                };
            let (diff, name) = max_difference(&ours.weights, &burn.weights, ignore);
            assert!(
                diff < 1e-3,
                "{layers} / {optimizer}: {name} differs by {diff}"
            );
            for (a, b) in ours
                .losses
                .iter()
                .flatten()
                .zip(burn.losses.iter().flatten())
            {
                assert!(
                    (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "{layers}: loss {a} vs {b}"
                );
            }
            // Inference on the same weights agrees too (running statistics included).
            let a = Model::with_backend(Backend::Compiled, &p, &burn.weights).unwrap();
            let b = Model::with_backend(Backend::Burn, &p, &burn.weights).unwrap();
            let (pa, pb) = (a.predict(&x).unwrap(), b.predict(&x).unwrap());
            for (u, v) in pa.iter().zip(&pb) {
                assert!((u - v).abs() < 1e-5, "{layers}: probability {u} vs {v}");
            }
        }
    }
}

#[test]
fn small_batches_predict_as_large_ones() {
    // Dense layers large enough that batches of 1-4 share panels with the partner thread (the
    // first with a batch norm folded into it); a
    // CNN whose first convolution runs directly and whose second runs through Winograd's
    // transforms, from weights kept transformed for every batch size.
    for layers in [
        r#""flatten", "dense 200", "batchnorm", "relu", "dense 70", "tanh", "dense 3""#,
        r#""conv 8 5x5", "relu", "maxpool 2", "conv 12 5x5", "relu", "maxpool 2", "flatten", "dense 3""#,
    ] {
        small_batches_predict_as_large_ones_for(layers);
    }
}

fn small_batches_predict_as_large_ones_for(layers: &str) {
    let text = format!(
        "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 28, 28]\nclasses = 3\n\
         [model]\nlayers = [{layers}]\n[train]\nepochs = 1\nbatch = 8\nseed = 5\n"
    );
    let p = Program::parse("anneal.toml", &text).unwrap();
    let n = 24;
    let x: Vec<f32> = (0..n * 784)
        .map(|i| ((i * 7919) % 1013) as f32 / 1013.0)
        .collect();
    let y: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let model = Model::new(&p, &t.weights).unwrap();
    let batch = model.predict(&x).unwrap();
    for rows in 1..=5 {
        for round in 0..20 {
            let start = (round * rows) % (n - rows);
            let got = model
                .predict(&x[start * 784..(start + rows) * 784])
                .unwrap();
            let want = &batch[start * 3..(start + rows) * 3];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 1e-5,
                    "{layers}: {rows} rows from {start}: {got:?} against {want:?}"
                );
            }
        }
    }
}

/// Spectrograms are wider than tall: on a 1x5x8 input (bands by frames), the compiled engine
/// still trains as burn does, so no height is taken for a width anywhere.
#[test]
fn a_non_square_input_trains_as_burn_does() {
    let text = "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 5, 8]\nclasses = 3\n\
         [model]\nlayers = [\"conv 4 3x3 pad 1\", \"relu\", \"maxpool 2\", \"conv 5 2x2\", \"batchnorm\", \"flatten\", \"dense 3\"]\n[train]\nepochs = 2\nbatch = 8\nseed = 9\noptimizer = \"sgd 0.1 momentum 0.9\"\n";
    let p = Program::parse("anneal.toml", text).unwrap();
    let (n, mut x, mut y) = (48, Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 3;
        x.extend((0..40).map(|j| {
            let (row, col) = (j / 8, j % 8);
            let on = col / 3 == class && row > 0;
            let base = if on { 0.9 } else { 0.05 };
            base + ((i * 7 + row * 5 + col * 3) % 11) as f32 * 0.01
        }));
        y.push(class as u32);
    }
    let ex = Examples { x: &x, y: &y };
    let ours = train_with(Backend::Compiled, &p, &ex, &mut NoObserver).unwrap();
    let burn = train_with(Backend::Burn, &p, &ex, &mut NoObserver).unwrap();
    let (diff, name) = max_difference(&ours.weights, &burn.weights, &[]);
    assert!(diff < 1e-3, "{name} differs by {diff}");
    let a = Model::with_backend(Backend::Compiled, &p, &burn.weights).unwrap();
    let b = Model::with_backend(Backend::Burn, &p, &burn.weights).unwrap();
    for (u, v) in a.predict(&x).unwrap().iter().zip(&b.predict(&x).unwrap()) {
        assert!((u - v).abs() < 1e-5, "probability {u} vs {v}");
    }
}

/// The objective of example `i` at `x` (one example's worth of inputs).
fn objective_value(model: &Model, x: &[f32], class: u32, loss: bool) -> f32 {
    let classes = [class];
    let objective = if loss {
        Objective::Loss(&classes)
    } else {
        Objective::Logit(&classes)
    };
    model.gradient(x, objective).unwrap().value[0]
}

/// Every layer kind, trained a little (so batch norm's running statistics are not the
/// initial ones), on 3-channel inputs (the channels-last layout must be undone).
fn trained_rgb_model() -> (Program, Model, Vec<f32>, Vec<u32>) {
    let p = rgb_program(
        r#""conv 4 3x3 pad 1", "batchnorm", "gelu", "avgpool 2", "conv 4 2x2 stride 1", "sigmoid", "maxpool 2", "flatten", "dropout 0.3", "dense 8", "tanh", "batchnorm", "layernorm", "dense 3""#,
        "adam 0.01",
    );
    let (x, y) = rgb_data(48);
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let model = Model::new(&p, &t.weights).unwrap();
    (p, model, x, y)
}

/// The input gradient of the loss and of a logit agrees with central finite differences of
/// the same objective, on every input value of two examples, through every layer kind.
#[test]
fn input_gradients_match_finite_differences() {
    let (_, model, x, y) = trained_rgb_model();
    let features = 108;
    for loss in [true, false] {
        let (x, y) = (&x[..2 * features], &y[..2]);
        let targets: Vec<u32> = y.iter().map(|c| (c + 1) % 3).collect();
        let objective = if loss {
            Objective::Loss(&targets)
        } else {
            Objective::Logit(&targets)
        };
        let g = model.gradient(x, objective).unwrap();
        let scale = g.input.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "a vanishing gradient tests nothing: {scale}");
        let h = 1e-2;
        for (i, &analytic) in g.input.iter().enumerate() {
            let e = i / features;
            let mut xe = x[e * features..(e + 1) * features].to_vec();
            xe[i % features] += h;
            let up = objective_value(&model, &xe, targets[e], loss);
            xe[i % features] -= 2.0 * h;
            let down = objective_value(&model, &xe, targets[e], loss);
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (numeric - analytic).abs() <= 0.02 * scale + 1e-4,
                "loss {loss}, value {i}: numeric {numeric}, analytic {analytic} (scale {scale})"
            );
        }
    }
}

/// Each example's gradient depends on its own input alone (inference statistics, no
/// dropout), and its probabilities are what `predict` gives (up to rounding: `predict` runs
/// the batch norm folded into the convolution before it).
#[test]
fn input_gradients_are_per_example() {
    let (_, model, x, y) = trained_rgb_model();
    let all = model.gradient(&x, Objective::Loss(&y)).unwrap();
    let predicted = model.predict(&x).unwrap();
    for (g, p) in all.probs.iter().zip(&predicted) {
        assert!(
            (g - p).abs() <= 1e-6,
            "gradient's {g} against predict's {p}"
        );
    }
    let one = model
        .gradient(&x[108..216], Objective::Loss(&y[1..2]))
        .unwrap();
    let diff = one
        .input
        .iter()
        .zip(&all.input[108..216])
        .map(|(a, b)| (a - b).abs());
    assert!(diff.fold(0f32, f32::max) < 1e-5);
    assert!((one.value[0] - all.value[1]).abs() < 1e-5);
    let bad = model.gradient(&x[..108], Objective::Loss(&[3]));
    assert!(matches!(bad, Err(EngineError::Input(_))), "{bad:?}");
}

/// Accuracy of `model` on `x` (in `[0, 1]`) under PGD of radius `eps`.
fn pgd_accuracy(p: &Program, model: &Model, x: &[f32], y: &[u32], eps: f32) -> f64 {
    let unit = anneal_engine::Normalization {
        scale: 1.0 / 255.0,
        mean: 0.0,
        std: 1.0,
    };
    let threat = Threat::new(&p.input, &unit, &Adversarial::pgd(eps, 10));
    let mut rng = anneal_engine::SplitMix64::new(1);
    let adv = model.attack(&threat, (x, y), &mut rng, &mut || {}).unwrap();
    let probs = model.predict(&adv).unwrap();
    let right = probs
        .chunks(3)
        .zip(y)
        .filter(|(p, y)| anneal_pack_free_argmax(p) == **y as usize);
    right.count() as f64 / y.len() as f64
}

/// `[train] adversarial` trains on PGD examples of each batch: deterministic, and more robust
/// to PGD than the same program trained on clean inputs.
#[test]
fn adversarial_training_resists_the_attack_it_trained_on() {
    let layers = r#""flatten", "dense 16", "relu", "dense 3""#;
    let plain = program(layers, "optimizer = \"adam 0.02\"");
    let settings = anneal_spec::program::Train {
        epochs: 12,
        ..plain.train.clone()
    };
    let plain = Program {
        train: settings,
        ..plain
    };
    let robust = Program {
        train: anneal_spec::program::Train {
            adversarial: Some(Adversarial::pgd(0.35, 5)),
            ..plain.train.clone()
        },
        ..plain.clone()
    };
    let (x, y) = data(150);
    let examples = Examples { x: &x, y: &y };
    let a = train(&plain, &examples, &mut NoObserver).unwrap();
    let b = train(&robust, &examples, &mut NoObserver).unwrap();
    assert_eq!(
        b.weights,
        train(&robust, &examples, &mut NoObserver).unwrap().weights
    );
    let a = Model::new(&plain, &a.weights).unwrap();
    let b = Model::new(&robust, &b.weights).unwrap();
    let (pa, pb) = (
        pgd_accuracy(&plain, &a, &x, &y, 0.35),
        pgd_accuracy(&robust, &b, &x, &y, 0.35),
    );
    assert!(
        pb > pa + 0.2,
        "PGD accuracy: plain {pa}, adversarially trained {pb}"
    );
    let burn = train_with(Backend::Burn, &robust, &examples, &mut NoObserver);
    assert!(matches!(burn, Err(EngineError::Unavailable(_))), "{burn:?}");
}
