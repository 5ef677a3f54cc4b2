//! What inference runs inside a node: the nodes after it that need no pass of their own over
//! memory. A relu after a dense layer is applied with its bias; a max pooling after a
//! convolution (the plan puts it before the relu that the program writes first) pools the
//! product before its bias, in the convolution's blocks, and applies the relu after it too
//! (an int8 convolution pools its product after the bias, in one pass with the relu).
//! Adding a channel's bias and relu are monotone, so they commute with the maximum: the values
//! are those of the separate passes. Training keeps every node's output, so it folds nothing.
//!
//! Before any of that, inference folds a batch norm that follows a convolution or a dense layer
//! into that layer's weights and bias ([`Plan::without_batchnorm`]): in inference a batch norm
//! is a fixed scale and shift per channel, so the layer computes the same function (up to
//! rounding) with no pass of its own, and the pooling after it folds into the convolution
//! again. An int8 layer keeps its integer weights and takes the scale in its dequantization.

use super::Plan;
use super::activation::Activation;
use super::node::{Node, seg};
use super::pool::PoolGeom;

/// What inference folds into a node.
#[derive(Clone, Copy)]
pub(super) enum Fold<'p> {
    None,
    /// A dense layer applies the relu after it.
    Relu,
    /// A convolution runs the max pooling after it, and the relu after that when `true`.
    Pool(&'p PoolGeom, bool),
}

