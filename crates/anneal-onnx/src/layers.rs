//! One layer of a program as ONNX nodes (inference semantics: dropout is the identity,
//! batch normalisation uses the running statistics).
//!
//! | layer | nodes |
//! |---|---|
//! | `dense N` | `Gemm(x, W[in, out], b)` (transB 0: the package's `y = x W + b`) |
//! | `conv C KxK stride S pad P` | `Conv(x, W[C, Ci, K, K], b)`, strides `[S, S]`, pads `[P, P, P, P]` |
//! | `maxpool K stride S` / `avgpool` | `MaxPool` / `AveragePool`, kernel `[K, K]`, strides `[S, S]`, no padding |
//! | `batchnorm` | `BatchNormalization(x, gamma, beta, running_mean, running_var)`, epsilon 1e-5 |
//! | `layernorm` | `LayerNormalization(x, gamma, beta)`, axis -1, epsilon 1e-5 |
//! | `relu`, `tanh`, `sigmoid` | `Relu`, `Tanh`, `Sigmoid` |
//! | `gelu` | `x * (0.5 * (1 + Erf(x * 1/sqrt 2)))` (the `Gelu` op exists only from opset 20) |
//! | `flatten` | `Flatten`, axis 1 (channel-major `C, H, W`, as the package's flatten) |
//! | `dropout P` | nothing |
//! | `softmax` | nothing here: the exporter ends every graph with the softmax |
//!
//! In an int8 package, `dense` and `conv` read their input and weight through
//! `QuantizeLinear`/`DequantizeLinear` pairs (see `qdq`).

use anneal_spec::layer::Param;
use anneal_spec::{Layer, NamedTensor, QuantLayer, Shape};

use crate::OnnxError;
use crate::graph::Graph;
use crate::onnx::Attr;

/// Batch and layer normalisation's epsilon in the engine.
const EPSILON: f32 = 1e-5;

/// Layer `index` of the model, its input shape and the package's weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub index: usize,
    pub layer: Layer,
    pub input: Shape,
    pub weights: &'a [NamedTensor],
    /// The layer's int8 quantization, in an int8 package.
    pub quant: Option<&'a QuantLayer>,
}

/// Emit layer `at` on the activation named `x`; returns the name of its output.
pub(crate) fn emit(g: &mut Graph, at: &At<'_>, x: &str) -> Result<String, OnnxError> {
    let params = initializers(g, at)?;
    let x = &match at.quant {
        Some(q) => crate::qdq::input(g, at.index, q, x),
        None => x.to_string(),
    };
    let mut inputs = vec![x.as_str()];
    inputs.extend(params.iter().map(String::as_str));
    let name = format!("layers.{}.{}", at.index, at.layer.name());
    let ints = |v: [usize; 2]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
    let out = match at.layer {
        Layer::Dense { .. } => g.node("Gemm", &name, &inputs, vec![]),
        Layer::Conv {
            kernel,
            stride,
            pad,
            ..
        } => {
            let pads = Attr::Ints(vec![pad as i64; 4]);
            let attrs = vec![
                ("kernel_shape", ints(kernel)),
                ("strides", ints([stride, stride])),
                ("pads", pads),
            ];
            g.node("Conv", &name, &inputs, attrs)
        }
        Layer::MaxPool { kernel, stride } => {
            g.node("MaxPool", &name, &inputs, pool(kernel, stride))
        }
        Layer::AvgPool { kernel, stride } => {
            g.node("AveragePool", &name, &inputs, pool(kernel, stride))
        }
        Layer::BatchNorm => {
            let attrs = vec![("epsilon", Attr::Float(EPSILON))];
            g.node("BatchNormalization", &name, &inputs, attrs)
        }
        Layer::LayerNorm => {
            let attrs = vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(EPSILON))];
            g.node("LayerNormalization", &name, &inputs, attrs)
        }
        Layer::Relu => g.node("Relu", &name, &inputs, vec![]),
        Layer::Tanh => g.node("Tanh", &name, &inputs, vec![]),
        Layer::Sigmoid => g.node("Sigmoid", &name, &inputs, vec![]),
        Layer::Gelu => gelu(g, &name, x),
        Layer::Flatten => g.node("Flatten", &name, &inputs, vec![("axis", Attr::Int(1))]),
        Layer::Dropout { .. } => x.to_string(),
        Layer::Softmax => {
            return Err(unsupported(
                at,
                "`softmax` is only allowed as the last layer",
            ));
        }
    };
    Ok(out)
}

fn pool(kernel: usize, stride: usize) -> Vec<(&'static str, Attr)> {
    vec![
        ("kernel_shape", Attr::Ints(vec![kernel as i64; 2])),
        ("strides", Attr::Ints(vec![stride as i64; 2])),
    ]
}

/// `x * (0.5 * (1 + erf(x / sqrt 2)))`, in the engine's order of operations.
fn gelu(g: &mut Graph, name: &str, x: &str) -> String {
    let c = g.scalar(
        &format!("{name}.inv_sqrt2"),
        std::f32::consts::FRAC_1_SQRT_2,
    );
    let one = g.scalar(&format!("{name}.one"), 1.0);
    let half = g.scalar(&format!("{name}.half"), 0.5);
    let t = g.node("Mul", &format!("{name}.scaled"), &[x, &c], vec![]);
    let e = g.node("Erf", &format!("{name}.erf"), &[&t], vec![]);
    let a = g.node("Add", &format!("{name}.plus_one"), &[&e, &one], vec![]);
    let phi = g.node("Mul", &format!("{name}.phi"), &[&a, &half], vec![]);
    g.node("Mul", name, &[x, &phi], vec![])
}

/// The layer's tensors as initializers named as in the package, in the order the kind lists
/// them (which is the order of the ONNX op's inputs); each checked against its expected shape.
fn initializers(g: &mut Graph, at: &At<'_>) -> Result<Vec<String>, OnnxError> {
    let params = at.layer.parameters(at.input);
    params
        .iter()
        .map(|p| {
            let t = weight(at, p)?;
            Ok(match at.quant {
                Some(q) if p.name == "weight" => crate::qdq::weight(g, q, t),
                _ => g.constant(&t.name, &t.shape, &t.data),
            })
        })
        .collect()
}

fn weight<'a>(at: &At<'a>, p: &Param) -> Result<&'a NamedTensor, OnnxError> {
    let name = format!("layers.{}.{}", at.index, p.name);
    let Some(t) = at.weights.iter().find(|t| t.name == name) else {
        return Err(OnnxError::MissingWeight {
            index: at.index,
            layer: at.layer,
            name,
        });
    };
    if t.shape != p.shape || t.data.len() != p.shape.iter().product::<usize>() {
        return Err(OnnxError::WeightShape {
            index: at.index,
            layer: at.layer,
            name,
            expected: p.shape.clone().into(),
            got: t.shape.clone().into(),
        });
    }
    Ok(t)
}

fn unsupported(at: &At<'_>, reason: &str) -> OnnxError {
    OnnxError::Unsupported {
        index: at.index,
        layer: at.layer,
        reason: reason.into(),
    }
}
