//! int8 packages: how a quantized layer's weight is stored and checked.
//!
//! A package whose program says `quantize = "int8"` carries `anneal.quantization`
//! ([`Quantization`]): for each `dense` and `conv` layer, its input's uint8 scale and zero
//! point and its weight's per-output-channel scales. That weight, `layers.{i}.weight`, is an
//! I8 tensor in the package's usual layout (dense `[in, out]`, conv `[out, in, kh, kw]`), each
//! value `round(w / scale[channel])` in `[-127, 127]`; a reader multiplies it back. Every other
//! tensor stays F32. In memory ([`crate::Package::weights`]) a quantized weight is held as the
//! f32 values its integers stand for, so writing a package read from disk gives back the same
//! bytes.

use anneal_spec::quant::{channels, dequantize_weight, quantize_weight, weight_name};
use anneal_spec::{Layer, NamedTensor, Program, Quantization, Scheme};
use safetensors::Dtype;

/// The metadata key.
pub const KEY: &str = "anneal.quantization";

/// A tensor as stored: its safetensors dtype and little-endian bytes.
pub(crate) struct Encoded {
    pub dtype: &'static str,
    pub bytes: Vec<u8>,
}

/// `t` as stored: I8 at its scales when `q` quantizes it, else F32.
pub(crate) fn encode(t: &NamedTensor, q: Option<&Quantization>) -> Encoded {
    match scales_of(q, &t.name) {
        Some(scales) if channels(&t.shape) == scales.len() => Encoded {
            dtype: "I8",
            bytes: quantize_weight(t, scales)
                .iter()
                .map(|v| *v as u8)
                .collect(),
        },
        _ => Encoded {
            dtype: "F32",
            bytes: t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        },
    }
}

/// The per-channel scales of tensor `name` when `q` quantizes it.
pub(crate) fn scales_of<'q>(q: Option<&'q Quantization>, name: &str) -> Option<&'q [f32]> {
    let layers = q.map_or(&[][..], |q| &q.layers);
    let layer = layers.iter().find(|l| weight_name(l.layer) == name)?;
    Some(&layer.weight_scales)
}

/// A quantized layer's stored weight, read back as the f32 values it stands for.
pub(crate) fn decode(
    name: String,
    view: &safetensors::tensor::TensorView<'_>,
    scales: &[f32],
) -> Result<NamedTensor, String> {
    if view.dtype() != Dtype::I8 {
        let dtype = view.dtype();
        return Err(format!(
            "tensor `{name}` is {dtype:?}; `{KEY}` quantizes it, so it must be I8"
        ));
    }
    let shape = view.shape().to_vec();
    if channels(&shape) != scales.len() {
        let n = scales.len();
        return Err(format!(
            "tensor `{name}` has shape {shape:?}; `{KEY}` gives it {n} channel scales"
        ));
    }
    let q: Vec<i8> = view.data().iter().map(|b| *b as i8).collect();
    let data = dequantize_weight(&shape, &q, scales);
    Ok(NamedTensor { name, shape, data })
}

/// Why `q` cannot be the quantization of `program`'s package, if it cannot: it must be there
/// exactly when the program asks for it, name each `dense` and `conv` layer once, in order,
/// with usable scales, one per output channel.
pub(crate) fn check(program: &Program, q: Option<&Quantization>) -> Result<(), String> {
    let wanted: Vec<(usize, usize)> = program
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Layer::Dense { units } => Some((i, *units)),
            Layer::Conv { channels, .. } => Some((i, *channels)),
            _ => None,
        })
        .collect();
    match (program.quantize, q) {
        (None, None) => Ok(()),
        (Some(Scheme::Int8), None) => Err(format!(
            "the program is quantized to int8 but the package has no `{KEY}`"
        )),
        (None, Some(_)) => Err(format!(
            "metadata `{KEY}` is present but the program is not quantized"
        )),
        (Some(_), Some(q)) => layers_match(&wanted, q),
    }
}

fn layers_match(wanted: &[(usize, usize)], q: &Quantization) -> Result<(), String> {
    let named: Vec<usize> = q.layers.iter().map(|l| l.layer).collect();
    let want: Vec<usize> = wanted.iter().map(|(i, _)| *i).collect();
    if named != want {
        return Err(format!(
            "metadata `{KEY}` quantizes layers {named:?}; the program's dense and conv layers are {want:?}"
        ));
    }
    for (l, (i, channels)) in q.layers.iter().zip(wanted) {
        l.check(*channels)
            .map_err(|why| format!("metadata `{KEY}`, layer {}: {why}", i + 1))?;
    }
    Ok(())
}
