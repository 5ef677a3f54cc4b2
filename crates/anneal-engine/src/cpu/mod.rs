//! The compiled CPU engine.
//!
//! A program's layers are known before training starts, so they are compiled once into a
//! [`Plan`]: a fixed list of kernels with every shape resolved, every parameter at a fixed
//! offset of one flat buffer, and every activation, gradient and scratch buffer allocated once
//! for the largest batch ([`Workspace`]; a convolution's, at its first step). A training step is then a straight run of matrix
//! products (the `gemm` crate) and simple loops, with no graph recorded, no allocation and no
//! dispatch per tensor. Internal layouts are the engine's choice: images are channels-last and
//! convolution weights are stored `[out, ky, kx, in]` so that unfolded patches are contiguous;
//! [`Plan::load`] and [`Plan::export`] convert from and to the package layout
//! (`[out, in, ky, kx]`, as burn and PyTorch store them).
//!
//! One file per layer kind owns its compilation, parameters, scratch, forward and backward
//! passes and kernels: [`dense`], [`conv`], [`pool`], [`batchnorm`], [`activation`],
//! [`dropout`], [`reshape`]; [`node`] dispatches to them, and [`fold`] names the nodes that
//! inference runs inside the one before. Shared kernels are in `ops`, the matrix products in
//! `gemm` (batches) and `gemv` (a few rows, with a `partner` thread), and what inference keeps
//! per model (transformed convolution weights, packed dense panels) in `kept`.

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod direct;
mod dropout;
mod fold;
pub(crate) mod gemm;
mod gemv;
mod int8;
mod kept;
mod layernorm;
mod node;
mod ops;
mod partner;
mod pool;
mod qgemm;
mod reshape;
mod winograd;

use std::time::Instant;

use anneal_spec::{Base, Layer, NamedTensor, Reuse, Shape};

use crate::EngineError;
use crate::rng::SplitMix64;
use fold::{Fold, pool_before_activation};
use node::{Backward, Buffers, Forward, Node, Pooled, Scratch, Slot, Slots};

/// A program compiled for the CPU.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    input: Shape,
    nodes: Vec<Node>,
    /// The first node with trainable parameters (`nodes.len()` when none has).
    first_trainable: usize,
    /// The layer each node runs, as written in the program (for profiles).
    labels: Vec<String>,
    /// Values per example entering node `i` (`sizes[i]`) and leaving the last node.
    sizes: Vec<usize>,
    slots: Vec<Slot>,
    n_params: usize,
    n_stats: usize,
    classes: usize,
    /// The nodes a dependency gave the program (`use NAME ...`), and how they train.
    base: Option<BaseNodes>,
}

/// A plan's first nodes when they are a dependency's layers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseNodes {
    /// How many: the dependency's layers.
    pub nodes: usize,
    /// Batch norm and dropout run in them as in inference, in training too.
    pub inference: bool,
    /// Their trained parameters are `params[..split]`.
    pub split: usize,
    /// Their learning rate, as a factor of the program's (0: frozen).
    pub lr: f32,
}

/// Training or inference.
pub(crate) enum Mode<'a> {
    /// Running statistics (read only), no dropout; products as [`Kernels`] says.
    Eval(&'a [f32], Kernels<'a>),
    /// Batch statistics, dropout masks from the generator, running statistics updated.
    Train(&'a mut SplitMix64, &'a mut [f32]),
    /// Inference's arithmetic (running statistics, no dropout) with every activation kept, so
    /// that a backward pass can follow ([`Plan::input_gradient`]): what attacks and
    /// attributions differentiate.
    Frozen(&'a [f32]),
}

/// How inference runs the products of `dense` and `conv` layers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kernels<'a> {
    /// Through the GEMM, in f32, each convolution's weights put in its route's form per call.
    Gemm,
    /// In f32, the convolutions from weights [`Transformed`] once, and the dense layers of
    /// batches up to [`MAX_SMALL_BATCH`] from the [`Latency`] panels when there are some.
    Kept(&'a Transformed, Option<&'a Latency>),
    /// The layers [`Int8`] quantizes as integer products, the others through the GEMM.
    Int8(&'a Int8),
}

