//! The accuracy under each attack a program's `robust_accuracy` checks name, measured on the
//! test split by the build, for the package's `anneal.audit` (so `anneal test` can read it
//! without the dataset).

use anneal_engine::{Model, Normalization, SplitMix64, Threat, preprocess};
use anneal_pack::audit::Robust;
use anneal_spec::{Adversarial, Program};

use crate::{BuildError, split};

/// Test examples attacked at once.
const CHUNK: usize = 1000;

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
    let mut rng = SplitMix64::new(0);
    let (f, k) = (threat.features, model.classes());
    let mut right = 0usize;
    for (x, y) in x.chunks(CHUNK * f).zip(labels.chunks(CHUNK)) {
        let adv = model.attack(threat, (x, y), &mut rng, &mut || {})?;
        let probs = model.predict(&adv)?;
        let rows = probs.chunks(k).zip(y);
        right += rows
            .filter(|(p, y)| anneal_pack::argmax(p) == **y as usize)
            .count();
    }
    Ok(right as f64 / labels.len().max(1) as f64)
}
