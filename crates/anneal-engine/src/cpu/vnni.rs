//! The int8 product on AVX-512 VNNI: `vpdpbusd` multiplies 64 uint8 inputs by 64 int8 weights
//! and adds them, four at a time, into 16 i32 sums, in one instruction: four times the
//! multiply-adds per instruction of f32 `vfmadd`, and what onnxruntime's int8 kernels run on
//! such CPUs. The inputs stay uint8 (with their zero point, taken off after the sum: `Σ (x -
//! z) w = Σ x w - z Σ w`), the weights int8; sums are exact in i32 (64 × 255 × 127 per step
//! is far from overflow).
//!
//! The one `unsafe` here is the call into the function compiled for VNNI, made only after
//! the CPU said it has VNNI (inside it, the intrinsics are safe: they take no pointers).

use rayon::prelude::*;

/// Whether this CPU runs VNNI (checked once; `ANNEAL_VNNI=off` turns it off, for measuring
/// and testing the other kernels).
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let wanted = std::env::var("ANNEAL_VNNI").map_or(true, |v| v != "off");
        wanted && detected()
    })
}

#[cfg(target_arch = "x86_64")]
fn detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn detected() -> bool {
    false
}

/// Output columns per panel: two vectors of 16 sums.
const PANEL: usize = 32;

/// Rows of the inputs one kernel call takes (its sums, 2 vectors per row, stay in registers:
/// 24 of the 32).
const ROWS: usize = 12;

/// An int8 weight (`n x kp`, each output's row contiguous) repacked for [`product`]: panels of
/// [`PANEL`] outputs, each holding, for every 4 values of `k`, the 4 weights of each of its
/// outputs side by side (`[kp / 4][PANEL][4]`), outputs past `n` zero. One `vpdpbusd` then
/// takes 4 inputs of a row (broadcast) against 16 outputs, with no sums across lanes.
#[derive(Debug)]
pub(crate) struct Packed {
    kp: usize,
    n: usize,
    data: Vec<i8>,
}

impl Packed {
    /// Repack `w` (`n` rows of `kp`, `kp` a multiple of 4).
    pub fn new(w: &[i8], n: usize, kp: usize) -> Packed {
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0i8; panels * kp * PANEL];
        for (p, panel) in data.chunks_exact_mut(kp * PANEL).enumerate() {
            for (t, group) in panel.chunks_exact_mut(4 * PANEL).enumerate() {
                for (c, dst) in group.chunks_exact_mut(4).enumerate() {
                    let o = p * PANEL + c;
                    if o < n {
                        dst.copy_from_slice(&w[o * kp + 4 * t..][..4]);
                    }
                }
            }
        }
        Packed { kp, n, data }
    }
}

/// `acc[m x n] = a[m x kp] * wᵀ` for uint8 `a` (rows `kp` long) and the packed int8 `w`, in
/// parallel over blocks of rows when the product is large. Only when [`available`].
pub(crate) fn product(a: &[u8], m: usize, w: &Packed, acc: &mut [i32]) {
    product_into(a, m, w, acc, &Store);
}

/// What becomes of a tile's sums while they are in cache: `sums[r][..cols]` are row `r`'s
/// sums for outputs `first..first + cols`, to be written into `out` (the tile's rows of the
/// `m x n` output).
pub(crate) trait Finish: Sync {
    type Out: Send;
    fn finish(&self, sums: &Sums, first: usize, cols: usize, out: &mut [Self::Out], n: usize);
}

/// The sums of one tile.
pub(crate) type Sums = [[i32; PANEL]; ROWS];

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

/// [`product`], each tile's sums handed to `finish` (so a layer scales them into f32
/// without writing them out first).
pub(crate) fn product_into<F: Finish>(
    a: &[u8],
    m: usize,
    w: &Packed,
    out: &mut [F::Out],
    finish: &F,
) {
    let (kp, n) = (w.kp, w.n);
    let block = |(rows, out): (&[u8], &mut [F::Out])| rows_times(rows, w, out, finish);
    let (a, out) = (&a[..m * kp], &mut out[..m * n]);
    let task = rows_per_task(m, kp);
    if m * n * kp < PARALLEL_MIN_MACS || m <= task {
        block((a, out));
    } else {
        let tasks = a.par_chunks(task * kp);
        tasks.zip(out.par_chunks_mut(task * n)).for_each(block);
    }
}

/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The most input bytes one task interleaves: its tiles stay in L2 while every panel passes.
const TASK_BYTES: usize = 1 << 17;

/// Rows per parallel task: whole tiles, an even share of `m` for each thread where that fits
/// in [`TASK_BYTES`].
fn rows_per_task(m: usize, kp: usize) -> usize {
    let share = m.div_ceil(rayon::current_num_threads().max(1));
    let most = (TASK_BYTES / kp.max(1) / ROWS).max(1) * ROWS;
    (share.div_ceil(ROWS).max(1) * ROWS).min(most)
}

/// [`product_into`] for the rows in `a`: interleaved [`ROWS`] at a time, then each panel of
/// weights (from L1) against every tile in turn.
fn rows_times<F: Finish>(a: &[u8], w: &Packed, out: &mut [F::Out], finish: &F) {
    let (kp, n) = (w.kp, w.n);
    let mut tiles = vec![0u8; a.len()];
    for (rows, tile) in a.chunks(ROWS * kp).zip(tiles.chunks_mut(ROWS * kp)) {
        interleave(rows, kp, tile);
    }
    for (p, panel) in w.data.chunks_exact(kp * PANEL).enumerate() {
        let cols = (n - p * PANEL).min(PANEL);
        for (tile, out) in tiles.chunks(ROWS * kp).zip(out.chunks_mut(ROWS * n)) {
            let sums = panel_sums(tile, tile.len() / kp, panel);
            finish.finish(&sums, p * PANEL, cols, out, n);
        }
    }
}

