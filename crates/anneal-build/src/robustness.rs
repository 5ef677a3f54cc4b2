//! The accuracy under each attack a program's `robust_accuracy` checks name, measured on the
//! test split by the build, for the package's `anneal.audit` (so `anneal test` can read it
//! without the dataset).

use anneal_engine::{Model, Normalization, Threat, preprocess};
use anneal_pack::audit::Robust;
use anneal_spec::{Adversarial, Program};

use crate::{BuildError, split};

/// Accuracy under each distinct attack of the program's checks.
pub(crate) fn measure(
    program: &Program,
    model: &Model,
    test: &split::Split,
    norm: &Normalization,
    log: &mut dyn FnMut(String),
) -> Result<Vec<Robust>, BuildError> {
    let mut attacks: Vec<Adversarial> = Vec::new();
    for a in program.checks.iter().filter_map(|c| c.attack) {
        if !attacks.contains(&a) {
            attacks.push(a);
        }
    }
    let x = preprocess(&test.features, norm);
    let n = test.labels.len();
    let mut out = Vec::with_capacity(attacks.len());
    for attack in attacks {
        log(format!(
            "attacking {n} test examples: {} at {}",
            attack.name(),
            attack.epsilon
        ));
        let threat = Threat::new(&program.input, norm, &attack);
        let accuracy = accuracy_under(model, &threat, &x, &test.labels)?;
        out.push(Robust {
            attack,
            accuracy,
            examples: n,
        });
    }
    Ok(out)
}

/// The share of `labels` the model still predicts for the attacked `x`.
fn accuracy_under(
    model: &Model,
    threat: &Threat,
    x: &[f32],
    labels: &[u32],
) -> Result<f64, BuildError> {
    let survived = model.survivors(threat, (x, labels), 0, &mut || {})?;
    let right = survived.iter().filter(|s| **s).count();
    Ok(right as f64 / labels.len().max(1) as f64)
}
