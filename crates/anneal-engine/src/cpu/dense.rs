//! `dense N`: `y = x W + b` for `x` `[B, I]`, `W` `[I, N]`, `b` `[N]` (weights stored as in
//! the package). Inference of a few rows streams packed weights ([`super::Latency`]); a relu
//! that follows is applied with the bias in the same pass.

use super::gemm::{View, matmul};
use super::node::{Backward, Forward, grad_pair, seg};
use super::ops::{add_rows, column_sums};

/// A compiled dense layer: sizes and parameter offsets.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    pub inp: usize,
    pub out: usize,
    pub w: usize,
    pub b: usize,
}

impl Dense {
    /// `offsets` of the weight and the bias, as the spec lists them.
    pub fn compile(inp: usize, out: usize, offsets: &[usize]) -> Dense {
        let (w, b) = (offsets[0], offsets[1]);
        Dense { inp, out, w, b }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let bias = seg(f.params, self.b, self.out);
        match f.latency {
            Some((l, k)) => {
                l.product(k, f.x, f.b, f.y);
                add_rows(f.y, f.b, bias, f.fuse_relu);
            }
            None => {
                let w = seg(f.params, self.w, self.inp * self.out);
                dense_forward(f.x, f.b, w, bias, f.fuse_relu, f.y);
            }
        }
    }

    pub fn backward(&self, k: Backward<'_>) {
        let n = self.inp * self.out;
        let w = seg(k.params, self.w, n);
        if !k.weights {
            // Only the input gradient is wanted.
            if let Some(dx) = k.dx {
                dense_input_gradient(k.b, w, k.dy, dx);
            }
            return;
        }
        let (gw, gb) = grad_pair(k.grads, self.w, n, self.b, self.out);
        dense_backward(k.x, k.b, w, k.dy, gw, gb, k.dx);
    }
}

// The kernels, on plain slices (channels-last images).

/// `y = x W + b` for `x: [b, inp]`, `W: [inp, out]`, then `max(y, 0)` with `relu`.
pub(crate) fn dense_forward(
    x: &[f32],
    b: usize,
    w: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let (out, inp) = (bias.len(), w.len() / bias.len());
    matmul(
        &mut y[..b * out],
        false,
        View::rows(&x[..b * inp], b, inp),
        View::rows(w, inp, out),
    );
    add_rows(y, b, bias, relu);
}

/// Gradients of [`dense_forward`]: `gw = xᵀ dy`, `gb = Σ dy`, and `dx = dy Wᵀ` when asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_backward(
    x: &[f32],
    b: usize,
    w: &[f32],
    dy: &[f32],
    gw: &mut [f32],
    gb: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (out, inp) = (gb.len(), w.len() / gb.len());
    let dyv = View::rows(&dy[..b * out], b, out);
    matmul(gw, false, View::rows(&x[..b * inp], b, inp).t(), dyv);
    column_sums(dy, b, out, gb);
    if let Some(dx) = dx {
        dense_input_gradient(b, w, dy, dx);
    }
}

/// `dx = dy Wᵀ`.
fn dense_input_gradient(b: usize, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (inp, out) = (dx.len() / b, dy.len() / b);
    let dyv = View::rows(&dy[..b * out], b, out);
    matmul(&mut dx[..b * inp], false, dyv, View::rows(w, inp, out).t());
}
