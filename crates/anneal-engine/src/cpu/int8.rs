//! int8 inference: a plan's `dense` and `conv` layers as integer products (uint8 inputs, int8
//! weights per output channel, i32 sums), the rest of the plan unchanged in f32. The scheme is
//! [`anneal_spec::quant`]'s; this file holds the layers' integer form ([`Int8`]), their forward
//! pass, the product kernel and the calibration of the input ranges.
//!
//! A quantized layer's forward pass: quantize its input to uint8 (an image first, then its
//! patches unfolded with the zero point as padding), take the integer product of the inputs
//! with the int8 weights (rows padded to a multiple of [`STEP`]; AVX-512 VNNI's `vpdpbusd` on
//! uint8 and int8 where the CPU has it, else AVX2's `vpmaddwd` on both held as i16), then
//! `y = (sum - zero_point * Σ w) * input_scale * weight_scale + bias` (and the relu, when one
//! follows). The product is exact, so results depend on neither the thread count nor the
//! CPU's vector width.

use anneal_spec::{QuantLayer, Quantization};
use rayon::prelude::*;

use super::conv::{ConvGeom, im2col};
use super::node::{Node, Pooled, Scratch, seg};
use super::ops::simd;
use super::pool::{maxpool_bias_relu, maxpool_relu};
use super::tiles::{self, MR, NR, ROWS_PER_TASK};
use super::vnni;
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
    /// `out x kp` int8 weights held as i16, each output's row contiguous, zero-padded.
    w: Vec<i16>,
    /// The same as int8, packed for VNNI, where the CPU has it.
    w8: Option<vnni::Packed>,
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
        let q = |o: usize, i: usize| {
            (at(o, i) / l.weight_scales[o])
                .round_ties_even()
                .clamp(-max, max)
        };
        let kp = inp.div_ceil(STEP) * STEP;
        let w: Vec<i16> = (0..out)
            .flat_map(|o| (0..kp).map(move |i| (o, i)))
            .map(|(o, i)| if i < inp { q(o, i) as i16 } else { 0 })
            .collect();
        let zp = i32::from(l.input_zero_point);
        let offset = w
            .chunks_exact(kp.max(1))
            .map(|r| zp * r.iter().map(|v| i32::from(*v)).sum::<i32>())
            .collect();
        let w8 = vnni::available().then(|| {
            let bytes: Vec<i8> = w.iter().map(|v| *v as i8).collect();
            vnni::Packed::new(&bytes, out, kp)
        });
        let scale = l.weight_scales.iter().map(|s| s * l.input_scale).collect();
        QNode {
            inp,
            out,
            conv,
            kp,
            w,
            w8,
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
        let y = &mut y[..rows * self.out];
        if let Some(w8) = &self.w8 {
            let finish = Dequantize {
                q: self,
                bias,
                relu,
            };
            vnni::product_into(&s.padded, rows, w8, y, &finish);
            if let Some(p) = pool {
                maxpool_relu(y, b, p.g, p.relu, p.out);
            }
            return;
        }
        self.blocks(&s.padded[..rows * kp], b, (bias, relu), y, pool);
    }

    /// The `vpmaddwd` path for `b` examples' rows `q`: in tasks of whole examples, each
    /// multiplied, dequantized and (with `pool`) pooled on one thread while in its cache.
    fn blocks(
        &self,
        q: &[u8],
        b: usize,
        (bias, relu): (&[f32], bool),
        y: &mut [f32],
        pool: Option<Pooled<'_>>,
    ) {
        let (kernel, per) = (Kernel::new(), self.rows(1));
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
            self.block(kernel, q, (bias, relu), y);
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

    /// The `vpmaddwd` path for the rows `q`, on this thread, while they are in its cache:
    /// widened to i16, multiplied, and their sums dequantized into `y`. Whole-batch passes
    /// (widen everything, multiply everything, dequantize everything) wrote and read back
    /// 28 MB for the digits CNN's first layer at batch 256.
    fn block(&self, kernel: Kernel, q: &[u8], (bias, relu): (&[f32], bool), y: &mut [f32]) {
        let (kp, n) = (self.kp, self.out);
        let mut wide = vec![0i16; q.len()];
        self.widen(q, &mut wide);
        let mut acc = vec![0i32; q.len() / kp * n];
        let tile = |a: &[i16], w: &[i16], shape| kernel.tile(a, w, kp, shape);
        tiles::rows_times(&wide, &self.w, (kp, n), &mut acc, &tile);
        simd(
            #[inline(always)]
            || {
                for (y, acc) in y.chunks_exact_mut(n).zip(acc.chunks_exact(n)) {
                    dequantize_row(acc, (&self.offset, &self.scale, bias), relu, y);
                }
            },
        )
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

    /// The uint8 rows `q` as i16, on this thread, tails and all (whatever a tail holds meets
    /// the weights' zero tails).
    fn widen(&self, q: &[u8], wide: &mut [i16]) {
        simd(
            #[inline(always)]
            || {
                for (d, q) in wide.iter_mut().zip(q) {
                    *d = i16::from(*q);
                }
            },
        )
    }
}

/// The most i16 input bytes one task of the `vpmaddwd` path widens: with its sums and
/// outputs, a few hundred kB, in a core's L2.
const TASK_BYTES: usize = 1 << 16;

/// One task of the `vpmaddwd` path: its outputs and input rows, and where its pooled outputs
/// go (when a max pooling follows).
type Task<'a> = ((&'a mut [f32], &'a [u8]), Option<&'a mut [f32]>);

