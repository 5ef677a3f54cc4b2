//! The kernels several layers share, on plain slices: bias rows and column sums, SIMD dispatch,
//! layout changes, the loss and the optimizers. Each layer's own kernels live in its file
//! (`dense.rs`, `conv.rs`, ...). Images are channels-last (`[B, H, W, C]`) inside the engine so
//! that a convolution's patch rows are contiguous runs.
//!
//! Every reduction runs in a fixed order that depends on shapes only, never on the thread
//! count: parallel loops split over examples (or fixed-size chunks) and each output element is
//! computed by exactly one task.

use rayon::prelude::*;

/// Elements per task for parallel elementwise loops.
pub(super) const CHUNK: usize = 1 << 14;

/// Add `bias` to every row of the row-major `rows x bias.len()` matrix `out`, then apply
/// relu with `relu` (the same values as a separate pass, in one pass over memory).
pub(crate) fn add_rows(out: &mut [f32], rows: usize, bias: &[f32], relu: bool) {
    let n = bias.len();
    let per = n * (CHUNK / n).max(1);
    let kernel = |block: &mut [f32]| bias_rows(block, bias, relu);
    if rows * n <= per {
        kernel(&mut out[..rows * n]);
    } else {
        out[..rows * n].par_chunks_mut(per).for_each(kernel);
    }
}

/// [`add_rows`] on the calling thread: every `bias.len()` values of `block`.
pub(super) fn bias_rows(block: &mut [f32], bias: &[f32], relu: bool) {
    simd(
        #[inline(always)]
        move || {
            for row in block.chunks_exact_mut(bias.len()) {
                bias_row(row, bias, relu);
            }
        },
    )
}

/// `row + bias`, through relu when `relu`.
#[inline(always)]
pub(super) fn bias_row(row: &mut [f32], bias: &[f32], relu: bool) {
    if relu {
        for (y, b) in row.iter_mut().zip(bias) {
            *y = (*y + b).max(0.0);
        }
    } else {
        for (y, b) in row.iter_mut().zip(bias) {
            *y += b;
        }
    }
}

/// Column sums of a row-major `rows x cols` matrix, written to `out`. Blocks of rows are
/// summed in parallel and the block sums added in order; the blocks depend on the shape only,
/// so the result does not depend on the thread count.
pub(crate) fn column_sums(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let per = cols * (CHUNK / cols).max(1);
    let partial: Vec<Vec<f32>> = m[..rows * cols]
        .par_chunks(per)
        .map(|block| {
            let mut sum = vec![0f32; cols];
            let acc = &mut sum[..];
            simd(
                #[inline(always)]
                move || {
                    for row in block.chunks_exact(cols) {
                        for j in 0..cols {
                            acc[j] += row[j];
                        }
                    }
                },
            );
            sum
        })
        .collect();
    out[..cols].fill(0.0);
    for sum in partial {
        for (o, v) in out.iter_mut().zip(sum) {
            *o += v;
        }
    }
}

/// Run `f` compiled for the widest vector instructions this CPU has (AVX-512 or AVX2 where
/// present): the elementwise loops below vectorise inside it. Elementwise results are the same
/// at every width (no reassociation, no fused multiply-add contraction), so this changes speed
/// only, never a weight.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// A chunk of an output and the matching chunk of one input.
pub(super) type Out<'a> = (&'a mut [f32], &'a [f32]);
/// Matching chunks of two inputs.
pub(super) type In2<'a> = (&'a [f32], &'a [f32]);

/// Elementwise product `y = x * m` (dropout with a precomputed scaled mask).
pub(crate) fn multiply(x: &[f32], m: &[f32], y: &mut [f32]) {
    for ((y, x), m) in y.iter_mut().zip(x).zip(m) {
        *y = x * m;
    }
}

/// Channels-last `[b, hw, c]` to channel-major `[b, c, hw]` (the order `flatten` promises).
pub(crate) fn to_channel_major(x: &[f32], b: usize, c: usize, hw: usize, y: &mut [f32]) {
    for (y, x) in y[..b * c * hw]
        .chunks_exact_mut(c * hw)
        .zip(x.chunks_exact(c * hw))
    {
        for p in 0..hw {
            for ch in 0..c {
                y[ch * hw + p] = x[p * c + ch];
            }
        }
    }
}

