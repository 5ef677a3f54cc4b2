//! The int8 product quantized layers run: `acc[m x n] = a[m x kp] · wᵀ` for uint8 inputs `a`
//! and int8 weights `w` (`n x kp`, each output's row contiguous, `kp` a multiple of
//! [`STEP`]), sums exact in i32, so results depend on neither the thread count nor the CPU.
//!
//! The weights are repacked once ([`Packed`]) into panels of output columns, the values of a
//! few steps of `k` of every column side by side; each panel (in L1) then passes every tile of
//! a task's rows (in L2) with the tile's sums in registers, no sums across lanes, and hands
//! them to a [`Finish`] while they are in cache (a layer dequantizes them there). The kernel is
//! the CPU's:
//! - AVX-512 VNNI: `vpdpbusd` multiplies 64 uint8 inputs by 64 int8 weights and adds them, four
//!   at a time, into 16 i32 sums, in one instruction (what onnxruntime's int8 kernels run on
//!   such CPUs); panels of 32 outputs, values four at a time, tiles of 12 rows interleaved.
//! - AVX2: `vpmaddwd` multiplies 16 pairs of i16 (inputs and weights widened) and adds each pair
//!   into 8 i32 sums, then `vpaddd`; panels of 16 outputs, values in pairs, tiles of 6 rows.
//!   (`vpmaddubsw` takes uint8 and int8 as they are, but its i16 sum of two products
//!   saturates: 2 × 255 × 127 does not fit.)
//! - Elsewhere, portable code on the AVX2 layout.
//!
//! The inputs keep their zero point, taken off after the sum (`Σ (x - z) w = Σ x w - z Σ w`).
//! The one `unsafe` here is the call into the function compiled for VNNI, made only after
//! the CPU said it has VNNI (inside it, the intrinsics are safe: they take no pointers).

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::ops::for_rows;

/// Values of `k` per step of the kernels: rows are padded with zeros to a multiple of it.
pub(crate) const STEP: usize = 32;

/// The instructions a product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Vnni,
    Avx2,
    Portable,
}

impl Isa {
    /// This CPU's best (checked once; `ANNEAL_VNNI=off` passes over VNNI, for measuring and
    /// testing the others).
    pub fn best() -> Isa {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            let vnni = std::env::var("ANNEAL_VNNI").map_or(true, |v| v != "off");
            match (vnni && vnni_detected(), avx2_detected()) {
                (true, _) => Isa::Vnni,
                (false, true) => Isa::Avx2,
                (false, false) => Isa::Portable,
            }
        })
    }

    /// Every one, for tests: each runs anywhere (the VNNI and AVX2 layouts through portable
    /// code on CPUs without those instructions).
    #[cfg(test)]
    pub const ALL: [Isa; 3] = [Isa::Vnni, Isa::Avx2, Isa::Portable];

    /// The instruction's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Vnni => "vpdpbusd",
            Isa::Avx2 => "vpmaddwd",
            Isa::Portable => "portable",
        }
    }

    /// How its weights and rows are laid out.
    fn layout(self) -> Layout {
        match self {
            Isa::Vnni => Layout {
                group: 4,
                width: 32,
                rows: 12,
            },
            Isa::Avx2 | Isa::Portable => Layout {
                group: 2,
                width: 16,
                rows: 6,
            },
        }
    }
}

/// An [`Isa`]'s layout: values of `k` side by side (`group`), outputs per panel (`width`),
/// rows per tile.
#[derive(Debug, Clone, Copy)]
struct Layout {
    group: usize,
    width: usize,
    rows: usize,
}

#[cfg(target_arch = "x86_64")]
fn vnni_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    pulp::x86::V3::try_new().is_some()
}

#[cfg(not(target_arch = "x86_64"))]
fn vnni_detected() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

/// Int8 weights (`n x kp`) repacked for one [`Isa`]: panels of its outputs per panel, each
/// holding, for every `g` values of `k`, the `g` weights of each of its outputs side by side
/// (`[kp / g][panel][g]`), outputs past `n` zero; int8 for VNNI, widened to i16 otherwise. One
/// instruction then takes `g` inputs of a row (broadcast) against a vector of outputs.
#[derive(Debug)]
pub(crate) struct Packed {
    isa: Isa,
    kp: usize,
    n: usize,
    data: Data,
}

#[derive(Debug)]
enum Data {
    Fours(Vec<i8>),
    Pairs(Vec<i16>),
}

impl Packed {
    /// `w` (`n` rows of `kp`, a multiple of [`STEP`]) repacked for this CPU's best [`Isa`].
    pub fn new(w: &[i8], n: usize, kp: usize) -> Packed {
        Packed::for_isa(Isa::best(), w, n, kp)
    }

