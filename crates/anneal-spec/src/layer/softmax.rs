//! `softmax`: class probabilities; only as the last layer (training folds it into the loss).

use super::activation;
use crate::shape::{At, Out, Shape, ShapeError};

pub(super) fn out(at: &At, cur: Shape) -> Result<Out, ShapeError> {
    if !at.last {
        return Err(at.fail(
            "`softmax` may only be the last layer".into(),
            Some("remove it, or move it to the end".into()),
        ));
    }
    Ok(activation::out(cur, 3))
}
