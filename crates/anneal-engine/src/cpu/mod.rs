//! The compiled CPU engine.
//!
//! A program's layers are known before training starts, so they are compiled once into a
//! [`Plan`]: a fixed list of kernels with every shape resolved, every parameter at a fixed
//! offset of one flat buffer, and every activation, gradient and scratch buffer allocated once
//! for the largest batch ([`Workspace`]). A training step is then a straight run of matrix
//! products (the `gemm` crate) and simple loops, with no graph recorded, no allocation and no
//! dispatch per tensor. Internal layouts are the engine's choice: images are channels-last and
//! convolution weights are stored `[out, ky, kx, in]` so that unfolded patches are contiguous;
//! [`Plan::load`] and [`Plan::export`] convert from and to the package layout
//! (`[out, in, ky, kx]`, as burn and PyTorch store them).

pub(crate) mod gemm;
mod gemv;
mod ops;
mod partner;

use std::sync::Arc;

use std::time::Instant;

use anneal_spec::{Layer, NamedTensor, Shape};

use crate::EngineError;
use crate::rng::SplitMix64;
use ops::{Activation, ConvGeom, PoolGeom};

/// A parameter tensor's place in the flat buffers.
#[derive(Debug, Clone)]
struct Slot {
    name: String,
    /// Shape in the package.
    shape: Vec<usize>,
    offset: usize,
    len: usize,
    /// Convolution weights: stored `[oc, kh, kw, c]` here, `[oc, c, kh, kw]` in the package.
    conv: Option<[usize; 4]>,
    /// Running statistics live in the `stats` buffer, trained parameters in `params`.
    running: bool,
}

/// One compiled step. Offsets index the `params` (or, for running statistics, `stats`) buffer.
#[derive(Debug, Clone)]
enum Node {
    Dense {
        inp: usize,
        out: usize,
        w: usize,
        b: usize,
    },
    Conv {
        g: ConvGeom,
        w: usize,
        b: usize,
    },
    MaxPool(PoolGeom),
    AvgPool(PoolGeom),
    BatchNorm {
        c: usize,
        gamma: usize,
        beta: usize,
        mean: usize,
        var: usize,
    },
    Act(Activation),
    Dropout(f64),
    /// Channels-last image to the channel-major vector `flatten` promises.
    Flatten {
        c: usize,
        hw: usize,
    },
    Identity,
}

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
}

/// Training or inference.
pub(crate) enum Mode<'a> {
    /// Running statistics (read only), no dropout; dense layers of batches up to
    /// [`MAX_SMALL_BATCH`] run from the [`Latency`] panels when one is given.
    Eval(&'a [f32], Option<&'a Latency>),
    /// Batch statistics, dropout masks from the generator, running statistics updated.
    Train(&'a mut SplitMix64, &'a mut [f32]),
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

#[derive(Debug)]
enum Scratch {
    None,
    Col(Vec<f32>),
    Arg(Vec<u32>),
    /// Batch-norm mean and inverse deviation per channel.
    Saved(Vec<f32>),
    Mask(Vec<f32>),
}

