//! FGSM on a linear model against its closed form; PGD never leaves the epsilon ball, the
//! valid range or the editable features; the curve's figures agree with its examples. Inputs
//! are normalised as `(pixel / 255 - 0.5) / 0.25`, so radii in pixel units are checked
//! through the conversion to model units.

use anneal_audit::attack::{AttackOptions, Inputs, curve, steps_total};
use anneal_engine::{Model, NamedTensor, Normalization, SplitMix64, Threat};
use anneal_spec::{Adversarial, Program};

const FEATURES: usize = 6;

/// `flatten, LAYERS` on 1x2x3 images of two classes.
pub fn program(layers: &str) -> Program {
    let text = format!(
        "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 2, 3]\nclasses = 2\n\
         [model]\nlayers = [\"flatten\", {layers}]\n"
    );
    Program::parse("anneal.toml", &text).unwrap()
}

/// Deterministic values in `[-1, 1)`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

pub fn tensor(name: &str, shape: Vec<usize>, seed: u64) -> NamedTensor {
    let data = values(shape.iter().product(), seed);
    let name = name.to_string();
    NamedTensor { name, shape, data }
}

const NORM: Normalization = Normalization {
    scale: 1.0 / 255.0,
    mean: 0.5,
    std: 0.25,
};

/// Fractions of the pixel range to model inputs, and back.
fn to_model(u: &[f32]) -> Vec<f32> {
    u.iter().map(|u| (u - 0.5) / 0.25).collect()
}

fn to_units(z: &[f32]) -> Vec<f32> {
    z.iter().map(|z| z * 0.25 + 0.5).collect()
}

/// `n` examples in attack units, some at the edges of the range.
fn inputs(n: usize) -> Vec<f32> {
    let mut x: Vec<f32> = values(n * FEATURES, 7)
        .iter()
        .map(|v| 0.5 + 0.45 * v)
        .collect();
    x[0] = 1.0;
    x[FEATURES + 1] = 0.0;
    x
}

/// For logits `x W + b` of two classes, the loss gradient with respect to `x` is
/// `p_other * (W[:, other] - W[:, label])`, so FGSM moves each value by epsilon in the sign of
/// `W[:, other] - W[:, label]`, then clips to [0, 1].
#[test]
fn fgsm_on_a_linear_model_is_its_closed_form() {
    let w = tensor("layers.1.weight", vec![FEATURES, 2], 1);
    let b = tensor("layers.1.bias", vec![2], 2);
    let model = Model::new(&program("\"dense 2\""), &[w.clone(), b]).unwrap();
    let (n, eps) = (8, 0.1);
    let x = inputs(n);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let p = program("\"dense 2\"");
    let threat = Threat::new(&p.input, &NORM, &Adversarial::fgsm(eps));
    let mut rng = SplitMix64::new(0);
    let adv = model.attack(&threat, (&to_model(&x), &labels), &mut rng, &mut || {});
    let adv = to_units(&adv.unwrap());
    for (i, (&a, &x)) in adv.iter().zip(&x).enumerate() {
        let (f, y) = (i % FEATURES, labels[i / FEATURES] as usize);
        let direction = w.data[f * 2 + (1 - y)] - w.data[f * 2 + y];
        let expected = (x + eps * direction.signum()).clamp(0.0, 1.0);
        assert!(
            (a - expected).abs() < 1e-6,
            "value {i}: {a}, expected {expected}"
        );
    }
}

/// A small random MLP (nonlinear, so PGD's steps differ).
pub fn mlp() -> Model {
    let weights = [
        tensor("layers.1.weight", vec![FEATURES, 16], 3),
        tensor("layers.1.bias", vec![16], 4),
        tensor("layers.3.weight", vec![16, 2], 5),
        tensor("layers.3.bias", vec![2], 6),
    ];
    Model::new(&program("\"dense 16\", \"tanh\", \"dense 2\""), &weights).unwrap()
}

#[test]
fn pgd_stays_in_the_ball_the_range_and_the_editable_features() {
    let model = mlp();
    let (n, eps) = (40, 0.3);
    let x = inputs(n);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let pgd = Adversarial {
        step: Some(0.07),
        ..Adversarial::pgd(eps, 12)
    };
    let mut threat = Threat::new(
        &program("\"dense 16\", \"tanh\", \"dense 2\"").input,
        &NORM,
        &pgd,
    );
    threat.editable = 4;
    let mut steps = 0;
    let mut rng = SplitMix64::new(3);
    let adv = model.attack(&threat, (&to_model(&x), &labels), &mut rng, &mut || {
        steps += 1
    });
    let adv = to_units(&adv.unwrap());
    assert_eq!(steps, 12);
    let mut moved = 0;
    for (i, (&a, &x)) in adv.iter().zip(&x).enumerate() {
        assert!((0.0..=1.0).contains(&a), "value {i} left [0, 1]: {a}");
        assert!(
            (a - x).abs() <= eps + 1e-6,
            "value {i} left the ball: {a} from {x}"
        );
        if i % FEATURES >= 4 {
            assert_eq!(a, x, "value {i} is not editable");
        }
        moved += usize::from((a - x).abs() > 0.29);
    }
    assert!(
        moved > n * 2,
        "PGD should reach the ball's edge often: {moved}"
    );
}

#[test]
fn the_curve_counts_the_examples_each_attack_turns_wrong() {
    let model = mlp();
    let n = 30;
    let x = inputs(n);
    let p = program("\"dense 16\", \"tanh\", \"dense 2\"");
    let z = to_model(&x);
    let probs = model.predict(&z).unwrap();
    // Label each example as the model predicts it: clean accuracy 1.
    let labels: Vec<u32> = probs.chunks(2).map(|p| u32::from(p[1] > p[0])).collect();
    let opts = AttackOptions {
        attacks: vec![Adversarial::fgsm(0.0), Adversarial::pgd(0.0, 10)],
        epsilons: vec![0.0, 0.05, 0.5],
        seed: 1,
    };
    let inputs = Inputs {
        input: &p.input,
        norm: &NORM,
        x: &z,
        labels: &labels,
    };
    let mut ticks = 0u64;
    let points = curve(&model, inputs, &opts, &mut || ticks += 1).unwrap();
    assert_eq!(ticks, steps_total(&opts, n));
    assert_eq!(points.len(), 6);
    for p in &points {
        let expected = 1.0 - p.wrong.len() as f64 / n as f64;
        assert!((p.accuracy - expected).abs() < 1e-12);
    }
    let acc: Vec<f64> = points.iter().map(|p| p.accuracy).collect();
    assert_eq!(
        (acc[0], acc[3]),
        (1.0, 1.0),
        "epsilon 0 changes nothing: {acc:?}"
    );
    assert!(
        acc[2] < 1.0 && acc[5] <= acc[2],
        "a wide ball breaks some: {acc:?}"
    );
}
