//! Winograd's minimal filtering F(2x2, r x r) (Lavin and Gray, 2016) for the stride-1 3x3 and
//! 5x5 convolutions of f32 inference: each 2x2 block of outputs ("tile") comes from an
//! `(r+1)x(r+1)` block of inputs through `α² = (r+1)²` products per pair of channels instead of
//! `4r²`: 36 against 100 for a 5x5 kernel, 16 against 36 for a 3x3.
//!
//! The input tiles and the weights are transformed (`V = Bᵀ d B`, `U = G g Gᵀ`), the `α²`
//! products become `α²` small matrix products over the channels (`M_ξ = V_ξ · U_ξ`, tiles by
//! input channels times input by output channels), and the outputs come back as `Aᵀ M A`. The
//! transforms use the points 0, ±1, ±2 (and ∞), whose matrices have small exact entries; in
//! f32 the outputs differ from the unfolded product's by about 1e-5 of the largest output
//! (the tests bound it). Training keeps the unfolded product, so these rounding differences
//! never reach a weight. Two differences beyond rounding: an infinite input can make NaN of
//! an output the unfolded product makes infinite (the transforms subtract it from itself),
//! and the transforms scale values by up to 16, so inputs within a factor of 16 of f32's
//! largest can overflow where the unfolded product would not. A NaN input reaches the same
//! outputs either way.

use super::conv::ConvGeom;
use super::ops::{bias_row, for_rows};
use super::pool::PoolGeom;

/// The output tile's side.
const M: usize = 2;

/// Output channels per column block of the products' kernel (the transformed weights are
/// packed in blocks of this many, padded with zeros).
const NB: usize = 16;

/// Tiles (rows of `V_ξ`) per kernel call.
const MR: usize = 6;
const _: () = assert!(
    MR == 6,
    "for_rows! below takes 1 to 5 rows and 6 for the rest"
);

/// Fewest input channels worth transforming for: with fewer, each product is too short to pay
/// for the transforms (a first layer on grey or RGB images stays on the direct product).
const MIN_CHANNELS: usize = 8;

/// `G` of F(2, 3) and F(2, 5) (`α x r`: 4 x 3 and 6 x 5), padded to 6 x 5: F(2, 3) on the
/// points 0, 1, -1 (and ∞), F(2, 5) on 0, 1, -1, 2, -2 (and ∞).
const G: [[[f32; 5]; 6]; 2] = [
    [
        [-1., 0., 0., 0., 0.],
        [0.5, 0.5, 0.5, 0., 0.],
        [0.5, -0.5, 0.5, 0., 0.],
        [0., 0., 1., 0., 0.],
        [0.; 5],
        [0.; 5],
    ],
    [
        [0.25, 0., 0., 0., 0.],
        [-1. / 6., -1. / 6., -1. / 6., -1. / 6., -1. / 6.],
        [-1. / 6., 1. / 6., -1. / 6., 1. / 6., -1. / 6.],
        [1. / 24., 1. / 12., 1. / 6., 1. / 3., 2. / 3.],
        [1. / 24., -1. / 12., 1. / 6., -1. / 3., 2. / 3.],
        [0., 0., 0., 0., 1.],
    ],
];

/// A convolution run through F(2x2, r x r).
#[derive(Debug, Clone, Copy)]
pub(super) struct Winograd {
    g: ConvGeom,
    /// The kernel's side.
    r: usize,
    /// Input channels padded to whole vectors (of [`NB`] values, every width's multiple).
    cp: usize,
    /// Output channels padded to whole column blocks.
    ocp: usize,
}

impl Winograd {
    /// The transform for `g`, when it is a stride-1 3x3 or 5x5 convolution with even output
    /// sides and enough input channels to be worth it.
    pub fn of(g: &ConvGeom) -> Option<Winograd> {
        let fits = g.kh == g.kw
            && matches!(g.kh, 3 | 5)
            && g.stride == 1
            && g.oh.is_multiple_of(M)
            && g.ow.is_multiple_of(M)
            && g.c >= MIN_CHANNELS;
        fits.then(|| Winograd {
            g: *g,
            r: g.kh,
            cp: g.c.div_ceil(NB) * NB,
            ocp: g.oc.div_ceil(NB) * NB,
        })
    }

