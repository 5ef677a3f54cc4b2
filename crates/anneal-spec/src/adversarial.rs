//! Adversarial attacks as a program states them: `[train] adversarial = "pgd 0.1 7"` trains on
//! them, and the audit's checks measure accuracy under them. Radii are in input units before
//! normalisation ([`Input::attack_bounds`] says what those are for each kind of input).

use serde::{Deserialize, Serialize};

use crate::program::{Input, InputKind};

/// An L-infinity attack of a given radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adversarial {
    /// FGSM or PGD.
    pub attack: Attack,
    /// The radius, in input units before normalisation.
    pub epsilon: f32,
    /// Gradient steps (1 for FGSM).
    pub steps: usize,
    /// PGD's step; `None`: `2.5 * epsilon / steps`, the usual choice (enough to cross the
    /// ball and back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f32>,
}

/// The attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attack {
    /// One step of epsilon along the sign of the loss gradient (Goodfellow et al.).
    Fgsm,
    /// Signed steps from a random start, projected into the ball (Madry et al.).
    Pgd,
}

/// The most steps an attack may take.
pub const MAX_STEPS: usize = 1000;

impl Adversarial {
    /// FGSM of radius `epsilon`.
    pub fn fgsm(epsilon: f32) -> Adversarial {
        let (attack, steps, step) = (Attack::Fgsm, 1, None);
        Adversarial {
            attack,
            epsilon,
            steps,
            step,
        }
    }

    /// PGD of radius `epsilon`, `steps` steps of the usual size.
    pub fn pgd(epsilon: f32, steps: usize) -> Adversarial {
        let (attack, step) = (Attack::Pgd, None);
        Adversarial {
            attack,
            epsilon,
            steps,
            step,
        }
    }

    /// The step taken, in input units.
    pub fn step_size(&self) -> f32 {
        match (self.attack, self.step) {
            (Attack::Fgsm, _) => self.epsilon,
            (Attack::Pgd, Some(s)) => s,
            (Attack::Pgd, None) => 2.5 * self.epsilon / self.steps.max(1) as f32,
        }
    }

    /// `fgsm` or `pgd-20`.
    pub fn name(&self) -> String {
        match self.attack {
            Attack::Fgsm => "fgsm".into(),
            Attack::Pgd => format!("pgd-{}", self.steps),
        }
    }

    /// `fgsm EPS` or `pgd EPS STEPS [step S]`, or why not.
    pub fn parse(text: &str) -> Result<Adversarial, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let a = match words.as_slice() {
            ["fgsm", eps] => Adversarial::fgsm(radius(eps)?),
            ["pgd", eps, steps] => Adversarial::pgd(radius(eps)?, count(steps)?),
            ["pgd", eps, steps, "step", s] => Adversarial {
                step: Some(radius(s)?),
                ..Adversarial::pgd(radius(eps)?, count(steps)?)
            },
            _ => {
                return Err(format!(
                    "`{text}` is not an attack: expected `fgsm EPSILON` or `pgd EPSILON STEPS [step SIZE]`"
                ));
            }
        };
        Ok(a)
    }
}

impl std::fmt::Display for Adversarial {
    /// As `[train] adversarial` writes it: `fgsm 0.1`, `pgd 0.1 7`, `pgd 0.3 40 step 0.01`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.attack, self.step) {
            (Attack::Fgsm, _) => write!(f, "fgsm {}", self.epsilon),
            (Attack::Pgd, None) => write!(f, "pgd {} {}", self.epsilon, self.steps),
            (Attack::Pgd, Some(s)) => write!(f, "pgd {} {} step {s}", self.epsilon, self.steps),
        }
    }
}

/// A radius or step: a finite number above 0.
fn radius(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a radius: expected a number above 0")),
    }
}

/// A number of steps: 1 to [`MAX_STEPS`].
fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_STEPS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of steps: expected 1 to {MAX_STEPS}"
        )),
    }
}

impl Input {
    /// The valid range of an input value in attack units (stored features over
    /// [`Input::full_scale`]): `[0, 1]` for 8-bit images, `[-range, 0]` for log-mel
    /// spectrograms with a `range`, unbounded otherwise.
    pub fn attack_bounds(&self) -> Option<(f32, f32)> {
        match self.kind {
            InputKind::Image => Some((0.0, 1.0)),
            InputKind::Audio => self.audio.as_ref().and_then(|a| a.range).map(|r| (-r, 0.0)),
            InputKind::Table => None,
        }
    }

    /// The leading values of each example an attack may change: all of them, except a
    /// table's one-hot categories.
    pub fn editable(&self) -> usize {
        match (&self.kind, &self.table) {
            (InputKind::Table, Some(t)) => t.numeric.len(),
            _ => self.shape.elements(),
        }
    }

    /// What an attack's epsilon is measured in.
    pub fn attack_units(&self) -> &'static str {
        match self.kind {
            InputKind::Image => {
                "fraction of the full pixel range (L-infinity; inputs kept in [0, 1])"
            }
            InputKind::Audio => "log-mel units (L-infinity, on the spectrogram)",
            InputKind::Table => {
                "standard deviations of each numeric column (L-infinity; categories unchanged)"
            }
        }
    }
}
