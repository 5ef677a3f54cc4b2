//! `batchnorm`: normalises each feature (or each channel of an image) over the batch in
//! training and with running statistics in inference (momentum 0.1, epsilon 1e-5); `gamma`,
//! `beta`, `running_mean`, `running_var` per feature; two FLOPs per value in inference.

use super::{Init, Param};
use crate::shape::{Out, Shape};

pub(super) fn out(cur: Shape) -> Out {
    let (Shape::Flat([f]) | Shape::Image([f, _, _])) = cur;
    let n = cur.checked_elements().map(|e| e as u64);
    (
        cur,
        (f as u64).checked_mul(2),
        n.and_then(|n| n.checked_mul(2)),
    )
}

pub(super) fn parameters(cur: Shape) -> Vec<Param> {
    let f = vec![cur.dims()[0]];
    vec![
        Param::new("gamma", f.clone(), Init::Ones),
        Param::new("beta", f.clone(), Init::Zeros),
        Param::running("running_mean", f.clone(), Init::Zeros),
        Param::running("running_var", f, Init::Ones),
    ]
}
