//! `layernorm`: normalises each example's feature vector to mean 0 and variance 1 (epsilon
//! 1e-5), then scales and shifts each feature: `y = (x - mean) / sqrt(var + eps) * gamma +
//! beta`, `[B, N] -> [B, N]`, `gamma` and `beta` `[N]` (as PyTorch's `LayerNorm(N)`); the
//! same in training and inference. Seven FLOPs per value (mean, variance, normalise, scale,
//! shift).

use super::{Init, Param};
use crate::shape::{At, Out, Shape, ShapeError};

pub(super) fn out(at: &At, cur: Shape) -> Result<Out, ShapeError> {
    let Shape::Flat([n]) = cur else {
        return Err(at.fail(
            format!("expected input [B, N], got {cur} from {}", at.prev),
            Some("`layernorm` normalises a feature vector: put it after `flatten`".into()),
        ));
    };
    Ok((cur, (n as u64).checked_mul(2), (n as u64).checked_mul(7)))
}

pub(super) fn parameters(cur: Shape) -> Vec<Param> {
    let n = vec![cur.elements()];
    vec![
        Param::new("gamma", n.clone(), Init::Ones),
        Param::new("beta", n, Init::Zeros),
    ]
}
