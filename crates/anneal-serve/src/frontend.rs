//! The package's front end: a request's input tensors to the model's input, as the package's
//! program says, the same code `anneal predict` runs.
//!
//! | program | served inputs | to the model |
//! |---|---|---|
//! | image | `input`, FP32 `[-1, ...input shape]` | as sent: the client normalises |
//! | audio | `waveform`, FP32 `[-1, samples]`, in [-1, 1) | log-mel features per example (`anneal_frontend::LogMelPlan`), then the package's normalisation |
//! | table | one per column, named by it, `[-1]` or `[-1, 1]`: numeric columns any numeric datatype (or `BYTES` text, where `""` is a missing value), categorical ones `BYTES` | the table encoding (`anneal_frontend::TablePlan`): standardised, one-hot |
//!
//! Any numeric datatype feeds a numeric input. The served inputs ([`Frontend::inputs`]) are
//! what model metadata lists; the package's signature keeps describing the model's own
//! tensor (the features), which it checks the program against.

use std::collections::HashMap;

use anneal_engine::preprocess;
use anneal_frontend::{LogMelPlan, TableError, TablePlan};
use anneal_pack::{Normalization, Signature, TensorSpec};
use anneal_spec::{InputKind, LogMel, Program};
use serde_json::{Value, json};

use crate::error::{ServeError, bad, truncate};
use crate::protocol::{Tensor, Values};

/// Why a package's front end cannot be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontendError {
    /// The signature has no input.
    #[error("the package's signature has no input")]
    NoInput,
    /// An audio program without its log-mel parameters.
    #[error("the audio program has no `[data.audio]` front end")]
    NoAudio,
    /// A table program without its columns.
    #[error("the table program has no `[data.table]` columns")]
    NoTable,
    /// The table is not fitted.
    #[error(transparent)]
    Table(#[from] TableError),
}

/// How a package's requests become model inputs.
#[derive(Debug, Clone)]
pub enum Frontend {
    /// The model's input tensor itself, already normalised by the client.
    Tensor(TensorSpec),
    /// A waveform through the log-mel front end, then normalised.
    Waveform {
        /// The log-mel front end.
        plan: LogMelPlan,
        /// Its parameters.
        params: LogMel,
        /// The package's normalisation of the features.
        normalization: Normalization,
    },
    /// One tensor per column, encoded as the table says, then normalised (the identity for
    /// tables, applied as `anneal predict` applies it).
    Table {
        /// The fitted table.
        plan: TablePlan,
        /// The package's normalisation.
        normalization: Normalization,
    },
}

/// The name of an audio package's input.
pub const WAVEFORM: &str = "waveform";

impl Frontend {
    /// The front end of a package with `program` and `signature`.
    pub fn for_package(program: &Program, signature: &Signature) -> Result<Self, FrontendError> {
        let input = &program.input;
        match input.kind {
            InputKind::Image => {
                let spec = signature.inputs.first().ok_or(FrontendError::NoInput)?;
                Ok(Frontend::Tensor(spec.clone()))
            }
            InputKind::Audio => {
                let params = input.audio.clone().ok_or(FrontendError::NoAudio)?;
                Ok(Frontend::Waveform {
                    plan: LogMelPlan::new(&params),
                    params,
                    normalization: signature.normalization,
                })
            }
            InputKind::Table => {
                let table = input.table.as_ref().ok_or(FrontendError::NoTable)?;
                Ok(Frontend::Table {
                    plan: TablePlan::new(table)?,
                    normalization: signature.normalization,
                })
            }
        }
    }

