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
            Shape::Image([c, h, w]) => c.saturating_mul(*h).saturating_mul(*w),
        }
    }

    /// Number of f32 elements per example, if it fits in a `usize`.
    pub fn checked_elements(&self) -> Option<usize> {
        match self {
            Shape::Flat([n]) => Some(*n),
            Shape::Image([c, h, w]) => c.checked_mul(*h)?.checked_mul(*w),
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
        _ => Err(wrong_width(layers, out, classes)),
    }
}

/// The model's output is not one value per class: the error names its last layer before any
/// softmax.
fn wrong_width(layers: &[Layer], out: Shape, classes: usize) -> ShapeError {
    let last = layers.iter().enumerate().rev();
    let mut last = last.filter(|(_, l)| !matches!(l, Layer::Softmax));
    let (index, layer) = last.next().map_or((0, Layer::Flatten), |(i, l)| (i, *l));
    ShapeError {
        index,
        layer,
        message: format!(
            "the model's output is {out}, but the program has {classes} classes (expected [B, {classes}])"
        ),
        hint: Some(format!("end the model with `dense {classes}`")),
    }
}

/// Infer every layer's output shape and cost, without checking the output width. All
/// arithmetic is checked: a layer whose shape or cost does not fit in 64 bits, or whose output
/// is larger than [`crate::budget::MAX_EXAMPLE_ELEMENTS`], is an error naming it, never a wrap.
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
    for index in 0..layers.len() {
        let row = At::new(layers, index).row(cur)?;
        cur = row.output;
        rows.push(row);
    }
    total(input, rows)
}

fn total(input: Shape, rows: Vec<LayerCost>) -> Result<CostTable, ShapeError> {
    let last = rows.last().map_or(0, |r| r.index);
    let over = |what: &str| ShapeError {
        index: last,
        layer: rows.last().map_or(Layer::Flatten, |r| r.layer),
        message: format!("the model's total {what} does not fit in 64 bits"),
        hint: None,
    };
    let params = rows.iter().try_fold(0usize, |a, r| a.checked_add(r.params));
    let params = params.ok_or_else(|| over("parameter count"))?;
    let flops = rows.iter().try_fold(0u64, |a, r| a.checked_add(r.flops));
    let activation_bytes = rows
        .iter()
        .try_fold(0u64, |a, r| a.checked_add(r.activation_bytes));
    let weight_bytes = (params as u64).checked_mul(4);
    Ok(CostTable {
        input,
        params,
        flops: flops.ok_or_else(|| over("FLOP count"))?,
        activation_bytes: activation_bytes.ok_or_else(|| over("activation size"))?,
        weight_bytes: weight_bytes.ok_or_else(|| over("weight size"))?,
        layers: rows,
    })
}

/// One layer being inferred: where it is, for the errors its kind reports.
pub(crate) struct At {
    index: usize,
    layer: Layer,
    /// The layer before it (or the input), as errors name it.
    pub prev: String,
    /// Whether it is the model's last layer.
    pub last: bool,
}

/// Output shape, parameters and FLOPs of one layer (`None`: does not fit in 64 bits), before
/// the checks of [`At::row`].
pub(crate) type Out = (Shape, Option<u64>, Option<u64>);

impl At {
    /// Layer `index` of `layers`.
    fn new(layers: &[Layer], index: usize) -> At {
        let prev = match index {
            0 => "the input".to_string(),
            _ => format!("layer {} `{}`", index - 1, layers[index - 1]),
        };
        let last = index + 1 == layers.len();
        At {
            index,
            layer: layers[index],
            prev,
            last,
        }
    }

    /// An error at this layer.
    pub(crate) fn fail(&self, message: String, hint: Option<String>) -> ShapeError {
        ShapeError {
            index: self.index,
            layer: self.layer,
            message,
            hint,
        }
    }

    /// The shape-table row of this layer on input `cur`.
    fn row(&self, cur: Shape) -> Result<LayerCost, ShapeError> {
        let (output, params, flops) = self.layer.out(self, cur)?;
        let too_big = |what: &str| {
            self.fail(
                format!("its {what} does not fit in 64 bits"),
                Some("use fewer units or channels, or a smaller kernel".into()),
            )
        };
        let elements = output
            .checked_elements()
            .ok_or_else(|| too_big("output size"))?;
        crate::budget::example_elements(elements).map_err(|m| self.fail(m, None))?;
        let params = params.and_then(|p| usize::try_from(p).ok());
        Ok(LayerCost {
            index: self.index,
            layer: self.layer,
            output,
            params: params.ok_or_else(|| too_big("parameter count"))?,
            flops: flops.ok_or_else(|| too_big("FLOP count"))?,
            activation_bytes: elements as u64 * 4,
        })
    }
}

/// The product, if it fits in 64 bits.
pub(crate) fn prod(xs: &[usize]) -> Option<u64> {
    xs.iter().try_fold(1u64, |a, &x| a.checked_mul(x as u64))
}

/// The output sides of a `kernel` window slid over `[h, w]` with `stride` and `pad`, or `None`
/// when it does not fit.
pub(crate) fn slide(
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad: usize,
) -> Option<[usize; 2]> {
    let side = |size, k| out_dim(size, k, stride, pad);
    Some([side(h, kernel[0])?, side(w, kernel[1])?])
}

fn out_dim(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = pad.checked_mul(2)?.checked_add(size)?;
    (padded >= kernel && stride > 0).then(|| (padded - kernel) / stride + 1)
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
