//! `flatten` of a multi-channel image: the engine keeps images channels-last, and `flatten`
//! promises the channel-major order of the package (`[B, C*H*W]` as PyTorch flattens), so it
//! transposes; one channel (or one pixel) is a plain copy the plan skips in inference.

use super::node::{Backward, Forward};
use super::ops;

/// A compiled flatten: channels and pixels per channel.
#[derive(Debug, Clone)]
pub(super) struct Flatten {
    pub c: usize,
    pub hw: usize,
}

impl Flatten {
    pub fn forward(&self, f: Forward<'_, '_>) {
        ops::to_channel_major(f.x, f.b, self.c, self.hw, f.y);
    }

    pub fn backward(&self, k: Backward<'_>) {
        if let Some(dx) = k.dx {
            ops::to_channels_last(k.dy, k.b, self.c, self.hw, dx);
        }
    }
}