/// Examples per parallel task of the `vpmaddwd` path (each `bytes` of uint8 rows, twice that
/// widened): an even share of `b` for each thread where that fits in [`TASK_BYTES`], and at
/// least one.
fn examples_per_task(b: usize, bytes: usize) -> usize {
    let share = b.div_ceil(rayon::current_num_threads().max(1));
    share.min(TASK_BYTES / (2 * bytes.max(1))).max(1)
}

/// A layer's [`vnni::Finish`]: its sums dequantized into f32 (with the bias, and the relu
/// when asked) as the product hands them over.
struct Dequantize<'a> {
    q: &'a QNode,
    bias: &'a [f32],
    relu: bool,
}

impl vnni::Finish for Dequantize<'_> {
    type Out = f32;
    fn finish(&self, sums: &vnni::Sums, first: usize, cols: usize, out: &mut [f32], n: usize) {
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

/// Values of `k` per step of the kernel: rows are padded with zeros to a multiple of it.
pub(crate) const STEP: usize = 32;

/// `acc[m x n] = a[m x kp] * wᵀ` for `a` and `w` (`n x kp`) holding small integers (inputs
/// less their zero point, int8 weights) as i16, `kp` a multiple of [`STEP`]; sums in i32.
pub(crate) fn product(a: &[i16], m: usize, w: &[i16], kp: usize, n: usize, acc: &mut [i32]) {
    let kernel = Kernel::new();
    tiles::tiled((a, m), (w, n), kp, acc, |a, w, shape| {
        kernel.tile(a, w, kp, shape)
    });
}

/// The instructions the tiles run with: `vpmaddwd` (products summed in pairs, exact in
/// i32) on 512-bit vectors with AVX-512, on 256-bit ones with AVX2, else portable code.
#[derive(Clone, Copy)]
struct Kernel {
    #[cfg(target_arch = "x86_64")]
    v4: Option<pulp::x86::V4>,
    #[cfg(target_arch = "x86_64")]
    v3: Option<pulp::x86::V3>,
}

impl Kernel {
    fn new() -> Kernel {
        Kernel {
            #[cfg(target_arch = "x86_64")]
            v4: pulp::x86::V4::try_new(),
            #[cfg(target_arch = "x86_64")]
            v3: pulp::x86::V3::try_new(),
        }
    }

    /// The dot products of up to [`MR`] rows of `a` and [`NR`] rows of `w`.
    #[inline(always)]
    fn tile(self, a: &[i16], w: &[i16], kp: usize, (mr, nr): (usize, usize)) -> tiles::Sums {
        #[cfg(target_arch = "x86_64")]
        if nr == NR {
            match (self.v4, self.v3, mr) {
                (Some(v4), _, 1) => return x86::tile512::<1>(v4, a, w, kp),
                (Some(v4), _, 2) => return x86::tile512::<2>(v4, a, w, kp),
                (Some(v4), _, 3) => return x86::tile512::<3>(v4, a, w, kp),
                (Some(v4), _, _) => return x86::tile512::<MR>(v4, a, w, kp),
                (None, Some(v3), _) => return x86::pairs(v3, a, w, kp, mr),
                _ => {}
            }
        }
        tiles::portable(a, w, kp, (mr, nr))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, STEP};
    use core::arch::x86_64::{__m256i, __m512i};
    use pulp::x86::{V3, V4};

    /// Row `i` (`kp` long) of `v` in steps.
    #[inline(always)]
    fn steps(v: &[i16], i: usize, kp: usize) -> &[[i16; STEP]] {
        pulp::as_arrays::<STEP, i16>(&v[i * kp..(i + 1) * kp]).0
    }

    /// `mr` (up to [`MR`]) rows against [`NR`] on AVX2, two rows at a time and an odd one
    /// alone: AVX2's 16 registers hold the 8 sums of two rows and their operands, where the
    /// 16 sums of four would spill.
    #[inline(always)]
    pub(super) fn pairs(simd: V3, a: &[i16], w: &[i16], kp: usize, mr: usize) -> [[i32; NR]; MR] {
        let mut sums = [[0; NR]; MR];
        for r in (0..mr).step_by(2) {
            let rows = &a[r * kp..];
            let got = match mr - r {
                1 => tile::<1>(simd, rows, w, kp),
                _ => tile::<2>(simd, rows, w, kp),
            };
            let n = (mr - r).min(2);
            sums[r..r + n].copy_from_slice(&got[..n]);
        }
        sums
    }

    /// `R` rows against [`NR`] on AVX2: per half step, `R` + [`NR`] loads and `R * NR`
    /// `vpmaddwd` of 16 values.
    #[inline(always)]
    pub(super) fn tile<const R: usize>(
        simd: V3,
        a: &[i16],
        w: &[i16],
        kp: usize,
    ) -> [[i32; NR]; MR] {
        simd.vectorize(
            #[inline(always)]
            || {
                let rows: [&[[i16; STEP]]; R] = std::array::from_fn(|r| steps(a, r, kp));
                let cols: [&[[i16; STEP]]; NR] = std::array::from_fn(|c| steps(w, c, kp));
                let zero = simd.avx._mm256_setzero_si256();
                let mut acc = [[zero; NR]; R];
                for s in 0..kp / STEP {
                    for half in 0..2 {
                        let at = |v: &[i16; STEP]| -> __m256i {
                            let h: [i16; 16] = std::array::from_fn(|t| v[half * 16 + t]);
                            pulp::cast(h)
                        };
                        let x: [__m256i; R] = std::array::from_fn(|r| at(&rows[r][s]));
                        let y: [__m256i; NR] = std::array::from_fn(|c| at(&cols[c][s]));
                        for r in 0..R {
                            for c in 0..NR {
                                let p = simd.avx2._mm256_madd_epi16(x[r], y[c]);
                                acc[r][c] = simd.avx2._mm256_add_epi32(acc[r][c], p);
                            }
                        }
                    }
                }
                let mut sums = [[0i32; NR]; MR];
                for r in 0..R {
                    sums[r] = reduce(simd, acc[r]);
                }
                sums
            },
        )
    }

    /// The lane sums of four vectors: two rounds of pairwise sums (`vphaddd`) leave each
    /// vector's sum in two halves of one register, which one add joins. Summing each vector's
    /// lanes on its own took most of a tile whose rows are short (a 5x5 convolution of one
    /// channel: one step of [`STEP`]).
    #[inline(always)]
    fn reduce(simd: V3, [a, b, c, d]: [__m256i; NR]) -> [i32; NR] {
        let i = simd.avx2;
        let q = i._mm256_hadd_epi32(i._mm256_hadd_epi32(a, b), i._mm256_hadd_epi32(c, d));
        let (lo, hi) = (
            simd.avx._mm256_castsi256_si128(q),
            i._mm256_extracti128_si256::<1>(q),
        );
        pulp::cast(simd.sse2._mm_add_epi32(lo, hi))
    }

    /// `R` rows against [`NR`] on AVX-512: per step, `R` + [`NR`] loads and `R * NR`
    /// `vpmaddwd` of 32 values.
    #[inline(always)]
    pub(super) fn tile512<const R: usize>(
        simd: V4,
        a: &[i16],
        w: &[i16],
        kp: usize,
    ) -> [[i32; NR]; MR] {
        simd.vectorize(
            #[inline(always)]
            || {
                let rows: [&[[i16; STEP]]; R] = std::array::from_fn(|r| steps(a, r, kp));
                let cols: [&[[i16; STEP]]; NR] = std::array::from_fn(|c| steps(w, c, kp));
                let zero = simd.avx512f._mm512_setzero_si512();
                let mut acc = [[zero; NR]; R];
                for s in 0..kp / STEP {
                    let x: [__m512i; R] = std::array::from_fn(|r| pulp::cast(rows[r][s]));
                    let y: [__m512i; NR] = std::array::from_fn(|c| pulp::cast(cols[c][s]));
                    for r in 0..R {
                        for c in 0..NR {
                            let p = simd.avx512bw._mm512_madd_epi16(x[r], y[c]);
                            acc[r][c] = simd.avx512f._mm512_add_epi32(acc[r][c], p);
                        }
                    }
                }
                let mut sums = [[0i32; NR]; MR];
                for r in 0..R {
                    for c in 0..NR {
                        sums[r][c] = pulp::cast::<__m512i, [i32; 16]>(acc[r][c]).iter().sum();
                    }
                }
                sums
            },
        )
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

    /// The kernels this CPU can run: AVX-512, AVX2 and portable code.
    fn kernels() -> Vec<Kernel> {
        let k = Kernel::new();
        #[cfg(target_arch = "x86_64")]
        return vec![k, Kernel { v4: None, ..k }, Kernel { v4: None, v3: None }];
        #[cfg(not(target_arch = "x86_64"))]
        vec![k]
    }

    #[test]
    fn the_vnni_and_vpmaddwd_paths_give_the_same_outputs() {
        if !vnni::available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let (inp, out, b) = (50, 40, 37);
        let scales = (0..out).map(|o| 0.002 + o as f32 * 1e-4).collect();
        let l = QuantLayer::calibrated(0, -1.0, 2.0, scales);
        let at = |o: usize, i: usize| ((o * 31 + i * 17) % 41) as f32 * 0.01 - 0.2;
        let bias: Vec<f32> = (0..out).map(|o| o as f32 * 0.05 - 1.0).collect();
        let with_vnni = QNode::from_rows(inp, out, None, at, 0, &l);
        let mut without = QNode::from_rows(inp, out, None, at, 0, &l);
        without.w8 = None;
        let x: Vec<f32> = (0..b * inp)
            .map(|i| (i * 13 % 97) as f32 * 0.03 - 1.0)
            .collect();
        for relu in [false, true] {
            let run = |q: &QNode| {
                let mut y = vec![0.0; b * out];
                q.forward(&bias, &x, b, (relu, None), &mut Scratch::default(), &mut y);
                y
            };
            assert_eq!(run(&with_vnni), run(&without), "relu {relu}");
        }
    }

    #[test]
    fn the_integer_product_is_exact_for_every_tile_shape() {
        // Shapes that leave remainders in every direction (tiles and steps), inputs and
        // weights at their extremes (±255 less a zero point, ±127).
        for &(m, n, k) in &[
            (1usize, 1usize, 1usize),
            (5, 7, 33),
            (9, 4, 16),
            (4, 9, 50),
            (33, 10, 784),
            (6, 5, 40),
            (7, 3, 64),
        ] {
            let kp = k.div_ceil(STEP) * STEP;
            let pad = |v: &[i16]| -> Vec<i16> {
                let tail = std::iter::repeat_n(0, kp - k);
                v.chunks(k)
                    .flat_map(|r| r.iter().copied().chain(tail.clone()))
                    .collect()
            };
            let a: Vec<i16> = (0..m * k).map(|i| (i * 37 % 511) as i16 - 255).collect();
            let w: Vec<i16> = (0..n * k).map(|i| (i * 53 % 255) as i16 - 127).collect();
            let mut acc = vec![0; m * n];
            product(&pad(&a), m, &pad(&w), kp, n, &mut acc);
            // Every instruction set this CPU has gives the same sums.
            for kernel in kernels() {
                let mut other = vec![0; m * n];
                let (a, w) = (pad(&a), pad(&w));
                tiles::tiled((&a[..], m), (&w[..], n), kp, &mut other, |a, w, shape| {
                    kernel.tile(a, w, kp, shape)
                });
                assert_eq!(other, acc);
            }
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
