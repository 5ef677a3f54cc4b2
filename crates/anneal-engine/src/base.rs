//! A composed program's first layers start from its dependency's weights: the tensors of
//! layers `0..base.layers` (`layers.{i}.*`, the same names in both, since the dependency's
//! layers come first) are copied over the fresh initialisation, running statistics included.

use anneal_spec::{NamedTensor, Program};

use crate::EngineError;

/// Replace the tensors of `program`'s base layers in `init` with the dependency's (`base`). A
/// program without a base takes no tensors; one still waiting to be composed is refused.
pub(crate) fn start_from(
    program: &Program,
    init: &mut [NamedTensor],
    base: &[NamedTensor],
) -> Result<(), EngineError> {
    let Some(b) = &program.base else {
        return match base {
            [] => Ok(()),
            _ => Err(EngineError::Input(
                "dependency weights were given for a program without a `use` line".into(),
            )),
        };
    };
    if b.layers == 0 {
        return Err(EngineError::Input(format!(
            "`{b}` is not composed yet: the program needs the dependency's layers"
        )));
    }
    let theirs = init.iter_mut().filter(|t| layer_of(&t.name) < b.layers);
    for t in theirs {
        t.data = copied(t, base, &b.name)?;
    }
    Ok(())
}

/// The layer index in a tensor name `layers.{i}.{name}` (`usize::MAX` for any other name).
fn layer_of(name: &str) -> usize {
    let index = name
        .strip_prefix("layers.")
        .and_then(|r| r.split('.').next());
    index.and_then(|i| i.parse().ok()).unwrap_or(usize::MAX)
}

/// The dependency's values for `t`, which must have its shape.
fn copied(t: &NamedTensor, base: &[NamedTensor], dep: &str) -> Result<Vec<f32>, EngineError> {
    let Some(theirs) = base.iter().find(|b| b.name == t.name) else {
        let name = &t.name;
        return Err(EngineError::Weights(format!(
            "`{dep}` has no tensor `{name}`"
        )));
    };
    if theirs.shape != t.shape || theirs.data.len() != t.data.len() {
        return Err(EngineError::Weights(format!(
            "`{dep}`'s tensor `{}` has shape {:?}, the program's layer needs {:?}",
            t.name, theirs.shape, t.shape
        )));
    }
    Ok(theirs.data.clone())
}
