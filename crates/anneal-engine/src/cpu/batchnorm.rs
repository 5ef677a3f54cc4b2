//! `batchnorm`: per feature (flat) or per channel (images), `y = gamma (x - mean) / sd + beta`,
//! with the batch's statistics in training (running statistics updated with momentum 0.1) and
//! the running ones in inference.

use anneal_spec::Shape;

use super::node::{Backward, Forward, Scratch, Slots, grad_pair, seg};
use super::{Mode, ops};

/// A compiled batch norm: its width and parameter offsets (running statistics in `stats`).
#[derive(Debug, Clone)]
pub(super) struct BatchNorm {
    pub c: usize,
    pub gamma: usize,
    pub beta: usize,
    pub mean: usize,
    pub var: usize,
}

impl BatchNorm {
    pub fn compile(i: usize, shape: Shape, slots: &mut Slots) -> BatchNorm {
        let c = match shape {
            Shape::Flat([f]) => f,
            Shape::Image([c, _, _]) => c,
        };
        let mut slot = |name| slots.add(i, name, vec![c], None);
        let (gamma, beta) = (slot("gamma"), slot("beta"));
        let (mean, var) = (slot("running_mean"), slot("running_var"));
        BatchNorm {
            c,
            gamma,
            beta,
            mean,
            var,
        }
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            saved: vec![0.0; 2 * self.c],
            ..Scratch::default()
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        let c = self.c;
        let rows = f.x.len() / c;
        let (gamma, beta) = (seg(f.params, self.gamma, c), seg(f.params, self.beta, c));
        match f.mode {
            Mode::Train(_, stats) => {
                let (rm, rv) = running_pair(stats, self.mean, self.var, c);
                ops::batchnorm_train(f.x, rows, gamma, beta, rm, rv, &mut f.scratch.saved, f.y);
            }
            Mode::Eval(stats, _) => {
                let (rm, rv) = (
                    &stats[self.mean..self.mean + c],
                    &stats[self.var..self.var + c],
                );
                ops::batchnorm_eval(f.x, rows, gamma, beta, rm, rv, f.y);
            }
        }
    }

    pub fn backward(&self, k: Backward<'_>) {
        let c = self.c;
        let rows = k.x.len() / c;
        let (gg, gb) = grad_pair(k.grads, self.gamma, c, self.beta, c);
        let gamma = seg(k.params, self.gamma, c);
        ops::batchnorm_backward(k.x, rows, gamma, &k.scratch.saved, k.dy, gg, gb, k.dx);
    }
}

/// The running mean and variance of one batch-norm layer, both mutable.
fn running_pair(stats: &mut [f32], mean: usize, var: usize, c: usize) -> (&mut [f32], &mut [f32]) {
    let (a, b) = stats.split_at_mut(var);
    (&mut a[mean..mean + c], &mut b[..c])
}
