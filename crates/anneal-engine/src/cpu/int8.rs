//! int8 inference: a plan's `dense` and `conv` layers as integer products (uint8 inputs, int8
//! weights per output channel, i32 sums), the rest of the plan unchanged in f32. The scheme is
//! [`anneal_spec::quant`]'s; this file holds the layers' integer form ([`Int8`]), their forward
//! pass, the product kernel and the calibration of the input ranges.
//!
//! A quantized layer's forward pass: quantize its input to uint8 (an image first, then its
//! patches unfolded with the zero point as padding), take the integer product with the int8
//! weights, then `y = (sum - zero_point * Σw) * input_scale * weight_scale + bias` (and the
//! relu, when one follows a dense layer). The product is exact, so results depend on neither
//! the thread count nor the CPU's vector width.

use anneal_spec::{QuantLayer, Quantization};
use rayon::prelude::*;

use super::conv::{ConvGeom, im2col};
use super::node::{Node, Scratch, seg};
use super::ops::simd;
use super::{Mode, Plan, Workspace};
use crate::EngineError;

/// A plan's quantized layers, beside it (`layers[i]`: node `i`'s, when it is one).
#[derive(Debug)]
pub(crate) struct Int8 {
    layers: Vec<Option<QNode>>,
}

/// One quantized layer.
#[derive(Debug)]
pub(super) struct QNode {
    /// The product's shape: `inp` values per row in, `out` per row out.
    inp: usize,
    out: usize,
    /// A convolution's geometry (its rows are unfolded patches).
    conv: Option<ConvGeom>,
    /// `out x inp` int8 weights, each output's row contiguous.
    w: Vec<i8>,
    /// Per output: `zero_point * Σ w`, taken off each sum.
    offset: Vec<i32>,
    /// Per output: `input_scale * weight_scale`.
    scale: Vec<f32>,
    /// Where the layer's f32 bias is in the plan's parameters.
    bias: usize,
    input: QuantLayer,
}

impl Int8 {
    /// The integer form of `plan`'s layers that `q` quantizes, from the plan's (f32, engine
    /// layout) `params`.
    pub fn new(plan: &Plan, params: &[f32], q: &Quantization) -> Result<Int8, EngineError> {
        let mut layers: Vec<Option<QNode>> = plan.nodes.iter().map(|_| None).collect();
        for l in &q.layers {
            let bad = |why: String| {
                EngineError::Weights(format!("quantization of layer {}: {why}", l.layer + 1))
            };
            let qnode = match plan.nodes.get(l.layer) {
                Some(Node::Dense(d)) => l.check(d.out).map(|_| QNode::dense(d, params, l)),
                Some(Node::Conv(c)) => l.check(c.g.oc).map(|_| QNode::conv(c, params, l)),
                _ => Err("it is not a dense or conv layer".into()),
            };
            layers[l.layer] = Some(qnode.map_err(bad)?);
        }
        Ok(Int8 { layers })
    }

    /// Node `i`'s integer form, when it has one.
    pub(super) fn layer(&self, i: usize) -> Option<&QNode> {
        self.layers.get(i).and_then(Option::as_ref)
    }
}

impl QNode {
    fn dense(d: &super::dense::Dense, params: &[f32], l: &QuantLayer) -> QNode {
        // The plan keeps dense weights `[inp, out]`; rows here are outputs.
        let w = seg(params, d.w, d.inp * d.out);
        let at = |o: usize, i: usize| w[i * d.out + o];
        QNode::from_rows(d.inp, d.out, None, at, d.b, l)
    }

    fn conv(c: &super::conv::Conv, params: &[f32], l: &QuantLayer) -> QNode {
        // Convolution weights are `[oc, kh, kw, c]` in the plan: already one row per output.
        let (k, oc) = (c.g.k(), c.g.oc);
        let w = seg(params, c.w, oc * k);
        let at = |o: usize, i: usize| w[o * k + i];
        QNode::from_rows(k, oc, Some(c.g), at, c.b, l)
    }