    /// `α`: the side of an input tile.
    fn alpha(&self) -> usize {
        self.r + M - 1
    }

    fn xi(&self) -> usize {
        self.alpha() * self.alpha()
    }

    fn tiles_per_image(&self) -> usize {
        (self.g.oh / M) * (self.g.ow / M)
    }

    /// Values of the transformed weights ([`Winograd::weights`]).
    pub fn weights_len(&self) -> usize {
        self.xi() * self.g.c * self.ocp
    }

    /// Working values [`Winograd::product`] needs for `n` images.
    pub fn work_len(&self, n: usize) -> usize {
        let tiles = n * self.tiles_per_image();
        self.xi() * (tiles * (self.cp + self.ocp) + self.cp.max(self.ocp))
    }

    /// `U = G g Gᵀ` for every pair of channels, from weights stored `[oc, (ky, kx, c)]`, into
    /// `u` as `[ξ][column block][c][NB]`.
    pub fn weights(&self, w: &[f32], u: &mut [f32]) {
        let (g, a, r) = (&self.g, self.alpha(), self.r);
        let (c, blocks, gm) = (g.c, self.ocp / NB, &G[usize::from(r == 5)][..a]);
        let (mut half, mut row) = (vec![0f32; a * r * c], vec![0f32; a * c]);
        u[..self.weights_len()].fill(0.0);
        super::ops::simd(
            #[inline(always)]
            || {
                for o in 0..g.oc {
                    // half[i][kx][c] = Σ_ky G[i][ky] w[ky][kx][c], then
                    // row[j][c] = Σ_kx G[j][kx] half[i][kx][c] = U[i][j][c].
                    let w = &w[o * g.k()..][..g.k()];
                    combine(gm, r, |ky| &w[ky * r * c..][..r * c], &mut half);
                    for i in 0..a {
                        let half = &half[i * r * c..][..r * c];
                        combine(gm, r, |kx| &half[kx * c..][..c], &mut row);
                        for (j, row) in row.chunks_exact(c).enumerate() {
                            let at = ((i * a + j) * blocks + o / NB) * c * NB + o % NB;
                            for (ci, &value) in row.iter().enumerate() {
                                u[at + ci * NB] = value;
                            }
                        }
                    }
                }
            },
        );
    }

    /// The convolution of `n` channels-last images `x` into `y` ([`Sink`]), from weights
    /// transformed by [`Winograd::weights`]; `work` holds at least [`Winograd::work_len`]
    /// values.
    pub fn product(&self, x: &[f32], n: usize, u: &[f32], work: &mut [f32], y: Sink<'_>) {
        let tiles = n * self.tiles_per_image();
        let (v, rest) = work.split_at_mut(self.xi() * tiles * self.cp);
        let (m, tile) = rest.split_at_mut(self.xi() * tiles * self.ocp);
        let arch = pulp::Arch::new();
        let w = self;
        match self.r {
            3 => arch.dispatch(Inputs::<4> { w, x, n, tile, v }),
            _ => arch.dispatch(Inputs::<6> { w, x, n, tile, v }),
        }
        arch.dispatch(Products { w, u, v, m, tiles });
        match self.r {
            3 => arch.dispatch(Outputs::<4> { w, m, n, tile, y }),
            _ => arch.dispatch(Outputs::<6> { w, m, n, tile, y }),
        }
    }

    /// Whether a max pooling `p` after this convolution takes its windows from whole tiles,
    /// so that [`Sink::Pooled`] can pool each tile as it is computed.
    pub fn pools(&self, p: &PoolGeom) -> bool {
        let g = &self.g;
        (p.k, p.stride, p.c, p.oh * M, p.ow * M) == (M, M, g.oc, g.oh, g.ow)
    }