impl Mode<'_> {
    /// This mode, borrowed again.
    fn reborrow(&mut self) -> Mode<'_> {
        match self {
            Mode::Train(rng, stats) => Mode::Train(rng, stats),
            Mode::Eval(stats, k) => Mode::Eval(stats, *k),
            Mode::Frozen(stats) => Mode::Frozen(stats),
        }
    }

    /// Training's running statistics, read as [`Mode::Frozen`] reads them (other modes: as
    /// they are, without the latency panels).
    fn frozen(&self) -> Mode<'_> {
        match self {
            Mode::Train(_, stats) => Mode::Frozen(stats),
            Mode::Eval(stats, _) => Mode::Eval(stats, Kernels::Gemm),
            Mode::Frozen(stats) => Mode::Frozen(stats),
        }
    }
}

/// Buffers for one batch size; reused across steps.
#[derive(Debug)]
pub(crate) struct Workspace {
    batch: usize,
    /// `acts[i]`: the input of node `i`; the last is the logits.
    acts: Vec<Vec<f32>>,
    grad: [Vec<f32>; 2],
    scratch: Vec<Scratch>,
    /// When profiling: seconds spent in each node, forward and backward, summed over calls.
    pub profile: Option<Vec<[f64; 2]>>,
}

impl Plan {
    /// Compile `layers` (which passed shape inference; no trailing softmax) for inputs of
    /// shape `input` and `classes` outputs.
    pub fn compile(input: Shape, layers: &[Layer], classes: usize) -> Result<Plan, EngineError> {
        let table = anneal_spec::shape::infer_layers(input, layers)?;
        let mut slots = Slots::default();
        let mut nodes = Vec::with_capacity(layers.len());
        let mut sizes = vec![input.elements()];
        let mut cur = input;
        for (i, (layer, row)) in layers.iter().zip(&table.layers).enumerate() {
            nodes.push(Node::compile(i, *layer, cur, row.output, &mut slots)?);
            sizes.push(row.output.elements());
            cur = row.output;
        }
        if cur.elements() != classes {
            let n = cur.elements();
            return Err(EngineError::Input(format!(
                "the last layer gives {n} values, the program has {classes} classes"
            )));
        }
        let mut labels: Vec<String> = layers.iter().map(ToString::to_string).collect();
        pool_before_activation(&mut nodes, &mut labels, &mut sizes);
        let first_trainable = nodes
            .iter()
            .position(Node::trainable)
            .unwrap_or(nodes.len());
        Ok(Plan {
            first_trainable,
            input,
            nodes,
            labels,
            sizes,
            slots: slots.slots,
            n_params: slots.n_params,
            n_stats: slots.n_stats,
            classes,
            base: None,
        })
    }

    /// This plan with its first `base.layers` nodes trained as `base` says: frozen nodes take
    /// no backward pass at all, and with batch norm in inference mode their forward pass in
    /// training runs as in [`Mode::Frozen`].
    pub fn with_base(mut self, base: &Base) -> Plan {
        let own = |s: &&Slot| !s.running && s.layer < base.layers;
        let split = self
            .slots
            .iter()
            .filter(own)
            .map(|s| s.offset + s.len)
            .max();
        if base.reuse == Reuse::Frozen {
            let nodes = self.nodes.iter().enumerate().skip(base.layers);
            let first = nodes.filter(|(_, n)| n.trainable()).map(|(i, _)| i).next();
            self.first_trainable = first.unwrap_or(self.nodes.len());
        }
        self.base = Some(BaseNodes {
            nodes: base.layers.min(self.nodes.len()),
            inference: base.reuse.inference_mode(),
            split: split.unwrap_or(0),
            lr: base.reuse.lr_factor() as f32,
        });
        self
    }

