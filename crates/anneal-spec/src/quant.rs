//! Post-training int8 quantization, as a package stores it: the description ([`Quantization`])
//! and the arithmetic every reader and writer shares.
//!
//! The scheme is the one onnxruntime's static quantization and PyTorch's `fbgemm` backend use:
//!
//! - **weights** of every `dense` and `conv` layer are int8, symmetric, one scale per output
//!   channel: `w ≈ scale[c] * q`, `q = round(w / scale[c])` in `[-127, 127]`, with `scale[c]`
//!   the channel's largest magnitude over 127;
//! - **activations** entering those layers are uint8, asymmetric, one scale and zero point per
//!   layer, calibrated from the smallest and largest values the f32 model sees there on
//!   examples of the train split: `x ≈ scale * (q - zero_point)`, `q = clamp(round(x / scale)
//!   + zero_point, 0, 255)`. The range always holds 0, so zero padding is exact.
//!
//! Everything else (biases, batch norm, pooling, activations) stays f32, and each quantized
//! layer's accumulators (i32) are scaled back to f32 before its bias is added: what a
//! `QuantizeLinear`/`DequantizeLinear` pair around each product computes in ONNX.

use serde::{Deserialize, Serialize};

use crate::NamedTensor;

/// A quantization scheme (`[model] quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// int8 weights per output channel, uint8 activations per layer.
    Int8,
}

impl Scheme {
    /// As the manifest writes it.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Int8 => "int8",
        }
    }
}

/// How a package's weights were quantized: its `anneal.quantization` metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// The scheme.
    pub scheme: Scheme,
    /// How many train-split examples calibrated the activation ranges.
    pub calibration_examples: usize,
    /// The f32 model's accuracy on the test split, before quantization.
    pub f32_accuracy: f64,
    /// One entry per quantized (`dense` or `conv`) layer, in layer order.
    pub layers: Vec<QuantLayer>,
}

/// One quantized layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantLayer {
    /// Its index in the program's layers (`layers.{layer}.weight`).
    pub layer: usize,
    /// The scale of its uint8 input.
    pub input_scale: f32,
    /// The uint8 value that stands for 0.
    pub input_zero_point: u8,
    /// One scale per output channel of its int8 weight.
    pub weight_scales: Vec<f32>,
}

/// Largest magnitude of an int8 weight (symmetric: -128 is never used).
pub const WEIGHT_MAX: f32 = 127.0;

impl QuantLayer {
    /// The quantization of an input whose values lie in `[lo, hi]`, for a weight of scales
    /// `weight_scales`.
    pub fn calibrated(layer: usize, lo: f32, hi: f32, weight_scales: Vec<f32>) -> QuantLayer {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let range = hi - lo;
        let input_scale = if range > 0.0 && range.is_finite() {
            range / 255.0
        } else {
            1.0
        };
        let input_zero_point = (-lo / input_scale).round().clamp(0.0, 255.0) as u8;
        QuantLayer {
            layer,
            input_scale,
            input_zero_point,
            weight_scales,
        }
    }

    /// `x` as this layer's uint8 input.
    #[inline(always)]
    pub fn quantize_input(&self, x: f32) -> u8 {
        // round(x / scale) + zero point, clamped to 0..=255, in steps compilers turn into
        // vector code (float-to-int casts stay scalar): clamp into [-256, 512] (`max` sends NaN
        // to the low end, so it quantizes to 0), then add 1.5 * 2^23, which rounds to the
        // nearest integer, ties to even, and leaves it in the low bits.
        const MAGIC: f32 = 12_582_912.0;
        #[allow(clippy::manual_clamp)] // `clamp` keeps NaN; `max` must drop it
        let q = (x / self.input_scale).max(-256.0).min(512.0) + MAGIC;
        let q = q.to_bits() as i32 - MAGIC.to_bits() as i32;
        (q + i32::from(self.input_zero_point)).clamp(0, 255) as u8
    }

    /// Why this entry cannot describe a layer with `channels` output channels, if it cannot. A
    /// scale must be positive and small enough that every value it stands for (255 input
    /// steps, 127 weight steps) is finite.
    pub fn check(&self, channels: usize) -> Result<(), String> {
        let good = |s: f32| s > 0.0 && (s * 255.0).is_finite();
        let bad = |what: &str, s: f32| {
            format!("{what}, {s}, is not a positive number whose multiples up to 255 are finite")
        };
        if !good(self.input_scale) {
            return Err(bad("its input scale", self.input_scale));
        }
        if self.weight_scales.len() != channels {
            let n = self.weight_scales.len();
            return Err(format!(
                "it has {n} weight scales for {channels} output channels"
            ));
        }
        match self.weight_scales.iter().find(|s| !good(**s)) {
            Some(s) => Err(bad("a weight scale", *s)),
            None => Ok(()),
        }
    }
}

/// The output channel of element `i` of a weight of `shape`: dense weights are `[in, out]`,
/// convolution weights `[out, in, kh, kw]`.
pub fn channel(shape: &[usize], i: usize) -> usize {
    match shape {
        [_, out] => i % out,
        [out, ..] => i / (shape.iter().product::<usize>() / out).max(1),
        [] => 0,
    }
}