/// Channel-major `[b, c, hw]` to channels-last `[b, hw, c]`.
pub(crate) fn to_channels_last(x: &[f32], b: usize, c: usize, hw: usize, y: &mut [f32]) {
    for (y, x) in y[..b * c * hw]
        .chunks_exact_mut(c * hw)
        .zip(x.chunks_exact(c * hw))
    {
        for ch in 0..c {
            for p in 0..hw {
                y[p * c + ch] = x[ch * hw + p];
            }
        }
    }
}

/// Softmax cross-entropy of `logits: [b, classes]` against `targets`: writes each example's
/// loss, its predicted class, and the gradient of the mean loss into `dlogits`.
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[u32],
    classes: usize,
    losses: &mut [f32],
    predicted: &mut [u32],
    dlogits: &mut [f32],
) {
    let b = targets.len();
    let scale = 1.0 / b as f32;
    for (i, (row, grad)) in logits[..b * classes]
        .chunks_exact(classes)
        .zip(dlogits.chunks_exact_mut(classes))
        .enumerate()
    {
        let (mut best, mut max) = (0, f32::NEG_INFINITY);
        for (j, &v) in row.iter().enumerate() {
            if v > max {
                (best, max) = (j, v);
            }
        }
        let mut sum = 0f32;
        for (g, &v) in grad.iter_mut().zip(row) {
            *g = (v - max).exp();
            sum += *g;
        }
        let y = targets[i] as usize;
        losses[i] = sum.ln() - (row[y] - max);
        predicted[i] = best as u32;
        for g in grad.iter_mut() {
            *g *= scale / sum;
        }
        grad[y] -= scale;
    }
}

/// In-place softmax of each `classes`-wide row.
pub(crate) fn softmax_rows(x: &mut [f32], classes: usize) {
    for row in x.chunks_exact_mut(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}

/// One Adam step (bias-corrected, as PyTorch's and burn's) over all parameters.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    step: i32,
    (beta1, beta2, eps): (f32, f32, f32),
) {
    let c1 = 1.0 - beta1.powi(step);
    let c2 = 1.0 - beta2.powi(step);
    let kernel = |((p, g), (m, v)): (Out<'_>, (&mut [f32], &mut [f32]))| {
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        simd(
            #[inline(always)]
            move || {
                for i in 0..n {
                    m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                    v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                    let mhat = m[i] / c1;
                    let vhat = v[i] / c2;
                    p[i] -= lr * mhat / (vhat.sqrt() + eps);
                }
            },
        )
    };
    if params.len() <= CHUNK {
        kernel(((params, grads), (m, v)));
    } else {
        params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(kernel);
    }
}

/// One step of SGD with (undampened) momentum; `momentum = 0` is plain SGD.
pub(crate) fn sgd(params: &mut [f32], grads: &[f32], velocity: &mut [f32], lr: f32, momentum: f32) {
    let kernel = |(p, (g, vel)): (&mut [f32], (&[f32], &mut [f32]))| {
        let n = p.len();
        let (g, vel) = (&g[..n], &mut vel[..n]);
        simd(
            #[inline(always)]
            move || {
                for i in 0..n {
                    vel[i] = momentum * vel[i] + g[i];
                    p[i] -= lr * vel[i];
                }
            },
        )
    };
    if params.len() <= CHUNK {
        kernel((params, (grads, velocity)));
    } else {
        params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK).zip(velocity.par_chunks_mut(CHUNK)))
            .for_each(kernel);
    }
}

/// `$call` with the constant `$r` set to `$rows`: one arm for each count listed, the last
/// count taking any other. Kernels are monomorphised per row count, so that their
/// accumulators stay in registers; this picks the one a tile's rows need.
macro_rules! for_rows {
    ($rows:expr, [$($n:literal),*], $last:literal, |$r:ident| $call:expr) => {
        match $rows {
            $($n => {
                const $r: usize = $n;
                $call
            })*
            _ => {
                const $r: usize = $last;
                $call
            }
        }
    };
}
pub(super) use for_rows;