/// The rows of `a` (`kp` long, at most [`ROWS`]) with their values four at a time side by
/// side (`[kp / 4][rows][4]`), so one pass over `tile` reads every row's next four together.
fn interleave(a: &[u8], kp: usize, tile: &mut [u8]) {
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

/// [`interleave`] for `R` rows: each step's `R` groups of four written side by side.
fn interleave_rows<const R: usize>(a: &[u8], kp: usize, tile: &mut [u8]) {
    let rows: [&[[u8; 4]]; R] = std::array::from_fn(|r| a[r * kp..][..kp].as_chunks::<4>().0);
    let steps = tile.as_chunks_mut::<4>().0.chunks_exact_mut(R);
    for (t, step) in steps.enumerate() {
        for (dst, row) in step.iter_mut().zip(&rows) {
            *dst = row[t];
        }
    }
}

/// The sums of the `rows` interleaved rows of `tile` against one panel.
fn panel_sums(tile: &[u8], rows: usize, panel: &[i8]) -> Sums {
    #[cfg(target_arch = "x86_64")]
    if available() {
        #[allow(unsafe_code)]
        // SAFETY: `available()` checked that this CPU has AVX-512F, AVX-512BW and VNNI, the
        // features `x86::panel` is compiled for; it reads its slices through safe indexing.
        return unsafe {
            match rows {
                1 => x86::panel::<1>(tile, panel),
                2 => x86::panel::<2>(tile, panel),
                3 => x86::panel::<3>(tile, panel),
                4 => x86::panel::<4>(tile, panel),
                5 => x86::panel::<5>(tile, panel),
                6 => x86::panel::<6>(tile, panel),
                7 => x86::panel::<7>(tile, panel),
                8 => x86::panel::<8>(tile, panel),
                9 => x86::panel::<9>(tile, panel),
                10 => x86::panel::<10>(tile, panel),
                11 => x86::panel::<11>(tile, panel),
                _ => x86::panel::<ROWS>(tile, panel),
            }
        };
    }
    portable(tile, rows, panel)
}

/// [`panel_sums`] in portable code (for tests on CPUs without VNNI).
fn portable(tile: &[u8], rows: usize, panel: &[i8]) -> Sums {
    let mut sums = [[0i32; PANEL]; ROWS];
    let steps = tile.chunks_exact(4 * rows.max(1));
    for (step, group) in steps.zip(panel.chunks_exact(4 * PANEL)) {
        for (r, x) in step.chunks_exact(4).enumerate() {
            for (c, w) in group.chunks_exact(4).enumerate() {
                let dot: i32 = x
                    .iter()
                    .zip(w)
                    .map(|(x, w)| i32::from(*x) * i32::from(*w))
                    .sum();
                sums[r][c] += dot;
            }
        }
    }
    sums
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PANEL, ROWS, Sums};
    use core::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_set1_epi32, _mm512_setzero_si512,
    };

    /// `R` interleaved rows against one panel: per 4 values of `k`, 2 loads of weights, `R`
    /// broadcasts and `2 R` `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) fn panel<const R: usize>(tile: &[u8], panel: &[i8]) -> Sums {
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
        let mut sums = [[0i32; PANEL]; ROWS];
        for r in 0..R {
            let lo: [i32; 16] = pulp::cast(acc[r][0]);
            let hi: [i32; 16] = pulp::cast(acc[r][1]);
            sums[r][..16].copy_from_slice(&lo);
            sums[r][16..].copy_from_slice(&hi);
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnni_sums_are_exact_for_every_tile_shape() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        const STEP: usize = 32;
        for &(m, n, k) in &[
            (1usize, 1usize, 1usize),
            (5, 7, 65),
            (9, 4, 64),
            (4, 9, 50),
            (33, 10, 784),
            (13, 33, 100),
            (70, 64, 256),
        ] {
            let kp = k.div_ceil(STEP) * STEP;
            let a: Vec<u8> = (0..m * kp)
                .map(|i| if i % kp < k { (i * 37 % 256) as u8 } else { 0 })
                .collect();
            let w: Vec<i8> = (0..n * kp)
                .map(|i| {
                    if i % kp < k {
                        ((i * 53 % 255) as i32 - 127) as i8
                    } else {
                        0
                    }
                })
                .collect();
            let mut acc = vec![0; m * n];
            let packed = Packed::new(&w, n, kp);
            product(&a, m, &packed, &mut acc);
            let mut other = vec![0; m * n];
            let mut tile = vec![0u8; ROWS * kp];
            for (rows, out) in a.chunks(ROWS * kp).zip(other.chunks_mut(ROWS * n)) {
                let tile = &mut tile[..rows.len()];
                interleave(rows, kp, tile);
                for (p, panel) in packed.data.chunks_exact(kp * PANEL).enumerate() {
                    let sums = portable(tile, rows.len() / kp, panel);
                    for (o, s) in out.chunks_exact_mut(n).zip(&sums) {
                        let cols = (n - p * PANEL).min(PANEL);
                        o[p * PANEL..][..cols].copy_from_slice(&s[..cols]);
                    }
                }
            }
            assert_eq!(other, acc, "portable code gives the same sums");
            for i in 0..m {
                for j in 0..n {
                    let want: i32 = (0..kp)
                        .map(|t| i32::from(a[i * kp + t]) * i32::from(w[j * kp + t]))
                        .sum();
                    assert_eq!(acc[i * n + j], want, "{m}x{n}x{k} at ({i}, {j})");
                }
            }
        }
    }
}
