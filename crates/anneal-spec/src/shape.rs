//! Shape inference and the forward-pass cost model.
//!
//! Shapes are per example (the batch dimension `B` is implicit). Costs count a multiply-add as
//! two FLOPs; activation bytes are the f32 output of each layer for one example.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::layer::Layer;

/// The shape of one example as it flows through the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shape {
    /// A feature vector `[N]`.
    Flat([usize; 1]),
    /// An image-like tensor `[C, H, W]`.
    Image([usize; 3]),
}

impl Shape {
    /// Number of f32 elements per example.
    pub fn elements(&self) -> usize {
        match self {
            Shape::Flat([n]) => *n,
            Shape::Image([c, h, w]) => c * h * w,
        }
    }

    /// The dimensions, without the batch.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Shape::Flat(d) => d.to_vec(),
            Shape::Image(d) => d.to_vec(),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Flat([n]) => write!(f, "[B, {n}]"),
            Shape::Image([c, h, w]) => write!(f, "[B, {c}, {h}, {w}]"),
        }
    }
}

/// One row of the shape table: a layer, its output and what it costs per example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    /// Index of the layer in `[model] layers`.
    pub index: usize,
    /// The layer.
    pub layer: Layer,
    /// Shape of the layer's output.
    pub output: Shape,
    /// Trainable parameters.
    pub params: usize,
    /// Forward-pass FLOPs per example.
    pub flops: u64,
    /// Bytes of f32 activations this layer produces per example.
    pub activation_bytes: u64,
}

/// The whole table, with totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// The input shape.
    pub input: Shape,
    /// One row per layer.
    pub layers: Vec<LayerCost>,
    /// Sum of parameters.
    pub params: usize,
    /// Sum of forward FLOPs per example.
    pub flops: u64,
    /// Sum of activation bytes per example.
    pub activation_bytes: u64,
    /// Bytes of the f32 weights.
    pub weight_bytes: u64,
}

/// A layer that cannot accept its input, naming both layers and both shapes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("layer {index} `{layer}`: {message}")]
pub struct ShapeError {
    /// Index of the failing layer.
    pub index: usize,
    /// The failing layer.
    pub layer: Layer,
    /// The full message (names the previous layer and both shapes).
    pub message: String,
    /// A suggested fix.
    pub hint: Option<String>,
}

/// Infer every layer's output shape and cost. `classes` is the number of output classes; the
/// model must end with exactly that many values.
pub fn infer(input: Shape, layers: &[Layer], classes: usize) -> Result<CostTable, ShapeError> {
    let table = infer_layers(input, layers)?;
    let out = table.layers.last().map_or(input, |r| r.output);
    match out {
        Shape::Flat([n]) if n == classes => Ok(table),
        _ => {
            let (index, layer) = layers
                .iter()
                .enumerate()
                .rev()
                .find(|(_, l)| !matches!(l, Layer::Softmax))
                .map(|(i, l)| (i, *l))
                .unwrap_or((0, Layer::Flatten));
            Err(ShapeError {
                index,
                layer,
                message: format!(
                    "the model's output is {out}, but the program has {classes} classes (expected [B, {classes}])"
                ),
                hint: Some(format!("end the model with `dense {classes}`")),
            })
        }
    }
}

