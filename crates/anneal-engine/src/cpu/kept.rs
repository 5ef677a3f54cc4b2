//! What inference keeps beside a plan, built once per model rather than per call: every
//! convolution's weights in the form its route reads them ([`Transformed`]), and for small
//! batches every dense layer's weights repacked into panels with a partner thread
//! ([`Latency`]).

use std::sync::Arc;

use super::node::{Node, seg};
use super::{Plan, conv, gemv, partner};

/// Dense layers with fewer multiply-adds per row than this run on the caller alone: handing
/// half of them to the partner thread costs more than it saves (about 2 us of work).
const PARTNER_MIN_MACS: usize = 1 << 15;

/// Whether a layer's panels are worth splitting with the partner thread.
fn worth_sharing(w: &gemv::Packed) -> bool {
    w.inp() * w.out() >= PARTNER_MIN_MACS && w.panels() > 1
}

/// For each node, its weights in the form its convolution route reads them (Winograd's
/// transforms, the direct product's blocks), when it is a convolution that has such a form.
/// Transforming them per call costs about 50 us for the digits CNN's second layer: a tenth of
/// a batch of 8, and more than the transforms save at batches of 1-4.
#[derive(Debug, Default)]
pub(crate) struct Transformed {
    weights: Vec<Option<Vec<f32>>>,
}

impl Transformed {
    /// Node `i`'s weights as its route reads them, when they are kept.
    pub(super) fn get(&self, i: usize) -> Option<&[f32]> {
        self.weights.get(i)?.as_deref()
    }
}

/// What small-batch inference keeps beside a plan: every dense layer's weights repacked into
/// panels ([`gemv::Packed`], a second copy of those weights), and, on more than one thread, a
/// partner thread that computes some of the panels of the larger layers.
#[derive(Debug)]
pub(crate) struct Latency {
    /// For each node, the index of its packed weights when it is a dense layer.
    slot: Vec<Option<usize>>,
    layers: Arc<[gemv::Packed]>,
    partner: Option<partner::Partner>,
}

impl Latency {
    /// Node `i`'s packed weights, as `(self, index)`, when it is a dense layer.
    pub(super) fn of(&self, i: usize) -> Option<(&Latency, usize)> {
        self.slot.get(i).copied().flatten().map(|k| (self, k))
    }

    /// Rows `x` through packed layer `k` into `y`, half its panels on the partner thread
    /// when that is worth it.
    pub(super) fn product(&self, k: usize, x: &[f32], rows: usize, y: &mut [f32]) {
        let w = &self.layers[k];
        match &self.partner {
            Some(p) if worth_sharing(w) => {
                p.product(k, x, rows, y);
            }
            _ => w.product(x, rows, 0..w.panels(), y),
        }
    }
}

impl Plan {
    /// Pack this plan's dense layers for small batches; with `partner`, start a partner
    /// thread for layers large enough to share.
    pub fn latency(&self, params: &[f32], partner: bool) -> Latency {
        let mut slot = vec![None; self.nodes.len()];
        let mut layers = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Dense(d) = node {
                slot[i] = Some(layers.len());
                let w = seg(params, d.w, d.inp * d.out);
                layers.push(gemv::Packed::new(w, d.inp, d.out));
            }
        }
        let layers: Arc<[gemv::Packed]> = layers.into();
        let partner = (partner && layers.iter().any(worth_sharing))
            .then(|| partner::Partner::start(Arc::clone(&layers)))
            .flatten();
        Latency {
            slot,
            layers,
            partner,
        }
    }

    /// This plan's convolution weights in their routes' forms, for inference at any batch.
    pub fn transformed(&self, params: &[f32]) -> Transformed {
        let weights = self
            .nodes
            .iter()
            .map(|n| conv::route_weights(n, params))
            .collect();
        Transformed { weights }
    }
}
