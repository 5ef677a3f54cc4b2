//! int8 inference: a plan's `dense` and `conv` layers as integer products (uint8 inputs, int8
//! weights per output channel, i32 sums), the rest of the plan unchanged in f32. The scheme is
//! [`anneal_spec::quant`]'s; this file holds the layers' integer form ([`Int8`]), their forward
//! pass, the product kernel and the calibration of the input ranges.
//!
//! A quantized layer's forward pass: quantize its input to uint8 (an image first, then its
//! patches unfolded with the zero point as padding), take the integer product of the inputs
//! with the int8 weights ([`qgemm`], rows padded to a multiple of [`STEP`]), then
//! `y = (sum - zero_point * Σ w) * input_scale * weight_scale + bias` (and the relu, when one
//! follows) as each tile of sums leaves the kernel. The product is exact, so results depend on
//! neither the thread count nor the CPU's instructions.

use anneal_spec::{QuantLayer, Quantization};
use rayon::prelude::*;

use super::conv::{ConvGeom, im2col};
use super::fold::Folded;
use super::node::{Node, Pooled, Scratch, seg};
use super::ops::simd;
use super::pool::maxpool_bias_relu;
use super::qgemm::{self, Isa, STEP};
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
    /// `inp` rounded up to a multiple of [`STEP`]: the length of the product's rows.
    kp: usize,
    /// The `out x kp` int8 weights (zero-padded), packed for the product.
    w: qgemm::Packed,
    /// Per output: `zero_point * Σ w`, taken off the sums (of inputs with their zero point).
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
        Int8::placed(plan, params, q, None)
    }

    /// The integer form of `q`'s layers of `plan` (as written, with its `params`) in
    /// `folded`, where batch norms went into some: the same integer weights, at their layers'
    /// places there, a folded batch norm's scale in their dequantization and its shift in the
    /// folded bias. (Quantizing the folded weights instead would divide by a zero gamma.)
    pub fn folded(
        plan: &Plan,
        params: &[f32],
        folded: &Folded,
        q: &Quantization,
    ) -> Result<Int8, EngineError> {
        Int8::placed(plan, params, q, Some(folded))
    }

    /// `q`'s layers of `plan`, each at its place in `folded` (when given) with its
    /// dequantization scaled there per output.
    fn placed(
        plan: &Plan,
        params: &[f32],
        q: &Quantization,
        folded: Option<&Folded>,
    ) -> Result<Int8, EngineError> {
        let n = folded.map_or(plan.nodes.len(), |f| f.plan.nodes.len());
        let place = |i: usize| folded.map_or((i, None), |f| f.place(i));
        let mut layers: Vec<Option<QNode>> = (0..n).map(|_| None).collect();
        for l in &q.layers {
            let bad = |why: String| {
                EngineError::Weights(format!("quantization of layer {}: {why}", l.layer + 1))
            };
            let mut qnode = match plan.nodes.get(l.layer) {
                Some(Node::Dense(d)) => l.check(d.out).map(|_| QNode::dense(d, params, l)),
                Some(Node::Conv(c)) => l.check(c.g.oc).map(|_| QNode::conv(c, params, l)),
                _ => Err("it is not a dense or conv layer".into()),
            }
            .map_err(bad)?;
            let (at, scale) = place(l.layer);
            for (q, s) in qnode.scale.iter_mut().zip(scale.into_iter().flatten()) {
                *q *= s;
            }
            layers[at] = Some(qnode);
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
        QNode::from_rows(d.inp, d.out, None, at, (d.b, l), Isa::best())
    }

    fn conv(c: &super::conv::Conv, params: &[f32], l: &QuantLayer) -> QNode {
        // Convolution weights are `[oc, kh, kw, c]` in the plan: already one row per output.
        let (k, oc) = (c.g.k(), c.g.oc);
        let w = seg(params, c.w, oc * k);
        let at = |o: usize, i: usize| w[o * k + i];
        QNode::from_rows(k, oc, Some(c.g), at, (c.b, l), Isa::best())
    }

    /// Quantize the `out x inp` weights `at(o, i)` at `l`'s scales, for products on `isa`.
    fn from_rows(
        inp: usize,
        out: usize,
        conv: Option<ConvGeom>,
        at: impl Fn(usize, usize) -> f32,
        (bias, l): (usize, &QuantLayer),
        isa: Isa,
    ) -> QNode {
        let max = anneal_spec::quant::WEIGHT_MAX;
        let q = |o: usize, i: usize| {
            (at(o, i) / l.weight_scales[o])
                .round_ties_even()
                .clamp(-max, max)
        };
        let kp = inp.div_ceil(STEP) * STEP;
        let w: Vec<i8> = (0..out)
            .flat_map(|o| (0..kp).map(move |i| (o, i)))
            .map(|(o, i)| if i < inp { q(o, i) as i8 } else { 0 })
            .collect();
        let zp = i32::from(l.input_zero_point);
        let offset = w
            .chunks_exact(kp.max(1))
            .map(|r| zp * r.iter().map(|v| i32::from(*v)).sum::<i32>())
            .collect();
        let scale = l.weight_scales.iter().map(|s| s * l.input_scale).collect();
        QNode {
            inp,
            out,
            conv,
            kp,
            w: qgemm::Packed::for_isa(isa, &w, out, kp),
            offset,
            scale,
            bias,
            input: l.clone(),
        }
    }

    /// `y` (`b` examples) from `x`, as the f32 layer would compute it up to rounding, through
    /// relu when `relu`; with `pool`, max pooled too.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        b: usize,
        (relu, pool): (bool, Option<Pooled<'_>>),
        s: &mut Scratch,
        y: &mut [f32],
    ) {
        let (rows, kp) = (self.rows(b), self.kp);
        grow(&mut s.padded, rows * kp);
        match self.conv {
            Some(_) => self.unfold(x, b, s),
            // A dense layer's rows are quantized straight into their padded places.
            None => self.quantize(x, self.inp, &mut s.padded[..rows * kp]),
        }
        let bias = seg(params, self.bias, self.out);
        let (q, y) = (&s.padded[..rows * kp], &mut y[..rows * self.out]);
        self.blocks(q, b, (bias, relu), y, pool);
    }

    /// The product for `b` examples' rows `q`: in tasks of whole examples, each multiplied,
    /// dequantized and (with `pool`) pooled on one thread while in its cache. A single example
    /// runs on this thread: splitting a convolution's rows over two threads at batch 1 measured
    /// 200 us for the digits CNN against 160 us here (the pool's threads asleep between calls).
    fn blocks(
        &self,
        q: &[u8],
        b: usize,
        (bias, relu): (&[f32], bool),
        y: &mut [f32],
        pool: Option<Pooled<'_>>,
    ) {
        let per = self.rows(1);
        let task = examples_per_task(b, per * self.kp);
        let pooled = pool.as_ref().map_or(0, |p| p.g.output_len());
        let epilogue = pool.as_ref().map(|p| (p.g, p.relu));
        let outs: Vec<Option<&mut [f32]>> = match pool.map(|p| p.out) {
            Some(out) => out[..b * pooled]
                .chunks_mut(task * pooled)
                .map(Some)
                .collect(),
            None => (0..b.div_ceil(task)).map(|_| None).collect(),
        };
        let block = |((y, q), out): Task<'_>| {
            qgemm::rows_times(
                q,
                &self.w,
                y,
                &Dequantize {
                    q: self,
                    bias,
                    relu,
                },
            );
            if let (Some((g, relu)), Some(out)) = (epilogue, out) {
                for (y, out) in y.chunks(per * self.out).zip(out.chunks_mut(pooled)) {
                    maxpool_bias_relu(y, g, (None, relu), out);
                }
            }
        };
        let (ys, qs) = (task * per * self.out, task * per * self.kp);
        if b <= task {
            block(((y, q), outs.into_iter().next().flatten()));
        } else {
            let tasks = y.par_chunks_mut(ys).zip(q.par_chunks(qs));
            tasks.zip(outs).for_each(block);
        }
    }

    /// Rows of the product for `b` examples.
    fn rows(&self, b: usize) -> usize {
        self.conv.map_or(b, |g| b * g.oh * g.ow)
    }

    /// `x` (rows of `n` values) quantized to uint8 into `dst` (rows `dst.len() / rows` long,
    /// the rest of each row zero), in parallel over blocks of rows.
    fn quantize(&self, x: &[f32], n: usize, dst: &mut [u8]) {
        let q = &self.input;
        let rows = x.len() / n.max(1);
        let width = dst.len() / rows.max(1);
        let block = |(dst, x): (&mut [u8], &[f32])| {
            simd(
                #[inline(always)]
                || {
                    for (d, x) in dst.chunks_exact_mut(width).zip(x.chunks_exact(n)) {
                        for (d, v) in d.iter_mut().zip(x) {
                            *d = q.quantize_input(*v);
                        }
                        d[n..].fill(0);
                    }
                },
            )
        };
        par_rows(dst, width, x, n, block);
    }

    /// A convolution's input quantized (`s.qx`) and its patches unfolded into their padded
    /// rows (`s.padded`), with the zero point as padding. Their tails may hold what the
    /// unfolding spills: the weights' tails are zeros.
    fn unfold(&self, x: &[f32], b: usize, s: &mut Scratch) {
        let Some(g) = &self.conv else { return };
        let n = x.len();
        grow(&mut s.qx, n);
        self.quantize(x, g.h * g.w * g.c, &mut s.qx[..n]);
        let padded = (&mut s.padded[..self.rows(b) * self.kp], self.kp);
        im2col(&s.qx[..n], b, g, padded, self.input.input_zero_point);
    }
}