    /// Tile `t`'s corner in its image (`img`, the tile's top row, its left column).
    fn corner(&self, t: usize) -> (usize, usize, usize) {
        let (ty, tx) = (self.g.oh / M, self.g.ow / M);
        let (img, ti) = (t / (ty * tx), t % (ty * tx));
        (img, ti / tx * M, ti % tx * M)
    }

    /// The `α x α` inputs of tile `t` into `d` (`[k][l][cp]`), zeros outside the image and past
    /// the channels.
    #[inline(always)]
    fn gather(&self, x: &[f32], t: usize, a: usize, d: &mut [f32]) {
        let (g, cp) = (&self.g, self.cp);
        let (img, y0, x0) = self.corner(t);
        let image = &x[img * g.input_len()..][..g.input_len()];
        for (kl, d) in d.chunks_exact_mut(cp).take(a * a).enumerate() {
            let iy = (y0 + kl / a).wrapping_sub(g.pad);
            let ix = (x0 + kl % a).wrapping_sub(g.pad);
            if iy < g.h && ix < g.w {
                d[..g.c].copy_from_slice(&image[(iy * g.w + ix) * g.c..][..g.c]);
                d[g.c..].fill(0.0);
            } else {
                d.fill(0.0);
            }
        }
    }

    /// Where tile `t`'s inputs start in `x` and the distance between their rows, when they lie
    /// inside the image with no channels to pad, so the transform can read them there.
    fn window(&self, t: usize, a: usize) -> Option<(usize, usize)> {
        let (g, (img, y0, x0)) = (&self.g, self.corner(t));
        let inside = g.c == self.cp
            && y0 >= g.pad
            && x0 >= g.pad
            && y0 + a <= g.h + g.pad
            && x0 + a <= g.w + g.pad;
        let at = || img * g.input_len() + ((y0 - g.pad) * g.w + x0 - g.pad) * g.c;
        inside.then(|| (at(), g.w * g.c))
    }

    /// Where tile `t`'s outputs start in `y` and the distance between their rows, when the
    /// output channels need no padding, so the transform can write them there.
    fn outlet(&self, t: usize) -> Option<(usize, usize)> {
        let (g, (img, y0, x0)) = (&self.g, self.corner(t));
        let at = ((img * g.oh + y0) * g.ow + x0) * g.oc;
        (g.oc == self.ocp).then_some((at, g.ow * g.oc))
    }

    /// Tile `t`'s four outputs (`[i][j][ocp]` in `out`), pooled, with the bias and relu, into
    /// `y` (`[n, oh / 2, ow / 2, oc]`).
    #[inline(always)]
    fn pool(&self, out: &[f32], t: usize, (bias, relu): (&[f32], bool), y: &mut [f32]) {
        let (g, (img, y0, x0)) = (&self.g, self.corner(t));
        let at = ((img * g.oh / M + y0 / M) * g.ow / M + x0 / M) * g.oc;
        let y = &mut y[at..][..g.oc];
        y.fill(f32::NEG_INFINITY);
        for out in out.chunks_exact(self.ocp).take(M * M) {
            // As `pool::window_max` takes them: the first maximum, or NaN.
            for (m, &v) in y.iter_mut().zip(out) {
                *m = if (v > *m) | v.is_nan() { v } else { *m };
            }
        }
        bias_row(y, bias, relu);
    }

    /// Tile `t`'s four outputs (`[i][j][ocp]` in `out`) into `y`.
    #[inline(always)]
    fn scatter(&self, out: &[f32], t: usize, y: &mut [f32]) {
        let g = &self.g;
        let (img, y0, x0) = self.corner(t);
        for (ij, out) in out.chunks_exact(self.ocp).take(M * M).enumerate() {
            let (oy, ox) = (y0 + ij / M, x0 + ij % M);
            y[((img * g.oh + oy) * g.ow + ox) * g.oc..][..g.oc].copy_from_slice(&out[..g.oc]);
        }
    }
}