    /// Quantize the `out x inp` weights `at(o, i)` at `l`'s scales.
    fn from_rows(
        inp: usize,
        out: usize,
        conv: Option<ConvGeom>,
        at: impl Fn(usize, usize) -> f32,
        bias: usize,
        l: &QuantLayer,
    ) -> QNode {
        let max = anneal_spec::quant::WEIGHT_MAX;
        let q = |o: usize, i: usize| (at(o, i) / l.weight_scales[o]).round().clamp(-max, max);
        let w: Vec<i8> = (0..out)
            .flat_map(|o| (0..inp).map(move |i| (o, i)))
            .map(|(o, i)| q(o, i) as i8)
            .collect();
        let zp = i32::from(l.input_zero_point);
        let offset = w
            .chunks_exact(inp.max(1))
            .map(|row| zp * row.iter().map(|&v| i32::from(v)).sum::<i32>())
            .collect();
        let scale = l.weight_scales.iter().map(|s| s * l.input_scale).collect();
        QNode {
            inp,
            out,
            conv,
            w,
            offset,
            scale,
            bias,
            input: l.clone(),
        }
    }

    /// `y` (`b` examples) from `x`, as the f32 layer would compute it up to rounding.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        b: usize,
        relu: bool,
        s: &mut Scratch,
        y: &mut [f32],
    ) {
        let rows = self.quantize(x, b, s);
        let a = match self.conv {
            Some(_) => &s.qcol[..rows * self.inp],
            None => &s.qx[..rows * self.inp],
        };
        grow(&mut s.acc, rows * self.out);
        product(a, rows, &self.w, self.inp, self.out, &mut s.acc);
        let bias = seg(params, self.bias, self.out);
        self.dequantize(
            &s.acc[..rows * self.out],
            bias,
            relu,
            &mut y[..rows * self.out],
        );
    }

    /// The product's uint8 rows (in `s.qx`, or unfolded into `s.qcol`); returns how many.
    fn quantize(&self, x: &[f32], b: usize, s: &mut Scratch) -> usize {
        let n = x.len();
        grow(&mut s.qx, n);
        let q = &self.input;
        simd(
            #[inline(always)]
            || {
                for (d, v) in s.qx[..n].iter_mut().zip(x) {
                    *d = q.quantize_input(*v);
                }
            },
        );
        match &self.conv {
            Some(g) => {
                let rows = b * g.oh * g.ow;
                grow(&mut s.qcol, rows * self.inp);
                im2col(&s.qx[..n], b, g, &mut s.qcol, q.input_zero_point);
                rows
            }
            None => b,
        }
    }

    /// `y = (acc - offset) * scale + bias`, then relu when asked.
    fn dequantize(&self, acc: &[i32], bias: &[f32], relu: bool, y: &mut [f32]) {
        let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
        simd(
            #[inline(always)]
            || {
                for (y, acc) in y.chunks_exact_mut(self.out).zip(acc.chunks_exact(self.out)) {
                    for j in 0..self.out {
                        let v = (acc[j] - self.offset[j]) as f32 * self.scale[j] + bias[j];
                        y[j] = v.max(floor);
                    }
                }
            },
        );
    }
}

/// Make `v` hold at least `n` values (buffers grow once, to the largest batch).
fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

/// Rows of the left operand per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// `acc[m x n] = a[m x k] * wᵀ` for uint8 `a` and int8 `w` (`n x k`), sums in i32.
pub(crate) fn product(a: &[u8], m: usize, w: &[i8], k: usize, n: usize, acc: &mut [i32]) {
    let block = |(rows, acc): (&[u8], &mut [i32])| {
        simd(
            #[inline(always)]
            || rows_times(rows, w, k, n, acc),
        )
    };
    let (a, acc) = (&a[..m * k], &mut acc[..m * n]);
    if m * n * k < PARALLEL_MIN_MACS || m <= ROWS_PER_TASK {
        block((a, acc));
    } else {
        let tasks = a.par_chunks(ROWS_PER_TASK * k);
        tasks
            .zip(acc.par_chunks_mut(ROWS_PER_TASK * n))
            .for_each(block);
    }
}

/// Tile sizes: rows of `a` and of `w` whose dot products one pass over `k` computes together,
/// each value loaded once for several products.
const MR: usize = 4;
const NR: usize = 4;

