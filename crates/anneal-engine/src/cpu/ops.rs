//! The kernels of the compiled engine, on plain slices. Images are channels-last
//! (`[B, H, W, C]`) inside the engine so that a convolution's patch rows are contiguous runs.
//!
//! Every reduction runs in a fixed order that depends on shapes only, never on the thread
//! count: parallel loops split over examples (or fixed-size chunks) and each output element is
//! computed by exactly one task.

use rayon::prelude::*;

use super::gemm::{View, matmul};

/// Elements per task for parallel elementwise loops.
const CHUNK: usize = 1 << 14;

/// A convolution's geometry (input `[h, w, c]`, output `[oh, ow, oc]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Values in one patch (a row of the unfolded input), ordered `(ky, kx, c)`.
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }

    fn input_len(&self) -> usize {
        self.h * self.w * self.c
    }

    fn rows(&self) -> usize {
        self.oh * self.ow
    }
}

/// Unfold `b` images into patch rows: `col[(n, oy, ox), (ky, kx, c)]`.
///
/// A patch row is `kh` runs of `kw * c` values, one per kernel row. Runs of up to
/// [`SHORT_RUN`] values (a 5x5 kernel on one channel copies 5 at a time) are copied as one
/// fixed-size vector move whose tail spills onto values this loop writes later (the rest of
/// the row, the next rows), instead of a call into `memmove` per run, which made the first
/// digits convolution's unfolding take 0.49 ms of its 0.9 ms.
pub(crate) fn im2col(x: &[f32], b: usize, g: &ConvGeom, col: &mut [f32]) {
    let (k, per_in, run) = (g.k(), g.input_len(), g.kw * g.c);
    col[..b * g.rows() * k]
        .par_chunks_mut(g.rows() * k)
        .zip(x[..b * per_in].par_chunks(per_in))
        .for_each(|(col, x)| {
            simd(
                #[inline(always)]
                || {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let at = (oy * g.ow + ox) * k;
                            for ky in 0..g.kh {
                                let d0 = at + ky * run;
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                if iy < 0 || iy >= g.h as isize {
                                    col[d0..d0 + run].fill(0.0);
                                    continue;
                                }
                                let line = iy as usize * g.w * g.c;
                                let ix0 = (ox * g.stride) as isize - g.pad as isize;
                                if ix0 >= 0 && ix0 as usize + g.kw <= g.w {
                                    let s0 = line + ix0 as usize * g.c;
                                    if run <= SHORT_RUN
                                        && d0 + SHORT_RUN <= col.len()
                                        && s0 + SHORT_RUN <= x.len()
                                    {
                                        let v: [f32; SHORT_RUN] = {
                                            let s = &x[s0..s0 + SHORT_RUN];
                                            std::array::from_fn(|j| s[j])
                                        };
                                        col[d0..d0 + SHORT_RUN].copy_from_slice(&v);
                                    } else {
                                        col[d0..d0 + run].copy_from_slice(&x[s0..s0 + run]);
                                    }
                                } else {
                                    for kx in 0..g.kw {
                                        let ix = ix0 + kx as isize;
                                        let d = &mut col[d0 + kx * g.c..d0 + (kx + 1) * g.c];
                                        if ix < 0 || ix >= g.w as isize {
                                            d.fill(0.0);
                                        } else {
                                            d.copy_from_slice(
                                                &x[line + ix as usize * g.c..][..g.c],
                                            );
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            )
        });
}

/// Runs of up to this many values are unfolded as one vector move (see [`im2col`]).
const SHORT_RUN: usize = 16;

/// The adjoint of [`im2col`]: add each patch row back onto the image it came from.
pub(crate) fn col2im(col: &[f32], b: usize, g: &ConvGeom, dx: &mut [f32]) {
    let (k, per_in) = (g.k(), g.input_len());
    dx[..b * per_in]
        .par_chunks_mut(per_in)
        .zip(col[..b * g.rows() * k].par_chunks(g.rows() * k))
        .for_each(|(dx, col)| {
            dx.fill(0.0);
            simd(
                #[inline(always)]
                || {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let row = &col[(oy * g.ow + ox) * k..][..k];
                            for ky in 0..g.kh {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                if iy < 0 || iy >= g.h as isize {
                                    continue;
                                }
                                let src = &row[ky * g.kw * g.c..(ky + 1) * g.kw * g.c];
                                let line = iy as usize * g.w;
                                let ix0 = (ox * g.stride) as isize - g.pad as isize;
                                if ix0 >= 0 && ix0 as usize + g.kw <= g.w {
                                    // The whole kernel row lands on one contiguous run.
                                    let at = (line + ix0 as usize) * g.c;
                                    for (d, s) in dx[at..at + src.len()].iter_mut().zip(src) {
                                        *d += s;
                                    }
                                    continue;
                                }
                                for kx in 0..g.kw {
                                    let ix = ix0 + kx as isize;
                                    if ix < 0 || ix >= g.w as isize {
                                        continue;
                                    }
                                    let d = &mut dx[(line + ix as usize) * g.c..][..g.c];
                                    for (d, s) in d.iter_mut().zip(&src[kx * g.c..(kx + 1) * g.c]) {
                                        *d += s;
                                    }
                                }
                            }
                        }
                    }
                },
            )
        });
}

/// Add `bias` to every row of the row-major `rows x bias.len()` matrix `out`, then apply
/// relu with `relu` (the same values as a separate pass, in one pass over memory).
pub(crate) fn add_rows(out: &mut [f32], rows: usize, bias: &[f32], relu: bool) {
    let n = bias.len();
    let per = n * (CHUNK / n).max(1);
    let kernel = |block: &mut [f32]| {
        simd(
            #[inline(always)]
            move || {
                if relu {
                    for row in block.chunks_exact_mut(n) {
                        for j in 0..n {
                            row[j] = (row[j] + bias[j]).max(0.0);
                        }
                    }
                } else {
                    for row in block.chunks_exact_mut(n) {
                        for j in 0..n {
                            row[j] += bias[j];
                        }
                    }
                }
            },
        )
    };
    if rows * n <= per {
        kernel(&mut out[..rows * n]);
    } else {
        out[..rows * n].par_chunks_mut(per).for_each(kernel);
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

/// `y = x W + b` for `x: [b, inp]`, `W: [inp, out]`, then `max(y, 0)` with `relu`.
pub(crate) fn dense_forward(
    x: &[f32],
    b: usize,
    w: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let (out, inp) = (bias.len(), w.len() / bias.len());
    matmul(
        &mut y[..b * out],
        false,
        View::rows(&x[..b * inp], b, inp),
        View::rows(w, inp, out),
    );
    add_rows(y, b, bias, relu);
}

/// Gradients of [`dense_forward`]: `gw = xᵀ dy`, `gb = Σ dy`, and `dx = dy Wᵀ` when asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_backward(
    x: &[f32],
    b: usize,
    w: &[f32],
    dy: &[f32],
    gw: &mut [f32],
    gb: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (out, inp) = (gb.len(), w.len() / gb.len());
    let dyv = View::rows(&dy[..b * out], b, out);
    matmul(gw, false, View::rows(&x[..b * inp], b, inp).t(), dyv);
    column_sums(dy, b, out, gb);
    if let Some(dx) = dx {
        matmul(&mut dx[..b * inp], false, dyv, View::rows(w, inp, out).t());
    }
}

/// A convolution through its unfolded input: `y[(n,oy,ox), oc] = col · Wᵀ + b` with the
/// weights stored `[oc, (ky, kx, c)]`.
pub(crate) fn conv_forward(
    x: &[f32],
    b: usize,
    g: &ConvGeom,
    w: &[f32],
    bias: &[f32],
    col: &mut [f32],
    y: &mut [f32],
) {
    let (rows, k) = (b * g.rows(), g.k());
    im2col(x, b, g, col);
    matmul(
        &mut y[..rows * g.oc],
        false,
        View::rows(&col[..rows * k], rows, k),
        View::rows(w, g.oc, k).t(),
    );
    add_rows(y, rows, bias, false);
}

/// Gradients of [`conv_forward`]. `col` must still hold the forward pass's unfolded input; it
/// is overwritten with the unfolded input gradient when `dx` is asked for.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_backward(
    b: usize,
    g: &ConvGeom,
    w: &[f32],
    dy: &[f32],
    col: &mut [f32],
    gw: &mut [f32],
    gb: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (rows, k) = (b * g.rows(), g.k());
    let dyv = View::rows(&dy[..rows * g.oc], rows, g.oc);
    weight_gradient(gw, dy, g.oc, &col[..rows * k], rows, k);
    column_sums(dy, rows, g.oc, gb);
    if let Some(dx) = dx {
        matmul(&mut col[..rows * k], false, dyv, View::rows(w, g.oc, k));
        col2im(col, b, g, dx);
    }
}

/// `gw = dyᵀ col` (`oc x k`, summed over `rows`). A small product over many rows (a first
/// convolution: 32 x 25 over 36,864 rows; the digits program's second: 32 x 400 over 4,096)
/// leaves the GEMM little to split, so the rows are cut into fixed parts summed in parallel
/// and then added in order: the parts depend on the shape only, so the result does not depend
/// on the thread count. Parts of 2,048 rows took the digits second convolution's weight
/// gradient from 0.68-0.71 ms to 0.57-0.59 ms per step (1,024: 0.62 ms).
fn weight_gradient(gw: &mut [f32], dy: &[f32], oc: usize, col: &[f32], rows: usize, k: usize) {
    const SMALL: usize = 1 << 14;
    const PART_ROWS: usize = 2048;
    let parts = rows.div_ceil(PART_ROWS).min(8);
    if oc * k >= SMALL || parts < 2 {
        let dyv = View::rows(&dy[..rows * oc], rows, oc);
        matmul(gw, false, dyv.t(), View::rows(col, rows, k));
        return;
    }
    let per = rows.div_ceil(parts);
    let partial: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|p| {
            let (r0, r1) = (p * per, ((p + 1) * per).min(rows));
            let mut out = vec![0f32; oc * k];
            matmul(
                &mut out,
                false,
                View::rows(&dy[r0 * oc..r1 * oc], r1 - r0, oc).t(),
                View::rows(&col[r0 * k..r1 * k], r1 - r0, k),
            );
            out
        })
        .collect();
    gw[..oc * k].fill(0.0);
    for part in partial {
        for (g, v) in gw.iter_mut().zip(part) {
            *g += v;
        }
    }
}

/// A pooling window's geometry (input `[h, w, c]`, output `[oh, ow, c]`, no padding).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolGeom {
    fn input_len(&self) -> usize {
        self.h * self.w * self.c
    }
    fn output_len(&self) -> usize {
        self.oh * self.ow * self.c
    }
}

/// Max pooling; `arg` receives, per output, the index of the chosen input within its image.
pub(crate) fn maxpool_forward(x: &[f32], b: usize, g: &PoolGeom, y: &mut [f32], arg: &mut [u32]) {
    let (pi, po) = (g.input_len(), g.output_len());
    y[..b * po]
        .par_chunks_mut(po)
        .zip(arg[..b * po].par_chunks_mut(po))
        .zip(x[..b * pi].par_chunks(pi))
        .for_each(|((y, arg), x)| {
            simd(
                #[inline(always)]
                move || {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let o = (oy * g.ow + ox) * g.c;
                            let (y, arg) = (&mut y[o..o + g.c], &mut arg[o..o + g.c]);
                            y.fill(f32::NEG_INFINITY);
                            for ky in 0..g.k {
                                for kx in 0..g.k {
                                    let i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * g.c;
                                    let x = &x[i..i + g.c];
                                    for ch in 0..g.c {
                                        // `>` keeps the first maximum, as a scan in window order
                                        // would; NaN propagates by replacing the current best.
                                        // Selects, not branches, so the loop vectorises.
                                        let v = x[ch];
                                        let take = (v > y[ch]) | v.is_nan();
                                        y[ch] = if take { v } else { y[ch] };
                                        arg[ch] = if take { (i + ch) as u32 } else { arg[ch] };
                                    }
                                }
                            }
                        }
                    }
                },
            )
        });
}

