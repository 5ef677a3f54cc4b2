//! Dense layers for a handful of rows (latency-bound inference): the weights repacked into
//! panels of [`PANEL`] columns, each panel one contiguous run that a kernel streams once while
//! its outputs stay in registers.
//!
//! At batch 1 a dense layer is a matrix-vector product: every weight is read once and used
//! once, so its speed is the speed at which the weights stream in. The row-major `inp x out`
//! layout the GEMM reads makes a kernel jump one whole row ahead per input (2 KiB for 512
//! outputs); in panels the same weights are one sequential read per panel, which the hardware
//! prefetches. Measured on the 784x512 layer at batch 1 on one thread of this project's 2-core
//! AVX-512 machine: 18 us from panels against 30 us through the `gemm` crate.
//!
//! Every output column is summed by one kernel in input order, with fused multiply-adds where
//! the CPU has them (AVX2 or AVX-512: the order the GEMM uses for one row), so which thread
//! computes a panel never changes a value.

use std::ops::Range;

use super::ops::for_rows;

/// Output columns per panel.
pub(crate) const PANEL: usize = 64;

/// Rows one kernel call handles; larger batches go through the GEMM.
pub(crate) const MAX_ROWS: usize = 4;

/// A dense layer's `inp x out` weights as panels: panel `p` holds columns `p*PANEL ..
/// (p+1)*PANEL` for every input, `inp x PANEL` contiguous, the last one padded with zeros.
#[derive(Debug)]
pub(crate) struct Packed {
    inp: usize,
    out: usize,
    data: Vec<f32>,
}

impl Packed {
    /// Repack row-major `inp x out` weights.
    pub fn new(w: &[f32], inp: usize, out: usize) -> Packed {
        let panels = out.div_ceil(PANEL);
        let mut data = vec![0.0; panels * inp * PANEL];
        for (p, panel) in data.chunks_exact_mut(inp * PANEL).enumerate() {
            let cols = columns(p, out);
            for (row, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                dst[..cols.len()].copy_from_slice(&w[row * out..][cols.clone()]);
            }
        }
        Packed { inp, out, data }
    }

    pub fn inp(&self) -> usize {
        self.inp
    }

    pub fn out(&self) -> usize {
        self.out
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.out.div_ceil(PANEL)
    }

    /// The output columns panel `p` holds.
    pub fn columns(&self, p: usize) -> Range<usize> {
        columns(p, self.out)
    }

    /// `y[r, cols of panel p] = x[r, :] · W[:, cols of panel p]` for `rows` rows of `x`
    /// (`rows x inp`) and every panel `p` in `panels`; `y` is `rows x out`. Other columns of
    /// `y` are left as they are.
    ///
    /// # Panics
    /// When `rows` is 0 or above [`MAX_ROWS`], or a slice is shorter than its shape.
    pub fn product(&self, x: &[f32], rows: usize, panels: Range<usize>, y: &mut [f32]) {
        assert!((1..=MAX_ROWS).contains(&rows), "gemv: {rows} rows");
        assert!(x.len() >= rows * self.inp && y.len() >= rows * self.out);
        assert!(panels.end <= self.panels());
        let job = Product {
            w: self,
            x,
            panels,
            y,
        };
        for_rows!(rows, [1, 2, 3], 4, |R| {
            pulp::Arch::new().dispatch(Rows::<R>(job))
        });
    }
}

/// The columns of panel `p` of a layer with `out` outputs.
fn columns(p: usize, out: usize) -> Range<usize> {
    p * PANEL..((p + 1) * PANEL).min(out)
}

struct Product<'a> {
    w: &'a Packed,
    x: &'a [f32],
    panels: Range<usize>,
    y: &'a mut [f32],
}

/// The kernel for `R` rows, compiled for each vector width pulp dispatches to.
struct Rows<'a, const R: usize>(Product<'a>);

impl<const R: usize> pulp::WithSimd for Rows<'_, R> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Product { w, x, panels, y } = self.0;
        let (inp, out) = (w.inp, w.out);
        // Vectors per panel row: 4 with AVX-512, 8 with AVX2, 64 scalars without either.
        let nv = PANEL / S::F32_LANES;
        for p in panels {
            let panel = &w.data[p * inp * PANEL..][..inp * PANEL];
            let mut acc = [[simd.splat_f32s(0.0); PANEL]; R];
            for (i, row) in panel.chunks_exact(PANEL).enumerate() {
                let (wv, _) = S::as_simd_f32s(row);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let xv = simd.splat_f32s(x[r * inp + i]);
                    for (a, &wv) in acc[..nv].iter_mut().zip(wv) {
                        *a = simd.mul_add_e_f32s(xv, wv, *a);
                    }
                }
            }
            let cols = columns(p, out);
            for (r, acc) in acc.iter().enumerate() {
                let mut lanes = [0.0f32; PANEL];
                let (dst, _) = S::as_mut_simd_f32s(&mut lanes);
                dst.copy_from_slice(&acc[..nv]);
                y[r * out..][cols.clone()].copy_from_slice(&lanes[..cols.len()]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::gemm::{View, matmul};

    #[test]
    fn panels_give_the_gemm_s_values() {
        for (inp, out) in [(3, 10), (37, 64), (37, 70), (130, 129), (784, 512)] {
            let w: Vec<f32> = (0..inp * out)
                .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1e-3)
                .collect();
            let packed = Packed::new(&w, inp, out);
            for rows in 1..=MAX_ROWS {
                let x: Vec<f32> = (0..rows * inp)
                    .map(|i| ((i * 31 % 97) as f32 - 48.0) * 1e-2)
                    .collect();
                let mut want = vec![0.0; rows * out];
                matmul(
                    &mut want,
                    false,
                    View::rows(&x, rows, inp),
                    View::rows(&w, inp, out),
                );
                // Whole, then in two parts as two threads would run it.
                let mut whole = vec![f32::NAN; rows * out];
                packed.product(&x, rows, 0..packed.panels(), &mut whole);
                let mut parts = vec![f32::NAN; rows * out];
                let half = packed.panels() / 2;
                packed.product(&x, rows, half..packed.panels(), &mut parts);
                packed.product(&x, rows, 0..half, &mut parts);
                assert_eq!(whole, parts, "{inp}x{out}, {rows} rows: split differs");
                for (i, (a, b)) in whole.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                        "{inp}x{out}, {rows} rows, element {i}: {a} against the GEMM's {b}"
                    );
                }
            }
        }
    }
}
