//! `relu`, `gelu`, `tanh`, `sigmoid`: element-wise, shape kept, no parameters; one FLOP per
//! value for relu, four for the others. (`dropout` costs as relu.)

use crate::shape::{Out, Shape};

/// An element-wise layer of `k` FLOPs per value.
pub(super) fn out(cur: Shape, k: u64) -> Out {
    let n = cur.checked_elements().map(|e| e as u64);
    (cur, Some(0), n.and_then(|n| n.checked_mul(k)))
}
