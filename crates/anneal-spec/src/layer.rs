//! The layer grammar: one string per layer, as written in `[model] layers`.
//!
//! ```text
//! dense N                       fully connected, N outputs            [B, I] -> [B, N]
//! conv C KxK [stride S] [pad P] 2-D convolution, C output channels    [B, Ci, H, W] -> [B, C, H', W']
//! maxpool K [stride S]          max over KxK windows (stride K)       [B, C, H, W] -> [B, C, H/K, W/K]
//! avgpool K [stride S]          mean over KxK windows (stride K)
//! flatten                       [B, C, H, W] -> [B, C*H*W]
//! relu | gelu | tanh | sigmoid  element-wise activations, shape kept
//! dropout P                     zeroes a fraction P in training, identity in inference
//! batchnorm                     per-feature (or per-channel) normalisation over the batch
//! layernorm                     per-example normalisation of a feature vector [B, N] -> [B, N]
//! softmax                       probabilities; only as the last layer
//! use NAME frozen|finetune ...  a dependency's layers, first only (see [`Base`])
//! ```
//!
//! with `H' = (H + 2P - K) / S + 1`. `KxK` may also be written `K` or `KxL`.
//!
//! Each kind lives in its own file under `layer/`, which owns its grammar, its shape and cost
//! rule and its parameters; this file is the [`Layer`] enum, the registry of names and the
//! exhaustive matches that dispatch to the kinds. A new kind is a file here, a variant, a
//! registry line and one arm per match (the compiler lists the matches), plus its file in the
//! engine (`anneal-engine/src/cpu/`).
//!
//! ```
//! use anneal_spec::layer::{Layer, parse_layer};
//! assert_eq!(
//!     parse_layer("conv 32 5x5 pad 2").unwrap(),
//!     Layer::Conv { channels: 32, kernel: [5, 5], stride: 1, pad: 2 }
//! );
//! let err = parse_layer("maxpol 2").unwrap_err();
//! assert_eq!(err.hint.as_deref(), Some("did you mean `maxpool`?"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::shape::{At, Out, Shape, ShapeError};

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod grammar;
mod layernorm;
mod pool;
mod reuse;
mod softmax;

pub use grammar::suggest;
use grammar::{Args, Word, words};
pub use reuse::{Base, MAX_LR_FACTOR, Reuse, is_base, parse_base, valid_name};

/// One layer of a model, parsed and range-checked (shapes are checked later, in `shape`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Layer {
    /// Fully connected layer with `units` outputs.
    Dense { units: usize },
    /// 2-D convolution.
    Conv {
        channels: usize,
        kernel: [usize; 2],
        stride: usize,
        pad: usize,
    },
    /// Max pooling over `kernel` windows.
    MaxPool { kernel: usize, stride: usize },
    /// Average pooling over `kernel` windows.
    AvgPool { kernel: usize, stride: usize },
    /// Collapse all but the batch dimension.
    Flatten,
    /// `max(x, 0)`.
    Relu,
    /// Gaussian error linear unit (tanh approximation-free form).
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Dropout with drop probability `p`.
    Dropout { p: f64 },
    /// Batch normalisation (momentum 0.1, epsilon 1e-5).
    BatchNorm,
    /// Layer normalisation of each example's feature vector (epsilon 1e-5).
    LayerNorm,
    /// Softmax over classes; only as the last layer.
    Softmax,
}

/// The layer names the grammar knows, for suggestions.
pub const LAYER_NAMES: &[&str] = &[
    "dense",
    "conv",
    "maxpool",
    "avgpool",
    "flatten",
    "relu",
    "gelu",
    "tanh",
    "sigmoid",
    "dropout",
    "batchnorm",
    "layernorm",
    "softmax",
];

/// How a kind reads its arguments.
type Parse = fn(&Args<'_>) -> Result<Layer, LayerError>;

/// The registry: every name the grammar accepts and the kind that parses it.
const KINDS: &[(&str, Parse)] = &[
    ("dense", dense::parse),
    ("linear", dense::parse),
    ("conv", conv::parse),
    ("maxpool", pool::parse),
    ("avgpool", pool::parse),
    ("flatten", |a| bare(a, Layer::Flatten)),
    ("relu", |a| bare(a, Layer::Relu)),
    ("gelu", |a| bare(a, Layer::Gelu)),
    ("tanh", |a| bare(a, Layer::Tanh)),
    ("sigmoid", |a| bare(a, Layer::Sigmoid)),
    ("dropout", dropout::parse),
    ("batchnorm", |a| bare(a, Layer::BatchNorm)),
    ("layernorm", |a| bare(a, Layer::LayerNorm)),
    ("softmax", |a| bare(a, Layer::Softmax)),
];

/// A layer written as its name alone.
fn bare(a: &Args<'_>, layer: Layer) -> Result<Layer, LayerError> {
    a.no_more(0, a.name)?;
    Ok(layer)
}

/// Why a layer string did not parse. `column` is the 0-based byte offset of the offending word
/// inside the layer string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LayerError {
    /// What went wrong, naming the word and what was expected.
    pub message: String,
    /// Byte offset of the offending word inside the layer string.
    pub column: usize,
    /// A suggested fix, if there is one.
    pub hint: Option<String>,
}

