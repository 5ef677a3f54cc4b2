//! Adversarial examples: the L-infinity attacks the audit measures and adversarial training
//! trains on. FGSM (Goodfellow et al.) is one step of epsilon along the sign of the loss
//! gradient; PGD (Madry et al.) starts at random in the epsilon ball and takes `steps` signed
//! steps, each projected back into the ball and the valid range.

use anneal_spec::program::Input;
use anneal_spec::{Adversarial, Attack};

use crate::rng::SplitMix64;
use crate::{EngineError, Model, Normalization, Objective};

/// Given inputs, the gradient of the loss with respect to them.
pub type LossGradient<'a> = dyn FnMut(&[f32]) -> Result<Vec<f32>, EngineError> + 'a;

/// Where and how far an attack may move inputs, in the model's input units (after
/// normalisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threat {
    /// The radius.
    pub epsilon: f32,
    /// The size of each signed step.
    pub step: f32,
    /// Gradient steps (1 with `step = epsilon` and no random start: FGSM).
    pub steps: usize,
    /// Start at a uniform random point of the ball (PGD).
    pub random_start: bool,
    /// The valid range of every input value, if bounded.
    pub bounds: Option<(f32, f32)>,
    /// Values per example.
    pub features: usize,
    /// The leading values of each example an attack may change.
    pub editable: usize,
}

impl Threat {
    /// The threat `a` states for inputs `input` normalised by `norm`: radius, step and bounds
    /// converted from input units (stored features over [`Input::full_scale`]) to the model's.
    pub fn new(input: &Input, norm: &Normalization, a: &Adversarial) -> Threat {
        let full = input.full_scale();
        let gain = full * norm.scale / norm.std;
        let to_model = |u: f32| (u * full * norm.scale - norm.mean) / norm.std;
        Threat {
            epsilon: a.epsilon * gain,
            step: a.step_size() * gain,
            steps: a.steps,
            random_start: a.attack == Attack::Pgd,
            bounds: input
                .attack_bounds()
                .map(|(l, h)| (to_model(l), to_model(h))),
            features: input.shape.elements(),
            editable: input.editable(),
        }
    }

    /// Adversarial versions of `x`, taking the loss gradient from `gradient` (given inputs, the
    /// loss gradient with respect to them) and calling `progress` after each step.
    pub fn perturb(
        &self,
        x: &[f32],
        rng: &mut SplitMix64,
        gradient: &mut LossGradient<'_>,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<f32>, EngineError> {
        let mut v = x.to_vec();
        if self.random_start {
            for v in &mut v {
                *v += self.epsilon * rng.symmetric();
            }
            self.project(&mut v, x);
        }
        for _ in 0..self.steps {
            let g = gradient(&v)?;
            for (v, g) in v.iter_mut().zip(&g) {
                *v += self.step * sign(*g);
            }
            self.project(&mut v, x);
            progress();
        }
        Ok(v)
    }

    /// `v` moved into the ball around `x` and the valid range; values that may not change set
    /// back to `x`'s.
    fn project(&self, v: &mut [f32], x: &[f32]) {
        let (low, high) = self.bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let eps = self.epsilon;
        for (i, (v, &x)) in v.iter_mut().zip(x).enumerate() {
            *v = match i % self.features < self.editable {
                true => v.clamp(x - eps, x + eps).clamp(low, high),
                false => x,
            };
        }
    }
}

/// The index of the largest value (the first of ties).
fn top(p: &[f32]) -> usize {
    let first = |best: (usize, f32), (i, &v): (usize, &f32)| if v > best.1 { (i, v) } else { best };
    p.iter().enumerate().fold((0, f32::NEG_INFINITY), first).0
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

/// Examples attacked at once by [`Model::survivors`] (and the progress granularity).
pub const ATTACK_CHUNK: usize = 1000;

impl Model {
    /// Whether the model still predicts each example's true class after `threat`'s attack,
    /// the examples attacked [`ATTACK_CHUNK`] at a time from one generator seeded with `seed`
    /// (so the build and the audit measure the same figures). `progress` is told after each
    /// gradient step over a chunk.
    pub fn survivors(
        &self,
        threat: &Threat,
        (x, labels): (&[f32], &[u32]),
        seed: u64,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<bool>, EngineError> {
        let mut rng = SplitMix64::new(seed);
        let (f, k) = (threat.features, self.classes());
        let mut out = Vec::with_capacity(labels.len());
        for (x, y) in x.chunks(ATTACK_CHUNK * f).zip(labels.chunks(ATTACK_CHUNK)) {
            let adv = self.attack(threat, (x, y), &mut rng, progress)?;
            let probs = self.predict(&adv)?;
            out.extend(probs.chunks(k).zip(y).map(|(p, &y)| top(p) == y as usize));
        }
        Ok(out)
    }

    /// Adversarial versions of the inputs `x` (preprocessed) against their true classes
    /// `labels`, the model running as in inference.
    pub fn attack(
        &self,
        threat: &Threat,
        (x, labels): (&[f32], &[u32]),
        rng: &mut SplitMix64,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<f32>, EngineError> {
        let mut gradient = |v: &[f32]| Ok(self.gradient(v, Objective::Loss(labels))?.input);
        threat.perturb(x, rng, &mut gradient, progress)
    }
}
