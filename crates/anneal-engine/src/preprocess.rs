//! From stored bytes to model inputs.

use anneal_spec::Normalization;
/// Convert 8-bit pixels to model inputs.
pub fn preprocess(pixels: &[u8], norm: &Normalization) -> Vec<f32> {
    pixels
        .iter()
        .map(|&b| (f32::from(b) * norm.scale - norm.mean) / norm.std)
        .collect()
}