impl<'p> Fold<'p> {
    /// What inference folds into node `i` of `nodes`.
    pub fn of(nodes: &'p [Node], i: usize) -> Fold<'p> {
        let next = |j: usize| nodes.get(i + j);
        let relu = |n: Option<&Node>| matches!(n, Some(Node::Act(Activation::Relu)));
        match (&nodes[i], next(1)) {
            (Node::Dense(_), n) if relu(n) => Fold::Relu,
            (Node::Conv(_), Some(Node::MaxPool(p))) => Fold::Pool(&p.g, relu(next(2))),
            _ => Fold::None,
        }
    }

    /// The nodes after this one that it runs.
    pub fn skips(self) -> usize {
        match self {
            Fold::None => 0,
            Fold::Relu => 1,
            Fold::Pool(_, relu) => 1 + usize::from(relu),
        }
    }

    /// Which buffer after the node's own holds what it leaves (0: its own).
    pub fn output(self) -> usize {
        match self {
            Fold::Pool(..) => self.skips(),
            _ => 0,
        }
    }
}

/// A monotone activation followed by max pooling runs as the pooling then the activation: the
/// same values and gradients (both pick the same window element), on a quarter of the elements
/// for a 2x2 pool. (Only a NaN input can tell them apart.)
pub(super) fn pool_before_activation(
    nodes: &mut [Node],
    labels: &mut [String],
    sizes: &mut [usize],
) {
    for i in 0..nodes.len().saturating_sub(1) {
        let monotone = matches!(
            nodes[i],
            Node::Act(Activation::Relu | Activation::Tanh | Activation::Sigmoid)
        );
        if monotone && matches!(nodes[i + 1], Node::MaxPool(_)) {
            nodes.swap(i, i + 1);
            labels.swap(i, i + 1);
            sizes[i + 1] = sizes[i + 2];
        }
    }
}

/// A plan for inference with its batch norms folded into the layers before them
/// ([`Plan::without_batchnorm`]), its parameters, and how its nodes stand to the plan's as
/// written.
#[derive(Debug)]
pub(crate) struct Folded {
    pub plan: Plan,
    pub params: Vec<f32>,
    /// For each node as written, its node here (a folded batch norm: the layer it went into).
    at: Vec<usize>,
    /// For each node here, the scale its outputs took from a folded batch norm.
    scales: Vec<Option<Vec<f32>>>,
}

impl Folded {
    /// Where node `i` of the plan as written is here (a folded batch norm: the layer it went
    /// into), and the scale per output that layer's outputs took from a batch norm, if any.
    pub fn place(&self, i: usize) -> (usize, Option<&[f32]>) {
        let at = self.at[i];
        (at, self.scales[at].as_deref())
    }
}

impl Plan {
    /// This plan and its parameters for inference, with every batch norm that follows a
    /// convolution or a dense layer folded into that layer: its weights scaled per output
    /// channel, its bias scaled and shifted, and the batch norm's node gone; `None` when there
    /// is none to fold. Only for [`super::Mode::Eval`]: the nodes no longer match the
    /// program's layers one for one.
    pub fn without_batchnorm(&self, params: &[f32], stats: &[f32]) -> Option<Folded> {
        let n = self.nodes.len();
        let mut f = Folded {
            plan: self.clone(),
            params: params.to_vec(),
            at: (0..n).collect(),
            scales: vec![None; n],
        };
        let mut i = 0;
        while i + 1 < f.plan.nodes.len() {
            if let Node::BatchNorm(bn) = &f.plan.nodes[i + 1] {
                let (scale, shift) = bn.affine(&f.params, stats);
                if scale_outputs(&f.plan.nodes[i], &mut f.params, (&scale, &shift)) {
                    f.remove(i + 1);
                    f.scales[i] = Some(scale);
                }
            }
            i += 1;
        }
        (f.plan.nodes.len() < n).then_some(f)
    }
}

impl Folded {
    /// Node `i` (a batch norm folded into node `i - 1`) taken out; it keeps its input's size.
    fn remove(&mut self, i: usize) {
        let plan = &mut self.plan;
        plan.nodes.remove(i);
        plan.labels.remove(i);
        plan.sizes.remove(i);
        self.scales.remove(i);
        // Indices from `i` on move down one (`i` itself onto the layer it went into); counts
        // of nodes before `i` stay.
        let index = |n: usize| if n >= i { n - 1 } else { n };
        self.at.iter_mut().for_each(|n| *n = index(*n));
        plan.first_trainable = index(plan.first_trainable);
        if let Some(base) = plan.base.as_mut().filter(|b| b.nodes > i) {
            base.nodes -= 1;
        }
    }
}

/// `node`'s outputs scaled and shifted per channel, `y * scale + shift`, in its weights and
/// bias, when it is a convolution or dense layer (`false` for other nodes).
fn scale_outputs(node: &Node, params: &mut [f32], (scale, shift): (&[f32], &[f32])) -> bool {
    let (w, b, inp, out, rows_out) = match node {
        // Convolution weights are `[oc, k]`: one row per output.
        Node::Conv(c) => (c.w, c.b, c.g.k(), c.g.oc, true),
        // Dense weights are `[inp, out]`: one column per output.
        Node::Dense(d) => (d.w, d.b, d.inp, d.out, false),
        _ => return false,
    };
    debug_assert_eq!(scale.len(), out, "a batch norm over the layer's outputs");
    for (o, s) in scale.iter().enumerate() {
        for j in 0..inp {
            params[w + if rows_out { o * inp + j } else { j * out + o }] *= s;
        }
    }
    let bias: Vec<f32> = seg(params, b, out).to_vec();
    for (o, v) in bias.iter().enumerate() {
        params[b + o] = v * scale[o] + shift[o];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::{Kernels, Mode};
    use super::*;

    /// The plan of an image program of `shape` whose `layers` give `classes` values.
    fn compiled(shape: &str, layers: &str, classes: usize) -> Plan {
        let text = format!(
            "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\n\
             shape = {shape}\nclasses = {classes}\n[model]\nlayers = [{layers}]\n"
        );
        let p = anneal_spec::Program::parse("anneal.toml", &text).unwrap();
        Plan::compile(p.input.shape, p.logit_layers(), classes).unwrap()
    }

    /// Folding the batch norms after a convolution and a dense layer leaves what inference
    /// computes (up to rounding) with running statistics far from the identity, takes their
    /// nodes out, and lets the convolution pool again; a batch norm after an activation stays.
    #[test]
    fn folded_batch_norms_compute_what_they_did() {
        let plan = compiled(
            "[3, 10, 10]",
            r#""conv 8 3x3", "batchnorm", "relu", "maxpool 2", "flatten", "dense 6", "batchnorm", "tanh", "batchnorm", "dense 3""#,
            3,
        );
        let mut rng = crate::SplitMix64::new(11);
        let mut uniform = |n: usize, lo: f32, hi: f32| rng.uniform(n, (lo, hi));
        let params = uniform(plan.n_params(), -0.7, 0.7);
        // Running means and variances (positive) alike, far from 0 and 1.
        let stats = uniform(plan.n_stats, 0.2, 3.0);
        let Folded {
            plan: folded,
            params: fparams,
            ..
        } = plan.without_batchnorm(&params, &stats).unwrap();
        assert_eq!(
            folded.nodes.len(),
            plan.nodes.len() - 2,
            "two batch norms folded"
        );
        assert!(matches!(Fold::of(&folded.nodes, 0), Fold::Pool(_, true)));
        let b = 5;
        let x = uniform(b * 300, -1.0, 1.0);
        let run = |plan: &Plan, params: &[f32]| {
            let mut ws = plan.workspace(b);
            let mode = Mode::Eval(&stats, Kernels::Gemm);
            plan.forward(params, &mut ws, &x, b, mode).to_vec()
        };
        let (want, got) = (run(&plan, &params), run(&folded, &fparams));
        let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 0.1, "logits worth comparing: {want:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * largest, "{got:?} against {want:?}");
        }
        // Nothing to fold: no second copy of the plan and its parameters.
        let nothing = compiled("[3, 10, 10]", r#""conv 8 3x3", "flatten""#, 8 * 8 * 8);
        assert!(nothing.without_batchnorm(&params, &stats).is_none());
    }

    /// An int8 model whose batch norms fold into its layers' dequantization (the same integer
    /// weights, scales times the batch norms' own, some negative) computes what it computed
    /// with the batch norms as passes of their own, up to the rounding of a few inputs.
    #[test]
    fn int8_layers_take_the_batch_norms_in_their_dequantization() {
        let plan = compiled(
            "[1, 10, 10]",
            r#""conv 8 3x3", "batchnorm", "relu", "maxpool 2", "flatten", "dense 6", "batchnorm", "relu", "dense 3""#,
            3,
        );
        let mut rng = crate::SplitMix64::new(5);
        let mut uniform = |n: usize, lo: f32, hi: f32| rng.uniform(n, (lo, hi));
        let mut params = uniform(plan.n_params(), -0.7, 0.7);
        let stats = uniform(plan.n_stats, 0.2, 3.0);
        // One channel's gamma exactly 0: its outputs are the batch norm's beta alone.
        let Node::BatchNorm(bn) = &plan.nodes[1] else {
            panic!("the conv's batch norm")
        };
        params[bn.gamma + 3] = 0.0;
        let b = 16;
        let x = uniform(b * 100, 0.0, 1.0);
        // Each weight on its output's int8 grid, as a quantized package holds them.
        let mut layers = Vec::new();
        for (i, node) in plan.nodes.iter().enumerate() {
            let (w, inp, out, rows) = match node {
                Node::Conv(c) => (c.w, c.g.k(), c.g.oc, true),
                Node::Dense(d) => (d.w, d.inp, d.out, false),
                _ => continue,
            };
            let at = |o: usize, j: usize| w + if rows { o * inp + j } else { j * out + o };
            let scales: Vec<f32> = (0..out)
                .map(|o| (0..inp).fold(0f32, |m, j| m.max(params[at(o, j)].abs())) / 127.0)
                .collect();
            for (o, s) in scales.iter().enumerate() {
                for j in 0..inp {
                    params[at(o, j)] = (params[at(o, j)] / s).round() * s;
                }
            }
            layers.push((i, scales));
        }
        let ranges = plan.input_ranges(&params, &stats, &x);
        let layers = layers
            .into_iter()
            .map(|(i, s)| {
                let (lo, hi) = ranges[i].unwrap();
                anneal_spec::QuantLayer::calibrated(i, lo, hi, s)
            })
            .collect();
        let q = anneal_spec::Quantization {
            scheme: anneal_spec::Scheme::Int8,
            calibration_examples: b,
            f32_accuracy: 0.0,
            layers,
        };
        let run = |plan: &Plan, params: &[f32], q8: &super::super::Int8| {
            let mut ws = plan.workspace(b);
            let mode = Mode::Eval(&stats, Kernels::Int8(q8));
            plan.forward(params, &mut ws, &x, b, mode).to_vec()
        };
        let want = run(
            &plan,
            &params,
            &super::super::Int8::new(&plan, &params, &q).unwrap(),
        );
        let f = plan.without_batchnorm(&params, &stats).unwrap();
        let int8 = super::super::Int8::folded(&plan, &params, &f, &q).unwrap();
        assert!(f.scales.iter().flatten().flatten().any(|s| *s < 0.0));
        // Every quantized layer is at its place (the conv, the two dense layers).
        let placed = [0, 4, 6].map(|i| int8.layer(i).is_some());
        assert_eq!(placed, [true; 3], "{:?}", f.at);
        let got = run(&f.plan, &f.params, &int8);
        let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 0.1, "logits worth comparing: {want:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 2e-3 * largest, "{got:?} against {want:?}");
        }
    }
}