/// Infer every layer's output shape and cost, without checking the output width.
pub fn infer_layers(input: Shape, layers: &[Layer]) -> Result<CostTable, ShapeError> {
    if layers.is_empty() {
        return Err(ShapeError {
            index: 0,
            layer: Layer::Flatten,
            message: "the model has no layers".into(),
            hint: Some("add at least `flatten` and a `dense` layer".into()),
        });
    }
    let mut rows = Vec::with_capacity(layers.len());
    let mut cur = input;
    for (index, layer) in layers.iter().enumerate() {
        let prev = if index == 0 {
            "the input".to_string()
        } else {
            format!("layer {} `{}`", index - 1, layers[index - 1])
        };
        let fail = |message: String, hint: Option<String>| ShapeError {
            index,
            layer: *layer,
            message,
            hint,
        };
        let (output, params, flops) = match (*layer, cur) {
            (Layer::Dense { units }, Shape::Flat([n])) => (
                Shape::Flat([units]),
                n * units + units,
                2 * (n * units) as u64,
            ),
            (Layer::Dense { .. }, Shape::Image(_)) => {
                return Err(fail(
                    format!("expected input [B, N], got {cur} from {prev}",),
                    Some(format!(
                        "add `flatten` before it, giving [B, {}]",
                        cur.elements()
                    )),
                ));
            }
            (
                Layer::Conv {
                    channels,
                    kernel,
                    stride,
                    pad,
                },
                Shape::Image([c, h, w]),
            ) => {
                let (Some(oh), Some(ow)) = (
                    out_dim(h, kernel[0], stride, pad),
                    out_dim(w, kernel[1], stride, pad),
                ) else {
                    return Err(fail(
                        format!(
                            "a {}x{} kernel does not fit the {h}x{w} output of {prev} ({cur})",
                            kernel[0], kernel[1]
                        ),
                        Some(
                            "use a smaller kernel, add `pad`, or remove a pooling layer before it"
                                .into(),
                        ),
                    ));
                };
                let k = kernel[0] * kernel[1] * c;
                let out = Shape::Image([channels, oh, ow]);
                (
                    out,
                    k * channels + channels,
                    2 * (k * channels * oh * ow) as u64,
                )
            }
            (Layer::Conv { .. }, Shape::Flat(_)) => {
                return Err(fail(
                    format!("expected input [B, C, H, W], got {cur} from {prev}"),
                    Some("convolutions need image-shaped input: put them before `flatten`".into()),
                ));
            }
            (
                Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride },
                Shape::Image([c, h, w]),
            ) => {
                let (Some(oh), Some(ow)) =
                    (out_dim(h, kernel, stride, 0), out_dim(w, kernel, stride, 0))
                else {
                    return Err(fail(
                        format!(
                            "a {kernel}x{kernel} window does not fit the {h}x{w} output of {prev} ({cur})"
                        ),
                        Some("use a smaller window or remove a pooling layer".into()),
                    ));
                };
                let out = Shape::Image([c, oh, ow]);
                (out, 0, (kernel * kernel * out.elements()) as u64)
            }
            (Layer::MaxPool { .. } | Layer::AvgPool { .. }, Shape::Flat(_)) => {
                return Err(fail(
                    format!("expected input [B, C, H, W], got {cur} from {prev}"),
                    Some("pooling needs image-shaped input: put it before `flatten`".into()),
                ));
            }
            (Layer::Flatten, s) => (Shape::Flat([s.elements()]), 0, 0),
            (Layer::Relu | Layer::Dropout { .. }, s) => (s, 0, s.elements() as u64),
            (Layer::Gelu | Layer::Tanh | Layer::Sigmoid, s) => (s, 0, 4 * s.elements() as u64),
            (Layer::BatchNorm, s) => {
                let features = match s {
                    Shape::Flat([n]) => n,
                    Shape::Image([c, _, _]) => c,
                };
                (s, 2 * features, 2 * s.elements() as u64)
            }
            (Layer::Softmax, s) => {
                if index + 1 != layers.len() {
                    return Err(fail(
                        "`softmax` may only be the last layer".into(),
                        Some("remove it, or move it to the end".into()),
                    ));
                }
                (s, 0, 3 * s.elements() as u64)
            }
        };
        rows.push(LayerCost {
            index,
            layer: *layer,
            output,
            params,
            flops,
            activation_bytes: 4 * output.elements() as u64,
        });
        cur = output;
    }
    let params = rows.iter().map(|r| r.params).sum::<usize>();
    Ok(CostTable {
        input,
        params,
        flops: rows.iter().map(|r| r.flops).sum(),
        activation_bytes: rows.iter().map(|r| r.activation_bytes).sum(),
        weight_bytes: 4 * params as u64,
        layers: rows,
    })
}

fn out_dim(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = size + 2 * pad;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::parse_layer;

    fn layers(s: &[&str]) -> Vec<Layer> {
        s.iter().map(|l| parse_layer(l).unwrap()).collect()
    }

    #[test]
    fn cnn_shapes_and_costs() {
        let t = infer(
            Shape::Image([1, 28, 28]),
            &layers(&[
                "conv 32 5x5",
                "relu",
                "maxpool 2",
                "conv 64 5x5",
                "relu",
                "maxpool 2",
                "flatten",
                "dense 128",
                "relu",
                "dense 10",
            ]),
            10,
        )
        .unwrap();
        assert_eq!(t.layers[0].output, Shape::Image([32, 24, 24]));
        assert_eq!(t.layers[0].params, 32 * 25 + 32);
        assert_eq!(t.layers[0].flops, 2 * 25 * 32 * 24 * 24);
        assert_eq!(t.layers[5].output, Shape::Image([64, 4, 4]));
        assert_eq!(t.layers[6].output, Shape::Flat([1024]));
        assert_eq!(t.params, 832 + 51264 + 131200 + 1290);
    }

    #[test]
    fn dense_after_conv_names_both_layers() {
        let e = infer(
            Shape::Image([1, 28, 28]),
            &layers(&["conv 8 3x3", "dense 10"]),
            10,
        )
        .unwrap_err();
        assert_eq!(e.index, 1);
        assert_eq!(
            e.to_string(),
            "layer 1 `dense 10`: expected input [B, N], got [B, 8, 26, 26] from layer 0 `conv 8 3x3`"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("add `flatten` before it, giving [B, 5408]")
        );
    }

    #[test]
    fn wrong_class_count() {
        let e = infer(Shape::Flat([4]), &layers(&["dense 3", "softmax"]), 2).unwrap_err();
        assert_eq!(e.index, 0);
        assert!(e.message.contains("2 classes"));
    }
}
