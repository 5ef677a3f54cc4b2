//! A compiled node: one layer of the program, with its parameters at fixed offsets. Each kind
//! lives in its own file (its compilation, scratch, forward and backward); this file is the
//! enum that dispatches to them, with exhaustive matches: a kind added to [`Node`] that is not
//! handled everywhere does not compile.

use anneal_spec::layer::Param;
use anneal_spec::{Layer, Shape};

use super::activation::Activation;
use super::{
    Latency, Mode, activation, batchnorm, conv, dense, dropout, layernorm, ops, pool, reshape,
};
use crate::{EngineError, NamedTensor};

/// One compiled step.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Dense(dense::Dense),
    Conv(conv::Conv),
    MaxPool(pool::Pool),
    AvgPool(pool::Pool),
    BatchNorm(batchnorm::BatchNorm),
    LayerNorm(layernorm::LayerNorm),
    Act(Activation),
    Dropout(dropout::Dropout),
    /// Channels-last image to the channel-major vector `flatten` promises.
    Flatten(reshape::Flatten),
    /// A layer with nothing to do here (`flatten` of one channel, a trailing `softmax`).
    Identity,
}

/// A parameter tensor's place in the flat buffers.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub name: String,
    /// Shape in the package.
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    /// Convolution weights: stored `[oc, kh, kw, c]` here, `[oc, c, kh, kw]` in the package.
    pub conv: Option<[usize; 4]>,
    /// Running statistics live in the `stats` buffer, trained parameters in `params`.
    pub running: bool,
    /// The layer it belongs to.
    pub layer: usize,
}

/// A plan's trained parameters and running statistics.
#[derive(Debug, Clone, Copy)]
pub(super) struct Buffers<'a> {
    pub params: &'a [f32],
    pub stats: &'a [f32],
}

impl Slot {
    /// `data` in the package's layout into `dst`, in the engine's (convolution weights per
    /// output channel, `[c, kh*kw]` to `[kh*kw, c]`: the activations' layout change).
    pub fn import(&self, data: &[f32], dst: &mut [f32]) {
        match self.conv {
            Some([oc, c, kh, kw]) => ops::to_channels_last(data, oc, c, kh * kw, dst),
            None => dst.copy_from_slice(data),
        }
    }

    /// This slot's tensor, named and laid out as in a package.
    pub fn export(&self, b: Buffers<'_>) -> NamedTensor {
        let buffer = if self.running { b.stats } else { b.params };
        let src = &buffer[self.offset..self.offset + self.len];
        let data = match self.conv {
            Some([oc, c, kh, kw]) => {
                let mut data = vec![0f32; self.len];
                ops::to_channel_major(src, oc, c, kh * kw, &mut data);
                data
            }
            None => src.to_vec(),
        };
        let (name, shape) = (self.name.clone(), self.shape.clone());
        NamedTensor { name, shape, data }
    }

    /// This slot's tensor among a package's, of the shape it must have.
    pub fn find<'t>(&self, tensors: &'t [NamedTensor]) -> Result<&'t NamedTensor, EngineError> {
        let name = &self.name;
        let t = tensors.iter().find(|t| t.name == *name);
        let t = t.ok_or_else(|| EngineError::Weights(format!("tensor `{name}` is missing")))?;
        if t.shape != self.shape || t.data.len() != self.len {
            return Err(EngineError::Weights(format!(
                "tensor `{name}` has shape {:?}, the model expects {:?}",
                t.shape, self.shape
            )));
        }
        Ok(t)
    }
}

/// The parameter slots of a plan as they are allocated, layer by layer.
#[derive(Debug, Default)]
pub(super) struct Slots {
    pub slots: Vec<Slot>,
    pub n_params: usize,
    pub n_stats: usize,
}

impl Slots {
    /// Allocate the tensors `layer` (number `i`) owns on input `cur`, as the spec lists them;
    /// their offsets, in order. A convolution's weight is kept channels-last.
    pub fn layer(&mut self, i: usize, layer: Layer, cur: Shape) -> Vec<usize> {
        let conv = matches!(layer, Layer::Conv { .. });
        let params = layer.parameters(cur).into_iter();
        params.map(|p| self.add(i, p, conv)).collect()
    }