/// Routes each output gradient to the input [`maxpool_forward`] chose.
pub(crate) fn maxpool_backward(dy: &[f32], b: usize, g: &PoolGeom, arg: &[u32], dx: &mut [f32]) {
    let (pi, po) = (g.input_len(), g.output_len());
    dx[..b * pi]
        .par_chunks_mut(pi)
        .zip(
            dy[..b * po]
                .par_chunks(po)
                .zip(arg[..b * po].par_chunks(po)),
        )
        .for_each(|(dx, (dy, arg))| {
            dx.fill(0.0);
            for (d, &a) in dy.iter().zip(arg) {
                dx[a as usize] += d;
            }
        });
}

/// Average pooling.
pub(crate) fn avgpool_forward(x: &[f32], b: usize, g: &PoolGeom, y: &mut [f32]) {
    let (pi, po) = (g.input_len(), g.output_len());
    let scale = 1.0 / (g.k * g.k) as f32;
    y[..b * po]
        .par_chunks_mut(po)
        .zip(x[..b * pi].par_chunks(pi))
        .for_each(|(y, x)| {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let y = &mut y[(oy * g.ow + ox) * g.c..][..g.c];
                    y.fill(0.0);
                    for ky in 0..g.k {
                        for kx in 0..g.k {
                            let i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * g.c;
                            for (o, v) in y.iter_mut().zip(&x[i..i + g.c]) {
                                *o += v;
                            }
                        }
                    }
                    for o in y.iter_mut() {
                        *o *= scale;
                    }
                }
            }
        });
}