    /// The dependency's nodes, when the program reuses one.
    pub fn base(&self) -> Option<BaseNodes> {
        self.base
    }

    /// Nodes below this one run batch norm and dropout as in inference in `mode` (only
    /// training's differs, for a base in inference mode).
    fn inference_below(&self, mode: &Mode<'_>) -> usize {
        match mode {
            Mode::Train(..) => self.base_in_inference(),
            _ => 0,
        }
    }

    /// The base's nodes when its batch norm and dropout run as in inference, else 0.
    fn base_in_inference(&self) -> usize {
        self.base.filter(|b| b.inference).map_or(0, |b| b.nodes)
    }

    /// Number of classes (logits per example).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of trained parameters.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Parameters and running statistics in the engine's layouts, from package tensors.
    pub fn load(&self, tensors: &[NamedTensor]) -> Result<(Vec<f32>, Vec<f32>), EngineError> {
        if tensors.len() != self.slots.len() {
            return Err(EngineError::Weights(format!(
                "the package has {} tensors, the model needs {}",
                tensors.len(),
                self.slots.len()
            )));
        }
        let mut params = vec![0f32; self.n_params];
        let mut stats = vec![0f32; self.n_stats];
        for s in &self.slots {
            let t = s.find(tensors)?;
            let dst = if s.running { &mut stats } else { &mut params };
            s.import(&t.data, &mut dst[s.offset..s.offset + s.len]);
        }
        Ok((params, stats))
    }

    /// Package tensors (names and layouts as [`crate::params::param_layout`]) from the engine's
    /// buffers.
    pub fn export(&self, params: &[f32], stats: &[f32]) -> Vec<NamedTensor> {
        let buffers = Buffers { params, stats };
        self.slots.iter().map(|s| s.export(buffers)).collect()
    }