/// `Bᵀ` of F(2, 3) and F(2, 5) (`α` = 4, 6), padded to 6 columns.
const BT: [[[f32; 6]; 6]; 2] = [
    [
        [-1., 0., 1., 0., 0., 0.],
        [0., 1., 1., 0., 0., 0.],
        [0., -1., 1., 0., 0., 0.],
        [0., -1., 0., 1., 0., 0.],
        [0.; 6],
        [0.; 6],
    ],
    [
        [4., 0., -5., 0., 1., 0.],
        [0., -4., -4., 1., 1., 0.],
        [0., 4., -4., -1., 1., 0.],
        [0., -2., -1., 2., 1., 0.],
        [0., 2., -1., -2., 1., 0.],
        [0., 4., 0., -5., 0., 1.],
    ],
];

/// `Aᵀ` of F(2, 3) and F(2, 5), padded to 6 columns.
const AT: [[[f32; 6]; 2]; 2] = [
    [[1., 1., 1., 0., 0., 0.], [0., 1., -1., 1., 0., 0.]],
    [[1., 1., 1., 1., 1., 0.], [0., 1., -1., 2., -2., 1.]],
];

/// Which of [`BT`] and [`AT`] `α` = `A` uses: known when the kernels compile, so their
/// coefficients fold into the code (a multiply by 0 or 1 is not done at all).
const fn which<const A: usize>() -> usize {
    if A == 4 { 0 } else { 1 }
}

/// `Σ_k coef[k] x[k]` over the `A` vectors of `x`, each term a fused multiply-add.
#[inline(always)]
fn dot<S: pulp::Simd, const A: usize>(simd: S, coef: &[f32; 6], x: &[S::f32s; A]) -> S::f32s {
    let mut acc = simd.splat_f32s(0.0);
    for (&c, &x) in coef.iter().zip(x) {
        if c != 0.0 {
            acc = simd.mul_add_e_f32s(simd.splat_f32s(c), x, acc);
        }
    }
    acc
}

/// One vector of `s`, from its start.
#[inline(always)]
fn load<S: pulp::Simd>(s: &[f32]) -> S::f32s {
    S::as_simd_f32s(&s[..S::F32_LANES]).0[0]
}

/// `V = Bᵀ d B` for every tile of `n` images into `v` (`[tile][ξ][cp]`), `A` = `α`; `tile` is
/// room for one tile's inputs.
struct Inputs<'a, const A: usize> {
    w: &'a Winograd,
    x: &'a [f32],
    n: usize,
    tile: &'a mut [f32],
    v: &'a mut [f32],
}

impl<const A: usize> pulp::WithSimd for Inputs<'_, A> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Inputs { w, x, n, tile, v } = self;
        let (cp, tiles, bt) = (w.cp, n * w.tiles_per_image(), &BT[which::<A>()]);
        for t in 0..tiles {
            let (src, at, row) = match w.window(t, A) {
                Some((at, row)) => (x, at, row),
                None => {
                    w.gather(x, t, A, tile);
                    (&*tile, 0, A * cp)
                }
            };
            for cv in (0..cp).step_by(S::F32_LANES) {
                // half[i][l] = Σ_k Bᵀ[i][k] d[k][l], then V[i][j] = Σ_l Bᵀ[j][l] half[i][l].
                let mut half = [[simd.splat_f32s(0.0); A]; A];
                for l in 0..A {
                    let d: [S::f32s; A] =
                        std::array::from_fn(|k| load::<S>(&src[at + k * row + l * cp + cv..]));
                    for (i, half) in half.iter_mut().enumerate() {
                        half[l] = dot(simd, &bt[i], &d);
                    }
                }
                for (i, half) in half.iter().enumerate() {
                    for (j, coef) in bt.iter().take(A).enumerate() {
                        let at = (t * A * A + i * A + j) * cp + cv;
                        let (dst, _) = S::as_mut_simd_f32s(&mut v[at..][..S::F32_LANES]);
                        dst[0] = dot(simd, coef, half);
                    }
                }
            }
        }
    }
}