/// The most uint8 input bytes one task takes: with their widened copy (on AVX2), sums and
/// outputs, a few hundred kB, in a core's L2.
const TASK_BYTES: usize = 1 << 16;

/// One task of the product: its outputs and input rows, and where its pooled outputs go
/// (when a max pooling follows).
type Task<'a> = ((&'a mut [f32], &'a [u8]), Option<&'a mut [f32]>);

/// Examples per parallel task of the product (each `bytes` of uint8 rows): as many as fit in
/// [`TASK_BYTES`], evened out so that every thread gets as many tasks of as many examples
/// (tasks of 81, 81, 81 and 13 examples left one of two threads idle a fifth of the time).
fn examples_per_task(b: usize, bytes: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let rounds = (b * bytes).div_ceil(threads * TASK_BYTES).max(1);
    b.div_ceil(threads * rounds).max(1)
}

/// A layer's [`qgemm::Finish`]: its sums dequantized into f32 (with the bias, and the relu
/// when asked) as the product hands them over.
struct Dequantize<'a> {
    q: &'a QNode,
    bias: &'a [f32],
    relu: bool,
}

impl qgemm::Finish for Dequantize<'_> {
    type Out = f32;
    fn finish(&self, sums: &qgemm::Sums, first: usize, cols: usize, out: &mut [f32], n: usize) {
        let (q, end) = (self.q, first + cols);
        let row = (
            &q.offset[first..end],
            &q.scale[first..end],
            &self.bias[first..end],
        );
        simd(
            #[inline(always)]
            || {
                for (y, s) in out.chunks_exact_mut(n).zip(sums) {
                    dequantize_row(&s[..cols], row, self.relu, &mut y[first..end]);
                }
            },
        );
    }
}

