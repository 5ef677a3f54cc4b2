//! `maxpool K [stride S]` and `avgpool K [stride S]`: the maximum or mean over KxK windows of
//! each channel (stride K by default). Max pooling keeps the index of each window's maximum
//! for the backward pass.

use super::node::{Backward, Forward, Scratch};
use super::ops::{self, PoolGeom};

/// A compiled pooling layer.
#[derive(Debug, Clone)]
pub(super) struct Pool {
    pub g: PoolGeom,
}

impl Pool {
    /// A `kernel` window every `stride` from `[c, h, w]` to `[_, oh, ow]`.
    pub fn compile(
        k: usize,
        stride: usize,
        [c, h, w]: [usize; 3],
        [_, oh, ow]: [usize; 3],
    ) -> Pool {
        Pool {
            g: PoolGeom {
                c,
                h,
                w,
                k,
                stride,
                oh,
                ow,
            },
        }
    }

    pub fn max_forward(&self, f: Forward<'_, '_>) {
        ops::maxpool_forward(f.x, f.b, &self.g, f.y, &mut f.scratch.arg);
    }

    pub fn max_backward(&self, k: Backward<'_>) {
        if let Some(dx) = k.dx {
            ops::maxpool_backward(k.dy, k.b, &self.g, &k.scratch.arg, dx);
        }
    }

    pub fn avg_forward(&self, f: Forward<'_, '_>) {
        ops::avgpool_forward(f.x, f.b, &self.g, f.y);
    }

    pub fn avg_backward(&self, k: Backward<'_>) {
        if let Some(dx) = k.dx {
            ops::avgpool_backward(k.dy, k.b, &self.g, dx);
        }
    }
}

/// Max pooling's scratch: one index per output value.
pub(super) fn max_scratch(batch: usize, out: usize) -> Scratch {
    Scratch {
        arg: vec![0; batch * out],
        ..Scratch::default()
    }
}