/// Spreads each output gradient evenly over its window.
pub(crate) fn avgpool_backward(dy: &[f32], b: usize, g: &PoolGeom, dx: &mut [f32]) {
    let (pi, po) = (g.input_len(), g.output_len());
    let scale = 1.0 / (g.k * g.k) as f32;
    dx[..b * pi]
        .par_chunks_mut(pi)
        .zip(dy[..b * po].par_chunks(po))
        .for_each(|(dx, dy)| {
            dx.fill(0.0);
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let d = &dy[(oy * g.ow + ox) * g.c..][..g.c];
                    for ky in 0..g.k {
                        for kx in 0..g.k {
                            let i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * g.c;
                            for (o, v) in dx[i..i + g.c].iter_mut().zip(d) {
                                *o += v * scale;
                            }
                        }
                    }
                }
            }
        });
}

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
    let inv: Vec<f32> = running_var
        .iter()
        .map(|v| (1.0 / (f64::from(*v) + BN_EPS).sqrt()) as f32)
        .collect();
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

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
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
type Out<'a> = (&'a mut [f32], &'a [f32]);
/// Matching chunks of two inputs.
type In2<'a> = (&'a [f32], &'a [f32]);

/// `y = f(x)`.
pub(crate) fn activation_forward(f: Activation, x: &[f32], y: &mut [f32]) {
    let kernel = |(y, x): (&mut [f32], &[f32])| {
        let x = &x[..y.len()];
        simd(
            #[inline(always)]
            move || match f {
                Activation::Relu => {
                    for i in 0..y.len() {
                        y[i] = x[i].max(0.0);
                    }
                }
                Activation::Gelu => {
                    for i in 0..y.len() {
                        y[i] = x[i] * phi(x[i]);
                    }
                }
                Activation::Tanh => {
                    for i in 0..y.len() {
                        y[i] = x[i].tanh();
                    }
                }
                Activation::Sigmoid => {
                    for i in 0..y.len() {
                        y[i] = 1.0 / (1.0 + (-x[i]).exp());
                    }
                }
            },
        )
    };
    if y.len() <= CHUNK {
        kernel((y, x));
    } else {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(kernel);
    }
}

