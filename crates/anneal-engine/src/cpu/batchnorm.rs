//! `batchnorm`: per feature (flat) or per channel (images), `y = gamma (x - mean) / sd + beta`,
//! with the batch's statistics in training (running statistics updated with momentum 0.1) and
//! the running ones in inference.

use anneal_spec::Shape;

use super::Mode;
use super::node::{Backward, Forward, Scratch, grad_pair, seg};
use rayon::prelude::*;

use super::ops::{CHUNK, simd};

/// A compiled batch norm: its width and parameter offsets (running statistics in `stats`).
#[derive(Debug, Clone)]
pub(super) struct BatchNorm {
    pub c: usize,
    pub gamma: usize,
    pub beta: usize,
    pub mean: usize,
    pub var: usize,
}

impl BatchNorm {
    /// `offsets` of gamma, beta and the running mean and variance, as the spec lists them.
    pub fn compile(shape: Shape, offsets: &[usize]) -> BatchNorm {
        let (Shape::Flat([c]) | Shape::Image([c, _, _])) = shape;
        BatchNorm {
            c,
            gamma: offsets[0],
            beta: offsets[1],
            mean: offsets[2],
            var: offsets[3],
        }
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            saved: vec![0.0; 2 * self.c],
            ..Scratch::default()
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let c = self.c;
        let rows = f.x.len() / c;
        let (gamma, beta) = (seg(f.params, self.gamma, c), seg(f.params, self.beta, c));
        match f.mode {
            Mode::Train(_, stats) => {
                let (rm, rv) = running_pair(stats, self.mean, self.var, c);
                batchnorm_train(f.x, rows, gamma, beta, rm, rv, &mut f.scratch.saved, f.y);
            }
            Mode::Eval(stats, _) => {
                let (rm, rv) = self.running(stats);
                batchnorm_eval(f.x, rows, gamma, beta, rm, rv, f.y);
            }
            Mode::Frozen(stats) => {
                let (rm, rv) = self.running(stats);
                batchnorm_eval(f.x, rows, gamma, beta, rm, rv, f.y);
                let (mean, inv) = f.scratch.saved[..2 * c].split_at_mut(c);
                mean.copy_from_slice(rm);
                for (i, v) in inv.iter_mut().zip(rv) {
                    *i = inverse_sd(*v);
                }
            }
        }
    }

    /// What inference applies per channel, as `y = x * scale + shift`: `gamma / sd` and
    /// `beta - mean * gamma / sd`, from the running statistics.
    pub fn affine(&self, params: &[f32], stats: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let c = self.c;
        let (gamma, beta) = (seg(params, self.gamma, c), seg(params, self.beta, c));
        let (mean, var) = self.running(stats);
        let scale: Vec<f32> = gamma
            .iter()
            .zip(var)
            .map(|(g, v)| g * inverse_sd(*v))
            .collect();
        let shift = beta.iter().zip(mean).zip(&scale);
        (scale.clone(), shift.map(|((b, m), s)| b - m * s).collect())
    }

    /// This layer's running mean and variance.
    fn running<'s>(&self, stats: &'s [f32]) -> (&'s [f32], &'s [f32]) {
        let c = self.c;
        (seg(stats, self.mean, c), seg(stats, self.var, c))
    }

    pub fn backward(&self, k: Backward<'_>) {
        let c = self.c;
        let rows = k.x.len() / c;
        let gamma = seg(k.params, self.gamma, c);
        if k.frozen {
            // A fixed affine map per channel (the running statistics normalised).
            let (mean, inv) = k.scratch.saved[..2 * c].split_at(c);
            if k.weights {
                let (gg, gb) = grad_pair(k.grads, self.gamma, c, self.beta, c);
                affine_grads(k.x, rows, mean, inv, k.dy, gg, gb);
            }
            let scale: Vec<f32> = gamma.iter().zip(inv).map(|(g, i)| g * i).collect();
            if let Some(dx) = k.dx {
                scale_channels(k.dy, &scale, dx);
            }
            return;
        }
        let (gg, gb) = grad_pair(k.grads, self.gamma, c, self.beta, c);
        batchnorm_backward(k.x, rows, gamma, &k.scratch.saved, k.dy, gg, gb, k.dx);
    }
}

