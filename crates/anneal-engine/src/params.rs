//! The parameters of a program's layers: their names and shapes in a package
//! (`layers.{i}.weight`, ...), and their initial values. Shared by the compiled engine and the
//! burn reference.

use anneal_spec::{Layer, Shape};

use crate::NamedTensor;
use crate::rng::SplitMix64;

/// The input shape of every layer (shape inference has already accepted `layers`).
pub(crate) fn input_shapes(input: Shape, layers: &[Layer]) -> Vec<Shape> {
    let mut shapes = vec![input];
    if let Ok(t) = anneal_spec::shape::infer_layers(input, layers) {
        shapes.extend(t.layers.iter().map(|r| r.output));
    }
    shapes
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

/// Fresh parameters drawn from `rng`: weights and biases uniform in `±1/sqrt(fan_in)` (as
/// PyTorch's defaults), batch-norm scale 1, shift 0, running mean 0 and variance 1.
pub(crate) fn initial_weights(
    input: Shape,
    layers: &[Layer],
    rng: &mut SplitMix64,
) -> Vec<NamedTensor> {
    let shapes = input_shapes(input, layers);
    param_layout(input, layers)
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data = if name.ends_with("gamma") || name.ends_with("running_var") {
                vec![1.0; n]
            } else if name.ends_with("beta") || name.ends_with("running_mean") {
                vec![0.0; n]
            } else {
                let index: usize = name
                    .split('.')
                    .nth(1)
                    .and_then(|i| i.parse().ok())
                    .unwrap_or(0);
                let fan_in = match layers.get(index) {
                    Some(Layer::Conv { kernel, .. }) => {
                        shapes[index].dims()[0] * kernel[0] * kernel[1]
                    }
                    _ => shapes[index].elements(),
                };
                let k = 1.0 / (fan_in.max(1) as f64).sqrt();
                (0..n)
                    .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * k)
                    .map(|v| v as f32)
                    .collect()
            };
            NamedTensor { name, shape, data }
        })
        .collect()
}