/// `dx = dy · f'(x)`, from the input `x` and output `y` of the forward pass.
pub(crate) fn activation_backward(f: Activation, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let kernel = |((dx, dy), (x, y)): (Out<'_>, In2<'_>)| {
        let n = dx.len();
        let (dy, x, y) = (&dy[..n], &x[..n], &y[..n]);
        simd(
            #[inline(always)]
            move || match f {
                Activation::Relu => {
                    for i in 0..n {
                        dx[i] = if y[i] > 0.0 { dy[i] } else { 0.0 };
                    }
                }
                Activation::Gelu => {
                    for i in 0..n {
                        let density = (-0.5 * x[i] * x[i]).exp() * std::f32::consts::FRAC_2_SQRT_PI
                            / (2.0 * std::f32::consts::SQRT_2);
                        dx[i] = dy[i] * (phi(x[i]) + x[i] * density);
                    }
                }
                Activation::Tanh => {
                    for i in 0..n {
                        dx[i] = dy[i] * (1.0 - y[i] * y[i]);
                    }
                }
                Activation::Sigmoid => {
                    for i in 0..n {
                        dx[i] = dy[i] * (y[i] * (1.0 - y[i]));
                    }
                }
            },
        )
    };
    if dx.len() <= CHUNK {
        kernel(((dx, dy), (x, y)));
    } else {
        dx.par_chunks_mut(CHUNK)
            .zip(dy.par_chunks(CHUNK))
            .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(kernel);
    }
}