impl LayerError {
    fn at(word: &Word<'_>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            column: word.offset,
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The largest number a layer takes (units, channels, kernel sides, stride, pad): 2^24.
pub const MAX_NUMBER: usize = 1 << 24;

/// Parse one layer string such as `"conv 32 3x3 pad 1"`.
pub fn parse_layer(s: &str) -> Result<Layer, LayerError> {
    let ws = words(s);
    let Some(head) = ws.first() else {
        return Err(LayerError {
            message: "empty layer".into(),
            column: 0,
            hint: Some(format!("expected one of: {}", LAYER_NAMES.join(", "))),
        });
    };
    let name = head.text.to_ascii_lowercase();
    let args = Args {
        head: *head,
        rest: &ws[1..],
        name: &name,
    };
    match KINDS.iter().find(|(n, _)| *n == name) {
        Some((_, parse)) => parse(&args),
        None => Err(unknown(head, &name)),
    }
}

fn unknown(head: &Word<'_>, name: &str) -> LayerError {
    let err = LayerError::at(head, format!("unknown layer `{}`", head.text));
    match suggest(name, LAYER_NAMES) {
        Some(s) => err.with_hint(format!("did you mean `{s}`?")),
        None => err.with_hint(format!("expected one of: {}", LAYER_NAMES.join(", "))),
    }
}

/// `layers` with every hidden layer's units and channels times `width` (rounded, at least 1):
/// every `dense` but the last (which gives the classes) and every `conv`.
pub fn scaled(layers: &[Layer], width: f64) -> Vec<Layer> {
    let last = layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense { .. }));
    let times = |n: usize| ((n as f64 * width).round() as usize).clamp(1, MAX_NUMBER);
    let scale = |(i, l): (usize, &Layer)| match *l {
        Layer::Dense { units } if Some(i) != last => Layer::Dense {
            units: times(units),
        },
        Layer::Conv {
            channels,
            kernel,
            stride,
            pad,
        } => Layer::Conv {
            channels: times(channels),
            kernel,
            stride,
            pad,
        },
        other => other,
    };
    layers.iter().enumerate().map(scale).collect()
}

/// A tensor a layer owns, as a package names it (`layers.{i}.{name}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name within the layer: `weight`, `bias`, `gamma`, `running_mean`, ...
    pub name: &'static str,
    /// The shape in the package.
    pub shape: Vec<usize>,
    /// Its value before training.
    pub init: Init,
    /// A running statistic: updated by training, not by the optimiser.
    pub running: bool,
}

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Uniform in `±1/sqrt(fan_in)`, as PyTorch's defaults.
    Uniform {
        fan_in: usize,
    },
    Ones,
    Zeros,
}

impl Param {
    fn new(name: &'static str, shape: Vec<usize>, init: Init) -> Param {
        Param {
            name,
            shape,
            init,
            running: false,
        }
    }

    fn running(name: &'static str, shape: Vec<usize>, init: Init) -> Param {
        Param {
            running: true,
            ..Param::new(name, shape, init)
        }
    }
}

impl Layer {
    /// The name this kind is written with.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "dense",
            Layer::Conv { .. } => "conv",
            Layer::MaxPool { .. } => "maxpool",
            Layer::AvgPool { .. } => "avgpool",
            Layer::Flatten => "flatten",
            Layer::Relu => "relu",
            Layer::Gelu => "gelu",
            Layer::Tanh => "tanh",
            Layer::Sigmoid => "sigmoid",
            Layer::Dropout { .. } => "dropout",
            Layer::BatchNorm => "batchnorm",
            Layer::LayerNorm => "layernorm",
            Layer::Softmax => "softmax",
        }
    }

    /// The tensors this layer owns on input `cur` (which shape inference has accepted), in the
    /// order a package lists them.
    pub fn parameters(&self, cur: Shape) -> Vec<Param> {
        match *self {
            Layer::Dense { units } => dense::parameters(cur, units),
            Layer::Conv {
                channels, kernel, ..
            } => conv::parameters(cur, channels, kernel),
            Layer::BatchNorm => batchnorm::parameters(cur),
            Layer::LayerNorm => layernorm::parameters(cur),
            Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::Flatten | Layer::Relu => vec![],
            Layer::Gelu | Layer::Tanh | Layer::Sigmoid | Layer::Dropout { .. } => vec![],
            Layer::Softmax => vec![],
        }
    }

    /// Output shape, parameter count and FLOPs per example on input `cur`.
    pub(crate) fn out(&self, at: &At, cur: Shape) -> Result<Out, ShapeError> {
        match *self {
            Layer::Dense { units } => dense::out(at, cur, units),
            Layer::Conv {
                channels,
                kernel,
                stride,
                pad,
            } => conv::out(at, cur, channels, [kernel[0], kernel[1], stride, pad]),
            Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => {
                pool::out(at, cur, kernel, stride)
            }
            Layer::Flatten => flatten::out(at, cur),
            Layer::Relu | Layer::Dropout { .. } => Ok(activation::out(cur, 1)),
            Layer::Gelu | Layer::Tanh | Layer::Sigmoid => Ok(activation::out(cur, 4)),
            Layer::BatchNorm => Ok(batchnorm::out(cur)),
            Layer::LayerNorm => layernorm::out(at, cur),
            Layer::Softmax => softmax::out(at, cur),
        }
    }
}