/// [`product`] for the rows in `a`, tile by tile.
#[inline(always)]
fn rows_times(a: &[u8], w: &[i8], k: usize, n: usize, acc: &mut [i32]) {
    let m = a.len() / k.max(1);
    for i in (0..m).step_by(MR) {
        let mr = (m - i).min(MR);
        for j in (0..n).step_by(NR) {
            let nr = (n - j).min(NR);
            let (rows, cols) = (&a[i * k..(i + mr) * k], &w[j * k..(j + nr) * k]);
            let out = &mut acc[i * n + j..];
            if (mr, nr) == (MR, NR) {
                let sums = tile::<MR, NR>(rows, cols, k);
                for (r, s) in sums.iter().enumerate() {
                    out[r * n..r * n + NR].copy_from_slice(s);
                }
                continue;
            }
            for (r, row) in rows.chunks_exact(k).enumerate() {
                for (c, col) in cols.chunks_exact(k).enumerate() {
                    out[r * n + c] = tile::<1, 1>(row, col, k)[0][0];
                }
            }
        }
    }
}

/// The `R x C` dot products of `R` rows of `a` and `C` rows of `w` (each `k` long), in i32:
/// one pass over `k` (which LLVM turns into `pmaddwd` or `vpdpbusd` on vectors).
#[inline(always)]
fn tile<const R: usize, const C: usize>(a: &[u8], w: &[i8], k: usize) -> [[i32; C]; R] {
    let a: [&[u8]; R] = std::array::from_fn(|r| &a[r * k..(r + 1) * k]);
    let w: [&[i8]; C] = std::array::from_fn(|c| &w[c * k..(c + 1) * k]);
    let mut sums = [[0i32; C]; R];
    for t in 0..k {
        for r in 0..R {
            let x = i32::from(a[r][t]);
            for c in 0..C {
                sums[r][c] += x * i32::from(w[c][t]);
            }
        }
    }
    sums
}

impl Plan {
    /// The smallest and largest input of every `dense` and `conv` node over the examples `x`
    /// (`None` for other nodes), as the f32 model computes them in inference.
    pub fn input_ranges(
        &self,
        params: &[f32],
        stats: &[f32],
        x: &[f32],
    ) -> Vec<Option<(f32, f32)>> {
        const BATCH: usize = 256;
        let per = self.sizes[0];
        let mut ws: Workspace = self.workspace(BATCH);
        let mut ranges: Vec<Option<(f32, f32)>> = vec![None; self.nodes.len()];
        for chunk in x.chunks(BATCH * per) {
            let b = chunk.len() / per;
            self.forward(params, &mut ws, chunk, b, Mode::Frozen(stats));
            for (i, node) in self.nodes.iter().enumerate() {
                if matches!(node, Node::Dense(_) | Node::Conv(_)) {
                    let seen = min_max(&ws.acts[i][..b * self.sizes[i]]);
                    ranges[i] = Some(widen(ranges[i], seen));
                }
            }
        }
        ranges
    }
}

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn widen(a: Option<(f32, f32)>, (lo, hi): (f32, f32)) -> (f32, f32) {
    a.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integer_product_is_exact_for_every_tile_shape() {
        // Shapes that leave remainders in every direction, and sums near the i32 extremes of
        // one step (255 * 127 * 2).
        for &(m, n, k) in &[(1, 1, 1), (5, 7, 33), (9, 4, 16), (4, 9, 50), (33, 10, 784)] {
            let a: Vec<u8> = (0..m * k).map(|i| (i * 37 % 256) as u8).collect();
            let w: Vec<i8> = (0..n * k)
                .map(|i| ((i * 53 % 255) as i32 - 127) as i8)
                .collect();
            let mut acc = vec![0; m * n];
            product(&a, m, &w, k, n, &mut acc);
            for i in 0..m {
                for j in 0..n {
                    let want: i32 = (0..k)
                        .map(|t| i32::from(a[i * k + t]) * i32::from(w[j * k + t]))
                        .sum();
                    assert_eq!(acc[i * n + j], want, "{m}x{n}x{k} at ({i}, {j})");
                }
            }
        }
    }
}
