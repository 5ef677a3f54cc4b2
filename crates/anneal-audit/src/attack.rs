//! Adversarial robustness: how accuracy falls when each test input may be moved by up to
//! epsilon (L-infinity) in the direction that hurts the model most.
//!
//! - FGSM (Goodfellow et al.): one step of `epsilon * sign(gradient of the loss)`.
//! - PGD (Madry et al.): a random start in the epsilon ball, then `steps` steps of
//!   `step_size * sign(gradient)`, each projected back into the ball and the valid range.
//!
//! Both use the true labels and the model as it predicts (inference statistics, no dropout).
//! Epsilon is in the program's input units before normalisation ([`Space`]): a fraction of
//! the full range for 8-bit images (0.3 is Madry's MNIST setting), log-mel units for audio,
//! standard deviations of each numeric column for tables (whose one-hot categories are left
//! as they are).

use anneal_engine::{EngineError, Model, Normalization, Objective, SplitMix64};
use serde::Serialize;

/// Where an attack moves inputs, and how those relate to the model's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    /// The package's normalisation of stored features.
    pub norm: Normalization,
    /// Stored features per attack unit: 255 for 8-bit pixels (so units are fractions of the
    /// full range), 1 otherwise.
    pub unit: f32,
    /// The valid range in attack units (`[0, 1]` for images), if bounded.
    pub bounds: Option<(f32, f32)>,
    /// Features per example.
    pub features: usize,
    /// The leading features of each example an attack may change (all of them but a table's
    /// one-hot categories).
    pub editable: usize,
}

impl Space {
    /// Stored features to attack units.
    pub fn to_units(&self, features: &[f32]) -> Vec<f32> {
        features.iter().map(|v| v / self.unit).collect()
    }

    /// Attack units to the model's inputs.
    pub fn model_input(&self, u: &[f32]) -> Vec<f32> {
        let Normalization { scale, mean, std } = self.norm;
        let gain = self.unit * scale;
        u.iter().map(|v| (v * gain - mean) / std).collect()
    }

    /// `v` moved into `[x - eps, x + eps]` and the valid range; features that may not change
    /// are set back to `x`.
    fn project(&self, v: &mut [f32], x: &[f32], eps: f32) {
        let (low, high) = self.bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        for (i, (v, &x)) in v.iter_mut().zip(x).enumerate() {
            *v = match i % self.features < self.editable {
                true => v.clamp(x - eps, x + eps).clamp(low, high),
                false => x,
            };
        }
    }
}

/// An attack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "attack", rename_all = "lowercase")]
pub enum Method {
    /// One signed-gradient step of epsilon.
    Fgsm,
    /// Projected gradient descent from a random start.
    Pgd {
        /// Steps.
        steps: usize,
        /// The step, in attack units; `None`: `2.5 * epsilon / steps`, the usual choice (enough
        /// to cross the ball and back).
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<f32>,
    },
}

impl Method {
    /// PGD of `steps` steps of the usual size.
    pub fn pgd(steps: usize) -> Method {
        Method::Pgd { steps, step: None }
    }

    /// Gradient evaluations per example.
    pub fn steps(&self) -> usize {
        match self {
            Method::Fgsm => 1,
            Method::Pgd { steps, .. } => *steps,
        }
    }

    /// The step taken at radius `eps`.
    pub fn step_size(&self, eps: f32) -> f32 {
        match *self {
            Method::Fgsm => eps,
            Method::Pgd { step: Some(s), .. } => s,
            Method::Pgd { steps, step: None } => 2.5 * eps / steps.max(1) as f32,
        }
    }

    /// `fgsm` or `pgd-20`.
    pub fn name(&self) -> String {
        match self {
            Method::Fgsm => "fgsm".into(),
            Method::Pgd { steps, .. } => format!("pgd-{steps}"),
        }
    }
}

/// An attack at one radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attack {
    /// The attack.
    pub method: Method,
    /// The radius, in attack units.
    pub epsilon: f32,
}