impl Plan {
    /// Compile `layers` (which passed shape inference; no trailing softmax) for inputs of
    /// shape `input` and `classes` outputs.
    pub fn compile(input: Shape, layers: &[Layer], classes: usize) -> Result<Plan, EngineError> {
        let table = anneal_spec::shape::infer_layers(input, layers)
            .map_err(|e| EngineError::Input(format!("the layers do not fit the input: {e:?}")))?;
        let mut nodes = Vec::with_capacity(layers.len());
        let mut labels = Vec::with_capacity(layers.len());
        let mut slots = Vec::new();
        let mut sizes = vec![input.elements()];
        let (mut n_params, mut n_stats) = (0, 0);
        let mut slot = |name: String, shape: Vec<usize>, conv, running: bool| {
            let len = shape.iter().product();
            let counter = if running { &mut n_stats } else { &mut n_params };
            let offset = *counter;
            *counter += len;
            slots.push(Slot {
                name,
                shape,
                offset,
                len,
                conv,
                running,
            });
            offset
        };
        let mut cur = input;
        for (i, (layer, row)) in layers.iter().zip(&table.layers).enumerate() {
            let out = row.output;
            let node = match (*layer, cur, out) {
                (Layer::Dense { units }, Shape::Flat([inp]), _) => Node::Dense {
                    inp,
                    out: units,
                    w: slot(format!("layers.{i}.weight"), vec![inp, units], None, false),
                    b: slot(format!("layers.{i}.bias"), vec![units], None, false),
                },
                (
                    Layer::Conv {
                        channels,
                        kernel,
                        stride,
                        pad,
                    },
                    Shape::Image([c, h, w]),
                    Shape::Image([_, oh, ow]),
                ) => {
                    let [kh, kw] = kernel;
                    Node::Conv {
                        g: ConvGeom {
                            c,
                            h,
                            w,
                            oc: channels,
                            kh,
                            kw,
                            stride,
                            pad,
                            oh,
                            ow,
                        },
                        w: slot(
                            format!("layers.{i}.weight"),
                            vec![channels, c, kh, kw],
                            Some([channels, c, kh, kw]),
                            false,
                        ),
                        b: slot(format!("layers.{i}.bias"), vec![channels], None, false),
                    }
                }
                (
                    Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride },
                    Shape::Image([c, h, w]),
                    Shape::Image([_, oh, ow]),
                ) => {
                    let g = PoolGeom {
                        c,
                        h,
                        w,
                        k: kernel,
                        stride,
                        oh,
                        ow,
                    };
                    if matches!(layer, Layer::MaxPool { .. }) {
                        Node::MaxPool(g)
                    } else {
                        Node::AvgPool(g)
                    }
                }
                (Layer::BatchNorm, shape, _) => {
                    let c = match shape {
                        Shape::Flat([f]) => f,
                        Shape::Image([c, _, _]) => c,
                    };
                    Node::BatchNorm {
                        c,
                        gamma: slot(format!("layers.{i}.gamma"), vec![c], None, false),
                        beta: slot(format!("layers.{i}.beta"), vec![c], None, false),
                        mean: slot(format!("layers.{i}.running_mean"), vec![c], None, true),
                        var: slot(format!("layers.{i}.running_var"), vec![c], None, true),
                    }
                }
                (Layer::Relu, ..) => Node::Act(Activation::Relu),
                (Layer::Gelu, ..) => Node::Act(Activation::Gelu),
                (Layer::Tanh, ..) => Node::Act(Activation::Tanh),
                (Layer::Sigmoid, ..) => Node::Act(Activation::Sigmoid),
                (Layer::Dropout { p }, ..) => Node::Dropout(p),
                (Layer::Flatten | Layer::Softmax, Shape::Image([c, h, w]), _) if c > 1 => {
                    Node::Flatten { c, hw: h * w }
                }
                (Layer::Flatten | Layer::Softmax, ..) => Node::Identity,
                (layer, shape, _) => {
                    return Err(EngineError::Input(format!(
                        "layer {} ({layer:?}) cannot take input {shape:?}",
                        i + 1
                    )));
                }
            };
            nodes.push(node);
            labels.push(layer.to_string());
            sizes.push(out.elements());
            cur = out;
        }
        if cur.elements() != classes {
            return Err(EngineError::Input(format!(
                "the last layer gives {} values, the program has {classes} classes",
                cur.elements()
            )));
        }
        // A monotone activation followed by max pooling runs as the pooling then the
        // activation: the same values and gradients (both pick the same window element), on a
        // quarter of the elements for a 2x2 pool. (Only a NaN input can tell them apart.)
        for i in 0..nodes.len().saturating_sub(1) {
            if let (
                Node::Act(Activation::Relu | Activation::Tanh | Activation::Sigmoid),
                Node::MaxPool(_),
            ) = (&nodes[i], &nodes[i + 1])
            {
                nodes.swap(i, i + 1);
                labels.swap(i, i + 1);
                sizes[i + 1] = sizes[i + 2];
            }
        }
        let first_trainable = nodes
            .iter()
            .position(|n| {
                matches!(
                    n,
                    Node::Dense { .. } | Node::Conv { .. } | Node::BatchNorm { .. }
                )
            })
            .unwrap_or(nodes.len());
        Ok(Plan {
            first_trainable,
            input,
            nodes,
            labels,
            sizes,
            slots,
            n_params,
            n_stats,
            classes,
        })
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
            let t = tensors
                .iter()
                .find(|t| t.name == s.name)
                .ok_or_else(|| EngineError::Weights(format!("tensor `{}` is missing", s.name)))?;
            if t.shape != s.shape || t.data.len() != s.len {
                return Err(EngineError::Weights(format!(
                    "tensor `{}` has shape {:?}, the model expects {:?}",
                    s.name, t.shape, s.shape
                )));
            }
            let dst = if s.running {
                &mut stats[s.offset..s.offset + s.len]
            } else {
                &mut params[s.offset..s.offset + s.len]
            };
            match s.conv {
                // Per output channel, `[c, kh*kw]` to `[kh*kw, c]`: the activations' layout change.
                Some([oc, c, kh, kw]) => ops::to_channels_last(&t.data, oc, c, kh * kw, dst),
                None => dst.copy_from_slice(&t.data),
            }
        }
        Ok((params, stats))
    }

    /// Package tensors (names and layouts as [`crate::params::param_layout`]) from the engine's
    /// buffers.
    pub fn export(&self, params: &[f32], stats: &[f32]) -> Vec<NamedTensor> {
        self.slots
            .iter()
            .map(|s| {
                let src = if s.running {
                    &stats[s.offset..s.offset + s.len]
                } else {
                    &params[s.offset..s.offset + s.len]
                };
                let data = match s.conv {
                    Some([oc, c, kh, kw]) => {
                        let mut data = vec![0f32; s.len];
                        ops::to_channel_major(src, oc, c, kh * kw, &mut data);
                        data
                    }
                    None => src.to_vec(),
                };
                NamedTensor {
                    name: s.name.clone(),
                    shape: s.shape.clone(),
                    data,
                }
            })
            .collect()
    }

    /// Buffers for batches of up to `batch` examples.
    pub fn workspace(&self, batch: usize) -> Workspace {
        let batch = batch.max(1);
        let widest = self.sizes.iter().copied().max().unwrap_or(0);
        let scratch = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match node {
                Node::Conv { g, .. } => Scratch::Col(vec![0.0; batch * g.oh * g.ow * g.k()]),
                Node::MaxPool(_) => Scratch::Arg(vec![0; batch * self.sizes[i + 1]]),
                Node::BatchNorm { c, .. } => Scratch::Saved(vec![0.0; 2 * c]),
                Node::Dropout(_) => Scratch::Mask(vec![0.0; batch * self.sizes[i]]),
                _ => Scratch::None,
            })
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
        // Inference keeps no activations for a backward pass, so it copies nothing it need
        // not: node 0 reads the caller's input where the layout already fits, nodes that only
        // copy pass their input buffer on, and a relu after a dense layer is applied with its
        // bias in one pass. `src` is the buffer the next node reads (`None`: the caller's).
        let eval = matches!(mode, Mode::Eval(..));
        let latency = match mode {
            Mode::Eval(_, Some(l)) if b <= MAX_SMALL_BATCH => Some(l),
            _ => None,
        };
        let mut src = match self.input {
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
        };
        let mut relu_applied = false;
        for (i, node) in self.nodes.iter().enumerate() {
            let started = ws.profile.is_some().then(Instant::now);
            let passes_through = eval
                && (relu_applied
                    || match *node {
                        Node::Identity | Node::Dropout(_) => true,
                        Node::Flatten { c, hw } => c == 1 || hw == 1,
                        _ => false,
                    });
            relu_applied = false;
            if passes_through {
                if let (Some(t), Some(p)) = (started, &mut ws.profile) {
                    p[i][0] += t.elapsed().as_secs_f64();
                }
                continue;
            }
            let (before, after) = ws.acts.split_at_mut(i + 1);
            let x = match src {
                Some(s) => &before[s][..b * self.sizes[i]],
                None => &input[..b * self.sizes[i]],
            };
            let y = &mut after[0][..b * self.sizes[i + 1]];
            src = Some(i + 1);
            match (node, &mut ws.scratch[i]) {
                (
                    &Node::Dense {
                        inp,
                        out,
                        w,
                        b: bias,
                    },
                    _,
                ) => {
                    let (w, bias) = (seg(params, w, inp * out), seg(params, bias, out));
                    relu_applied =
                        eval && matches!(self.nodes.get(i + 1), Some(Node::Act(Activation::Relu)));
                    match latency.and_then(|l| l.slot[i].map(|k| (l, k))) {
                        Some((l, k)) => {
                            l.product(k, x, b, y);
                            ops::add_rows(y, b, bias, relu_applied);
                        }
                        None => ops::dense_forward(x, b, w, bias, relu_applied, y),
                    }
                }
                (&Node::Conv { g, w, b: bias }, Scratch::Col(col)) => {
                    ops::conv_forward(
                        x,
                        b,
                        &g,
                        seg(params, w, g.oc * g.k()),
                        seg(params, bias, g.oc),
                        col,
                        y,
                    );
                }
                (Node::MaxPool(g), Scratch::Arg(arg)) => ops::maxpool_forward(x, b, g, y, arg),
                (Node::AvgPool(g), _) => ops::avgpool_forward(x, b, g, y),
                (
                    &Node::BatchNorm {
                        c,
                        gamma,
                        beta,
                        mean,
                        var,
                    },
                    Scratch::Saved(saved),
                ) => {
                    let rows = b * self.sizes[i] / c;
                    match &mut mode {
                        Mode::Train(_, stats) => {
                            let (rm, rv) = running_pair(stats, mean, var, c);
                            ops::batchnorm_train(
                                x,
                                rows,
                                seg(params, gamma, c),
                                seg(params, beta, c),
                                rm,
                                rv,
                                saved,
                                y,
                            );
                        }
                        Mode::Eval(stats, _) => ops::batchnorm_eval(
                            x,
                            rows,
                            seg(params, gamma, c),
                            seg(params, beta, c),
                            &stats[mean..mean + c],
                            &stats[var..var + c],
                            y,
                        ),
                    }
                }
                (&Node::Act(f), _) => ops::activation_forward(f, x, y),
                (&Node::Dropout(prob), Scratch::Mask(mask)) => match &mut mode {
                    Mode::Train(rng, _) if prob > 0.0 => {
                        let keep = 1.0 / (1.0 - prob) as f32;
                        let threshold = (prob * (1u64 << 53) as f64) as u64;
                        for m in &mut mask[..x.len()] {
                            *m = if rng.next_u64() >> 11 < threshold {
                                0.0
                            } else {
                                keep
                            };
                        }
                        ops::multiply(x, mask, y);
                    }
                    _ => y.copy_from_slice(x),
                },
                (&Node::Flatten { c, hw }, _) => ops::to_channel_major(x, b, c, hw, y),
                _ => y.copy_from_slice(x),
            }
            if let (Some(t), Some(p)) = (started, &mut ws.profile) {
                p[i][0] += t.elapsed().as_secs_f64();
            }
        }
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
        // `cur` holds the gradient flowing into the output of node `i`.
        let mut cur = 0;
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let started = ws.profile.is_some().then(Instant::now);
            let [g0, g1] = &mut ws.grad;
            let (dy, dx) = if cur == 0 { (&*g0, g1) } else { (&*g1, g0) };
            let dy = &dy[..b * self.sizes[i + 1]];
            // No gradient is needed below the first node with parameters (for an MLP that
            // skips a whole product, the first layer's input gradient).
            let need_dx = i > self.first_trainable;
            let dx_full = dx;
            let dx = &mut dx_full[..b * self.sizes[i]];
            let x = &ws.acts[i][..b * self.sizes[i]];
            let y = &ws.acts[i + 1][..b * self.sizes[i + 1]];
            match (node, &mut ws.scratch[i]) {
                (
                    &Node::Dense {
                        inp,
                        out,
                        w,
                        b: bias,
                    },
                    _,
                ) => {
                    let (gw, gb) = grad_pair(grads, w, inp * out, bias, out);
                    ops::dense_backward(
                        x,
                        b,
                        seg(params, w, inp * out),
                        dy,
                        gw,
                        gb,
                        need_dx.then_some(dx),
                    );
                }
                (&Node::Conv { g, w, b: bias }, Scratch::Col(col)) => {
                    let (gw, gb) = grad_pair(grads, w, g.oc * g.k(), bias, g.oc);
                    ops::conv_backward(
                        b,
                        &g,
                        seg(params, w, g.oc * g.k()),
                        dy,
                        col,
                        gw,
                        gb,
                        need_dx.then_some(dx),
                    );
                }
                (Node::MaxPool(g), Scratch::Arg(arg)) => {
                    if need_dx {
                        ops::maxpool_backward(dy, b, g, arg, dx);
                    }
                }
                (Node::AvgPool(g), _) => {
                    if need_dx {
                        ops::avgpool_backward(dy, b, g, dx);
                    }
                }
                (&Node::BatchNorm { c, gamma, beta, .. }, Scratch::Saved(saved)) => {
                    let rows = b * self.sizes[i] / c;
                    let (gg, gbeta) = grad_pair(grads, gamma, c, beta, c);
                    ops::batchnorm_backward(
                        x,
                        rows,
                        seg(params, gamma, c),
                        saved,
                        dy,
                        gg,
                        gbeta,
                        need_dx.then_some(dx),
                    );
                }
                (&Node::Act(f), _) => {
                    if need_dx {
                        ops::activation_backward(f, x, y, dy, dx);
                    }
                }
                (&Node::Dropout(prob), Scratch::Mask(mask)) => {
                    if need_dx {
                        if prob > 0.0 {
                            ops::multiply(dy, mask, dx);
                        } else {
                            dx.copy_from_slice(dy);
                        }
                    }
                }
                (&Node::Flatten { c, hw }, _) => {
                    if need_dx {
                        ops::to_channels_last(dy, b, c, hw, dx);
                    }
                }
                _ => {
                    if need_dx {
                        dx.copy_from_slice(dy);
                    }
                }
            }
            if let (Some(t), Some(p)) = (started, &mut ws.profile) {
                p[i][1] += t.elapsed().as_secs_f64();
            }
            cur = 1 - cur;
        }
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

