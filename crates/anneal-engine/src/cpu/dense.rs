//! `dense N`: `y = x W + b` for `x` `[B, I]`, `W` `[I, N]`, `b` `[N]` (weights stored as in
//! the package). Inference of a few rows streams packed weights ([`super::Latency`]); a relu
//! that follows is applied with the bias in the same pass.

use super::node::{Backward, Forward, Slots, grad_pair, seg};
use super::ops;

/// A compiled dense layer: sizes and parameter offsets.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    pub inp: usize,
    pub out: usize,
    pub w: usize,
    pub b: usize,
}

impl Dense {
    pub fn compile(i: usize, inp: usize, out: usize, slots: &mut Slots) -> Dense {
        let w = slots.add(i, "weight", vec![inp, out], None);
        let b = slots.add(i, "bias", vec![out], None);
        Dense { inp, out, w, b }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let bias = seg(f.params, self.b, self.out);
        match f.latency {
            Some((l, k)) => {
                l.product(k, f.x, f.b, f.y);
                ops::add_rows(f.y, f.b, bias, f.fuse_relu);
            }
            None => {
                let w = seg(f.params, self.w, self.inp * self.out);
                ops::dense_forward(f.x, f.b, w, bias, f.fuse_relu, f.y);
            }
        }
    }

    pub fn backward(&self, k: Backward<'_>) {
        let n = self.inp * self.out;
        let (gw, gb) = grad_pair(k.grads, self.w, n, self.b, self.out);
        ops::dense_backward(k.x, k.b, seg(k.params, self.w, n), k.dy, gw, gb, k.dx);
    }
}