    /// The inputs a request carries, as model metadata lists them.
    pub fn inputs(&self) -> Vec<TensorSpec> {
        let spec = |name: &str, datatype: &str, shape: Vec<i64>| TensorSpec {
            name: name.into(),
            datatype: datatype.into(),
            shape,
        };
        match self {
            Frontend::Tensor(t) => vec![t.clone()],
            Frontend::Waveform { params, .. } => {
                vec![spec(WAVEFORM, "FP32", vec![-1, params.samples as i64])]
            }
            Frontend::Table { plan, .. } => {
                let table = plan.table();
                let numeric = table
                    .numeric
                    .iter()
                    .map(|c| spec(&c.name, "FP32", vec![-1]));
                let categorical =
                    (table.categorical.iter()).map(|c| spec(&c.name, "BYTES", vec![-1]));
                numeric.chain(categorical).collect()
            }
        }
    }

    /// What model metadata adds to its `parameters`: the audio front end or the table.
    pub fn parameters(&self) -> Option<(&'static str, Value)> {
        match self {
            Frontend::Tensor(_) => None,
            Frontend::Waveform { params, .. } => Some(("audio", json!(params))),
            Frontend::Table { plan, .. } => Some(("table", json!(plan.table()))),
        }
    }

    /// The number of examples and the model's input for them, from a request's tensors.
    pub fn model_input(&self, tensors: Vec<Tensor>) -> Result<(usize, Vec<f32>), ServeError> {
        match self {
            Frontend::Tensor(spec) => {
                let (shape, x) = numbers(the_input(tensors, &spec.name)?)?;
                check_shape(&shape, &spec.shape)?;
                Ok((shape[0] as usize, x))
            }
            Frontend::Waveform {
                plan,
                params,
                normalization,
            } => waveforms(tensors, plan, params, normalization),
            Frontend::Table {
                plan,
                normalization,
            } => {
                let (n, x) = rows(tensors, plan)?;
                Ok((n, preprocess(&x, normalization)))
            }
        }
    }
}

/// The request's one input, which must be `name`.
fn the_input(tensors: Vec<Tensor>, name: &str) -> Result<Tensor, ServeError> {
    let count = tensors.len();
    let Ok([input]) = <[Tensor; 1]>::try_from(tensors) else {
        return Err(bad(format!(
            "expected exactly 1 input (`{name}`), got {count}"
        )));
    };
    if input.name != name {
        return Err(bad(format!(
            "unknown input `{}`: the model's input is `{name}`",
            truncate(&input.name)
        )));
    }
    Ok(input)
}

/// A numeric tensor's shape and values.
fn numbers(t: Tensor) -> Result<(Vec<i64>, Vec<f32>), ServeError> {
    match t.values {
        Values::Numbers(x) => Ok((t.shape, x)),
        Values::Strings(_) => Err(bad(format!(
            "input `{}` is numeric: send FP32 (or another numeric datatype), not BYTES",
            truncate(&t.name)
        ))),
    }
}

/// A request shape against the model's (`-1` is the batch).
fn check_shape(shape: &[i64], spec: &[i64]) -> Result<(), ServeError> {
    if shape.len() != spec.len() {
        return Err(bad(format!(
            "input shape {shape:?} has rank {}, the model expects {spec:?}",
            shape.len()
        )));
    }
    if shape[1..] != spec[1..] {
        return Err(bad(format!(
            "input shape {shape:?} does not match the model's {spec:?}"
        )));
    }
    Ok(())
}

/// Waveforms of `params.samples` samples to normalised log-mel features.
fn waveforms(
    tensors: Vec<Tensor>,
    plan: &LogMelPlan,
    params: &LogMel,
    normalization: &Normalization,
) -> Result<(usize, Vec<f32>), ServeError> {
    let (shape, x) = numbers(the_input(tensors, WAVEFORM)?)?;
    let samples = params.samples as i64;
    if shape.len() != 2 || shape[1] != samples {
        return Err(bad(format!(
            "input `{WAVEFORM}` has shape {shape:?}, the model takes [-1, {samples}]: {samples} samples at {} Hz",
            params.rate
        )));
    }
    let features: Vec<f32> = (x.chunks(params.samples.max(1)))
        .flat_map(|w| plan.features(w))
        .collect();
    Ok((shape[0] as usize, preprocess(&features, normalization)))
}