/// Dense layers with fewer multiply-adds per row than this run on the caller alone: handing
/// half of them to the partner thread costs more than it saves (about 2 us of work).
const PARTNER_MIN_MACS: usize = 1 << 15;

/// Whether a layer's panels are worth splitting with the partner thread.
fn worth_sharing(w: &gemv::Packed) -> bool {
    w.inp() * w.out() >= PARTNER_MIN_MACS && w.panels() > 1
}

/// What small-batch inference keeps beside a plan: every dense layer's weights repacked into
/// panels ([`gemv::Packed`], a second copy of those weights) and, on more than one thread, a
/// partner thread that computes some of the panels of the larger layers.
#[derive(Debug)]
pub(crate) struct Latency {
    /// For each node, the index of its packed weights when it is a dense layer.
    slot: Vec<Option<usize>>,
    layers: Arc<[gemv::Packed]>,
    partner: Option<partner::Partner>,
}

impl Latency {
    fn product(&self, k: usize, x: &[f32], rows: usize, y: &mut [f32]) {
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
    /// Pack this plan's dense layers for small batches; with `partner`, start a partner thread
    /// when a layer is large enough to share.
    pub fn latency(&self, params: &[f32], partner: bool) -> Latency {
        let mut slot = vec![None; self.nodes.len()];
        let mut layers = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let &Node::Dense { inp, out, w, .. } = node {
                slot[i] = Some(layers.len());
                layers.push(gemv::Packed::new(seg(params, w, inp * out), inp, out));
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
}

impl Workspace {
    /// The logits of the last forward pass and the logit-gradient buffer, together.
    pub fn logits_and_grad(&mut self, len: usize) -> (&[f32], &mut [f32]) {
        let last = self.acts.len() - 1;
        (&self.acts[last][..len], &mut self.grad[0][..len])
    }
}

/// The running mean and variance of one batch-norm layer, both mutable.
fn running_pair(stats: &mut [f32], mean: usize, var: usize, c: usize) -> (&mut [f32], &mut [f32]) {
    let (a, b) = stats.split_at_mut(var);
    (&mut a[mean..mean + c], &mut b[..c])
}

/// Two disjoint gradient slices: `[w, w + wn)` and `[b, b + bn)` with `w + wn <= b`.
fn grad_pair(
    grads: &mut [f32],
    w: usize,
    wn: usize,
    b: usize,
    bn: usize,
) -> (&mut [f32], &mut [f32]) {
    let (a, rest) = grads.split_at_mut(b);
    (&mut a[w..w + wn], &mut rest[..bn])
}

pub(crate) use ops::{adam, sgd, softmax_cross_entropy, softmax_rows};

/// `v[o..o + n]`.
fn seg(v: &[f32], o: usize, n: usize) -> &[f32] {
    &v[o..o + n]
}