    /// `w` repacked for `isa`.
    ///
    /// # Panics
    /// When `kp` is not a multiple of [`STEP`] or `w` is shorter than `n x kp`.
    pub fn for_isa(isa: Isa, w: &[i8], n: usize, kp: usize) -> Packed {
        assert!(
            kp.is_multiple_of(STEP) && w.len() >= n * kp,
            "int8 weights: {n} x {kp}"
        );
        let data = match isa {
            Isa::Vnni => Data::Fours(pack(w, (n, kp), isa, |v| v)),
            Isa::Avx2 | Isa::Portable => Data::Pairs(pack(w, (n, kp), isa, i16::from)),
        };
        Packed { isa, kp, n, data }
    }

    /// The instructions its products run on.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// `w` in `isa`'s panels, each value through `f`.
fn pack<T: Copy + Default>(
    w: &[i8],
    (n, kp): (usize, usize),
    isa: Isa,
    f: impl Fn(i8) -> T,
) -> Vec<T> {
    let Layout {
        group: g, width, ..
    } = isa.layout();
    let mut data = vec![T::default(); n.div_ceil(width) * kp * width];
    for (p, panel) in data.chunks_exact_mut(kp * width).enumerate() {
        for (t, step) in panel.chunks_exact_mut(g * width).enumerate() {
            for (c, dst) in step.chunks_exact_mut(g).enumerate() {
                let o = p * width + c;
                if o < n {
                    let src = &w[o * kp + g * t..][..g];
                    dst.iter_mut().zip(src).for_each(|(d, v)| *d = f(*v));
                }
            }
        }
    }
    data
}

/// `acc = a · wᵀ` for the `m` rows of `a`, in parallel over blocks of rows when the product is
/// large.
pub(crate) fn product(a: &[u8], m: usize, w: &Packed, acc: &mut [i32]) {
    let (kp, n) = (w.kp, w.n);
    let block = |(rows, out): (&[u8], &mut [i32])| rows_times(rows, w, out, &Store);
    let (a, acc) = (&a[..m * kp], &mut acc[..m * n]);
    let task = rows_per_task(m, kp, w.isa);
    if m * n * kp < PARALLEL_MIN_MACS || m <= task {
        block((a, acc));
    } else {
        let tasks = a.par_chunks(task * kp);
        tasks.zip(acc.par_chunks_mut(task * n)).for_each(block);
    }
}

/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The most input bytes one task of [`product`] takes: its tiles stay in L2 while every
/// panel passes.
const TASK_BYTES: usize = 1 << 17;

/// Rows per parallel task of [`product`]: whole tiles, an even share of `m` for each thread
/// where that fits in [`TASK_BYTES`].
fn rows_per_task(m: usize, kp: usize, isa: Isa) -> usize {
    let tile = isa.layout().rows;
    let share = m.div_ceil(rayon::current_num_threads().max(1));
    let most = (TASK_BYTES / kp.max(1) / tile).max(1) * tile;
    (share.div_ceil(tile).max(1) * tile).min(most)
}

/// What becomes of a tile's sums while they are in cache: `sums[r][..cols]` are row `r`'s
/// sums for outputs `first..first + cols`, to be written into `out` (the tile's rows of the
/// `m x n` output).
pub(crate) trait Finish {
    type Out;
    fn finish(&self, sums: &Sums, first: usize, cols: usize, out: &mut [Self::Out], n: usize);
}

/// The sums of one tile (room for the largest [`Isa::layout`]).
pub(crate) type Sums = [[i32; 32]; 12];

/// [`Finish`] by writing the sums as they are.
struct Store;

impl Finish for Store {
    type Out = i32;
    fn finish(&self, sums: &Sums, first: usize, cols: usize, out: &mut [i32], n: usize) {
        for (o, s) in out.chunks_exact_mut(n).zip(sums) {
            o[first..][..cols].copy_from_slice(&s[..cols]);
        }
    }
}

/// The product of the rows `a` on this thread, each panel of weights (from L1) against every
/// tile of rows in turn, each tile's sums handed to `finish`.
pub(crate) fn rows_times<F: Finish>(a: &[u8], w: &Packed, out: &mut [F::Out], finish: &F) {
    match &w.data {
        Data::Fours(panels) => {
            let mut tiles = vec![0u8; a.len()];
            interleave(a, w, &mut tiles);
            panels_times(&tiles, (w, panels), out, finish, vnni_sums);
        }
        Data::Pairs(panels) => {
            let wide: Vec<i16> = a.iter().map(|v| i16::from(*v)).collect();
            let sums = |tile: &[i16], rows: usize, panel: &[i16]| {
                pair_sums(w.isa, (tile, rows, w.kp), panel)
            };
            panels_times(&wide, (w, panels), out, finish, sums);
        }
    }
}

/// Each panel of `w` against every tile of `tiles` (rows as `w`'s [`Isa`] lays them out),
/// `sums(tile, rows, panel)` giving a tile's sums.
fn panels_times<X, W, F: Finish>(
    tiles: &[X],
    (w, panels): (&Packed, &[W]),
    out: &mut [F::Out],
    finish: &F,
    sums: impl Fn(&[X], usize, &[W]) -> Sums,
) {
    let (kp, n) = (w.kp, w.n);
    let Layout { width, rows, .. } = w.isa.layout();
    for (p, panel) in panels.chunks_exact(kp * width).enumerate() {
        let cols = (n - p * width).min(width);
        for (tile, out) in tiles.chunks(rows * kp).zip(out.chunks_mut(rows * n)) {
            let s = sums(tile, tile.len() / kp, panel);
            finish.finish(&s, p * width, cols, out, n);
        }
    }
}

/// The rows of `a` a VNNI tile at a time, each tile's values four at a time side by side
/// (`[kp / 4][rows][4]`), so one pass over a tile reads every row's next four together.
fn interleave(a: &[u8], w: &Packed, tiles: &mut [u8]) {
    const ROWS: usize = 12;
    let kp = w.kp;
    for (a, tile) in a.chunks(ROWS * kp).zip(tiles.chunks_mut(ROWS * kp)) {
        match a.len() / kp {
            ROWS => interleave_rows::<ROWS>(a, kp, tile),
            rows => {
                for (r, row) in a.chunks_exact(kp).enumerate() {
                    let fours = tile.as_chunks_mut::<4>().0[r..].iter_mut().step_by(rows);
                    for (dst, four) in fours.zip(row.as_chunks::<4>().0) {
                        *dst = *four;
                    }
                }
            }
        }
    }
}

/// [`interleave`] for a whole tile of `R` rows: each step's `R` groups of four written side by
/// side.
fn interleave_rows<const R: usize>(a: &[u8], kp: usize, tile: &mut [u8]) {
    let rows: [&[[u8; 4]]; R] = std::array::from_fn(|r| a[r * kp..][..kp].as_chunks::<4>().0);
    let steps = tile.as_chunks_mut::<4>().0.chunks_exact_mut(R);
    for (t, step) in steps.enumerate() {
        for (dst, row) in step.iter_mut().zip(&rows) {
            *dst = row[t];
        }
    }
}

/// The sums of the `rows` interleaved rows of `tile` against one VNNI panel.
fn vnni_sums(tile: &[u8], rows: usize, panel: &[i8]) -> Sums {
    #[cfg(target_arch = "x86_64")]
    if Isa::best() == Isa::Vnni {
        #[allow(unsafe_code)]
        // SAFETY: `Isa::best()` found AVX-512F, AVX-512BW and VNNI on this CPU, the features
        // `x86::vnni` is compiled for; it reads its slices through safe indexing.
        return unsafe {
            for_rows!(rows, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |R| {
                x86::vnni::<R>(tile, panel)
            })
        };
    }
    let mut sums = [[0i32; 32]; 12];
    let steps = tile.chunks_exact(4 * rows.max(1));
    for (step, group) in steps.zip(panel.chunks_exact(4 * 32)) {
        for (r, x) in step.chunks_exact(4).enumerate() {
            for (c, w) in group.chunks_exact(4).enumerate() {
                sums[r][c] += dot(x, w);
            }
        }
    }
    sums
}

/// The sums of `rows` rows of `tile` (`kp` long, as they are) against one panel of pairs.
fn pair_sums(isa: Isa, (tile, rows, kp): (&[i16], usize, usize), panel: &[i16]) -> Sums {
    #[cfg(target_arch = "x86_64")]
    if let (Isa::Avx2, Some(simd)) = (isa, pulp::x86::V3::try_new()) {
        return for_rows!(rows, [1, 2, 3, 4, 5], 6, |R| {
            x86::pairs::<R>(simd, tile, kp, panel)
        });
    }
    let _ = isa;
    let mut sums = [[0i32; 32]; 12];
    for (r, row) in tile.chunks_exact(kp).take(rows).enumerate() {
        for (x, group) in row.chunks_exact(2).zip(panel.chunks_exact(2 * 16)) {
            for (c, w) in group.chunks_exact(2).enumerate() {
                sums[r][c] += dot(x, w);
            }
        }
    }
    sums
}

/// `Σ x w` in i32.
fn dot<X: Copy + Into<i32>, W: Copy + Into<i32>>(x: &[X], w: &[W]) -> i32 {
    x.iter()
        .zip(w)
        .map(|(x, w)| (*x).into() * (*w).into())
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Sums;
    use core::arch::x86_64::{
        __m256i, __m512i, _mm512_dpbusd_epi32, _mm512_set1_epi32, _mm512_setzero_si512,
    };
    use pulp::x86::V3;

    /// `R` interleaved rows against one VNNI panel: per 4 values of `k`, 2 loads of weights,
    /// `R` broadcasts and `2 R` `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) fn vnni<const R: usize>(tile: &[u8], panel: &[i8]) -> Sums {
        let steps = tile.as_chunks::<4>().0.chunks_exact(R);
        let halves = panel.as_chunks::<64>().0.chunks_exact(2);
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for (x, w) in steps.zip(halves) {
            let w: [__m512i; 2] = [pulp::cast(w[0]), pulp::cast(w[1])];
            for r in 0..R {
                let x = _mm512_set1_epi32(i32::from_le_bytes(x[r]));
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w[0]);
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w[1]);
            }
        }
        let mut sums = [[0i32; 32]; 12];
        for r in 0..R {
            let lo: [i32; 16] = pulp::cast(acc[r][0]);
            let hi: [i32; 16] = pulp::cast(acc[r][1]);
            sums[r][..16].copy_from_slice(&lo);
            sums[r][16..].copy_from_slice(&hi);
        }
        sums
    }

    /// `R` rows (`kp` long, widened) against one panel of pairs on AVX2: per 2 values of
    /// `k`, 2 loads of weights, `R` broadcasts (a pair of each row as one i32) and `2 R`
    /// `vpmaddwd` and `vpaddd`. With 6 rows, the 12 sums and 3 operands fit AVX2's 16
    /// registers.
    #[inline(always)]
    pub(super) fn pairs<const R: usize>(simd: V3, tile: &[i16], kp: usize, panel: &[i16]) -> Sums {
        simd.vectorize(
            #[inline(always)]
            || {
                let steps = panel.as_chunks::<32>().0;
                let rows: [&[[i16; 2]]; R] = std::array::from_fn(|r| {
                    &tile[r * kp..][..kp].as_chunks::<2>().0[..steps.len()]
                });
                let zero = simd.avx._mm256_setzero_si256();
                let mut acc = [[zero; 2]; R];
                for (t, w) in steps.iter().enumerate() {
                    let w: [__m256i; 2] = pulp::cast(*w);
                    for r in 0..R {
                        let x = simd.avx._mm256_set1_epi32(pulp::cast(rows[r][t]));
                        for h in 0..2 {
                            let p = simd.avx2._mm256_madd_epi16(x, w[h]);
                            acc[r][h] = simd.avx2._mm256_add_epi32(acc[r][h], p);
                        }
                    }
                }
                let mut sums = [[0i32; 32]; 12];
                for r in 0..R {
                    let s: [i32; 16] = pulp::cast(acc[r]);
                    sums[r][..16].copy_from_slice(&s);
                }
                sums
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_gives_exact_sums_for_every_tile_shape() {
        // Shapes that leave remainders in every direction (tiles, panels and steps), inputs
        // and weights at their extremes (0 to 255, ±127).
        for &(m, n, k) in &[
            (1usize, 1usize, 1usize),
            (5, 7, 65),
            (9, 4, 64),
            (4, 9, 50),
            (33, 10, 784),
            (13, 33, 100),
            (70, 64, 256),
            (7, 17, 33),
        ] {
            let kp = k.div_ceil(STEP) * STEP;
            let a: Vec<u8> = (0..m * kp)
                .map(|i| if i % kp < k { (i * 37 % 256) as u8 } else { 0 })
                .collect();
            let w: Vec<i8> = (0..n * kp)
                .map(|i| match i % kp < k {
                    true => ((i * 53 % 255) as i32 - 127) as i8,
                    false => 0,
                })
                .collect();
            let want: Vec<i32> = (0..m * n)
                .map(|at| dot(&a[at / n * kp..][..kp], &w[at % n * kp..][..kp]))
                .collect();
            for isa in Isa::ALL {
                let mut acc = vec![0; m * n];
                product(&a, m, &Packed::for_isa(isa, &w, n, kp), &mut acc);
                assert_eq!(acc, want, "{} on {m}x{n}x{k}", isa.name());
            }
        }
    }
}
