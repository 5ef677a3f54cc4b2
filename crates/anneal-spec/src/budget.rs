//! What a program may ask for: the bounds `anneal check` enforces so that `build`, `predict`
//! and `serve` never start what cannot finish (an allocation larger than the machine, a loop of
//! 10^12 epochs). The same bounds apply to a package's program, which is untrusted input.
//!
//! | bound | value | why |
//! |---|---|---|
//! | layers | 1,024 | deeper models are not built by this engine |
//! | classes | 100,000 | one output per class |
//! | one input dimension | 65,536 | |
//! | one layer's output, per example | 2^26 values (256 MiB) | activations are kept for backward |
//! | weights | 2^30 values (4 GiB) | held in memory with two Adam moments |
//! | one batch's activations | 8 GiB | forward values of every layer for a whole batch |
//! | batch | 65,536 | |
//! | epochs | 10,000 | the report keeps each example's loss per epoch |
//! | training examples x epochs | 2^26 | those losses, checked by `build` once the data is known |

/// Most layers in a model.
pub const MAX_LAYERS: usize = 1024;
/// Most classes.
pub const MAX_CLASSES: usize = 100_000;
/// Largest input dimension.
pub const MAX_INPUT_DIM: usize = 65_536;
/// Most values one layer may output for one example.
pub const MAX_EXAMPLE_ELEMENTS: usize = 1 << 26;
/// Most trainable parameters.
pub const MAX_PARAMS: usize = 1 << 30;
/// Most bytes of forward activations for one batch.
pub const MAX_BATCH_ACTIVATION_BYTES: u64 = 8 << 30;
/// Largest batch.
pub const MAX_BATCH: usize = 65_536;
/// Most epochs.
pub const MAX_EPOCHS: usize = 10_000;

/// Most per-example losses a build's report keeps (training examples times epochs).
pub const MAX_REPORT_LOSSES: u64 = 1 << 26;

/// Refuse a build whose report would keep more than [`MAX_REPORT_LOSSES`] losses.
pub fn report(examples: usize, epochs: usize) -> Result<(), String> {
    let losses = (examples as u64).saturating_mul(epochs as u64);
    within(
        &format!("{examples} training examples for {epochs} epochs"),
        losses,
        MAX_REPORT_LOSSES,
        "per-example losses for the report",
    )
}

/// Refuse a layer output of `elements` values per example past [`MAX_EXAMPLE_ELEMENTS`].
pub fn example_elements(elements: usize) -> Result<(), String> {
    within(
        "its output",
        elements as u64,
        MAX_EXAMPLE_ELEMENTS as u64,
        "values per example",
    )
}

/// Refuse more than [`MAX_PARAMS`] parameters.
pub fn params(params: usize) -> Result<(), String> {
    within(
        "the model",
        params as u64,
        MAX_PARAMS as u64,
        "parameters (4 bytes each)",
    )
}

/// Refuse a batch whose forward activations exceed [`MAX_BATCH_ACTIVATION_BYTES`].
pub fn batch_activations(per_example: u64, batch: usize) -> Result<(), String> {
    let (what, bytes) = (
        format!("a batch of {batch}"),
        per_example.saturating_mul(batch as u64),
    );
    within(
        &what,
        bytes,
        MAX_BATCH_ACTIVATION_BYTES,
        "bytes of activations",
    )
    .map_err(|m| format!("{m} ({per_example} bytes per example)"))
}

/// `"{what} has {value} {unit}; at most {max} are allowed"` when `value > max`.
pub fn within(what: &str, value: u64, max: u64, unit: &str) -> Result<(), String> {
    if value > max {
        return Err(format!(
            "{what} has {value} {unit}; at most {max} are allowed"
        ));
    }
    Ok(())
}
