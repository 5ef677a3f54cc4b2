//! `maxpool K [stride S]` and `avgpool K [stride S]`: the maximum or mean over KxK windows of
//! each channel (stride K by default). Max pooling keeps the index of each window's maximum
//! for the backward pass.

use super::node::{Backward, Forward, Scratch};
use rayon::prelude::*;

use super::ops::{bias_row, simd};

/// A compiled pooling layer.
#[derive(Debug, Clone)]
pub(super) struct Pool {
    pub g: PoolGeom,
}

impl Pool {
    /// A `kernel` window every `stride` from `[c, h, w]` to `[_, oh, ow]`.
    pub fn compile(
        k: usize,
        stride: usize,
        [c, h, w]: [usize; 3],
        [_, oh, ow]: [usize; 3],
    ) -> Pool {
        Pool {
            g: PoolGeom {
                c,
                h,
                w,
                k,
                stride,
                oh,
                ow,
            },
        }
    }

    pub fn max_forward(&self, f: Forward<'_, '_>) {
        maxpool_forward(f.x, f.b, &self.g, f.y, &mut f.scratch.arg);
    }

    pub fn max_backward(&self, k: Backward<'_>) {
        if let Some(dx) = k.dx {
            maxpool_backward(k.dy, k.b, &self.g, &k.scratch.arg, dx);
        }
    }

    pub fn avg_forward(&self, f: Forward<'_, '_>) {
        avgpool_forward(f.x, f.b, &self.g, f.y);
    }

    pub fn avg_backward(&self, k: Backward<'_>) {
        if let Some(dx) = k.dx {
            avgpool_backward(k.dy, k.b, &self.g, dx);
        }
    }
}

/// Max pooling's scratch: one index per output value.
pub(super) fn max_scratch(batch: usize, out: usize) -> Scratch {
    Scratch {
        arg: vec![0; batch * out],
        ..Scratch::default()
    }
}

// The kernels, on plain slices (channels-last images).

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
    pub(super) fn output_len(&self) -> usize {
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

/// Inference's max pooling of one image of a convolution's product, into `y`, then its bias
/// (when `bias` is given; an int8 convolution's product has it already) and relu (when
/// `relu`): the same values as adding the bias, applying relu and pooling, since adding a
/// channel's constant and relu are monotone and so commute with the maximum; in one pass,
/// without the indices a backward pass would need.
pub(crate) fn maxpool_bias_relu(
    x: &[f32],
    g: &PoolGeom,
    (bias, relu): (Option<&[f32]>, bool),
    y: &mut [f32],
) {
    simd(
        #[inline(always)]
        move || {
            for (o, y) in y[..g.output_len()].chunks_exact_mut(g.c).enumerate() {
                window_max(x, g, (o / g.ow, o % g.ow), y);
                match bias {
                    Some(bias) => bias_row(y, bias, relu),
                    None if relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
                    None => {}
                }
            }
        },
    )
}

/// Channels whose window maxima [`window_max`] keeps in registers at a time.
const LANES: usize = 16;

/// The maximum of each channel over output `(oy, ox)`'s window of `x`, into `y`, as
/// [`maxpool_forward`] takes it (NaN wins and stays). [`LANES`] channels at a time are kept
/// in registers over the whole window and stored once: updating `y` in place compiled to a
/// masked store per comparison (`vmaskmovps`), which took 15% of the digits CNN's first
/// layer on an AVX2 EPYC.
#[inline(always)]
fn window_max(x: &[f32], g: &PoolGeom, (oy, ox): (usize, usize), y: &mut [f32]) {
    let at = |ky: usize, kx: usize| ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * g.c;
    let window = |first: usize, m: &mut [f32]| {
        m.fill(f32::NEG_INFINITY);
        let n = m.len();
        for ky in 0..g.k {
            for kx in 0..g.k {
                for (m, &v) in m.iter_mut().zip(&x[at(ky, kx) + first..][..n]) {
                    *m = if (v > *m) | v.is_nan() { v } else { *m };
                }
            }
        }
    };
    let mut chunks = y.chunks_exact_mut(LANES);
    for (i, y) in chunks.by_ref().enumerate() {
        let mut m = [0.0; LANES];
        window(i * LANES, &mut m);
        y.copy_from_slice(&m);
    }
    let rest = chunks.into_remainder();
    window(g.c - rest.len(), rest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_pools_to_the_training_maxima() {
        // 20 channels: one chunk of LANES and a remainder; 3x3 windows every 2 (overlapping).
        let g = PoolGeom {
            c: 20,
            h: 7,
            w: 7,
            k: 3,
            stride: 2,
            oh: 3,
            ow: 3,
        };
        let mut x: Vec<f32> = (0..g.input_len())
            .map(|i| ((i * 7919) % 101) as f32 - 50.0)
            .collect();
        // NaN wins its windows, in the chunk and in the remainder, first in a window or not.
        for at in [0, 3, 19, 5 * 20 + 17, 3 * 7 * 20 + 2] {
            x[at] = f32::NAN;
        }
        let (mut want, mut arg) = (vec![0.0; g.output_len()], vec![0; g.output_len()]);
        maxpool_forward(&x, 1, &g, &mut want, &mut arg);
        let bias: Vec<f32> = (0..g.c).map(|c| c as f32 - 10.0).collect();
        for (with_bias, relu) in [(false, false), (true, true)] {
            let mut y = vec![0.0; g.output_len()];
            let b = with_bias.then_some(&bias[..]);
            maxpool_bias_relu(&x, &g, (b, relu), &mut y);
            for (i, (y, w)) in y.iter().zip(&want).enumerate() {
                let w = if with_bias { w + bias[i % g.c] } else { *w };
                let w = if relu { w.max(0.0) } else { w };
                assert!(
                    y.to_bits() == w.to_bits() || (y.is_nan() && w.is_nan()),
                    "{i}"
                );
            }
        }
        assert!(want.iter().filter(|v| v.is_nan()).count() >= 5);
    }
}