/// Where [`Winograd::product`] puts the convolution of its images.
pub(super) enum Sink<'a> {
    /// All of it, before its bias (`[n, oh, ow, oc]`).
    Full(&'a mut [f32]),
    /// Max pooled in 2x2 windows of stride 2 (see [`Winograd::pools`]), with its bias and
    /// relu when `.1` says so: (`[n, oh / 2, ow / 2, oc]`).
    Pooled(&'a [f32], bool, &'a mut [f32]),
}

/// `Y = Aᵀ M A` for every tile, from `m` (`[tile][ξ][ocp]`), into `y`, `A` = `α`; `tile` is
/// room for one tile's outputs.
struct Outputs<'a, const A: usize> {
    w: &'a Winograd,
    m: &'a [f32],
    n: usize,
    tile: &'a mut [f32],
    y: Sink<'a>,
}

impl<const A: usize> pulp::WithSimd for Outputs<'_, A> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Outputs {
            w,
            m,
            n,
            tile,
            mut y,
        } = self;
        let (ocp, tiles, a_t) = (w.ocp, n * w.tiles_per_image(), &AT[which::<A>()]);
        for t in 0..tiles {
            let outlet = match &y {
                Sink::Full(_) => w.outlet(t),
                Sink::Pooled(..) => None,
            };
            let (dst, at, row) = match (outlet, &mut y) {
                (Some((at, row)), Sink::Full(y)) => (&mut **y, at, row),
                _ => (&mut *tile, 0, M * ocp),
            };
            for ov in (0..ocp).step_by(S::F32_LANES) {
                // half[i][b] = Σ_a Aᵀ[i][a] M[a][b], then Y[i][j] = Σ_b Aᵀ[j][b] half[i][b].
                let mut half = [[simd.splat_f32s(0.0); A]; M];
                for b in 0..A {
                    let mv: [S::f32s; A] = std::array::from_fn(|a| {
                        load::<S>(&m[(t * A * A + a * A + b) * ocp + ov..])
                    });
                    for (i, half) in half.iter_mut().enumerate() {
                        half[b] = dot(simd, &a_t[i], &mv);
                    }
                }
                for (i, half) in half.iter().enumerate() {
                    for (j, coef) in a_t.iter().enumerate() {
                        let (out, _) = S::as_mut_simd_f32s(
                            &mut dst[at + i * row + j * ocp + ov..][..S::F32_LANES],
                        );
                        out[0] = dot(simd, coef, half);
                    }
                }
            }
            match &mut y {
                Sink::Full(y) if outlet.is_none() => w.scatter(tile, t, y),
                Sink::Pooled(bias, relu, y) => w.pool(tile, t, (bias, *relu), y),
                Sink::Full(_) => {}
            }
        }
    }
}

/// `out[i][..] = Σ_k mat[i][k] src(k)` for every row `i` of `mat` and its first `cols`
/// columns, each output as long as every `src(k)`.
#[inline(always)]
fn combine<'s>(mat: &[[f32; 5]], cols: usize, src: impl Fn(usize) -> &'s [f32], out: &mut [f32]) {
    let len = src(0).len();
    for (coefs, dst) in mat.iter().zip(out.chunks_exact_mut(len)) {
        dst.fill(0.0);
        for (k, &coef) in coefs[..cols].iter().enumerate() {
            axpy(coef, src(k), dst);
        }
    }
}

/// `y += a x`, skipping the zeros of the transforms' matrices.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    if a == 0.0 {
        return;
    }
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// The `α²` products `M_ξ = V_ξ · U_ξ`. `V` and `M` keep each tile's `α²` rows together
/// (`[tile][ξ][..]`), so that the transforms read and write one contiguous run per tile: with
/// the products' operands whole (`[ξ][tile][..]`), those 36 rows lay a multiple of 4 KiB apart
/// and fell on the same few sets of the L1 cache, which made the output transform take two
/// thirds of the products' time.
struct Products<'a> {
    w: &'a Winograd,
    u: &'a [f32],
    v: &'a [f32],
    m: &'a mut [f32],
    tiles: usize,
}

