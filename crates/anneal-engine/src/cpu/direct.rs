//! Direct convolution of images with few channels (a first layer on grey or RGB images) for
//! f32 inference: each output pixel's products summed straight from the (zero-padded) image,
//! without unfolding patches first.
//!
//! Unfolded, a 5x5 kernel on one channel makes every input value 25 patch values, written and
//! read back, and its product is a GEMM with 25 terms per output, too short for the GEMM's
//! packing to pay: on the CNN's first layer the unfolding took as long as the product. Here a
//! kernel holds [`MR`] neighbouring output pixels times [`NB`] output channels in registers
//! and, per kernel tap and input channel, broadcasts one input value per pixel against a row
//! of the weights, packed `[column block][tap][NB]`. Each output is summed in the order of the
//! unfolded product (`ky`, `kx`, then the channel), one fused multiply-add per term.

use super::conv::ConvGeom;
use super::ops::for_rows;

/// Output channels per column block of the weights.
const NB: usize = 16;

/// Output pixels per kernel call.
const MR: usize = 6;
const _: () = assert!(
    MR == 6,
    "for_rows! below takes 1 to 5 rows and 6 for the rest"
);

/// Most input channels a convolution may have to run here.
const MAX_CHANNELS: usize = 4;

/// A convolution run directly.
#[derive(Debug, Clone, Copy)]
pub(super) struct Direct {
    g: ConvGeom,
    /// Output channels padded to whole column blocks.
    ocp: usize,
    /// The padded image's sides.
    hp: usize,
    wp: usize,
}

impl Direct {
    /// The direct form of `g`, when its input has at most [`MAX_CHANNELS`] channels.
    pub fn of(g: &ConvGeom) -> Option<Direct> {
        (g.c <= MAX_CHANNELS).then(|| Direct {
            g: *g,
            ocp: g.oc.div_ceil(NB) * NB,
            hp: g.h + 2 * g.pad,
            wp: g.w + 2 * g.pad,
        })
    }

    /// Values of the packed weights ([`Direct::weights`]).
    pub fn weights_len(&self) -> usize {
        self.g.k() * self.ocp
    }

    /// Working values [`Direct::product`] needs for one image.
    pub fn work_len(&self) -> usize {
        self.hp * self.wp * self.g.c
    }

    /// Weights stored `[oc, (ky, kx, c)]` packed into `u` as `[column block][tap][NB]`, zeros
    /// past the output channels.
    pub fn weights(&self, w: &[f32], u: &mut [f32]) {
        let (k, oc) = (self.g.k(), self.g.oc);
        u[..self.weights_len()].fill(0.0);
        for o in 0..oc {
            let dst = &mut u[o / NB * k * NB + o % NB..];
            for (tap, &value) in w[o * k..][..k].iter().enumerate() {
                dst[tap * NB] = value;
            }
        }
    }

    /// The convolution of the `n` channels-last images `x` before its bias, into `y`
    /// (`[n, oh, ow, oc]`), from weights packed by [`Direct::weights`]; `work` holds at least
    /// [`Direct::work_len`] values.
    pub fn product(&self, x: &[f32], n: usize, u: &[f32], work: &mut [f32], y: &mut [f32]) {
        let g = &self.g;
        let (per_in, per_out) = (g.input_len(), g.rows() * g.oc);
        for (x, y) in x.chunks(per_in).zip(y.chunks_mut(per_out)).take(n) {
            let image = &mut work[..self.work_len()];
            self.pad(x, image);
            pulp::Arch::new().dispatch(Image {
                d: self,
                x: image,
                u,
                y,
            });
        }
    }

    /// One image into `xp`, inside a border of `pad` zeros.
    fn pad(&self, x: &[f32], xp: &mut [f32]) {
        let (g, c) = (&self.g, self.g.c);
        if g.pad == 0 {
            xp.copy_from_slice(&x[..xp.len()]);
            return;
        }
        xp.fill(0.0);
        for (row, src) in x.chunks_exact(g.w * c).take(g.h).enumerate() {
            let at = ((row + g.pad) * self.wp + g.pad) * c;
            xp[at..][..g.w * c].copy_from_slice(src);
        }
    }
}

/// One padded image's convolution.
struct Image<'a> {
    d: &'a Direct,
    x: &'a [f32],
    u: &'a [f32],
    y: &'a mut [f32],
}

impl pulp::WithSimd for Image<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Image { d, x, u, y } = self;
        let g = &d.g;
        for block in 0..d.ocp / NB {
            let u = &u[block * g.k() * NB..][..g.k() * NB];
            let cols = (g.oc - block * NB).min(NB);
            for oy in 0..g.oh {
                let mut ox = 0;
                while ox < g.ow {
                    let rows = (g.ow - ox).min(MR);
                    let at = Pixels {
                        oy,
                        ox,
                        block,
                        cols,
                    };
                    for_rows!(rows, [1, 2, 3, 4, 5], 6, |R| {
                        pixels::<S, R>(simd, d, (x, u), at, y)
                    });
                    ox += rows;
                }
            }
        }
    }
}

