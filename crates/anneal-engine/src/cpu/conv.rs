//! `conv C KxK [stride S] [pad P]`: 2-D convolution of a channels-last image, as one GEMM over
//! unfolded patches (im2col); weights stored `[C, ky, kx, Cin]` here, `[C, Cin, ky, kx]` in the
//! package. `H' = (H + 2P - K) / S + 1`.

use anneal_spec::Layer;

use super::node::{Backward, Forward, Scratch, Slots, grad_pair, seg};
use super::ops::{self, ConvGeom};
use crate::EngineError;

/// A compiled convolution: its geometry and parameter offsets.
#[derive(Debug, Clone)]
pub(super) struct Conv {
    pub g: ConvGeom,
    pub w: usize,
    pub b: usize,
}

impl Conv {
    /// Compile `layer` (a `conv`) from `[c, h, w]` to `[_, oh, ow]`.
    pub fn compile(
        i: usize,
        layer: Layer,
        [c, h, w]: [usize; 3],
        [_, oh, ow]: [usize; 3],
        slots: &mut Slots,
    ) -> Result<Conv, EngineError> {
        let Layer::Conv {
            channels: oc,
            kernel: [kh, kw],
            stride,
            pad,
        } = layer
        else {
            return Err(EngineError::Input(format!(
                "layer {} is not a convolution",
                i + 1
            )));
        };
        let g = ConvGeom {
            c,
            h,
            w,
            oc,
            kh,
            kw,
            stride,
            pad,
            oh,
            ow,
        };
        let shape = [oc, c, kh, kw];
        let w = slots.add(i, "weight", shape.to_vec(), Some(shape));
        let b = slots.add(i, "bias", vec![oc], None);
        Ok(Conv { g, w, b })
    }

    pub fn scratch(&self, batch: usize) -> Scratch {
        let g = &self.g;
        let col = vec![0.0; batch * g.oh * g.ow * g.k()];
        Scratch {
            col,
            ..Scratch::default()
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let g = &self.g;
        let (w, b) = (
            seg(f.params, self.w, g.oc * g.k()),
            seg(f.params, self.b, g.oc),
        );
        ops::conv_forward(f.x, f.b, g, w, b, &mut f.scratch.col, f.y);
    }

    pub fn backward(&self, k: Backward<'_>) {
        let g = &self.g;
        let (gw, gb) = grad_pair(k.grads, self.w, g.oc * g.k(), self.b, g.oc);
        let w = seg(k.params, self.w, g.oc * g.k());
        ops::conv_backward(k.b, g, w, k.dy, &mut k.scratch.col, gw, gb, k.dx);
    }
}
