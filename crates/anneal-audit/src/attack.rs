//! Adversarial robustness: how accuracy falls when each test input may be moved by up to
//! epsilon (L-infinity) in the direction that hurts the model most, for each attack
//! ([`Adversarial`]: FGSM, or PGD from a random start) at each radius.
//!
//! The attacks are the engine's ([`anneal_engine::Threat`]): true labels, the model as it
//! predicts (inference statistics, no dropout), radii in the program's input units before
//! normalisation ([`anneal_spec::program::Input::attack_units`]): a fraction of the full range
//! for 8-bit images (0.3 is Madry's MNIST setting), log-mel units for audio, standard
//! deviations of each numeric column for tables (whose one-hot categories stay as they are).

use anneal_engine::{ATTACK_CHUNK, EngineError, Model, Normalization, Threat};
use anneal_spec::Adversarial;
use anneal_spec::program::Input;
use serde::Serialize;

/// How the curve is measured.
#[derive(Debug, Clone)]
pub struct AttackOptions {
    /// The attacks, each run at every radius (their own `epsilon` is replaced).
    pub attacks: Vec<Adversarial>,
    /// The radii, in input units before normalisation.
    pub epsilons: Vec<f32>,
    /// Seed of PGD's random starts.
    pub seed: u64,
}

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions {
            attacks: vec![Adversarial::fgsm(0.0), Adversarial::pgd(0.0, 20)],
            epsilons: vec![0.05, 0.1, 0.2, 0.3],
            seed: 0,
        }
    }
}

/// One point of the curve: an attack at one radius.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The attack, its radius and steps.
    #[serde(flatten)]
    pub attack: Adversarial,
    /// The step taken, in input units (FGSM's is epsilon).
    pub step_size: f32,
    /// Accuracy on the attacked examples.
    pub accuracy: f64,
    /// Indices (into the audited examples) of those the model gets wrong under this attack.
    pub wrong: Vec<u32>,
}

/// The inputs attacked: what they are and how they were normalised.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The program's input.
    pub input: &'a Input,
    /// The package's normalisation.
    pub norm: &'a Normalization,
    /// The examples, preprocessed (model inputs).
    pub x: &'a [f32],
    /// Their true classes.
    pub labels: &'a [u32],
}

/// The accuracy of `model` on `inputs` under each attack of `opts` at each radius.
/// `progress` is told of each gradient step over a chunk of examples: [`steps_total`] in all.
pub fn curve(
    model: &Model,
    inputs: Inputs<'_>,
    opts: &AttackOptions,
    progress: &mut dyn FnMut(),
) -> Result<Vec<Point>, EngineError> {
    let mut points = Vec::new();
    for attack in &opts.attacks {
        for &epsilon in &opts.epsilons {
            let attack = Adversarial { epsilon, ..*attack };
            let threat = Threat::new(inputs.input, inputs.norm, &attack);
            let wrong = attacked_wrong(model, &threat, inputs, opts.seed, progress)?;
            let accuracy = 1.0 - wrong.len() as f64 / inputs.labels.len().max(1) as f64;
            let step_size = attack.step_size();
            points.push(Point {
                attack,
                step_size,
                accuracy,
                wrong,
            });
        }
    }
    Ok(points)
}

/// The progress steps [`curve`] reports for `n` examples.
pub fn steps_total(opts: &AttackOptions, n: usize) -> u64 {
    let per_radius: usize = opts.attacks.iter().map(|a| a.steps).sum();
    (per_radius * opts.epsilons.len() * n.div_ceil(ATTACK_CHUNK)) as u64
}

/// The indices of the examples misclassified after the attack.
fn attacked_wrong(
    model: &Model,
    threat: &Threat,
    inputs: Inputs<'_>,
    seed: u64,
    progress: &mut dyn FnMut(),
) -> Result<Vec<u32>, EngineError> {
    let survived = model.survivors(threat, (inputs.x, inputs.labels), seed, progress)?;
    let wrong = survived.iter().enumerate().filter(|(_, s)| !**s);
    Ok(wrong.map(|(i, _)| i as u32).collect())
}
