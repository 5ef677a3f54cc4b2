//! Post-training int8 quantization ([`anneal_spec::quant`]'s scheme): [`calibrate`] turns f32
//! weights into a quantized package's, and [`Model::quantized`] runs them as integer products.

use anneal_spec::quant::{round_weight, weight_name, weight_scales};
use anneal_spec::{Layer, NamedTensor, Program, QuantLayer, Quantization};

use crate::{EngineError, Inner, Model, cpu};

/// What [`calibrate`] gives: the quantized layers and the weights as the int8 model holds them.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// One entry per `dense` and `conv` layer, in layer order.
    pub layers: Vec<QuantLayer>,
    /// The weights with every quantized layer's weight rounded to its int8 grid (what the
    /// int8 values stand for); biases and the rest unchanged.
    pub weights: Vec<NamedTensor>,
}

/// Quantize `program`'s `weights` (f32): per-channel int8 weights, and the input range of
/// every `dense` and `conv` layer as the f32 model sees it on the examples `x` (preprocessed,
/// back to back; a few hundred from the train split are plenty).
pub fn calibrate(
    program: &Program,
    weights: &[NamedTensor],
    x: &[f32],
) -> Result<Calibrated, EngineError> {
    let layers = program.logit_layers();
    let plan = cpu::Plan::compile(program.input.shape, layers, program.classes.len())?;
    let (params, stats) = plan.load(weights)?;
    if x.is_empty() || !x.len().is_multiple_of(program.input.shape.elements()) {
        return Err(EngineError::Input(format!(
            "calibration needs whole examples of {} values, got {}",
            program.input.shape.elements(),
            x.len()
        )));
    }
    let ranges = plan.input_ranges(&params, &stats, x);
    let mut quantized = Vec::new();
    let mut rounded = weights.to_vec();
    for (i, range) in ranges.iter().enumerate() {
        let (Some((lo, hi)), Some(Layer::Dense { .. } | Layer::Conv { .. })) =
            (range, layers.get(i))
        else {
            continue;
        };
        let name = weight_name(i);
        let Some(w) = rounded.iter_mut().find(|t| t.name == name) else {
            return Err(EngineError::Weights(format!("tensor `{name}` is missing")));
        };
        let scales = weight_scales(w);
        *w = round_weight(w, &scales);
        quantized.push(QuantLayer::calibrated(i, *lo, *hi, scales));
    }
    Ok(Calibrated {
        layers: quantized,
        weights: rounded,
    })
}

impl Model {
    /// This model running the layers `q` quantizes as int8 products (`None`: as it is). Its
    /// weights must be the quantized package's (each on its int8 grid, as [`calibrate`]
    /// rounds them).
    pub fn quantized(mut self, q: Option<&Quantization>) -> Result<Model, EngineError> {
        let Some(q) = q else { return Ok(self) };
        match &mut self.inner {
            Inner::Compiled(c) => c.quantize(q)?,
            #[cfg(feature = "burn")]
            Inner::Burn(_) => return Err(EngineError::Unavailable("int8 on the burn backend")),
        }
        Ok(self)
    }
}
