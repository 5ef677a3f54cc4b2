//! `conv C KxK [stride S] [pad P]`: 2-D convolution, `[B, Ci, H, W] -> [B, C, H', W']` with
//! `H' = (H + 2P - K) / S + 1`; weight `[C, Ci, K, K]`, bias `[C]`; `2 K K Ci C H' W'` FLOPs
//! per example.

use std::fmt;

use super::grammar::{Args, Word};
use super::{Init, Layer, LayerError, MAX_NUMBER, Param};
use crate::shape::{At, Out, Shape, ShapeError, prod, slide};

const FORM: &str = "conv C KxK [stride S] [pad P]";

pub(super) fn parse(a: &Args<'_>) -> Result<Layer, LayerError> {
    let channels = a.positive(0, FORM, "the number of output channels")?;
    let Some(k) = a.rest.get(1) else {
        return Err(LayerError::at(&a.head, "`conv` needs a kernel size")
            .with_hint(format!("write `{FORM}`, e.g. `conv {channels} 3x3`")));
    };
    let kernel = parse_kernel(k)?;
    let opts = a.options(2, &["stride", "pad"], FORM)?;
    Ok(Layer::Conv {
        channels,
        kernel,
        stride: opts[0].unwrap_or(1),
        pad: opts[1].unwrap_or(0),
    })
}

/// `KxL`, `KXL` or `K`.
fn parse_kernel(w: &Word<'_>) -> Result<[usize; 2], LayerError> {
    let mut parts = w.text.split(['x', 'X']);
    let a = parts.next().and_then(|p| p.parse::<usize>().ok());
    let b = match parts.next() {
        Some(p) => p.parse::<usize>().ok(),
        None => a,
    };
    match (a, b, parts.next()) {
        (Some(a), Some(b), None) if a > MAX_NUMBER || b > MAX_NUMBER => Err(LayerError::at(
            w,
            format!(
                "kernel sides must be at most {MAX_NUMBER}, found `{}`",
                w.text
            ),
        )),
        (Some(a), Some(b), None) if a > 0 && b > 0 => Ok([a, b]),
        _ => Err(LayerError::at(
            w,
            format!("expected a kernel size like `3x3`, found `{}`", w.text),
        )
        .with_hint("write the kernel as `KxK`, e.g. `5x5`")),
    }
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    channels: usize,
    kernel: [usize; 2],
    stride: usize,
    pad: usize,
) -> fmt::Result {
    write!(f, "conv {channels} {}x{}", kernel[0], kernel[1])?;
    if stride != 1 {
        write!(f, " stride {stride}")?;
    }
    if pad != 0 {
        write!(f, " pad {pad}")?;
    }
    Ok(())
}

/// `[kh, kw, stride, pad]` is the window.
pub(super) fn out(at: &At, cur: Shape, oc: usize, window: [usize; 4]) -> Result<Out, ShapeError> {
    let Shape::Image([c, h, w]) = cur else {
        return Err(at.fail(
            format!("expected input [B, C, H, W], got {cur} from {}", at.prev),
            Some("convolutions need image-shaped input: put them before `flatten`".into()),
        ));
    };
    let [kh, kw, stride, pad] = window;
    let Some([oh, ow]) = slide([h, w], [kh, kw], stride, pad) else {
        return Err(at.fail(
            format!(
                "a {kh}x{kw} kernel does not fit the {h}x{w} output of {}",
                at.prev
            ),
            Some("use a smaller kernel, add `pad`, or remove a pooling layer before it".into()),
        ));
    };
    let weights = prod(&[kh, kw, c, oc]);
    let params = weights.and_then(|w| w.checked_add(oc as u64));
    let flops = weights.and_then(|w| prod(&[w as usize, oh, ow, 2]));
    Ok((Shape::Image([oc, oh, ow]), params, flops))
}

pub(super) fn parameters(cur: Shape, oc: usize, kernel: [usize; 2]) -> Vec<Param> {
    let c = cur.dims()[0];
    let fan_in = c * kernel[0] * kernel[1];
    let init = Init::Uniform { fan_in };
    vec![
        Param::new("weight", vec![oc, c, kernel[0], kernel[1]], init),
        Param::new("bias", vec![oc], init),
    ]
}