/// The number of output channels of a weight of `shape`.
pub fn channels(shape: &[usize]) -> usize {
    match shape {
        [_, out] => *out,
        [out, ..] => *out,
        [] => 0,
    }
}

/// One scale per output channel: the channel's largest magnitude over [`WEIGHT_MAX`] (1 for a
/// channel of zeros).
pub fn weight_scales(w: &NamedTensor) -> Vec<f32> {
    let mut max = vec![0f32; channels(&w.shape)];
    for (i, v) in w.data.iter().enumerate() {
        let c = channel(&w.shape, i);
        max[c] = max[c].max(v.abs());
    }
    max.iter()
        .map(|&m| if m > 0.0 { m / WEIGHT_MAX } else { 1.0 })
        .collect()
}

/// `w` as int8 at `scales`, element by element in `w`'s layout.
pub fn quantize_weight(w: &NamedTensor, scales: &[f32]) -> Vec<i8> {
    let q = |(i, v): (usize, &f32)| {
        (v / scales[channel(&w.shape, i)])
            .round_ties_even()
            .clamp(-WEIGHT_MAX, WEIGHT_MAX) as i8
    };
    w.data.iter().enumerate().map(q).collect()
}

/// The f32 values int8 `q` of `shape` stand for at `scales`.
pub fn dequantize_weight(shape: &[usize], q: &[i8], scales: &[f32]) -> Vec<f32> {
    let v = |(i, q): (usize, &i8)| f32::from(*q) * scales[channel(shape, i)];
    q.iter().enumerate().map(v).collect()
}

/// `w` rounded to what its int8 form stands for (quantized, then dequantized).
pub fn round_weight(w: &NamedTensor, scales: &[f32]) -> NamedTensor {
    let data = dequantize_weight(&w.shape, &quantize_weight(w, scales), scales);
    NamedTensor { data, ..w.clone() }
}

/// The name of layer `layer`'s weight tensor.
pub fn weight_name(layer: usize) -> String {
    format!("layers.{layer}.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_round_trip_through_int8_per_output_channel() {
        // Dense [in=2, out=3]: channels are columns.
        let w = NamedTensor {
            name: weight_name(0),
            shape: vec![2, 3],
            data: vec![1.0, -0.5, 0.0, -2.0, 0.25, 0.0],
        };
        let s = weight_scales(&w);
        assert_eq!(s, vec![2.0 / 127.0, 0.5 / 127.0, 1.0]);
        let q = quantize_weight(&w, &s);
        assert_eq!(q, vec![64, -127, 0, -127, 64, 0]);
        let back = dequantize_weight(&w.shape, &q, &s);
        for (a, b) in back.iter().zip(&w.data) {
            assert!((a - b).abs() <= 0.5 * 2.0 / 127.0);
        }
        // Requantizing what was dequantized gives the same integers.
        assert_eq!(quantize_weight(&round_weight(&w, &s), &s), q);
    }

    #[test]
    fn conv_weights_are_per_first_axis() {
        assert_eq!(channel(&[4, 2, 3, 3], 17), 0);
        assert_eq!(channel(&[4, 2, 3, 3], 18), 1);
        assert_eq!(channels(&[4, 2, 3, 3]), 4);
    }

    #[test]
    fn activation_ranges_always_hold_zero() {
        let q = QuantLayer::calibrated(0, 0.5, 2.55, vec![1.0]);
        assert_eq!(q.input_zero_point, 0);
        assert!((q.input_scale - 0.01).abs() < 1e-6);
        assert_eq!(q.quantize_input(0.0), 0);
        assert_eq!(q.quantize_input(9.0), 255);
        let signed = QuantLayer::calibrated(0, -1.0, 1.55, vec![1.0]);
        assert_eq!(signed.input_zero_point, 100);
        assert_eq!(signed.quantize_input(0.0), 100);
        assert_eq!(signed.quantize_input(-5.0), 0);
        assert_eq!(signed.quantize_input(f32::NAN), 0);
        assert_eq!(signed.quantize_input(f32::INFINITY), 255);
        assert_eq!(signed.quantize_input(f32::NEG_INFINITY), 0);
        assert_eq!(signed.quantize_input(1e30), 255);
        assert!(signed.check(1).is_ok() && signed.check(2).is_err());
    }

    #[test]
    fn quantizing_in_integer_steps_equals_the_float_formula() {
        let q = QuantLayer::calibrated(0, -1.3, 2.2, vec![1.0]);
        let float = |x: f32| {
            let v = (x / q.input_scale).round_ties_even() + f32::from(q.input_zero_point);
            v.clamp(0.0, 255.0) as u8
        };
        // Every half step (the ties) and points between them, past both ends of the range.
        for i in -2000..2000 {
            let x = i as f32 * q.input_scale / 4.0;
            assert_eq!(q.quantize_input(x), float(x), "at {x}");
        }
    }
}
