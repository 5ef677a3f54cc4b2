//! `flatten`: `[B, C, H, W] -> [B, C*H*W]` in channel-major order (a vector stays as it is).

use crate::shape::{At, Out, Shape, ShapeError};

pub(super) fn out(at: &At, cur: Shape) -> Result<Out, ShapeError> {
    let n = cur
        .checked_elements()
        .ok_or_else(|| at.fail("its output size does not fit in 64 bits".into(), None))?;
    Ok((Shape::Flat([n]), Some(0), Some(0)))
}
