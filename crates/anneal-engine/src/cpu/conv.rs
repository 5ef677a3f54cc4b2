//! `conv C KxK [stride S] [pad P]`: 2-D convolution of a channels-last image, in training as one
//! GEMM over unfolded patches (im2col), in inference by its [`Route`]; weights stored `[C, ky, kx, Cin]` here, `[C, Cin, ky, kx]` in the
//! package. `H' = (H + 2P - K) / S + 1`.

use anneal_spec::Layer;

use super::node::{Backward, Forward, grad_pair, seg};
use crate::EngineError;
use rayon::prelude::*;

use super::Mode;
use super::direct::Direct;
use super::gemm::{View, matmul, matmul_here};
use super::node::Pooled;
use super::ops::{add_rows, bias_rows, column_sums, simd};
use super::pool::{PoolGeom, maxpool_bias_relu};
use super::winograd::{Sink, Winograd};

/// A compiled convolution: its geometry and parameter offsets.
#[derive(Debug, Clone)]
pub(super) struct Conv {
    pub g: ConvGeom,
    pub w: usize,
    pub b: usize,
}

impl Conv {
    /// Compile `layer` (a `conv`) from `[c, h, w]` to `[_, oh, ow]`, its weight and bias at
    /// `offsets`.
    pub fn compile(
        i: usize,
        layer: Layer,
        [c, h, w]: [usize; 3],
        [_, oh, ow]: [usize; 3],
        offsets: &[usize],
    ) -> Result<Conv, EngineError> {
        let Layer::Conv {
            channels: oc,
            kernel: [kh, kw],
            stride,
            pad,
        } = layer
        else {
            return Err(EngineError::Input(format!(
                "layer {} is not a convolution",
                i + 1
            )));
        };
        let g = ConvGeom {
            c,
            h,
            w,
            oc,
            kh,
            kw,
            stride,
            pad,
            oh,
            ow,
        };
        let (w, b) = (offsets[0], offsets[1]);
        Ok(Conv { g, w, b })
    }

    /// The unfolded patches of `b` images, in `col` (grown at first use: inference's routes
    /// need far less of it, in blocks).
    fn grow_patches(&self, col: &mut Vec<f32>, b: usize) {
        let n = b * self.g.rows() * self.g.k();
        if col.len() < n {
            col.resize(n, 0.0);
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let g = &self.g;
        let (w, b) = (
            seg(f.params, self.w, g.oc * g.k()),
            seg(f.params, self.b, g.oc),
        );
        if matches!(f.mode, Mode::Eval(..)) {
            let weights = (g, Weights { w, kept: f.kept }, b);
            return blocked_product(f.x, f.b, weights, &mut f.scratch.col, f.y, f.pool);
        }
        self.grow_patches(&mut f.scratch.col, f.b);
        conv_product(f.x, f.b, g, w, &mut f.scratch.col, f.y);
        add_rows(f.y, f.b * g.rows(), b, false);
    }

    pub fn backward(&self, k: Backward<'_>) {
        let g = &self.g;
        let w = seg(k.params, self.w, g.oc * g.k());
        self.grow_patches(&mut k.scratch.col, k.b);
        if !k.weights {
            // Only the input gradient is wanted.
            if let Some(dx) = k.dx {
                conv_input_gradient(k.b, g, w, k.dy, &mut k.scratch.col, dx);
            }
            return;
        }
        let (gw, gb) = grad_pair(k.grads, self.w, g.oc * g.k(), self.b, g.oc);
        conv_backward(k.b, g, w, k.dy, &mut k.scratch.col, gw, gb, k.dx);
    }
}

/// A convolution node's weights in the form its inference [`Route`] reads them (kept beside
/// the plan by [`super::Transformed`]), when that route has one.
pub(super) fn route_weights(node: &super::node::Node, params: &[f32]) -> Option<Vec<f32>> {
    let super::node::Node::Conv(c) = node else {
        return None;
    };
    let route = Route::of(&c.g, usize::MAX, true);
    let mut u = vec![0.0; route.weights_len()];
    if u.is_empty() {
        return None;
    }
    route.weights(seg(params, c.w, c.g.oc * c.g.k()), &mut u);
    Some(u)
}

/// A convolution's weights as stored, and already in its route's form when inference keeps
/// them so.
#[derive(Clone, Copy)]
struct Weights<'a> {
    w: &'a [f32],
    kept: Option<&'a [f32]>,
}