/// `1 / sqrt(var + eps)`, as inference computes it.
fn inverse_sd(var: f32) -> f32 {
    (1.0 / (f64::from(var) + BN_EPS).sqrt()) as f32
}

/// The gradients of `gamma` and `beta` when batch norm normalised with fixed statistics
/// (`mean`, `inv`: the running mean and inverse deviation): `sum(dy * xhat)` and `sum(dy)`.
fn affine_grads(
    x: &[f32],
    rows: usize,
    mean: &[f32],
    inv: &[f32],
    dy: &[f32],
    ggamma: &mut [f32],
    gbeta: &mut [f32],
) {
    let c = mean.len();
    let (sum_dy, sum_dy_centred) = channel_sums(dy, x, mean, rows, c, |d, x, m| {
        (d, std::array::from_fn(|j| d[j] * (x[j] - m[j])))
    });
    for ch in 0..c {
        ggamma[ch] = (sum_dy_centred[ch] * f64::from(inv[ch])) as f32;
        gbeta[ch] = sum_dy[ch] as f32;
    }
}

/// `dx = dy * scale` per channel, over channels-last rows.
fn scale_channels(dy: &[f32], scale: &[f32], dx: &mut [f32]) {
    let c = scale.len();
    for (dx, dy) in dx.chunks_exact_mut(c).zip(dy.chunks_exact(c)) {
        for ((d, g), s) in dx.iter_mut().zip(dy).zip(scale) {
            *d = g * s;
        }
    }
}

/// The running mean and variance of one batch-norm layer, both mutable.
fn running_pair(stats: &mut [f32], mean: usize, var: usize, c: usize) -> (&mut [f32], &mut [f32]) {
    let (a, b) = stats.split_at_mut(var);
    (&mut a[mean..mean + c], &mut b[..c])
}

// The kernels, on plain slices (channels-last images).

/// Batch-norm epsilon and momentum (as burn's and PyTorch's defaults).
pub(crate) const BN_EPS: f64 = 1e-5;
pub(crate) const BN_MOMENTUM: f32 = 0.1;