impl pulp::WithSimd for Products<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Products { w, u, v, m, tiles } = self;
        let (c, cp, ocp, xi) = (w.g.c, w.cp, w.ocp, w.xi());
        let blocks = ocp / NB;
        // Tiles outside, column blocks inside: a few tiles' rows of `V_ξ` stay in L1 while
        // every block of `U_ξ` passes them.
        for e in 0..xi {
            let mut t0 = 0;
            while t0 < tiles {
                let rows = (tiles - t0).min(MR);
                for block in 0..blocks {
                    let u = &u[(e * blocks + block) * c * NB..][..c * NB];
                    let at = t0 * xi + e;
                    let (v, m) = (&v[at * cp..], &mut m[at * ocp + block * NB..]);
                    for_rows!(rows, [1, 2, 3, 4, 5], 6, |R| {
                        tile::<S, R>(simd, u, (v, c, xi * cp), (m, xi * ocp))
                    });
                }
                t0 += rows;
            }
        }
    }
}

/// `R` rows of `V_ξ` (`c` values each, `vs` apart in `v`) times one column block of `U_ξ` (`u`,
/// `[c][NB]`), into `R` rows of `m` (`ms` apart).
#[inline(always)]
fn tile<S: pulp::Simd, const R: usize>(
    simd: S,
    u: &[f32],
    (v, c, vs): (&[f32], usize, usize),
    (m, ms): (&mut [f32], usize),
) {
    let nv = NB / S::F32_LANES;
    let mut acc = [[simd.splat_f32s(0.0); NB]; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &v[r * vs..][..c]);
    for (k, u) in u.chunks_exact(NB).take(c).enumerate() {
        let (uv, _) = S::as_simd_f32s(u);
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let xv = simd.splat_f32s(row[k]);
            for (a, &w) in acc[..nv].iter_mut().zip(uv) {
                *a = simd.mul_add_e_f32s(xv, w, *a);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let (dst, _) = S::as_mut_simd_f32s(&mut m[r * ms..][..NB]);
        dst.copy_from_slice(&acc[..nv]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct convolution, by definition, before its bias.
    fn direct(x: &[f32], n: usize, g: &ConvGeom, w: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; n * g.oh * g.ow * g.oc];
        for img in 0..n {
            for (oy, ox, o) in (0..g.oh)
                .flat_map(|a| (0..g.ow).flat_map(move |b| (0..g.oc).map(move |o| (a, b, o))))
            {
                let mut s = 0f64;
                for (ky, kx, ci) in (0..g.kh)
                    .flat_map(|a| (0..g.kw).flat_map(move |b| (0..g.c).map(move |c| (a, b, c))))
                {
                    let (iy, ix) = (
                        (oy + ky) as isize - g.pad as isize,
                        (ox + kx) as isize - g.pad as isize,
                    );
                    if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                        continue;
                    }
                    let xv = x[((img * g.h + iy as usize) * g.w + ix as usize) * g.c + ci];
                    s += f64::from(xv) * f64::from(w[o * g.k() + (ky * g.kw + kx) * g.c + ci]);
                }
                y[((img * g.oh + oy) * g.ow + ox) * g.oc + o] = s as f32;
            }
        }
        y
    }

    fn geom((c, h, oc, k, pad): (usize, usize, usize, usize, usize)) -> ConvGeom {
        let oh = h + 2 * pad - k + 1;
        ConvGeom {
            c,
            h,
            w: h,
            oc,
            kh: k,
            kw: k,
            stride: 1,
            pad,
            oh,
            ow: oh,
        }
    }

    #[test]
    fn products_match_the_direct_convolution() {
        let mut rng = crate::SplitMix64::new(7);
        let mut uniform = |n: usize, s: f32| -> Vec<f32> {
            let v = rng.uniform(n, (-0.5, 0.5));
            v.into_iter().map(|v| s * v).collect()
        };
        // (channels, side, output channels, kernel, pad): the CNN's second layer, the digits
        // program's, padded ones (whole vectors of channels, so inner tiles are read in place
        // and border tiles gathered; or not, so every tile is gathered), output channels off
        // the column blocks, odd tile counts.
        for shape in [
            (32, 12, 64, 5, 0),
            (16, 12, 32, 5, 0),
            (16, 8, 16, 3, 1),
            (32, 10, 32, 5, 2),
            (8, 10, 21, 5, 2),
            (9, 8, 5, 3, 1),
            (12, 8, 40, 3, 0),
        ] {
            let g = geom(shape);
            let wg = Winograd::of(&g).expect("a 3x3 or 5x5 stride-1 convolution fits");
            let n = 3;
            let x = uniform(n * g.h * g.w * g.c, 2.0);
            let w = uniform(g.oc * g.k(), 0.4);
            let mut u = vec![f32::NAN; wg.weights_len()];
            wg.weights(&w, &mut u);
            let mut work = vec![f32::NAN; wg.work_len(n)];
            let mut y = vec![f32::NAN; n * g.oh * g.ow * g.oc];
            wg.product(&x, n, &u, &mut work, Sink::Full(&mut y));
            let want = direct(&x, n, &g, &w);
            let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = y
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 2e-5 * largest,
                "{shape:?}: off by {worst} (largest output {largest})"
            );
            // Pooled as it goes, with a bias and relu: as pooling the whole product.
            let bias = uniform(g.oc, 1.0);
            let p = PoolGeom {
                c: g.oc,
                h: g.oh,
                w: g.ow,
                k: 2,
                stride: 2,
                oh: g.oh / 2,
                ow: g.ow / 2,
            };
            assert!(wg.pools(&p));
            let mut pooled = vec![f32::NAN; n * p.output_len()];
            let relu = g.c.is_multiple_of(2);
            wg.product(&x, n, &u, &mut work, Sink::Pooled(&bias, relu, &mut pooled));
            for (i, &got) in pooled.iter().enumerate() {
                let (img, oy, ox, o) = (
                    i / p.output_len(),
                    i / (p.ow * g.oc) % p.oh,
                    i / g.oc % p.ow,
                    i % g.oc,
                );
                let at = |dy: usize, dx: usize| {
                    want[((img * g.oh + 2 * oy + dy) * g.ow + 2 * ox + dx) * g.oc + o]
                };
                let max = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                let expect = if relu {
                    (max + bias[o]).max(0.0)
                } else {
                    max + bias[o]
                };
                assert!(
                    (got - expect).abs() <= 2e-5 * largest,
                    "{shape:?} pooled {i}: {got} against {expect}"
                );
            }
        }
    }

    #[test]
    fn only_stride_one_3x3_and_5x5_with_even_outputs_and_enough_channels() {
        assert!(Winograd::of(&geom((32, 12, 64, 5, 0))).is_some());
        assert!(
            Winograd::of(&geom((1, 28, 32, 5, 0))).is_none(),
            "one input channel"
        );
        assert!(
            Winograd::of(&geom((32, 13, 64, 5, 0))).is_none(),
            "odd output side"
        );
        assert!(
            Winograd::of(&geom((7, 12, 64, 5, 0))).is_none(),
            "7 input channels"
        );
        assert!(
            Winograd::of(&geom((32, 13, 64, 4, 0))).is_none(),
            "4x4 kernel (an even output side)"
        );
        let wide = ConvGeom {
            kw: 3,
            ow: 10,
            ..geom((32, 12, 64, 5, 0))
        };
        assert!(Winograd::of(&wide).is_none(), "5x3 kernel");
        let strided = ConvGeom {
            stride: 2,
            oh: 4,
            ow: 4,
            ..geom((32, 12, 64, 5, 0))
        };
        assert!(Winograd::of(&strided).is_none(), "stride 2");
    }
}
