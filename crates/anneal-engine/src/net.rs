//! The burn module built from a program's layers. Nothing here is public outside the crate.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::{Device, Tensor, TensorData, activation};

use anneal_spec::{Layer, Shape};

use crate::params::{input_shapes, param_layout};
use crate::rng::SplitMix64;
use crate::{EngineError, NamedTensor};

/// One layer with its parameters.
#[derive(Module, Debug)]
pub(crate) enum Block {
    Dense(Linear),
    Conv(Conv2d),
    MaxPool(MaxPool2d),
    AvgPool(AvgPool2d),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    Stateless(Stateless),
}

/// A layer without parameters.
#[derive(Module, Debug)]
pub(crate) struct Stateless {
    #[module(skip)]
    op: Op,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    Flatten,
    /// Drop probability; masks come from the caller's seeded generator, so training does not
    /// depend on burn's global RNG (shared by every thread of the process).
    Dropout(f64),
}

impl Block {
    fn op(op: Op) -> Block {
        Block::Stateless(Stateless { op })
    }
}

/// The model: blocks applied in order; outputs logits.
#[derive(Module, Debug)]
pub(crate) struct Net {
    pub blocks: Vec<Block>,
}

/// An activation flowing through the net: a batch of vectors or of images.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    Flat(Tensor<2>),
    Image(Tensor<4>),
}

impl Net {
    /// Initialise fresh parameters for `layers` (which must have passed shape inference and
    /// must not include a trailing softmax).
    pub fn init(input: Shape, layers: &[Layer], device: &Device) -> Net {
        let shapes = input_shapes(input, layers);
        let mut blocks = Vec::with_capacity(layers.len());
        for (layer, cur) in layers.iter().zip(shapes) {
            let block = match *layer {
                Layer::Dense { units } => {
                    Block::Dense(LinearConfig::new(cur.elements(), units).init(device))
                }
                Layer::Conv {
                    channels,
                    kernel,
                    stride,
                    pad,
                } => {
                    let c = cur.dims()[0];
                    Block::Conv(
                        Conv2dConfig::new([c, channels], kernel)
                            .with_stride([stride, stride])
                            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                            .init(device),
                    )
                }
                Layer::MaxPool { kernel, stride } => Block::MaxPool(
                    MaxPool2dConfig::new([kernel, kernel])
                        .with_strides([stride, stride])
                        .init(),
                ),
                Layer::AvgPool { kernel, stride } => Block::AvgPool(
                    AvgPool2dConfig::new([kernel, kernel])
                        .with_strides([stride, stride])
                        .init(),
                ),
                Layer::BatchNorm => {
                    let features = cur.dims()[0];
                    Block::BatchNorm(BatchNormConfig::new(features).init(device))
                }
                Layer::LayerNorm => Block::LayerNorm(
                    LayerNormConfig::new(cur.elements())
                        .with_epsilon(1e-5)
                        .init(device),
                ),
                Layer::Dropout { p } => Block::op(Op::Dropout(p)),
                Layer::Relu => Block::op(Op::Relu),
                Layer::Gelu => Block::op(Op::Gelu),
                Layer::Tanh => Block::op(Op::Tanh),
                Layer::Sigmoid => Block::op(Op::Sigmoid),
                Layer::Flatten | Layer::Softmax => Block::op(Op::Flatten),
            };
            blocks.push(block);
        }
        Net { blocks }
    }

    /// Logits `[B, classes]`. With `rng` (training), dropout masks are drawn from it; without,
    /// dropout is the identity.
    pub fn forward(&self, x: Act, mut rng: Option<&mut SplitMix64>) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x, rng.as_deref_mut());
        }
        match x {
            Act::Flat(t) => t,
            // Shape inference guarantees a flat output; flatten defensively rather than panic.
            Act::Image(t) => t.flatten(1, 3),
        }
    }
}

impl Block {
    fn forward(&self, x: Act, rng: Option<&mut SplitMix64>) -> Act {
        match (self, x) {
            (Block::Dense(l), Act::Flat(t)) => Act::Flat(l.forward(t)),
            (Block::Conv(c), Act::Image(t)) => Act::Image(c.forward(t)),
            (Block::MaxPool(p), Act::Image(t)) => Act::Image(p.forward(t)),
            (Block::AvgPool(p), Act::Image(t)) => Act::Image(p.forward(t)),
            (Block::BatchNorm(b), Act::Flat(t)) => Act::Flat(b.forward(t)),
            (Block::BatchNorm(b), Act::Image(t)) => Act::Image(b.forward(t)),
            (Block::LayerNorm(n), Act::Flat(t)) => Act::Flat(n.forward(t)),
            (Block::Stateless(s), x) => match s.op {
                Op::Relu => x.map(activation::relu, activation::relu),
                Op::Gelu => x.map(activation::gelu, activation::gelu),
                Op::Tanh => x.map(activation::tanh, activation::tanh),
                Op::Sigmoid => x.map(activation::sigmoid, activation::sigmoid),
                Op::Flatten => match x {
                    Act::Image(t) => Act::Flat(t.flatten(1, 3)),
                    flat => flat,
                },
                Op::Dropout(p) => match rng {
                    Some(rng) if p > 0.0 => x.dropout(p, rng),
                    _ => x,
                },
            },
            // Shape inference rejects these pairs before a net is built.
            (Block::Dense(_) | Block::LayerNorm(_), x @ Act::Image(_)) => x,
            (Block::Conv(_) | Block::MaxPool(_) | Block::AvgPool(_), x @ Act::Flat(_)) => x,
        }
    }
}

