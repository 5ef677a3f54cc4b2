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

/// Values of `k` per step: rows are padded with zeros to a multiple of it.
pub(crate) const STEP: usize = 64;

/// Tile sizes, as the AVX2 and AVX-512 kernels'.
const MR: usize = 4;
const NR: usize = 4;

/// Rows of the left operand per parallel task, and the smallest product split.
const ROWS_PER_TASK: usize = 32;
const PARALLEL_MIN_MACS: usize = 1 << 20;

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

/// `acc[m x n] = a[m x kp] * wᵀ` for uint8 `a` and int8 `w` (`n x kp`), `kp` a multiple of
/// [`STEP`]. Only when [`available`].
pub(crate) fn product(a: &[u8], m: usize, w: &[i8], kp: usize, n: usize, acc: &mut [i32]) {
    let block = |(rows, acc): (&[u8], &mut [i32])| rows_times(rows, w, kp, n, acc);
    let (a, acc) = (&a[..m * kp], &mut acc[..m * n]);
    if m * n * kp < PARALLEL_MIN_MACS || m <= ROWS_PER_TASK {
        block((a, acc));
    } else {
        let tasks = a.par_chunks(ROWS_PER_TASK * kp);
        tasks
            .zip(acc.par_chunks_mut(ROWS_PER_TASK * n))
            .for_each(block);
    }
}

fn rows_times(a: &[u8], w: &[i8], kp: usize, n: usize, acc: &mut [i32]) {
    let m = a.len() / kp.max(1);
    for i in (0..m).step_by(MR) {
        let mr = (m - i).min(MR);
        for j in (0..n).step_by(NR) {
            let nr = (n - j).min(NR);
            let (rows, cols) = (&a[i * kp..(i + mr) * kp], &w[j * kp..(j + nr) * kp]);
            let sums = tile(rows, cols, kp, (mr, nr));
            for (r, s) in sums.iter().take(mr).enumerate() {
                acc[(i + r) * n + j..][..nr].copy_from_slice(&s[..nr]);
            }
        }
    }
}

/// The dot products of up to [`MR`] rows of `a` and [`NR`] rows of `w`.
fn tile(a: &[u8], w: &[i8], kp: usize, (mr, nr): (usize, usize)) -> [[i32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    if nr == NR && available() {
        #[allow(unsafe_code)]
        // SAFETY: `available()` checked that this CPU has AVX-512F, AVX-512BW and VNNI, the
        // features `x86::tile` is compiled for; it reads its slices through safe indexing.
        return unsafe {
            match mr {
                1 => x86::tile::<1>(a, w, kp),
                2 => x86::tile::<2>(a, w, kp),
                3 => x86::tile::<3>(a, w, kp),
                _ => x86::tile::<MR>(a, w, kp),
            }
        };
    }
    let mut sums = [[0i32; NR]; MR];
    for (r, row) in a.chunks_exact(kp).take(mr).enumerate() {
        for (c, col) in w.chunks_exact(kp).take(nr).enumerate() {
            sums[r][c] = row
                .iter()
                .zip(col)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
        }
    }
    sums
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, STEP};
    use core::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_reduce_add_epi32, _mm512_setzero_si512,
    };

    /// `R` rows against [`NR`]: per step, `R` + [`NR`] loads and `R * NR` `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) fn tile<const R: usize>(a: &[u8], w: &[i8], kp: usize) -> [[i32; NR]; MR] {
        let rows: [&[[u8; STEP]]; R] =
            std::array::from_fn(|r| a[r * kp..(r + 1) * kp].as_chunks::<STEP>().0);
        let cols: [&[[i8; STEP]]; NR] =
            std::array::from_fn(|c| w[c * kp..(c + 1) * kp].as_chunks::<STEP>().0);
        let mut acc = [[_mm512_setzero_si512(); NR]; R];
        for s in 0..kp / STEP {
            let x: [__m512i; R] = std::array::from_fn(|r| pulp::cast(rows[r][s]));
            let y: [__m512i; NR] = std::array::from_fn(|c| pulp::cast(cols[c][s]));
            for r in 0..R {
                for c in 0..NR {
                    acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], x[r], y[c]);
                }
            }
        }
        let mut sums = [[0i32; NR]; MR];
        for r in 0..R {
            for c in 0..NR {
                sums[r][c] = _mm512_reduce_add_epi32(acc[r][c]);
            }
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
        for &(m, n, k) in &[
            (1usize, 1usize, 1usize),
            (5, 7, 65),
            (9, 4, 64),
            (4, 9, 50),
            (33, 10, 784),
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
            product(&a, m, &w, kp, n, &mut acc);
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
