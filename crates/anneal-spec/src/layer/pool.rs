//! `maxpool K [stride S]` and `avgpool K [stride S]`: the maximum or the mean over `KxK`
//! windows (stride `K` unless given), `[B, C, H, W] -> [B, C, H', W']`; `K K` FLOPs per output
//! value; no parameters.

use std::fmt;

use super::grammar::Args;
use super::{Layer, LayerError};
use crate::shape::{At, Out, Shape, ShapeError, prod, slide};

const FORM: &str = "maxpool K [stride S]";

pub(super) fn parse(a: &Args<'_>) -> Result<Layer, LayerError> {
    let kernel = a.positive(0, FORM, "the window size")?;
    let opts = a.options(1, &["stride"], FORM)?;
    let stride = opts[0].unwrap_or(kernel);
    Ok(match a.name {
        "maxpool" => Layer::MaxPool { kernel, stride },
        _ => Layer::AvgPool { kernel, stride },
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    kernel: usize,
    stride: usize,
) -> fmt::Result {
    write!(f, "{name} {kernel}")?;
    if stride != kernel {
        write!(f, " stride {stride}")?;
    }
    Ok(())
}

pub(super) fn out(at: &At, cur: Shape, k: usize, stride: usize) -> Result<Out, ShapeError> {
    let Shape::Image([c, h, w]) = cur else {
        return Err(at.fail(
            format!("expected input [B, C, H, W], got {cur} from {}", at.prev),
            Some("pooling needs image-shaped input: put it before `flatten`".into()),
        ));
    };
    let Some([oh, ow]) = slide([h, w], [k, k], stride, 0) else {
        return Err(at.fail(
            format!(
                "a {k}x{k} window does not fit the {h}x{w} output of {}",
                at.prev
            ),
            Some("use a smaller window or remove a pooling layer".into()),
        ));
    };
    let out = Shape::Image([c, oh, ow]);
    let flops = out.checked_elements().and_then(|e| prod(&[k, k, e]));
    Ok((out, Some(0), flops))
}