    /// Buffers for batches of up to `batch` examples.
    pub fn workspace(&self, batch: usize) -> Workspace {
        let batch = batch.max(1);
        let widest = self.sizes.iter().copied().max().unwrap_or(0);
        let scratch = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| node.scratch(batch, self.sizes[i], self.sizes[i + 1]))
            .collect();
        Workspace {
            batch,
            acts: self.sizes.iter().map(|s| vec![0.0; batch * s]).collect(),
            grad: [vec![0.0; batch * widest], vec![0.0; batch * widest]],
            scratch,
            profile: None,
        }
    }

    /// Run `b` examples (`x`, channel-major as the package and callers see them) through the
    /// plan; returns the logits, `b x classes`. Training mode updates the running statistics
    /// and keeps what [`Plan::backward`] needs in `ws`.
    ///
    /// Inference keeps no activations for a backward pass, so it copies nothing it need not:
    /// node 0 reads the caller's input where the layout already fits, nodes that only copy
    /// pass their input buffer on, and the nodes [`Fold`] names run inside the node before
    /// them. (`src` is the buffer the next node reads; `None`: the caller's.)
    pub fn forward<'w>(
        &self,
        params: &[f32],
        ws: &'w mut Workspace,
        input: &[f32],
        b: usize,
        mut mode: Mode<'_>,
    ) -> &'w [f32] {
        if b > ws.batch {
            *ws = self.workspace(b);
        }
        let eval = matches!(mode, Mode::Eval(..));
        let (latency, kept, int8) = match mode {
            Mode::Eval(_, Kernels::Kept(t, l)) => {
                (l.filter(|_| b <= MAX_SMALL_BATCH), Some(t), None)
            }
            Mode::Eval(_, Kernels::Int8(q)) => (None, None, Some(q)),
            _ => (None, None, None),
        };
        let mut src = self.load_input(ws, input, b, eval);
        let mut skip = 0usize;
        let inference_below = self.inference_below(&mode);
        let pass = Pass {
            params,
            input,
            b,
            latency,
            kept,
        };
        for (i, node) in self.nodes.iter().enumerate() {
            let started = ws.profile.is_some().then(Instant::now);
            if eval && (skip > 0 || node.copies_in_eval()) {
                skip = skip.saturating_sub(1);
                record(&mut ws.profile, i, 0, started);
                continue;
            }
            let int8 = int8.and_then(|q| q.layer(i));
            let fold = match eval {
                true => Fold::of(&self.nodes, i),
                false => Fold::None,
            };
            let mut mode = match i < inference_below {
                true => mode.frozen(),
                false => mode.reborrow(),
            };
            self.run_node(i, &pass, ws, src, (fold, int8), &mut mode);
            src = Some(i + 1 + fold.output());
            skip = fold.skips();
            record(&mut ws.profile, i, 0, started);
        }
        self.logits(ws, src, input, b)
    }

    /// The input where node 0 reads it: channels-last in `acts[0]` for images of several
    /// channels, copied there for training, left where it is for inference (`None`).
    fn load_input(&self, ws: &mut Workspace, input: &[f32], b: usize, eval: bool) -> Option<usize> {
        match self.input {
            Shape::Image([c, h, w]) if c > 1 => {
                ops::to_channels_last(input, b, c, h * w, &mut ws.acts[0]);
                Some(0)
            }
            _ if eval => None,
            _ => {
                let n = b * self.sizes[0];
                ws.acts[0][..n].copy_from_slice(&input[..n]);
                Some(0)
            }
        }
    }

    /// Node `i`'s forward pass, reading buffer `src` (`None`: the caller's input), writing its
    /// own, or with `fold` the last folded node's.
    fn run_node(
        &self,
        i: usize,
        p: &Pass<'_, '_>,
        ws: &mut Workspace,
        src: Option<usize>,
        (fold, int8): (Fold<'_>, Option<&int8::QNode>),
        mode: &mut Mode<'_>,
    ) {
        let b = p.b;
        let (before, after) = ws.acts.split_at_mut(i + 1);
        let x = match src {
            Some(s) => &before[s][..b * self.sizes[i]],
            None => &p.input[..b * self.sizes[i]],
        };
        let (y, rest) = after.split_at_mut(1);
        let pool = match fold {
            Fold::Pool(g, relu) => Some(Pooled {
                g,
                relu,
                out: &mut rest[fold.skips() - 1][..b * self.sizes[i + 1 + fold.skips()]],
            }),
            _ => None,
        };
        self.nodes[i].forward(Forward {
            params: p.params,
            x,
            y: &mut y[0][..b * self.sizes[i + 1]],
            b,
            scratch: &mut ws.scratch[i],
            mode,
            fuse_relu: matches!(fold, Fold::Relu),
            latency: p.latency.and_then(|l| l.of(i)),
            kept: p.kept.and_then(|t| t.get(i)),
            int8,
            pool,
        });
    }

    /// The logits of the last forward pass, which wrote them to `acts[src]`.
    fn logits<'w>(
        &self,
        ws: &'w mut Workspace,
        src: Option<usize>,
        input: &[f32],
        b: usize,
    ) -> &'w [f32] {
        let n = b * self.classes;
        match src {
            Some(s) => &ws.acts[s][..n],
            None => {
                // Only copies: the logits are the input itself.
                let last = self.nodes.len();
                ws.acts[last][..n].copy_from_slice(&input[..n]);
                &ws.acts[last][..n]
            }
        }
    }

    /// Gradients of the loss with respect to every parameter, into `grads`, given the
    /// gradient with respect to the logits (written by the caller through
    /// [`Workspace::logits_and_grad`]) and the activations of the last training-mode
    /// [`Plan::forward`] of the same `b` examples.
    pub fn backward(&self, params: &[f32], ws: &mut Workspace, b: usize, grads: &mut [f32]) {
        // No gradient is needed below the first node with parameters (for an MLP that skips a
        // whole product, the first layer's input gradient).
        self.backward_to(params, ws, b, grads, self.first_trainable + 1, false);
    }

    /// The gradient with respect to the input of the last [`Mode::Frozen`] forward pass of the
    /// same `b` examples, channel-major as the input was given, into `dx`; the logit gradient
    /// written by the caller as for [`Plan::backward`]. Parameter gradients are not computed
    /// (`grads` is only written by layer norm, as scratch).
    pub fn input_gradient(
        &self,
        params: &[f32],
        ws: &mut Workspace,
        b: usize,
        grads: &mut [f32],
        dx: &mut [f32],
    ) {
        let cur = self.backward_to(params, ws, b, grads, 0, true);
        let g = &ws.grad[cur][..b * self.sizes[0]];
        match self.input {
            Shape::Image([c, h, w]) if c > 1 => ops::to_channel_major(g, b, c, h * w, dx),
            _ => dx[..g.len()].copy_from_slice(g),
        }
    }

    /// Run the nodes backwards, computing input gradients down to node `lowest`'s; `frozen`:
    /// the forward pass ran in [`Mode::Frozen`]. Returns the gradient buffer the last input
    /// gradient is in.
    fn backward_to(
        &self,
        params: &[f32],
        ws: &mut Workspace,
        b: usize,
        grads: &mut [f32],
        lowest: usize,
        frozen: bool,
    ) -> usize {
        // `cur` holds the gradient flowing into the output of node `i`.
        let mut cur = 0;
        let inference_below = self.base_in_inference();
        for (i, node) in self.nodes.iter().enumerate().rev() {
            if !frozen && i < self.first_trainable {
                // Nothing below has parameters to train, nor needs an input gradient.
                break;
            }
            let started = ws.profile.is_some().then(Instant::now);
            let [g0, g1] = &mut ws.grad;
            let (dy, dx) = if cur == 0 { (&*g0, g1) } else { (&*g1, g0) };
            let need_dx = i >= lowest;
            node.backward(Backward {
                frozen: frozen || i < inference_below,
                weights: !frozen,
                params,
                grads: &mut *grads,
                x: &ws.acts[i][..b * self.sizes[i]],
                y: &ws.acts[i + 1][..b * self.sizes[i + 1]],
                dy: &dy[..b * self.sizes[i + 1]],
                dx: need_dx.then_some(&mut dx[..b * self.sizes[i]]),
                b,
                scratch: &mut ws.scratch[i],
            });
            record(&mut ws.profile, i, 1, started);
            cur = 1 - cur;
        }
        cur
    }
}