/// `y = (acc - offset) * scale + bias` for one row's outputs, then relu when asked.
#[inline(always)]
fn dequantize_row(
    acc: &[i32],
    (offset, scale, bias): (&[i32], &[f32], &[f32]),
    relu: bool,
    y: &mut [f32],
) {
    let n = y.len();
    let (acc, offset, scale, bias) = (&acc[..n], &offset[..n], &scale[..n], &bias[..n]);
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    for j in 0..n {
        let v = (acc[j] - offset[j]) as f32 * scale[j] + bias[j];
        y[j] = if v > floor { v } else { floor };
    }
}

/// Rows per parallel task of quantizing.
const ROWS_PER_TASK: usize = 32;

/// `f` on matching blocks of rows of `dst` (rows `dw` long) and `src` (rows `sw` long): in
/// parallel for more than [`ROWS_PER_TASK`] rows, else on this thread.
fn par_rows<T: Send, U: Sync>(
    dst: &mut [T],
    dw: usize,
    src: &[U],
    sw: usize,
    f: impl Fn((&mut [T], &[U])) + Sync + Send,
) {
    let rows = dst.len() / dw.max(1);
    if rows <= ROWS_PER_TASK {
        f((dst, src));
    } else {
        let dst = dst.par_chunks_mut(ROWS_PER_TASK * dw.max(1));
        dst.zip(src.par_chunks(ROWS_PER_TASK * sw.max(1)))
            .for_each(f);
    }
}

/// Make `v` hold at least `n` values (buffers grow once, to the largest batch).
fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
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

    /// A dense layer's outputs are the same whichever instructions its product runs on
    /// (each kernel's exact sums are checked against the definition in `qgemm`).
    #[test]
    fn every_instruction_set_gives_the_same_outputs() {
        let (inp, out, b) = (50, 40, 37);
        let scales = (0..out).map(|o| 0.002 + o as f32 * 1e-4).collect();
        let l = QuantLayer::calibrated(0, -1.0, 2.0, scales);
        let at = |o: usize, i: usize| ((o * 31 + i * 17) % 41) as f32 * 0.01 - 0.2;
        let bias: Vec<f32> = (0..out).map(|o| o as f32 * 0.05 - 1.0).collect();
        let x: Vec<f32> = (0..b * inp)
            .map(|i| (i * 13 % 97) as f32 * 0.03 - 1.0)
            .collect();
        for relu in [false, true] {
            let run = |isa: Isa| {
                let q = QNode::from_rows(inp, out, None, at, (0, &l), isa);
                let mut y = vec![0.0; b * out];
                q.forward(&bias, &x, b, (relu, None), &mut Scratch::default(), &mut y);
                y
            };
            let want = run(Isa::Portable);
            assert!(want.iter().any(|v| *v > 0.5), "outputs worth comparing");
            for isa in Isa::ALL {
                assert_eq!(run(isa), want, "{} with relu {relu}", isa.name());
            }
        }
    }
}