    /// Allocate `layers.{layer}.{name}`; returns its offset in its buffer. With `conv`, a 4-d
    /// tensor is the convolution's weight (`[oc, c, kh, kw]` in the package).
    fn add(&mut self, layer: usize, p: Param, conv: bool) -> usize {
        let len = p.shape.iter().product();
        let counter = if p.running {
            &mut self.n_stats
        } else {
            &mut self.n_params
        };
        let offset = *counter;
        *counter += len;
        self.slots.push(Slot {
            name: format!("layers.{layer}.{}", p.name),
            conv: <[usize; 4]>::try_from(p.shape.as_slice())
                .ok()
                .filter(|_| conv),
            shape: p.shape,
            offset,
            len,
            running: p.running,
            layer,
        });
        offset
    }
}

/// A node's working buffers for one batch size (each kind uses the one it needs).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Convolution: unfolded patches (training), or inference's working values and weights
    /// in its route's form.
    pub col: Vec<f32>,
    /// Max pooling: the index of each window's maximum.
    pub arg: Vec<u32>,
    /// Batch norm: mean and inverse deviation per channel.
    pub saved: Vec<f32>,
    /// Dropout: the mask of the last training step.
    pub mask: Vec<f32>,
    /// int8 inference: the quantized input and the product's rows (padded).
    pub qx: Vec<u8>,
    pub padded: Vec<u8>,
}

/// What a node's forward pass reads and writes.
pub(super) struct Forward<'a, 'm> {
    pub params: &'a [f32],
    pub x: &'a [f32],
    pub y: &'a mut [f32],
    /// Examples in the batch.
    pub b: usize,
    pub scratch: &'a mut Scratch,
    pub mode: &'a mut Mode<'m>,
    /// Inference with a relu next: a dense layer applies it with its bias.
    pub fuse_relu: bool,
    /// Small-batch inference: this dense layer's packed weights.
    pub latency: Option<(&'a Latency, usize)>,
    /// int8 inference: this dense or conv layer's integer form.
    pub int8: Option<&'a super::int8::QNode>,
    /// Inference: this convolution's weights in its route's form, kept beside the plan
    /// ([`super::Transformed`]).
    pub kept: Option<&'a [f32]>,
    /// Inference of a convolution that a max pooling follows: where the pooling goes.
    pub pool: Option<Pooled<'a>>,
}

/// A convolution's max pooling (and relu), run by the convolution in inference: its bias,
/// pooling and relu in one pass over the product, into `out`, the output of the last node
/// folded in.
pub(super) struct Pooled<'a> {
    pub g: &'a super::pool::PoolGeom,
    pub relu: bool,
    pub out: &'a mut [f32],
}

/// What a node's backward pass reads and writes.
pub(super) struct Backward<'a> {
    pub params: &'a [f32],
    pub grads: &'a mut [f32],
    /// The node's input and output of the last training forward pass.
    pub x: &'a [f32],
    pub y: &'a [f32],
    /// The gradient at the node's output.
    pub dy: &'a [f32],
    /// The gradient at its input, when a node below needs it.
    pub dx: Option<&'a mut [f32]>,
    pub b: usize,
    pub scratch: &'a mut Scratch,
    /// The forward pass ran in [`Mode::Frozen`]: batch norm used its running statistics and
    /// dropout copied.
    pub frozen: bool,
    /// Parameter gradients are wanted (not when only the input gradient is).
    pub weights: bool,
}

impl Node {
    /// Compile layer `i` taking `cur` to `out`.
    pub fn compile(
        i: usize,
        layer: Layer,
        cur: Shape,
        out: Shape,
        slots: &mut Slots,
    ) -> Result<Node, EngineError> {
        let at = slots.layer(i, layer, cur);
        Ok(match (layer, cur, out) {
            (Layer::Dense { units }, Shape::Flat([inp]), _) => {
                Node::Dense(dense::Dense::compile(inp, units, &at))
            }
            (Layer::Conv { .. }, Shape::Image(d), Shape::Image(o)) => {
                Node::Conv(conv::Conv::compile(i, layer, d, o, &at)?)
            }
            (Layer::MaxPool { kernel, stride }, Shape::Image(d), Shape::Image(o)) => {
                Node::MaxPool(pool::Pool::compile(kernel, stride, d, o))
            }
            (Layer::AvgPool { kernel, stride }, Shape::Image(d), Shape::Image(o)) => {
                Node::AvgPool(pool::Pool::compile(kernel, stride, d, o))
            }
            (Layer::BatchNorm, shape, _) => {
                Node::BatchNorm(batchnorm::BatchNorm::compile(shape, &at))
            }
            (Layer::LayerNorm, Shape::Flat([n]), _) => {
                Node::LayerNorm(layernorm::LayerNorm::compile(n, &at))
            }
            (Layer::Relu, ..) => Node::Act(Activation::Relu),
            (Layer::Gelu, ..) => Node::Act(Activation::Gelu),
            (Layer::Tanh, ..) => Node::Act(Activation::Tanh),
            (Layer::Sigmoid, ..) => Node::Act(Activation::Sigmoid),
            (Layer::Dropout { p }, ..) => Node::Dropout(dropout::Dropout { p }),
            (Layer::Flatten | Layer::Softmax, Shape::Image([c, h, w]), _) if c > 1 => {
                Node::Flatten(reshape::Flatten { c, hw: h * w })
            }
            (Layer::Flatten | Layer::Softmax, ..) => Node::Identity,
            (
                layer @ (Layer::Dense { .. }
                | Layer::Conv { .. }
                | Layer::MaxPool { .. }
                | Layer::AvgPool { .. }
                | Layer::LayerNorm),
                shape,
                _,
            ) => {
                let n = i + 1;
                return Err(EngineError::Input(format!(
                    "layer {n} `{layer}` cannot take input {shape}"
                )));
            }
        })
    }

