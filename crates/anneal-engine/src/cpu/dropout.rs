//! `dropout P`: in training, each value is zeroed with probability P and the rest scaled by
//! `1 / (1 - P)`, with the mask drawn from the run's seeded generator; in inference, a copy.

use super::node::{Backward, Forward, Scratch};
use super::{Mode, ops};

/// A compiled dropout.
#[derive(Debug, Clone)]
pub(super) struct Dropout {
    pub p: f64,
}

impl Dropout {
    pub fn forward(&self, f: Forward<'_, '_>) {
        let Mode::Train(rng, _) = f.mode else {
            return f.y.copy_from_slice(f.x);
        };
        if self.p <= 0.0 {
            return f.y.copy_from_slice(f.x);
        }
        let keep = 1.0 / (1.0 - self.p) as f32;
        let threshold = (self.p * (1u64 << 53) as f64) as u64;
        for m in &mut f.scratch.mask[..f.x.len()] {
            *m = if rng.next_u64() >> 11 < threshold {
                0.0
            } else {
                keep
            };
        }
        ops::multiply(f.x, &f.scratch.mask, f.y);
    }

    pub fn backward(&self, k: Backward<'_>) {
        match k.dx {
            Some(dx) if self.p > 0.0 && !k.frozen => ops::multiply(k.dy, &k.scratch.mask, dx),
            Some(dx) => dx.copy_from_slice(k.dy),
            None => {}
        }
    }
}

/// Dropout's scratch: one mask value per input value.
pub(super) fn scratch(batch: usize, inp: usize) -> Scratch {
    Scratch {
        mask: vec![0.0; batch * inp],
        ..Scratch::default()
    }
}
