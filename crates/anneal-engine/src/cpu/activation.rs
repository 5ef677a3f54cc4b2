//! `relu`, `gelu`, `tanh`, `sigmoid`: element-wise, under SIMD dispatch (kernels in `ops`).

use super::node::{Backward, Forward};
use super::ops::{self, Activation};

pub(super) fn forward(a: Activation, f: Forward<'_, '_>) {
    ops::activation_forward(a, f.x, f.y);
}

pub(super) fn backward(a: Activation, k: Backward<'_>) {
    if let Some(dx) = k.dx {
        ops::activation_backward(a, k.x, k.y, k.dy, dx);
    }
}
