//! From stored bytes to model inputs.

use anneal_spec::Normalization;
/// Features (8-bit pixels, or f32 values such as log-mel energies) to model inputs.
pub fn preprocess<T: Copy + Into<f32>>(values: &[T], norm: &Normalization) -> Vec<f32> {
    values
        .iter()
        .map(|&v| (v.into() * norm.scale - norm.mean) / norm.std)
        .collect()
}