// The kernels, on plain slices (channels-last images).

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

    pub fn input_len(&self) -> usize {
        self.h * self.w * self.c
    }

    pub fn rows(&self) -> usize {
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
/// `(col, pitch)`: patch rows start `pitch` values apart (`g.k()`, or more for int8's padded
/// rows, whose tails this leaves as they are, or spills onto). `z` is the value that stands
/// for 0 (padding): `0.0`, or an int8 input's zero point.
pub(crate) fn im2col<T: Copy + Send + Sync>(
    x: &[T],
    b: usize,
    g: &ConvGeom,
    (col, k): (&mut [T], usize),
    z: T,
) {
    let per_in = g.input_len();
    col[..b * g.rows() * k]
        .par_chunks_mut(g.rows() * k)
        .zip(x[..b * per_in].par_chunks(per_in))
        .for_each(|(col, x)| unfold(x, g, (col, k), z));
}

/// One image of [`im2col`].
fn unfold<T: Copy>(x: &[T], g: &ConvGeom, (col, k): (&mut [T], usize), z: T) {
    let run = g.kw * g.c;
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
                            col[d0..d0 + run].fill(z);
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
                                short_copy(&x[s0..], &mut col[d0..]);
                            } else {
                                run_copy(&x[s0..s0 + run], &mut col[d0..d0 + run]);
                            }
                        } else {
                            for kx in 0..g.kw {
                                let ix = ix0 + kx as isize;
                                let d = &mut col[d0 + kx * g.c..d0 + (kx + 1) * g.c];
                                if ix < 0 || ix >= g.w as isize {
                                    d.fill(z);
                                } else {
                                    d.copy_from_slice(&x[line + ix as usize * g.c..][..g.c]);
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Runs of up to this many values are unfolded as one vector move (see [`im2col`]).
const SHORT_RUN: usize = 16;

/// `src` onto `dst` (of the same length) in vector moves of [`SHORT_RUN`] values and one
/// copy of the rest.
#[inline(always)]
fn run_copy<T: Copy>(src: &[T], dst: &mut [T]) {
    let mut d = dst.chunks_exact_mut(SHORT_RUN);
    let mut s = src.chunks_exact(SHORT_RUN);
    for (d, s) in (&mut d).zip(&mut s) {
        short_copy(s, d);
    }
    d.into_remainder().copy_from_slice(s.remainder());
}

/// The first [`SHORT_RUN`] values of `src` onto `dst`'s: a copy of a length known when
/// compiling, which is one vector move rather than a call into `memmove`.
#[inline(always)]
fn short_copy<T: Copy>(src: &[T], dst: &mut [T]) {
    dst[..SHORT_RUN].copy_from_slice(&src[..SHORT_RUN]);
}

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

/// A convolution through its unfolded input, before its bias: `y[(n,oy,ox), oc] = col · Wᵀ`
/// with the weights stored `[oc, (ky, kx, c)]`.
fn conv_product(x: &[f32], b: usize, g: &ConvGeom, w: &[f32], col: &mut [f32], y: &mut [f32]) {
    let (rows, k) = (b * g.rows(), g.k());
    im2col(x, b, g, (col, g.k()), 0.0);
    matmul(
        &mut y[..rows * g.oc],
        false,
        View::rows(&col[..rows * k], rows, k),
        View::rows(w, g.oc, k).t(),
    );
}

/// Unfolded patches of about this many values are multiplied while they are in a core's
/// cache (half of its 2 MB L2 here).
const BLOCK_VALUES: usize = 1 << 18;

/// How inference multiplies a block of images: unfolded patches times the weights
/// ([`Route::Unfold`]), [`Winograd`]'s transforms, or a [`Direct`] product.
#[derive(Clone, Copy)]
enum Route {
    Unfold,
    Winograd(Winograd),
    Direct(Direct),
}

impl Route {
    /// The route for a batch of `b` through `g`: [`Direct`] for images of few channels,
    /// [`Winograd`] where it fits, for batches above [`super::MAX_SMALL_BATCH`] or with the
    /// weights `transformed` already (transforming them per call, about 50 us for the CNN's
    /// second layer, costs a small batch more than it saves), otherwise unfolded.
    fn of(g: &ConvGeom, b: usize, transformed: bool) -> Route {
        if let Some(d) = Direct::of(g) {
            return Route::Direct(d);
        }
        match Winograd::of(g) {
            Some(wg) if transformed || b > super::MAX_SMALL_BATCH => Route::Winograd(wg),
            _ => Route::Unfold,
        }
    }

    /// Values of the weights in this route's form (none for unfolding, which reads them as
    /// they are).
    fn weights_len(&self) -> usize {
        match self {
            Route::Unfold => 0,
            Route::Winograd(wg) => wg.weights_len(),
            Route::Direct(d) => d.weights_len(),
        }
    }

    /// The weights `w` in this route's form, into `u`.
    fn weights(&self, w: &[f32], u: &mut [f32]) {
        match self {
            Route::Unfold => {}
            Route::Winograd(wg) => wg.weights(w, u),
            Route::Direct(d) => d.weights(w, u),
        }
    }

    /// Images per block, at most `most`: as many as keep a block's working values in a
    /// core's cache; one for [`Direct`], which works an image at a time and whose product
    /// (larger than its input) is pooled while it is in cache.
    fn images_per_block(&self, g: &ConvGeom, most: usize) -> usize {
        match self {
            Route::Direct(_) => 1,
            _ => (BLOCK_VALUES / self.work_len(g, 1)).clamp(1, most),
        }
    }

    /// Working values for a block of `n` images.
    fn work_len(&self, g: &ConvGeom, n: usize) -> usize {
        match self {
            Route::Unfold => n * g.rows() * g.k(),
            Route::Winograd(wg) => wg.work_len(n),
            Route::Direct(d) => d.work_len(),
        }
    }

    /// The product of the `n` images `x` (before the bias) into `y`, with the weights `w` in
    /// this route's form.
    fn block(
        &self,
        g: &ConvGeom,
        (x, n): (&[f32], usize),
        (w, work): (&[f32], &mut [f32]),
        y: &mut [f32],
    ) {
        match self {
            Route::Unfold => {
                let per_col = g.rows() * g.k();
                for (col, x) in work.chunks_mut(per_col).zip(x.chunks(g.input_len())) {
                    unfold(x, g, (col, g.k()), 0.0);
                }
                let a = View::rows(&work[..n * per_col], n * g.rows(), g.k());
                matmul_here(y, false, a, View::rows(w, g.oc, g.k()).t());
            }
            Route::Winograd(wg) => wg.product(x, n, w, work, Sink::Full(y)),
            Route::Direct(d) => d.product(x, n, w, work, y),
        }
    }
}

/// [`conv_product`] and its bias for inference, which keeps no patches for a backward pass:
/// the images in one group per thread, each group multiplied (by its [`Route`]) a few images
/// at a time in its own part of `work`, and given its bias (or pooled, when `pool` says so) at
/// once, on its thread, while the products are in that core's cache. Unfolding everything
/// first wrote 52 MB for the digits CNN's second convolution at batch 256, and the product
/// read it back.
fn blocked_product(
    x: &[f32],
    b: usize,
    (g, w, bias): (&ConvGeom, Weights<'_>, &[f32]),
    work: &mut Vec<f32>,
    y: &mut [f32],
    pool: Option<Pooled<'_>>,
) {
    if b == 0 {
        return;
    }
    let route = Route::of(g, b, w.kept.is_some());
    let group = b.div_ceil(rayon::current_num_threads().clamp(1, b));
    let block = route.images_per_block(g, group);
    let (w, work) = prepare((route, g), w, work, (b.div_ceil(group), block));
    let (per_in, per_out) = (g.input_len(), g.rows() * g.oc);
    let per_pooled = pool.as_ref().map_or(0, |p| p.g.output_len());
    let epilogue = pool.as_ref().map(|p| (p.g, p.relu));
    let pools: Vec<Option<&mut [f32]>> = match pool.map(|p| p.out) {
        Some(out) => out.chunks_mut(group * per_pooled).map(Some).collect(),
        None => (0..b.div_ceil(group)).map(|_| None).collect(),
    };
    y[..b * per_out]
        .par_chunks_mut(group * per_out)
        .zip(x[..b * per_in].par_chunks(group * per_in))
        .zip(work.par_chunks_mut(route.work_len(g, block)))
        .zip(pools)
        .for_each(|(((y, x), work), mut out)| {
            for (j, (y, x)) in y
                .chunks_mut(block * per_out)
                .zip(x.chunks(block * per_in))
                .enumerate()
            {
                let n = x.len() / per_in;
                let out = out.as_deref_mut().map(|o| &mut o[j * block * per_pooled..]);
                match (route, epilogue, out) {
                    (Route::Winograd(wg), Some((p, relu)), Some(out)) if wg.pools(p) => {
                        wg.product(x, n, w, work, Sink::Pooled(bias, relu, out));
                    }
                    (_, epilogue, out) => {
                        route.block(g, (x, n), (w, work), y);
                        finish(y, per_out, bias, epilogue, out);
                    }
                }
            }
        });
}

/// `work` grown to hold the weights in `route`'s form (put at its start, unless `w` has them
/// already) and a block of `block` images for each of `groups` groups; those weights (`w` as
/// stored when unfolding) and the rest.
fn prepare<'w>(
    (route, g): (Route, &ConvGeom),
    w: Weights<'w>,
    work: &'w mut Vec<f32>,
    (groups, block): (usize, usize),
) -> (&'w [f32], &'w mut [f32]) {
    let kept = match route {
        Route::Unfold => None,
        _ => w.kept,
    };
    let len = kept.map_or(route.weights_len(), |_| 0);
    let need = len + route.work_len(g, block) * groups;
    if work.len() < need {
        work.resize(need, 0.0);
    }
    let (u, rest) = work.split_at_mut(len);
    match (route, kept) {
        (Route::Unfold, _) => (w.w, rest),
        (_, Some(kept)) => (kept, rest),
        _ => {
            route.weights(w.w, u);
            (u, rest)
        }
    }
}

/// A block of products `y` (`per_out` values per image) given its bias, or pooled with it
/// into `out`.
fn finish(
    y: &mut [f32],
    per_out: usize,
    bias: &[f32],
    pool: Option<(&PoolGeom, bool)>,
    out: Option<&mut [f32]>,
) {
    match (pool, out) {
        (Some((g, relu)), Some(out)) => {
            let per = g.output_len();
            for (y, out) in y.chunks(per_out).zip(out.chunks_mut(per)) {
                maxpool_bias_relu(y, g, (Some(bias), relu), out);
            }
        }
        _ => bias_rows(y, bias, false),
    }
}

/// Gradients of [`conv_product`] plus a bias. `col` must still hold the forward pass's
/// unfolded input; it is overwritten with the unfolded input gradient when `dx` is asked for.
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
    weight_gradient(gw, dy, g.oc, &col[..rows * k], rows, k);
    column_sums(dy, rows, g.oc, gb);
    if let Some(dx) = dx {
        conv_input_gradient(b, g, w, dy, col, dx);
    }
}

/// The input gradient of [`conv_product`] through the unfolded patches (overwriting `col`).
fn conv_input_gradient(
    b: usize,
    g: &ConvGeom,
    w: &[f32],
    dy: &[f32],
    col: &mut [f32],
    dx: &mut [f32],
) {
    let (rows, k) = (b * g.rows(), g.k());
    let dyv = View::rows(&dy[..rows * g.oc], rows, g.oc);
    matmul(&mut col[..rows * k], false, dyv, View::rows(w, g.oc, k));
    col2im(col, b, g, dx);
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

#[cfg(test)]
mod tests {
    use super::super::node::Node;
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
            im2col(&x, b, &g, (&mut col, g.k()), 0.0);
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

    /// Inference from weights kept in their route's form gives what it gives from weights put
    /// in that form per call (the same values where the route is the same; within rounding
    /// where small batches without kept weights unfold instead of taking Winograd's route).
    #[test]
    fn kept_weights_give_what_per_call_weights_give() {
        let mut rng = crate::SplitMix64::new(3);
        let mut uniform = |n: usize| rng.uniform(n, (-0.5, 0.5));
        // (channels, side, output channels): Winograd's route (5x5, 16 channels in) and the
        // direct one (one channel in).
        for (c, side, oc) in [(16, 12, 20), (1, 28, 8)] {
            let (h, w, k) = (side, side, 5);
            let (oh, ow) = (side - k + 1, side - k + 1);
            let g = ConvGeom {
                c,
                h,
                w,
                oc,
                kh: k,
                kw: k,
                stride: 1,
                pad: 0,
                oh,
                ow,
            };
            let params = uniform(oc * g.k() + oc);
            let node = Node::Conv(Conv {
                g,
                w: 0,
                b: oc * g.k(),
            });
            let kept = route_weights(&node, &params).expect("a route with its own weights");
            let (w, bias) = params.split_at(oc * g.k());
            for b in [1, 3, 8] {
                let x = uniform(b * g.input_len());
                let run = |kept: Option<&[f32]>| {
                    let mut y = vec![0f32; b * g.rows() * oc];
                    let weights = (&g, Weights { w, kept }, bias);
                    blocked_product(&x, b, weights, &mut Vec::new(), &mut y, None);
                    y
                };
                let (with, without) = (run(Some(&kept)), run(None));
                let same_route = b > super::super::MAX_SMALL_BATCH || c == 1;
                let largest = without.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (a, e)) in with.iter().zip(&without).enumerate() {
                    let close = match same_route {
                        true => a == e,
                        false => (a - e).abs() <= 2e-5 * largest,
                    };
                    assert!(
                        close,
                        "{c} channels, batch {b}, output {i}: {a} against {e}"
                    );
                }
            }
        }
    }
}
