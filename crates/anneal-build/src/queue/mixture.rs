//! A two-component Gaussian mixture in one dimension, fitted by expectation-maximisation: how
//! the mislabel queue splits "fits its label" from "does not".

/// Iterations of EM; the fit on 10,000 points settles well before.
const ITERATIONS: usize = 200;

/// A component: weight, mean and standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Component {
    weight: f64,
    mean: f64,
    sd: f64,
}

impl Component {
    /// Its weighted density at `x` (without the constant 1/sqrt(2 pi)).
    fn density(&self, x: f64) -> f64 {
        let z = (x - self.mean) / self.sd;
        self.weight * (-0.5 * z * z).exp() / self.sd
    }
}

/// A fitted mixture, as the queue uses it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Fit {
    /// For each point, the probability that it belongs to the upper component.
    pub upper: Vec<f64>,
    /// How far apart the components are: the distance between their means over the geometric
    /// mean of their deviations. One mode split in two gives about 2; two modes, more.
    pub separation: f64,
}

/// Fit two components to `xs`.
pub(super) fn fit(xs: &[f64]) -> Fit {
    if xs.len() < 2 {
        let upper = vec![0.0; xs.len()];
        return Fit {
            upper,
            separation: 0.0,
        };
    }
    let mut fit = start(xs);
    for _ in 0..ITERATIONS {
        let upper = posterior(&fit, xs);
        let lower = upper.iter().map(|p| 1.0 - p);
        fit = [refit(xs, lower), refit(xs, upper.iter().copied())];
    }
    let [lower, upper] = fit;
    Fit {
        upper: posterior(&fit, xs),
        separation: (upper.mean - lower.mean) / (lower.sd * upper.sd).sqrt(),
    }
}

/// The start: a large component at the 30th percentile and a small one at the 97th.
fn start(xs: &[f64]) -> [Component; 2] {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    let sd = spread(xs, xs.iter().sum::<f64>() / xs.len() as f64);
    let component = |weight, mean| Component { weight, mean, sd };
    [component(0.9, at(0.3)), component(0.1, at(0.97))]
}

/// The probability of the upper component at each point.
fn posterior(fit: &[Component; 2], xs: &[f64]) -> Vec<f64> {
    xs.iter()
        .map(|&x| {
            let (lower, upper) = (fit[0].density(x), fit[1].density(x));
            if lower + upper > 0.0 {
                upper / (lower + upper)
            } else {
                f64::from(x > fit[1].mean)
            }
        })
        .collect()
}

/// The component that the points weighted by `resp` make.
fn refit(xs: &[f64], resp: impl Iterator<Item = f64> + Clone) -> Component {
    let total: f64 = resp.clone().sum::<f64>().max(1e-12);
    let mean = xs.iter().zip(resp.clone()).map(|(x, r)| r * x).sum::<f64>() / total;
    let var = xs
        .iter()
        .zip(resp)
        .map(|(x, r)| r * (x - mean).powi(2))
        .sum::<f64>()
        / total;
    Component {
        weight: total / xs.len() as f64,
        mean,
        sd: var.sqrt().max(1e-6),
    }
}

/// The standard deviation of `xs` about `mean` (at least a small floor).
fn spread(xs: &[f64], mean: f64) -> f64 {
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    var.sqrt().max(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_clusters_are_told_apart() {
        let mut xs: Vec<f64> = (0..900).map(|i| (i % 30) as f64 / 30.0).collect();
        xs.extend((0..100).map(|i| 5.0 + (i % 10) as f64 / 10.0));
        let fit = fit(&xs);
        assert!(fit.upper[..900].iter().all(|&p| p < 0.5));
        assert!(fit.upper[900..].iter().all(|&p| p > 0.5));
        assert!(fit.separation > 10.0, "{}", fit.separation);
    }

    #[test]
    fn one_mode_is_not_separated() {
        let xs: Vec<f64> = (1..1000).map(|i| (i as f64 / 1000.0).ln()).collect();
        let fit = fit(&xs);
        assert!(fit.separation < 4.0, "{}", fit.separation);
    }
}
