//! Temperature scaling (Guo et al. 2017): one number `T` by which a model's logits are divided
//! before the softmax, chosen to minimise the negative log-likelihood of held-out examples. It
//! changes no prediction, only how sure they are.
//!
//! From probabilities `p` (the softmax of logits `z`), `softmax(z / T)` is `p^(1/T)`
//! renormalised, so a temperature is fitted and applied without the logits.

/// The search interval for `T`: 1/20 to 20.
const RANGE: (f64, f64) = (-3.0, 3.0);

/// The temperature minimising the mean negative log-likelihood of the true classes `labels`
/// under `probs` (one row per example): a golden-section search on `ln T`, which the
/// likelihood is unimodal in.
pub fn fit(probs: &[Vec<f32>], labels: &[u32]) -> f32 {
    let nll = |ln_t: f64| mean_nll(probs, labels, ln_t.exp());
    let golden = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = RANGE;
    for _ in 0..60 {
        let c = b - golden * (b - a);
        let d = a + golden * (b - a);
        if nll(c) < nll(d) {
            b = d;
        } else {
            a = c;
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// The mean negative log-likelihood (natural log) of `labels` under `probs` at temperature `t`.
pub fn mean_nll(probs: &[Vec<f32>], labels: &[u32], t: f64) -> f64 {
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(p, &y)| {
            -scaled(p, t)
                .get(y as usize)
                .copied()
                .unwrap_or(1e-12)
                .max(1e-12)
                .ln()
        })
        .sum();
    total / probs.len().max(1) as f64
}

/// `p` at temperature `t`: `p^(1/t)` renormalised (in f64).
pub fn scaled(p: &[f32], t: f64) -> Vec<f64> {
    let logs: Vec<f64> = p
        .iter()
        .map(|&v| f64::from(v.max(1e-30)).ln() / t)
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overconfident predictions (right 60% of the time at confidence 0.99) want T > 1; the
    /// fitted T is where the likelihood is lowest.
    #[test]
    fn an_overconfident_model_is_cooled() {
        let probs: Vec<Vec<f32>> = (0..100).map(|_| vec![0.99, 0.01]).collect();
        let labels: Vec<u32> = (0..100).map(|i| u32::from(i % 5 >= 3)).collect();
        let t = fit(&probs, &labels);
        assert!(t > 1.0, "{t}");
        let at = |t: f64| mean_nll(&probs, &labels, t);
        let t = f64::from(t);
        assert!(at(t) < at(1.0) && at(t) <= at(t * 1.05) && at(t) <= at(t / 1.05));
        // Confidence after scaling is the accuracy, 0.6.
        assert!((scaled(&probs[0], t)[0] - 0.6).abs() < 1e-3);
    }
}
