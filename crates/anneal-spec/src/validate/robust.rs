//! `metric = "robust_accuracy"`: accuracy under an attack stated by `attack` (`fgsm` or
//! `pgd`), `epsilon` (in input units before normalisation) and, for PGD, `steps` (20 unless
//! given). The keys are refused on other metrics.

use toml::Spanned;

use super::Validator;
use crate::adversarial::{Adversarial, Attack, MAX_STEPS};
use crate::error::ManifestError;
use crate::manifest::CheckTable;
use crate::program::Metric;

/// PGD's steps in a check that does not say.
pub const DEFAULT_STEPS: usize = 20;

impl Validator<'_> {
    /// The attack of a `robust_accuracy` check, or `None` for other metrics.
    pub(super) fn attack(
        &self,
        c: &CheckTable,
        metric: Metric,
        name: &str,
    ) -> Result<Option<Adversarial>, ManifestError> {
        if metric != Metric::RobustAccuracy {
            return self.no_attack_keys(c, name).map(|()| None);
        }
        let Some(attack) = &c.attack else {
            let message =
                format!("check `{name}`: `robust_accuracy` needs `attack`, `fgsm` or `pgd`");
            let hint = "write e.g. `attack = \"pgd\"`, `epsilon = 0.1`";
            return Err(self.fail(c.metric.span(), message).with_hint(hint));
        };
        let kind = self.attack_kind(name, attack)?;
        let epsilon = self.epsilon(c, name)?;
        let steps = self.steps(c, name, kind)?;
        Ok(Some(match kind {
            Attack::Fgsm => Adversarial::fgsm(epsilon),
            Attack::Pgd => Adversarial::pgd(epsilon, steps),
        }))
    }

    /// `attack`, `epsilon` and `steps` belong to `robust_accuracy` alone.
    fn no_attack_keys(&self, c: &CheckTable, name: &str) -> Result<(), ManifestError> {
        let keys = [
            ("attack", c.attack.as_ref().map(Spanned::span)),
            ("epsilon", c.epsilon.as_ref().map(Spanned::span)),
            ("steps", c.steps.as_ref().map(Spanned::span)),
        ];
        let Some((key, Some(span))) = keys.into_iter().find(|(_, s)| s.is_some()) else {
            return Ok(());
        };
        let message = format!("check `{name}`: `{key}` is for `metric = \"robust_accuracy\"`");
        Err(self
            .fail(span, message)
            .with_hint(format!("remove `{key}`")))
    }

    fn attack_kind(&self, name: &str, a: &Spanned<String>) -> Result<Attack, ManifestError> {
        match a.get_ref().trim() {
            "fgsm" => Ok(Attack::Fgsm),
            "pgd" => Ok(Attack::Pgd),
            other => {
                let message =
                    format!("check `{name}`: unknown attack `{other}`: expected `fgsm` or `pgd`");
                Err(self.fail(a.span(), message))
            }
        }
    }

    /// `epsilon = X`, a finite radius above 0.
    fn epsilon(&self, c: &CheckTable, name: &str) -> Result<f32, ManifestError> {
        let hint = "write e.g. `epsilon = 0.1` (for images, a fraction of the pixel range)";
        let Some(e) = &c.epsilon else {
            let message =
                format!("check `{name}`: `robust_accuracy` needs `epsilon`, the attack's radius");
            return Err(self.fail(c.metric.span(), message).with_hint(hint));
        };
        let x = *e.get_ref();
        if x.is_finite() && x > 0.0 && x < 1e6 {
            return Ok(x as f32);
        }
        let message = format!("check `{name}`: `epsilon = {x}`: expected a radius above 0");
        Err(self.fail(e.span(), message).with_hint(hint))
    }

    /// `steps = N` for PGD (1 to [`MAX_STEPS`], [`DEFAULT_STEPS`] by default); refused for FGSM.
    fn steps(&self, c: &CheckTable, name: &str, kind: Attack) -> Result<usize, ManifestError> {
        let Some(s) = &c.steps else {
            return Ok(DEFAULT_STEPS);
        };
        if kind == Attack::Fgsm {
            let message = format!("check `{name}`: FGSM takes one step; `steps` is for `pgd`");
            return Err(self.fail(s.span(), message).with_hint("remove `steps`"));
        }
        match usize::try_from(*s.get_ref()) {
            Ok(n) if (1..=MAX_STEPS).contains(&n) => Ok(n),
            _ => {
                let message = format!(
                    "check `{name}`: `steps = {}`: expected 1 to {MAX_STEPS}",
                    s.get_ref()
                );
                Err(self.fail(s.span(), message))
            }
        }
    }
}
