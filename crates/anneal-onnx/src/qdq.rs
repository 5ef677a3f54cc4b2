//! The QDQ nodes of an int8 package's quantized layers ([`anneal_spec::quant`]'s scheme).

use anneal_spec::quant::quantize_weight;
use anneal_spec::{NamedTensor, QuantLayer};

use crate::graph::Graph;
use crate::onnx::{Attr, DataType};

/// `DequantizeLinear(QuantizeLinear(x))` at layer `index`'s calibrated uint8 scale and zero
/// point; returns the dequantized input's name.
pub(crate) fn input(g: &mut Graph, index: usize, q: &QuantLayer, x: &str) -> String {
    let name = |part: &str| format!("layers.{index}.input_{part}");
    let scale = g.scalar(&name("scale"), q.input_scale);
    let zero = g.raw(
        &name("zero_point"),
        &[],
        DataType::Uint8,
        &[q.input_zero_point],
    );
    let quantized = g.node(
        "QuantizeLinear",
        &name("quantized"),
        &[x, &scale, &zero],
        vec![],
    );
    let inputs = [quantized.as_str(), &scale, &zero];
    g.node("DequantizeLinear", &name("dequantized"), &inputs, vec![])
}

/// The weight `t` as an INT8 initializer read through `DequantizeLinear` along its output
/// channels (axis 1 of a dense `[in, out]` weight, 0 of a conv `[out, in, kh, kw]` one); the
/// dequantized weight keeps `t`'s name.
pub(crate) fn weight(g: &mut Graph, q: &QuantLayer, t: &NamedTensor) -> String {
    let ints: Vec<u8> = quantize_weight(t, &q.weight_scales)
        .iter()
        .map(|v| *v as u8)
        .collect();
    let n = q.weight_scales.len();
    let stored = g.raw(
        &format!("{}_quantized", t.name),
        &t.shape,
        DataType::Int8,
        &ints,
    );
    let scale = g.constant(&format!("{}_scale", t.name), &[n], &q.weight_scales);
    let zeros = vec![0u8; n];
    let zero = g.raw(
        &format!("{}_zero_point", t.name),
        &[n],
        DataType::Int8,
        &zeros,
    );
    let axis = i64::from(t.shape.len() == 2);
    let attrs = vec![("axis", Attr::Int(axis))];
    g.node(
        "DequantizeLinear",
        &t.name,
        &[&stored, &scale, &zero],
        attrs,
    )
}
