//! The one matrix product of the compiled engine: a bounds-checked, safe front for the `gemm`
//! crate. With the call into the VNNI kernel (`qgemm.rs`), the only `unsafe` in the workspace.

/// A read-only matrix view: element `(i, j)` is `data[i * rs + j * cs]`. Transposes are views
/// with swapped strides, never copies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of this view.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// True when every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        (self.rows - 1)
            .checked_mul(self.rs)
            .zip((self.cols - 1).checked_mul(self.cs))
            .and_then(|(a, b)| a.checked_add(b))
            .is_some_and(|last| last < self.data.len())
    }
}

/// Products smaller than this many multiply-adds run on one thread: splitting them costs more
/// than it saves. The choice depends on the shape only, never on the thread count, so results
/// do not depend on how many threads run (the split only assigns output blocks to threads).
/// Measured (`throughput S 2 shapes`): the MLP's 256x256x10 inference product (655k) took
/// 30-44 us split in two and 21-22 us on one thread; products of about 330k took the same
/// either way.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// `dst = a * b` (or `dst += a * b` with `accumulate`), `dst` row-major `a.rows x b.cols`.
///
/// # Panics
/// When the shapes disagree or a view reaches outside its slice: these are programming errors
/// of the plan, never user input.
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, a: View<'_>, b: View<'_>) {
    let parallel = a.rows * a.cols * b.cols >= PARALLEL_MIN_MACS;
    product(
        dst,
        accumulate,
        a,
        b,
        parallel && rayon::current_num_threads() > 1,
    );
}

/// [`matmul`] on the calling thread alone (for a caller that already has the others busy).
pub(crate) fn matmul_here(dst: &mut [f32], accumulate: bool, a: View<'_>, b: View<'_>) {
    product(dst, accumulate, a, b, false);
}

fn product(dst: &mut [f32], accumulate: bool, a: View<'_>, b: View<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert!(dst.len() >= m * n, "matmul: destination too small");
    assert!(a.in_bounds() && b.in_bounds(), "matmul: view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    #[allow(unsafe_code)]
    // SAFETY: `dst` holds at least m*n elements written row-major (row stride n, column stride
    // 1); `a` and `b` were checked above to address only elements inside their slices, and
    // the destination does not alias them (it is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View<'_>, b: View<'_>) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols)
                    .map(|p| a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs])
                    .sum();
            }
        }
        out
    }

    #[test]
    fn products_and_transposes_match_the_definition() {
        let a: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..20).map(|v| (v as f32).sin()).collect();
        let av = View::rows(&a, 3, 4);
        let bv = View::rows(&b, 4, 5);
        let mut out = vec![0.0; 15];
        matmul(&mut out, false, av, bv);
        let want = naive(av, bv);
        for (x, y) in out.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // (B^T)^T A^T... : A^T (4x3) times a 3x5 view of b's transpose-compatible data.
        let ct = View::rows(&b[..15], 5, 3).t();
        let mut out2 = vec![1.0; 20];
        matmul(&mut out2, true, av.t(), ct);
        let want2 = naive(av.t(), ct);
        for (x, y) in out2.iter().zip(&want2) {
            assert!((x - (y + 1.0)).abs() < 1e-5);
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 4];
        let mut out = vec![0.0; 4];
        matmul(&mut out, false, View::rows(&a, 2, 3), View::rows(&b, 3, 2));
    }
}
