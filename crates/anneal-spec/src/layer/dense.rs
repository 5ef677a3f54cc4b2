//! `dense N` (also `linear N`): fully connected, `[B, I] -> [B, N]`, `y = x W + b` with weight
//! `[I, N]` and bias `[N]`; `2 I N` FLOPs per example.

use super::grammar::Args;
use super::{Init, Layer, LayerError, Param};
use crate::shape::{At, Out, Shape, ShapeError, prod};

const FORM: &str = "dense N";

pub(super) fn parse(a: &Args<'_>) -> Result<Layer, LayerError> {
    let units = a.positive(0, FORM, "the number of outputs")?;
    a.no_more(1, FORM)?;
    Ok(Layer::Dense { units })
}

pub(super) fn out(at: &At, cur: Shape, units: usize) -> Result<Out, ShapeError> {
    let Shape::Flat([n]) = cur else {
        return Err(at.fail(
            format!("expected input [B, N], got {cur} from {}", at.prev),
            cur.checked_elements()
                .map(|n| format!("add `flatten` before it, giving [B, {n}]")),
        ));
    };
    let weights = prod(&[n, units]);
    let params = weights.and_then(|w| w.checked_add(units as u64));
    Ok((
        Shape::Flat([units]),
        params,
        weights.and_then(|w| w.checked_mul(2)),
    ))
}

pub(super) fn parameters(cur: Shape, units: usize) -> Vec<Param> {
    let fan_in = cur.elements();
    let init = Init::Uniform { fan_in };
    vec![
        Param::new("weight", vec![fan_in, units], init),
        Param::new("bias", vec![units], init),
    ]
}
