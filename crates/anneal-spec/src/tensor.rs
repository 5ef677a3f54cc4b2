//! [`NamedTensor`]: the plain form in which weights cross crate boundaries.

/// A named f32 tensor, in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// `layers.{i}.{weight|bias|gamma|beta|running_mean|running_var}`.
    pub name: String,
    /// Dimensions. Dense weights are `[in, out]` (`y = x W + b`); convolution weights are
    /// `[out, in, kh, kw]`.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}