    /// Whether the node has trainable parameters.
    pub fn trainable(&self) -> bool {
        matches!(
            self,
            Node::Dense(_) | Node::Conv(_) | Node::BatchNorm(_) | Node::LayerNorm(_)
        )
    }

    /// Whether inference may skip it, passing its input on (it only copies).
    pub fn copies_in_eval(&self) -> bool {
        match self {
            Node::Identity | Node::Dropout(_) => true,
            Node::Flatten(f) => f.c == 1 || f.hw == 1,
            Node::Dense(_) | Node::Conv(_) | Node::MaxPool(_) | Node::AvgPool(_) => false,
            Node::BatchNorm(_) | Node::LayerNorm(_) | Node::Act(_) => false,
        }
    }

    /// Buffers for `batch` examples of `inp` values in, `out` values out.
    pub fn scratch(&self, batch: usize, inp: usize, out: usize) -> Scratch {
        match self {
            Node::MaxPool(_) => pool::max_scratch(batch, out),
            Node::BatchNorm(n) => n.scratch(),
            Node::LayerNorm(n) => n.scratch(batch),
            Node::Dropout(_) => dropout::scratch(batch, inp),
            // A convolution grows its buffers at first use, to what its route needs.
            Node::Dense(_)
            | Node::Conv(_)
            | Node::AvgPool(_)
            | Node::Act(_)
            | Node::Flatten(_)
            | Node::Identity => Scratch::default(),
        }
    }

    pub fn forward(&self, f: Forward<'_, '_>) {
        if let Some(q) = f.int8 {
            let epilogue = (f.fuse_relu, f.pool);
            q.forward(f.params, f.x, f.b, epilogue, f.scratch, f.y);
            return;
        }
        match self {
            Node::Dense(d) => d.forward(f),
            Node::Conv(c) => c.forward(f),
            Node::MaxPool(p) => p.max_forward(f),
            Node::AvgPool(p) => p.avg_forward(f),
            Node::BatchNorm(n) => n.forward(f),
            Node::LayerNorm(n) => n.forward(f),
            Node::Act(a) => activation::forward(*a, f),
            Node::Dropout(d) => d.forward(f),
            Node::Flatten(r) => r.forward(f),
            Node::Identity => f.y.copy_from_slice(f.x),
        }
    }

    pub fn backward(&self, k: Backward<'_>) {
        match self {
            Node::Dense(d) => d.backward(k),
            Node::Conv(c) => c.backward(k),
            Node::MaxPool(p) => p.max_backward(k),
            Node::AvgPool(p) => p.avg_backward(k),
            Node::BatchNorm(n) => n.backward(k),
            Node::LayerNorm(n) => n.backward(k),
            Node::Act(a) => activation::backward(*a, k),
            Node::Dropout(d) => d.backward(k),
            Node::Flatten(r) => r.backward(k),
            Node::Identity => {
                if let Some(dx) = k.dx {
                    dx.copy_from_slice(k.dy);
                }
            }
        }
    }
}

/// `v[o..o + n]`.
pub(super) fn seg(v: &[f32], o: usize, n: usize) -> &[f32] {
    &v[o..o + n]
}

/// Two disjoint gradient slices: `[w, w + wn)` and `[b, b + bn)` with `w + wn <= b`.
pub(super) fn grad_pair(
    grads: &mut [f32],
    w: usize,
    wn: usize,
    b: usize,
    bn: usize,
) -> (&mut [f32], &mut [f32]) {
    let (a, rest) = grads.split_at_mut(b);
    (&mut a[w..w + wn], &mut rest[..bn])
}