/// Which outputs one kernel call computes: pixels `ox..` of row `oy`, the `cols` output
/// channels of column block `block`.
#[derive(Clone, Copy)]
struct Pixels {
    oy: usize,
    ox: usize,
    block: usize,
    cols: usize,
}

/// `R` neighbouring output pixels times one column block of the weights.
#[inline(always)]
fn pixels<S: pulp::Simd, const R: usize>(
    simd: S,
    d: &Direct,
    (x, u): (&[f32], &[f32]),
    Pixels {
        oy,
        ox,
        block,
        cols,
    }: Pixels,
    y: &mut [f32],
) {
    let (g, c) = (&d.g, d.g.c);
    let nv = NB / S::F32_LANES;
    let mut acc = [[simd.splat_f32s(0.0); NB]; R];
    // A patch row is `kw * c` values in a row of the image, one run per pixel.
    let run = g.kw * c;
    for (ky, u) in u.chunks_exact(run * NB).take(g.kh).enumerate() {
        let line = &x[(oy * g.stride + ky) * d.wp * c..][..d.wp * c];
        let runs: [&[f32]; R] = std::array::from_fn(|r| &line[(ox + r) * g.stride * c..][..run]);
        for (j, w) in u.chunks_exact(NB).enumerate() {
            let (wv, _) = S::as_simd_f32s(w);
            for (acc, px) in acc.iter_mut().zip(&runs) {
                let xv = simd.splat_f32s(px[j]);
                for (a, &w) in acc[..nv].iter_mut().zip(wv) {
                    *a = simd.mul_add_e_f32s(xv, w, *a);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let at = (oy * g.ow + ox + r) * g.oc + block * NB;
        if cols == NB {
            let (dst, _) = S::as_mut_simd_f32s(&mut y[at..][..NB]);
            dst.copy_from_slice(&acc[..nv]);
        } else {
            let mut lanes = [0f32; NB];
            let (dst, _) = S::as_mut_simd_f32s(&mut lanes);
            dst.copy_from_slice(&acc[..nv]);
            y[at..][..cols].copy_from_slice(&lanes[..cols]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by definition, before its bias.
    fn by_definition(x: &[f32], n: usize, g: &ConvGeom, w: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; n * g.oh * g.ow * g.oc];
        for (i, y) in y.iter_mut().enumerate() {
            let (img, oy, ox, o) = (
                i / (g.rows() * g.oc),
                i / (g.ow * g.oc) % g.oh,
                i / g.oc % g.ow,
                i % g.oc,
            );
            let mut s = 0f64;
            for tap in 0..g.k() {
                let (ky, kx, ci) = (tap / (g.kw * g.c), tap / g.c % g.kw, tap % g.c);
                let iy = (oy * g.stride + ky).wrapping_sub(g.pad);
                let ix = (ox * g.stride + kx).wrapping_sub(g.pad);
                if iy < g.h && ix < g.w {
                    let xv = x[((img * g.h + iy) * g.w + ix) * g.c + ci];
                    s += f64::from(xv) * f64::from(w[o * g.k() + tap]);
                }
            }
            *y = s as f32;
        }
        y
    }

    #[test]
    fn products_match_the_definition() {
        let mut rng = crate::SplitMix64::new(11);
        let mut uniform = |n: usize| rng.uniform(n, (-0.5, 0.5));
        // (channels, side, output channels, kernel, stride, pad): the CNN's first layer, RGB,
        // padded, strided, output channels off the column blocks, rows off the pixel groups.
        for (c, h, oc, k, stride, pad) in [
            (1, 28, 32, 5, 1, 0),
            (3, 9, 16, 3, 1, 1),
            (2, 11, 20, 3, 2, 1),
            (4, 7, 5, 5, 1, 2),
        ] {
            let oh = (h + 2 * pad - k) / stride + 1;
            let g = ConvGeom {
                c,
                h,
                w: h,
                oc,
                kh: k,
                kw: k,
                stride,
                pad,
                oh,
                ow: oh,
            };
            let d = Direct::of(&g).expect("few channels");
            let n = 2;
            let (x, w) = (uniform(n * g.input_len()), uniform(oc * g.k()));
            let mut u = vec![f32::NAN; d.weights_len()];
            d.weights(&w, &mut u);
            let mut work = vec![f32::NAN; d.work_len()];
            let mut y = vec![f32::NAN; n * g.rows() * oc];
            d.product(&x, n, &u, &mut work, &mut y);
            let want = by_definition(&x, n, &g, &w);
            for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5, "{g:?}: output {i} is {a}, not {b}");
            }
        }
        assert!(Direct::of(&ConvGeom { c: 5, ..g_any() }).is_none());
    }

    fn g_any() -> ConvGeom {
        ConvGeom {
            c: 1,
            h: 8,
            w: 8,
            oc: 4,
            kh: 3,
            kw: 3,
            stride: 1,
            pad: 0,
            oh: 6,
            ow: 6,
        }
    }
}