impl Act {
    /// Zero each element with probability `p` and scale the rest by `1 / (1 - p)`.
    fn dropout(self, p: f64, rng: &mut SplitMix64) -> Act {
        fn mask(dims: &[usize], p: f64, rng: &mut SplitMix64) -> TensorData {
            let keep = 1.0 / (1.0 - p) as f32;
            let threshold = (p * (1u64 << 53) as f64) as u64;
            let n: usize = dims.iter().product();
            let values = (0..n)
                .map(|_| {
                    if rng.next_u64() >> 11 < threshold {
                        0.0
                    } else {
                        keep
                    }
                })
                .collect();
            TensorData::new(values, dims.to_vec())
        }
        match self {
            Act::Flat(t) => {
                let m = Tensor::from_data(mask(&t.dims(), p, rng), &t.device());
                Act::Flat(t * m)
            }
            Act::Image(t) => {
                let m = Tensor::from_data(mask(&t.dims(), p, rng), &t.device());
                Act::Image(t * m)
            }
        }
    }

    fn map(
        self,
        f2: impl FnOnce(Tensor<2>) -> Tensor<2>,
        f4: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> Act {
        match self {
            Act::Flat(t) => Act::Flat(f2(t)),
            Act::Image(t) => Act::Image(f4(t)),
        }
    }
}

/// Collects every float tensor (parameters and running statistics) in visit order.
struct Collect(Vec<(Vec<usize>, Vec<f32>)>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let dims = t.dims().to_vec();
        let data = t.into_data().convert::<f32>();
        let values = data.try_to_vec::<f32>().unwrap_or_default();
        self.0.push((dims, values));
    }
}

/// Replaces every float tensor, in visit order, with the given values.
struct Load<'a> {
    tensors: std::vec::IntoIter<&'a NamedTensor>,
    error: Option<EngineError>,
}

impl ModuleMapper for Load<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(next) = self.tensors.next() else {
            self.error.get_or_insert(EngineError::Weights(
                "fewer tensors than the model has parameters".into(),
            ));
            return param;
        };
        let err = &mut self.error;
        param.map(|old| {
            let dims = old.dims().to_vec();
            if dims != next.shape || next.data.len() != dims.iter().product::<usize>() {
                err.get_or_insert(EngineError::Weights(format!(
                    "tensor `{}` has shape {:?}, the model expects {:?}",
                    next.name, next.shape, dims
                )));
                return old;
            }
            let grad = old.is_require_grad();
            Tensor::from_data(TensorData::new(next.data.clone(), dims), &old.device())
                .set_require_grad(grad)
        })
    }
}

impl Net {
    /// All parameters and running statistics, named.
    pub fn export(&self, input: Shape, layers: &[Layer]) -> Result<Vec<NamedTensor>, EngineError> {
        let mut c = Collect(Vec::new());
        self.visit(&mut c);
        let layout = param_layout(input, layers);
        if layout.len() != c.0.len() {
            return Err(EngineError::Weights(format!(
                "the model has {} tensors, the layout names {}",
                c.0.len(),
                layout.len()
            )));
        }
        layout
            .into_iter()
            .zip(c.0)
            .map(|((name, shape), (dims, data))| {
                if shape != dims {
                    return Err(EngineError::Weights(format!(
                        "tensor `{name}` has shape {dims:?}, expected {shape:?}"
                    )));
                }
                Ok(NamedTensor { name, shape, data })
            })
            .collect()
    }

    /// Overwrite parameters with `tensors` (in [`param_layout`] order).
    pub fn load(
        self,
        input: Shape,
        layers: &[Layer],
        tensors: &[NamedTensor],
    ) -> Result<Net, EngineError> {
        let layout = param_layout(input, layers);
        if layout.len() != tensors.len() {
            return Err(EngineError::Weights(format!(
                "the package has {} tensors, the model needs {}",
                tensors.len(),
                layout.len()
            )));
        }
        let ordered = layout
            .iter()
            .map(|(name, _)| {
                tensors
                    .iter()
                    .find(|t| t.name == *name)
                    .ok_or_else(|| EngineError::Weights(format!("tensor `{name}` is missing")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut loader = Load {
            tensors: ordered.into_iter(),
            error: None,
        };
        let net = self.map(&mut loader);
        match loader.error {
            Some(e) => Err(e),
            None => Ok(net),
        }
    }
}
