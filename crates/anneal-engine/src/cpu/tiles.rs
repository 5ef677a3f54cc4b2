//! How the int8 products ([`super::int8`]'s `vpmaddwd` kernels, [`super::vnni`]'s) are cut
//! up: blocks of [`ROWS_PER_TASK`] rows in parallel (products large enough to be worth it),
//! each block in tiles of up to [`MR`] rows of the inputs against [`NR`] rows of the weights,
//! whose dot products one pass over `k` computes together, each value loaded once for
//! several products.

use rayon::prelude::*;

/// Tile sizes.
pub(super) const MR: usize = 4;
pub(super) const NR: usize = 4;

/// Rows of the left operand per parallel task.
pub(super) const ROWS_PER_TASK: usize = 32;

/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The sums of one tile: `[r][c]` is row `r` of the inputs against row `c` of the weights.
pub(super) type Sums = [[i32; NR]; MR];

/// `acc[m x n] = a[m x kp] * wᵀ` (`w` is `n x kp`), `tile(a, w, (rows, cols))` giving the
/// sums of up to [`MR`] rows of `a` against up to [`NR`] rows of `w`.
pub(super) fn tiled<T: Sync, U: Sync>(
    (a, m): (&[T], usize),
    (w, n): (&[U], usize),
    kp: usize,
    acc: &mut [i32],
    tile: impl Fn(&[T], &[U], (usize, usize)) -> Sums + Sync,
) {
    let block = |(rows, acc): (&[T], &mut [i32])| rows_times(rows, w, (kp, n), acc, &tile);
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

/// [`tiled`] for the rows in `a`, tile by tile: each strip of [`NR`] weight rows, read once
/// from memory, goes over all the rows of `a` (a task's few kB, in cache) while it is in L1.
/// Rows outside, strips inside, read all the weights (0.8 MB as i16 for the digits MLP's
/// first layer, more than an EPYC core's L2) again for every [`MR`] rows, and the AVX2 kernel
/// ran at 30-39 GMAC/s on one thread instead of 46-51 (`inference 1 1 kernels`).
pub(super) fn rows_times<T, U>(
    a: &[T],
    w: &[U],
    (kp, n): (usize, usize),
    acc: &mut [i32],
    tile: &impl Fn(&[T], &[U], (usize, usize)) -> Sums,
) {
    let m = a.len() / kp.max(1);
    for j in (0..n).step_by(NR) {
        let nr = (n - j).min(NR);
        for i in (0..m).step_by(MR) {
            let mr = (m - i).min(MR);
            let sums = tile(
                &a[i * kp..(i + mr) * kp],
                &w[j * kp..(j + nr) * kp],
                (mr, nr),
            );
            for (r, s) in sums.iter().take(mr).enumerate() {
                acc[(i + r) * n + j..][..nr].copy_from_slice(&s[..nr]);
            }
        }
    }
}

/// A tile in portable code (edges, and CPUs without the vector kernels).
pub(super) fn portable<T: Copy + Into<i32>, U: Copy + Into<i32>>(
    a: &[T],
    w: &[U],
    kp: usize,
    (mr, nr): (usize, usize),
) -> Sums {
    let mut sums = [[0i32; NR]; MR];
    for (r, row) in a.chunks_exact(kp).take(mr).enumerate() {
        for (c, col) in w.chunks_exact(kp).take(nr).enumerate() {
            let products = row.iter().zip(col).map(|(x, y)| (*x).into() * (*y).into());
            sums[r][c] = products.sum();
        }
    }
    sums
}
