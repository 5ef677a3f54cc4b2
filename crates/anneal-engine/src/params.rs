//! The parameters of a program's layers: their names and shapes in a package
//! (`layers.{i}.weight`, ...), as each layer kind in the spec lists them, and their initial
//! values. Shared by the compiled engine and the burn reference.

use anneal_spec::layer::{Init, Param};
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

/// The parameters (and running statistics) of `layers`, named as in a package, in the order
/// the spec lists them (which is also the order burn visits them).
pub(crate) fn params(input: Shape, layers: &[Layer]) -> Vec<(String, Param)> {
    let shapes = input_shapes(input, layers);
    let named = |(i, (layer, cur)): (usize, (&Layer, Shape))| {
        let own = layer.parameters(cur).into_iter();
        own.map(move |p| (format!("layers.{i}.{}", p.name), p))
    };
    layers
        .iter()
        .zip(shapes)
        .enumerate()
        .flat_map(named)
        .collect()
}

/// The names and shapes of the parameters (and running statistics) of `layers`.
#[cfg(feature = "burn")]
pub(crate) fn param_layout(input: Shape, layers: &[Layer]) -> Vec<(String, Vec<usize>)> {
    let named = params(input, layers).into_iter();
    named.map(|(name, p)| (name, p.shape)).collect()
}

/// Fresh parameters drawn from `rng`, each as its [`Init`] says.
pub(crate) fn initial_weights(
    input: Shape,
    layers: &[Layer],
    rng: &mut SplitMix64,
) -> Vec<NamedTensor> {
    let named = params(input, layers).into_iter();
    named
        .map(|(name, p)| NamedTensor {
            data: initial_values(p.init, p.shape.iter().product(), rng),
            name,
            shape: p.shape,
        })
        .collect()
}

fn initial_values(init: Init, n: usize, rng: &mut SplitMix64) -> Vec<f32> {
    match init {
        Init::Ones => vec![1.0; n],
        Init::Zeros => vec![0.0; n],
        Init::Uniform { fan_in } => uniform(n, fan_in, rng),
    }
}

/// `n` values uniform in `±1/sqrt(fan_in)`.
fn uniform(n: usize, fan_in: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let k = 1.0 / (fan_in.max(1) as f64).sqrt();
    let unit = |r: u64| (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    (0..n).map(|_| (unit(rng.next_u64()) * k) as f32).collect()
}