impl fmt::Display for Layer {
    /// The canonical spelling, which parses back to the same layer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Layer::Dense { units } => write!(f, "dense {units}"),
            Layer::Conv {
                channels,
                kernel,
                stride,
                pad,
            } => conv::fmt(f, channels, kernel, stride, pad),
            Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => {
                pool::fmt(f, self.name(), kernel, stride)
            }
            Layer::Dropout { p } => write!(f, "dropout {p}"),
            Layer::Flatten | Layer::Relu | Layer::Gelu | Layer::Tanh | Layer::Sigmoid => {
                f.write_str(self.name())
            }
            Layer::BatchNorm | Layer::LayerNorm | Layer::Softmax => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips() {
        for s in [
            "dense 10",
            "conv 32 5x5",
            "conv 8 3x1 stride 2 pad 1",
            "maxpool 2",
            "avgpool 3 stride 2",
            "flatten",
            "dropout 0.25",
            "batchnorm",
            "layernorm",
            "softmax",
        ] {
            let l = parse_layer(s).unwrap();
            assert_eq!(l.to_string(), s);
            assert_eq!(parse_layer(&l.to_string()).unwrap(), l);
        }
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = parse_layer("conv 32 5y5").unwrap_err();
        assert_eq!(e.column, 8);
        let e = parse_layer("conv 32 5x5 strid 2").unwrap_err();
        assert_eq!(e.column, 12);
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `stride`? the form is `conv C KxK [stride S] [pad P]`")
        );
        let e = parse_layer("dense").unwrap_err();
        assert!(e.message.contains("missing the number of outputs"));
        let e = parse_layer("dropout 1.5").unwrap_err();
        assert!(e.message.contains("[0, 1)"));
        let e = parse_layer("relu 3").unwrap_err();
        assert_eq!(e.column, 5);
        let e = parse_layer("frobnicate").unwrap_err();
        assert!(e.hint.unwrap().starts_with("expected one of"));
    }

    /// The shape table's parameter count is the sum of the tensors each kind lists.
    #[test]
    fn parameters_agree_with_the_cost_table() {
        let models: [(Shape, &[&str]); 2] = [
            (
                Shape::Image([3, 8, 8]),
                &[
                    "conv 4 3x3 pad 1",
                    "batchnorm",
                    "relu",
                    "maxpool 2",
                    "avgpool 2",
                ],
            ),
            (
                Shape::Flat([12]),
                &[
                    "dense 6",
                    "layernorm",
                    "gelu",
                    "dropout 0.1",
                    "batchnorm",
                    "dense 3",
                    "softmax",
                ],
            ),
        ];
        for (input, text) in models {
            let layers: Vec<Layer> = text.iter().map(|l| parse_layer(l).unwrap()).collect();
            let table = crate::shape::infer_layers(input, &layers).unwrap();
            let mut cur = input;
            for (layer, row) in layers.iter().zip(&table.layers) {
                let listed: usize = layer
                    .parameters(cur)
                    .iter()
                    .filter(|p| !p.running)
                    .map(|p| p.shape.iter().product::<usize>())
                    .sum();
                assert_eq!(listed, row.params, "{layer}");
                cur = row.output;
            }
        }
    }

    #[test]
    fn layernorm_takes_a_vector() {
        let ln = parse_layer("layernorm").unwrap();
        let t = crate::shape::infer_layers(Shape::Flat([5]), &[ln]).unwrap();
        assert_eq!((t.params, t.flops), (10, 35));
        let e = crate::shape::infer_layers(Shape::Image([1, 4, 4]), &[ln]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "layer 0 `layernorm`: expected input [B, N], got [B, 1, 4, 4] from the input"
        );
        assert!(parse_layer("layernorm 3").is_err());
    }
}