/// One column's values, by row.
enum Column {
    Numbers(Vec<f32>),
    Strings(Vec<String>),
}

/// The request's columns, each checked to be `[n]` or `[n, 1]` with one `n` for all, every
/// column of the table present and no other; by name, and `n`.
fn columns(
    tensors: Vec<Tensor>,
    plan: &TablePlan,
) -> Result<(HashMap<String, Column>, usize), ServeError> {
    let table = plan.table();
    let names: Vec<&str> = table.names().collect();
    let mut batch: Option<(String, usize)> = None;
    let mut out = HashMap::new();
    for t in tensors {
        if !names.contains(&t.name.as_str()) {
            return Err(bad(format!(
                "unknown input `{}`: the model's inputs are the columns {}",
                truncate(&t.name),
                names.join(", ")
            )));
        }
        let n = column_rows(&t)?;
        match &batch {
            Some((first, m)) if *m != n => {
                return Err(bad(format!(
                    "input `{}` holds {n} rows, input `{first}` holds {m}: every column needs one value per example",
                    t.name
                )));
            }
            Some(_) => {}
            None => batch = Some((t.name.clone(), n)),
        }
        let column = match t.values {
            Values::Numbers(x) => Column::Numbers(x),
            Values::Strings(s) => Column::Strings(s),
        };
        out.insert(t.name, column);
    }
    if let Some(missing) = names.iter().find(|n| !out.contains_key(**n)) {
        return Err(bad(format!(
            "missing input `{missing}`: every column of the table is an input ({})",
            names.join(", ")
        )));
    }
    Ok((out, batch.map_or(0, |(_, n)| n)))
}

/// The rows of a column tensor, shaped `[n]` or `[n, 1]`.
fn column_rows(t: &Tensor) -> Result<usize, ServeError> {
    match t.shape.as_slice() {
        [_] | [_, 1] => Ok(t.batch()),
        other => Err(bad(format!(
            "input `{}` has shape {other:?}: a column is [-1] or [-1, 1]",
            t.name
        ))),
    }
}

/// Table rows, one value per column, to the model's input.
fn rows(tensors: Vec<Tensor>, plan: &TablePlan) -> Result<(usize, Vec<f32>), ServeError> {
    let (columns, n) = columns(tensors, plan)?;
    let table = plan.table();
    let numeric = (table.numeric.iter())
        .map(|c| numeric_column(&c.name, &columns[&c.name]))
        .collect::<Result<Vec<_>, _>>()?;
    for c in &table.categorical {
        if let Column::Numbers(_) = &columns[&c.name] {
            return Err(bad(format!(
                "input `{}` is a categorical column: send BYTES (strings)",
                c.name
            )));
        }
    }
    let mut x = Vec::with_capacity(n * plan.width());
    for row in 0..n {
        let numbers: Vec<Option<f32>> = numeric.iter().map(|col| col[row]).collect();
        let category = |name: &str| match columns.get(name) {
            Some(Column::Strings(s)) => Some(s[row].as_str()).filter(|v| !v.is_empty()),
            _ => None,
        };
        plan.encode(&numbers, category, &mut x);
    }
    Ok((n, x))
}

/// A numeric column's values: numbers as sent, or text (`BYTES`) parsed, an empty string
/// meaning missing (encoded as the training mean, as `anneal predict` does).
fn numeric_column(name: &str, column: &Column) -> Result<Vec<Option<f32>>, ServeError> {
    let parse = |(row, v): (usize, &String)| match v.trim() {
        "" => Ok(None),
        text => match text.parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(bad(format!(
                "input `{name}` is a numeric column: row {row} holds `{}`, not a number",
                truncate(text)
            ))),
        },
    };
    match column {
        Column::Numbers(x) => Ok(x.iter().map(|&v| Some(v)).collect()),
        Column::Strings(s) => s.iter().enumerate().map(parse).collect(),
    }
}