/// The standard normal distribution function, `(1 + erf(x / √2)) / 2`.
fn phi(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// `col` by the definition: patch value `(ky, kx, ch)` of output `(oy, ox)`, zero outside.
    fn unfold_by_definition(x: &[f32], b: usize, g: &ConvGeom) -> Vec<f32> {
        let mut out = Vec::new();
        for n in 0..b {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            for ch in 0..g.c {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                let inside = (0..g.h as isize).contains(&iy)
                                    && (0..g.w as isize).contains(&ix);
                                out.push(if inside {
                                    x[n * g.input_len()
                                        + (iy as usize * g.w + ix as usize) * g.c
                                        + ch]
                                } else {
                                    0.0
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn unfolding_matches_the_definition_and_folding_is_its_adjoint() {
        // (c, h, w, k, stride, pad): short runs that spill (one channel, 5x5 and 3x3), padded
        // and strided ones, and runs too long to spill.
        for (c, h, w, kk, stride, pad) in [
            (1, 28, 28, 5, 1, 0),
            (1, 9, 7, 3, 2, 1),
            (3, 8, 8, 3, 1, 1),
            (2, 6, 5, 2, 1, 2),
            (16, 12, 12, 5, 1, 0),
        ] {
            let (oh, ow) = (
                (h + 2 * pad - kk) / stride + 1,
                (w + 2 * pad - kk) / stride + 1,
            );
            let g = ConvGeom {
                c,
                h,
                w,
                oc: 4,
                kh: kk,
                kw: kk,
                stride,
                pad,
                oh,
                ow,
            };
            let b = 3;
            let x: Vec<f32> = (0..b * g.input_len()).map(|i| i as f32 + 1.0).collect();
            let mut col = vec![f32::NAN; b * g.rows() * g.k()];
            im2col(&x, b, &g, &mut col);
            assert_eq!(
                col,
                unfold_by_definition(&x, b, &g),
                "c {c}, {h}x{w}, kernel {kk}, stride {stride}, pad {pad}"
            );
            // col2im is its adjoint: <im2col(x), p> = <x, col2im(p)> for any patches p.
            let p: Vec<f32> = (0..col.len())
                .map(|i| ((i * 37) % 11) as f32 - 5.0)
                .collect();
            let mut back = vec![f32::NAN; x.len()];
            col2im(&p, b, &g, &mut back);
            let lhs: f64 = col.iter().zip(&p).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| f64::from(a * b)).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-6 * lhs.abs().max(1.0),
                "col2im is not im2col's adjoint: {lhs} against {rhs} (c {c}, kernel {kk}, pad {pad})"
            );
        }
    }
}