/// Batch normalisation over the rows of `x: [rows, c]` with the batch's own statistics
/// (biased variance, as the running statistics use too). Saves the mean and `1/std` per
/// channel in `saved` (`2c` values) and updates the running statistics.
#[allow(clippy::too_many_arguments)]
pub(crate) fn batchnorm_train(
    x: &[f32],
    rows: usize,
    gamma: &[f32],
    beta: &[f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    saved: &mut [f32],
    y: &mut [f32],
) {
    let c = gamma.len();
    let zero = vec![0.0; c];
    let (sum, _) = channel_sums(x, x, &zero, rows, c, |x, _, _| (x, [0.0; LANES]));
    let mean32: Vec<f32> = sum.iter().map(|s| (s / rows as f64) as f32).collect();
    let (squares, _) = channel_sums(x, x, &mean32, rows, c, |x, _, m| {
        (
            std::array::from_fn(|j| (x[j] - m[j]) * (x[j] - m[j])),
            [0.0; LANES],
        )
    });
    let (saved_mean, saved_inv) = saved[..2 * c].split_at_mut(c);
    for ch in 0..c {
        let var = squares[ch] / rows as f64;
        saved_mean[ch] = mean32[ch];
        saved_inv[ch] = (1.0 / (var + BN_EPS).sqrt()) as f32;
        running_mean[ch] = (1.0 - BN_MOMENTUM) * running_mean[ch] + BN_MOMENTUM * mean32[ch];
        running_var[ch] = (1.0 - BN_MOMENTUM) * running_var[ch] + BN_MOMENTUM * var as f32;
    }
    normalize(x, rows, saved_mean, saved_inv, gamma, beta, y);
}

/// Batch normalisation with the running statistics (inference).
pub(crate) fn batchnorm_eval(
    x: &[f32],
    rows: usize,
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) {
    let inv: Vec<f32> = running_var.iter().map(|v| inverse_sd(*v)).collect();
    normalize(x, rows, running_mean, &inv, gamma, beta, y);
}

/// `y = (x - mean) * inv * gamma + beta`, per channel.
fn normalize(
    x: &[f32],
    rows: usize,
    mean: &[f32],
    inv: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
) {
    let c = gamma.len();
    channel_map(y, x, x, rows, c, |cb, w| {
        let (m, i, g, b) = (
            lanes(mean, cb, w),
            lanes(inv, cb, w),
            lanes(gamma, cb, w),
            lanes(beta, cb, w),
        );
        move |x, _| std::array::from_fn(|j| (x[j] - m[j]) * i[j] * g[j] + b[j])
    });
}

/// Gradients of [`batchnorm_train`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn batchnorm_backward(
    x: &[f32],
    rows: usize,
    gamma: &[f32],
    saved: &[f32],
    dy: &[f32],
    ggamma: &mut [f32],
    gbeta: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let c = gamma.len();
    let (mean, inv) = saved[..2 * c].split_at(c);
    let (sum_dy, sum_dy_centred) = channel_sums(dy, x, mean, rows, c, |d, x, m| {
        (d, std::array::from_fn(|j| d[j] * (x[j] - m[j])))
    });
    let sum_dy_xhat: Vec<f64> = sum_dy_centred
        .iter()
        .zip(inv)
        .map(|(s, &i)| s * f64::from(i))
        .collect();
    for ch in 0..c {
        ggamma[ch] = sum_dy_xhat[ch] as f32;
        gbeta[ch] = sum_dy[ch] as f32;
    }
    if let Some(dx) = dx {
        let n = rows as f32;
        let a: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv[ch] / n).collect();
        let sd: Vec<f32> = sum_dy.iter().map(|&v| v as f32).collect();
        let sdx: Vec<f32> = sum_dy_xhat.iter().map(|&v| v as f32).collect();
        channel_map(dx, x, dy, rows, c, |cb, w| {
            let (m, i, a, sd, sdx) = (
                lanes(mean, cb, w),
                lanes(inv, cb, w),
                lanes(&a, cb, w),
                lanes(&sd, cb, w),
                lanes(&sdx, cb, w),
            );
            move |x, d| {
                std::array::from_fn(|j| {
                    let xhat = (x[j] - m[j]) * i[j];
                    a[j] * (n * d[j] - sd[j] - xhat * sdx[j])
                })
            }
        });
    }
}

/// Channels handled together by the batch-norm kernels: one AVX-512 vector.
const LANES: usize = 16;

/// Rows whose terms are summed in f32 before the sum joins the f64 total.
const GROUP: usize = 64;

/// `w <= LANES` values of `v` from `at`, zero-padded to `LANES`.
#[inline(always)]
fn lanes(v: &[f32], at: usize, w: usize) -> [f32; LANES] {
    if w == LANES {
        let s = &v[at..at + LANES];
        std::array::from_fn(|j| s[j])
    } else {
        let s = &v[at..at + w];
        std::array::from_fn(|j| if j < w { s[j] } else { 0.0 })
    }
}

/// Rows per parallel part of a channel-wise pass over `c` channels (about [`CHUNK`] values,
/// a whole number of [`GROUP`]s): fixed by the shape, never by the thread count.
fn part_rows(c: usize) -> usize {
    (CHUNK / c.max(1)).div_ceil(GROUP).max(1) * GROUP
}