/// What every node of one forward pass shares.
struct Pass<'a, 'l> {
    params: &'a [f32],
    /// The caller's input.
    input: &'a [f32],
    b: usize,
    latency: Option<&'l Latency>,
    kept: Option<&'l Transformed>,
}

/// Add the time since `started` to node `i`'s forward (0) or backward (1) total.
fn record(profile: &mut Option<Vec<[f64; 2]>>, i: usize, pass: usize, started: Option<Instant>) {
    if let (Some(t), Some(p)) = (started, profile) {
        p[i][pass] += t.elapsed().as_secs_f64();
    }
}

impl Plan {
    /// The layer node `i` runs, as the program writes it.
    pub fn label(&self, i: usize) -> &str {
        &self.labels[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// Batches up to this size are latency-bound: their dense layers run from panels
/// ([`Latency`]) rather than through the GEMM.
pub(crate) const MAX_SMALL_BATCH: usize = gemv::MAX_ROWS;

impl Workspace {
    /// The logits of the last forward pass and the logit-gradient buffer, together.
    pub fn logits_and_grad(&mut self, len: usize) -> (&[f32], &mut [f32]) {
        let last = self.acts.len() - 1;
        (&self.acts[last][..len], &mut self.grad[0][..len])
    }
}

pub(crate) use fold::Folded;
pub(crate) use int8::Int8;
pub(crate) use kept::{Latency, Transformed};
pub(crate) use ops::{adam, sgd, softmax_cross_entropy, softmax_rows};
pub(crate) use qgemm::{Packed as QPacked, product as qproduct};
