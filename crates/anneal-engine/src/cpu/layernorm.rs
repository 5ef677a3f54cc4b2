//! `layernorm`: each example's vector `x` of `n` features becomes
//! `y = (x - mean) / sqrt(var + 1e-5) * gamma + beta`, with the example's own mean and
//! (biased) variance, in training and inference alike. Backward, with `xhat` the normalised
//! input and `g = dy * gamma`: `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))`.

use super::node::{Backward, Forward, Scratch, grad_pair, seg};

const EPS: f32 = 1e-5;

/// A compiled layer norm: its width and parameter offsets.
#[derive(Debug, Clone)]
pub(super) struct LayerNorm {
    pub n: usize,
    pub gamma: usize,
    pub beta: usize,
}

impl LayerNorm {
    /// `offsets` of `gamma` and `beta`, as the spec lists them.
    pub fn compile(n: usize, offsets: &[usize]) -> LayerNorm {
        LayerNorm {
            n,
            gamma: offsets[0],
            beta: offsets[1],
        }
    }

    /// Mean and inverse deviation of each of `batch` examples.
    pub fn scratch(&self, batch: usize) -> Scratch {
        Scratch {
            saved: vec![0.0; 2 * batch],
            ..Scratch::default()
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let (gamma, beta) = (
            seg(f.params, self.gamma, self.n),
            seg(f.params, self.beta, self.n),
        );
        let rows = f.x.chunks_exact(self.n).zip(f.y.chunks_exact_mut(self.n));
        for ((x, y), saved) in rows.zip(f.scratch.saved.chunks_exact_mut(2)) {
            let (mean, rstd) = moments(x);
            for (((y, x), g), b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                *y = (x - mean) * rstd * g + b;
            }
            saved.copy_from_slice(&[mean, rstd]);
        }
    }

    pub fn backward(&self, k: Backward<'_>) {
        let n = self.n;
        let (gg, gb) = grad_pair(k.grads, self.gamma, n, self.beta, n);
        let gamma = seg(k.params, self.gamma, n);
        gg.fill(0.0);
        gb.fill(0.0);
        let mut dx = k.dx;
        let rows = k.x.chunks_exact(n).zip(k.dy.chunks_exact(n));
        for (r, ((x, dy), saved)) in rows.zip(k.scratch.saved.chunks_exact(2)).enumerate() {
            let (mean, rstd) = (saved[0], saved[1]);
            if k.weights {
                accumulate(x, dy, mean, rstd, gg, gb);
            }
            if let Some(dx) = dx.as_deref_mut() {
                let dx = &mut dx[r * n..(r + 1) * n];
                input_grad(x, dy, gamma, mean, rstd, dx);
            }
        }
    }
}

/// The mean and `1 / sqrt(var + eps)` of one example.
fn moments(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + EPS).sqrt())
}

/// `dgamma += dy * xhat`, `dbeta += dy` for one example.
fn accumulate(x: &[f32], dy: &[f32], mean: f32, rstd: f32, gg: &mut [f32], gb: &mut [f32]) {
    for (((x, dy), gg), gb) in x.iter().zip(dy).zip(gg).zip(gb) {
        *gg += dy * (x - mean) * rstd;
        *gb += dy;
    }
}

/// The gradient at one example's input.
fn input_grad(x: &[f32], dy: &[f32], gamma: &[f32], mean: f32, rstd: f32, dx: &mut [f32]) {
    let n = x.len() as f32;
    let g = |i: usize| dy[i] * gamma[i];
    let xhat = |i: usize| (x[i] - mean) * rstd;
    let mean_g = (0..x.len()).map(g).sum::<f32>() / n;
    let mean_gx = (0..x.len()).map(|i| g(i) * xhat(i)).sum::<f32>() / n;
    for (i, dx) in dx.iter_mut().enumerate() {
        *dx = rstd * (g(i) - mean_g - xhat(i) * mean_gx);
    }
}