/// Two channel-wise sums over the rows of the channels-last `a` and `b` (`rows x c` each):
/// `Σ_rows term(a_row, b_row, shift)`, [`LANES`] channels at a time, where `term` returns the
/// two terms for a block of channels. Each [`GROUP`] of rows is summed in f32 and the group
/// sums in f64; parts of rows fixed by the shape are summed in parallel and their sums added
/// in order, so the result does not depend on the thread count.
fn channel_sums<F>(
    a: &[f32],
    b: &[f32],
    shift: &[f32],
    rows: usize,
    c: usize,
    term: F,
) -> (Vec<f64>, Vec<f64>)
where
    F: Fn([f32; LANES], [f32; LANES], [f32; LANES]) -> ([f32; LANES], [f32; LANES]) + Sync,
{
    let per = part_rows(c);
    let part = |r0: usize| {
        let end = (r0 + per).min(rows);
        let mut sums = (vec![0f64; c], vec![0f64; c]);
        for cb in (0..c).step_by(LANES) {
            let w = LANES.min(c - cb);
            let m = lanes(shift, cb, w);
            let (t0, t1) = simd(
                #[inline(always)]
                || {
                    let (mut t0, mut t1) = ([0f64; LANES], [0f64; LANES]);
                    for g in (r0..end).step_by(GROUP) {
                        let (mut g0, mut g1) = ([0f32; LANES], [0f32; LANES]);
                        for r in g..(g + GROUP).min(end) {
                            let (p, q) = term(lanes(a, r * c + cb, w), lanes(b, r * c + cb, w), m);
                            for j in 0..LANES {
                                g0[j] += p[j];
                                g1[j] += q[j];
                            }
                        }
                        for j in 0..LANES {
                            t0[j] += f64::from(g0[j]);
                            t1[j] += f64::from(g1[j]);
                        }
                    }
                    (t0, t1)
                },
            );
            sums.0[cb..cb + w].copy_from_slice(&t0[..w]);
            sums.1[cb..cb + w].copy_from_slice(&t1[..w]);
        }
        sums
    };
    let starts: Vec<usize> = (0..rows).step_by(per).collect();
    let parts: Vec<(Vec<f64>, Vec<f64>)> = if starts.len() > 1 {
        starts.par_iter().map(|&r0| part(r0)).collect()
    } else {
        starts.iter().map(|&r0| part(r0)).collect()
    };
    let mut total = (vec![0f64; c], vec![0f64; c]);
    for (p0, p1) in parts {
        for ch in 0..c {
            total.0[ch] += p0[ch];
            total.1[ch] += p1[ch];
        }
    }
    total
}

/// `out_row = f(a_row, b_row)` for every row of the channels-last `rows x c` data, [`LANES`]
/// channels at a time; `block(cb, w)` makes the function for the `w` channels from `cb`.
fn channel_map<B, F>(out: &mut [f32], a: &[f32], b: &[f32], rows: usize, c: usize, block: B)
where
    B: Fn(usize, usize) -> F + Sync,
    F: Fn([f32; LANES], [f32; LANES]) -> [f32; LANES],
{
    let per = part_rows(c) * c;
    let kernel = |(i, out): (usize, &mut [f32])| {
        let base = i * per;
        let n = out.len() / c;
        for cb in (0..c).step_by(LANES) {
            let w = LANES.min(c - cb);
            let f = block(cb, w);
            simd(
                #[inline(always)]
                || {
                    for r in 0..n {
                        let at = base + r * c + cb;
                        let v = f(lanes(a, at, w), lanes(b, at, w));
                        out[r * c + cb..][..w].copy_from_slice(&v[..w]);
                    }
                },
            );
        }
    };
    let out = &mut out[..rows * c];
    if out.len() > per {
        out.par_chunks_mut(per).enumerate().for_each(kernel);
    } else {
        kernel((0, out));
    }
}
