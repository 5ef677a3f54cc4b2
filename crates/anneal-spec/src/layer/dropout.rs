//! `dropout P`: zeroes a fraction `P` of the values in training (scaling the rest by
//! `1 / (1 - P)`), the identity in inference.

use super::grammar::Args;
use super::{Layer, LayerError};

pub(super) fn parse(a: &Args<'_>) -> Result<Layer, LayerError> {
    let Some(w) = a.rest.first() else {
        return Err(LayerError::at(&a.head, "`dropout` needs a probability")
            .with_hint("write `dropout 0.2`"));
    };
    let p: f64 = w.text.parse().map_err(|_| {
        LayerError::at(w, format!("expected a probability, found `{}`", w.text))
            .with_hint("write `dropout 0.2`")
    })?;
    if !(0.0..1.0).contains(&p) {
        return Err(LayerError::at(
            w,
            format!("dropout probability must be in [0, 1), found {p}"),
        ));
    }
    a.no_more(1, "dropout P")?;
    Ok(Layer::Dropout { p })
}