impl Attack {
    /// Adversarial versions of the examples `x` (attack units) with true classes `labels`,
    /// within epsilon of them. `progress` is told after each gradient step of the batch.
    pub fn run(
        &self,
        model: &Model,
        space: &Space,
        (x, labels): (&[f32], &[u32]),
        rng: &mut SplitMix64,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<f32>, EngineError> {
        let (method, eps) = (self.method, self.epsilon);
        let mut v = x.to_vec();
        if let Method::Pgd { .. } = method {
            random_start(&mut v, eps, rng);
            space.project(&mut v, x, eps);
        }
        let step = method.step_size(eps);
        for _ in 0..method.steps() {
            let g = model.gradient(&space.model_input(&v), Objective::Loss(labels))?;
            // The sign is the same for the model's inputs and the attack units (gain > 0).
            for (v, g) in v.iter_mut().zip(&g.input) {
                *v += step * sign(*g);
            }
            space.project(&mut v, x, eps);
            progress();
        }
        Ok(v)
    }
}

/// The sign of a gradient value, 0 for 0 (as `torch.sign`).
fn sign(g: f32) -> f32 {
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Each value moved uniformly within `[-eps, eps]`.
fn random_start(v: &mut [f32], eps: f32, rng: &mut SplitMix64) {
    for v in v {
        let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        *v += eps * (2.0 * u - 1.0);
    }
}

/// How the curve is measured.
#[derive(Debug, Clone)]
pub struct AttackOptions {
    /// The attacks, each run at every epsilon.
    pub methods: Vec<Method>,
    /// The radii, in attack units.
    pub epsilons: Vec<f32>,
    /// Seed of PGD's random starts.
    pub seed: u64,
}

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions {
            methods: vec![Method::Fgsm, Method::pgd(20)],
            epsilons: vec![0.05, 0.1, 0.2, 0.3],
            seed: 0,
        }
    }
}

/// One point of the curve: an attack at one radius.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The attack and its settings.
    #[serde(flatten)]
    pub method: Method,
    /// The radius.
    pub epsilon: f32,
    /// The step taken (PGD's at this radius; FGSM's is epsilon).
    pub step_size: f32,
    /// Accuracy on the attacked examples.
    pub accuracy: f64,
    /// Indices (into the audited examples) of those the model gets wrong under this attack.
    pub wrong: Vec<u32>,
}

/// Examples attacked at once (and the progress granularity).
const CHUNK: usize = 1000;

/// The accuracy of `model` on `x` (attack units) under each attack of `opts` at each radius.
/// `progress` is told of each gradient step over a chunk of examples: [`steps_total`] in all.
pub fn curve(
    model: &Model,
    space: &Space,
    x: &[f32],
    labels: &[u32],
    opts: &AttackOptions,
    progress: &mut dyn FnMut(),
) -> Result<Vec<Point>, EngineError> {
    let mut points = Vec::new();
    for &method in &opts.methods {
        for &eps in &opts.epsilons {
            let attack = Attack {
                method,
                epsilon: eps,
            };
            let wrong = attacked_wrong(model, space, (x, labels), attack, opts.seed, progress)?;
            let accuracy = 1.0 - wrong.len() as f64 / labels.len().max(1) as f64;
            points.push(Point {
                method,
                epsilon: eps,
                step_size: method.step_size(eps),
                accuracy,
                wrong,
            });
        }
    }
    Ok(points)
}

/// The progress steps [`curve`] reports for `n` examples.
pub fn steps_total(opts: &AttackOptions, n: usize) -> u64 {
    let per_radius: usize = opts.methods.iter().map(Method::steps).sum();
    (per_radius * opts.epsilons.len() * n.div_ceil(CHUNK)) as u64
}

/// The indices of the examples misclassified after the attack.
fn attacked_wrong(
    model: &Model,
    space: &Space,
    (x, labels): (&[f32], &[u32]),
    attack: Attack,
    seed: u64,
    progress: &mut dyn FnMut(),
) -> Result<Vec<u32>, EngineError> {
    let mut rng = SplitMix64::new(seed);
    let f = space.features;
    let mut wrong = Vec::new();
    for (c, (x, y)) in x.chunks(CHUNK * f).zip(labels.chunks(CHUNK)).enumerate() {
        let adv = attack.run(model, space, (x, y), &mut rng, progress)?;
        let probs = model.predict(&space.model_input(&adv))?;
        let k = model.classes();
        for (i, (p, &y)) in probs.chunks(k).zip(y).enumerate() {
            if anneal_pack::argmax(p) != y as usize {
                wrong.push((c * CHUNK + i) as u32);
            }
        }
    }
    Ok(wrong)
}
