//! The burn module built from a program's layers. Nothing here is public outside the crate.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::{Device, Tensor, TensorData, activation};

use anneal_spec::{Layer, Shape};

use crate::{EngineError, NamedTensor};

/// One layer with its parameters.
#[derive(Module, Debug)]
pub(crate) enum Block {
    Dense(Linear),
    Conv(Conv2d),
    MaxPool(MaxPool2d),
    AvgPool(AvgPool2d),
    BatchNorm(BatchNorm),
    Dropout(Dropout),
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
                Layer::Dropout { p } => Block::Dropout(DropoutConfig::new(p).init()),
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

    /// Logits `[B, classes]`.
    pub fn forward(&self, x: Act) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x);
        }
        match x {
            Act::Flat(t) => t,
            // Shape inference guarantees a flat output; flatten defensively rather than panic.
            Act::Image(t) => t.flatten(1, 3),
        }
    }
}

/// The input shape of every layer (shape inference has already accepted `layers`).
fn input_shapes(input: Shape, layers: &[Layer]) -> Vec<Shape> {
    let mut shapes = vec![input];
    if let Ok(t) = anneal_spec::shape::infer_layers(input, layers) {
        shapes.extend(t.layers.iter().map(|r| r.output));
    }
    shapes
}

impl Block {
    fn forward(&self, x: Act) -> Act {
        match (self, x) {
            (Block::Dense(l), Act::Flat(t)) => Act::Flat(l.forward(t)),
            (Block::Conv(c), Act::Image(t)) => Act::Image(c.forward(t)),
            (Block::MaxPool(p), Act::Image(t)) => Act::Image(p.forward(t)),
            (Block::AvgPool(p), Act::Image(t)) => Act::Image(p.forward(t)),
            (Block::BatchNorm(b), Act::Flat(t)) => Act::Flat(b.forward(t)),
            (Block::BatchNorm(b), Act::Image(t)) => Act::Image(b.forward(t)),
            (Block::Dropout(d), Act::Flat(t)) => Act::Flat(d.forward(t)),
            (Block::Dropout(d), Act::Image(t)) => Act::Image(d.forward(t)),
            (Block::Stateless(s), x) => match s.op {
                Op::Relu => x.map(activation::relu, activation::relu),
                Op::Gelu => x.map(activation::gelu, activation::gelu),
                Op::Tanh => x.map(activation::tanh, activation::tanh),
                Op::Sigmoid => x.map(activation::sigmoid, activation::sigmoid),
                Op::Flatten => match x {
                    Act::Image(t) => Act::Flat(t.flatten(1, 3)),
                    flat => flat,
                },
            },
            // Remaining pairs are rejected by shape inference before a net is built.
            (_, x) => x,
        }
    }
}

impl Act {
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

/// The names and shapes of the parameters (and running statistics) of `layers`, in the order
/// burn visits them.
pub(crate) fn param_layout(input: Shape, layers: &[Layer]) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let shapes = input_shapes(input, layers);
    for (i, (layer, cur)) in layers.iter().zip(shapes).enumerate() {
        match *layer {
            Layer::Dense { units } => {
                out.push((format!("layers.{i}.weight"), vec![cur.elements(), units]));
                out.push((format!("layers.{i}.bias"), vec![units]));
            }
            Layer::Conv {
                channels, kernel, ..
            } => {
                let c = cur.dims()[0];
                out.push((
                    format!("layers.{i}.weight"),
                    vec![channels, c, kernel[0], kernel[1]],
                ));
                out.push((format!("layers.{i}.bias"), vec![channels]));
            }
            Layer::BatchNorm => {
                let f = cur.dims()[0];
                for name in ["gamma", "beta", "running_mean", "running_var"] {
                    out.push((format!("layers.{i}.{name}"), vec![f]));
                }
            }
            _ => {}
        }
    }
    out
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
            Tensor::from_data(TensorData::new(next.data.clone(), dims), &old.device())
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
