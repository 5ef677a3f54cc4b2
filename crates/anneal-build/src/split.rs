//! One split of a dataset commit, or its unlabeled pool, decoded into the program's features:
//! pixel values for images, log-mel spectrograms for audio (both before normalisation), encoded
//! rows for tables (once [`fit_table`] has fitted the program's columns on the training split).

use std::collections::BTreeMap;

use anneal_data::object::Row;
use anneal_data::payload::{decode_f32, decode_image};
use anneal_data::{CommitId, ExampleId, Snapshot, Store};
use anneal_frontend::{LogMelPlan, TablePlan, decode_wav};
use anneal_spec::{InputKind, Program, Table};

use crate::BuildError;

/// Examples of one split (or the pool): ids, features back to back, class indices, metadata.
#[derive(Debug, Default)]
pub struct Split {
    /// Example ids, in id order.
    pub ids: Vec<ExampleId>,
    /// The input shape's worth of features per example, not yet normalised.
    pub features: Vec<f32>,
    /// Class index per example (empty for the unlabeled pool).
    pub labels: Vec<u32>,
    /// Metadata fields per example (empty maps where there are none).
    pub meta: Vec<BTreeMap<String, String>>,
}

/// The labelled examples of `split` at `commit`, decoded to the program's image shape.
pub fn collect(
    program: &Program,
    store: &Store,
    commit: &CommitId,
    split: &str,
) -> Result<Split, BuildError> {
    let snap = store.snapshot(commit)?;
    gather(program, &snap, |r| r.split == split && r.label.is_some())
}

/// The unlabeled examples at `commit`, whatever their split: what the active-learning queue
/// ranks.
pub fn pool(program: &Program, store: &Store, commit: &CommitId) -> Result<Split, BuildError> {
    let snap = store.snapshot(commit)?;
    gather(program, &snap, |r| r.label.is_none())
}

/// The rows of `snap` that `keep` selects, decoded.
fn gather(
    program: &Program,
    snap: &Snapshot,
    keep: impl Fn(&Row) -> bool,
) -> Result<Split, BuildError> {
    let decoder = Decoder::new(program)?;
    let rows: Vec<&Row> = snap.rows.iter().filter(|r| keep(r)).collect();
    let mut out = Split {
        ids: Vec::with_capacity(rows.len()),
        features: Vec::with_capacity(rows.len() * program.input.shape.elements()),
        labels: Vec::with_capacity(rows.len()),
        meta: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        out.push(program, snap, row, &decoder)?;
    }
    Ok(out)
}

impl Split {
    fn push(
        &mut self,
        program: &Program,
        snap: &Snapshot,
        row: &Row,
        decoder: &Decoder,
    ) -> Result<(), BuildError> {
        if let Some(label) = row.label.as_deref() {
            self.labels.push(class_of(program, row, label)?);
        }
        let payload = |message: String| BuildError::Payload {
            id: row.id.clone(),
            message,
            kind: program.input.kind,
        };
        let meta = row.meta.fields().unwrap_or_default();
        decoder
            .extend(snap.payload(row)?, &meta, &mut self.features)
            .map_err(payload)?;
        self.ids.push(row.id.clone());
        self.meta.push(meta);
        Ok(())
    }
}

/// How a payload becomes features, per input kind.
enum Decoder {
    /// An image of this `[C, H, W]`.
    Image([usize; 3]),
    /// A WAV at this rate, through the log-mel front end.
    Audio(u32, Box<LogMelPlan>),
    /// An `F32V` row and its metadata, encoded by the fitted table.
    Table(Box<TablePlan>),
    /// An `F32V` row of this many values, as it is (for fitting the table).
    Raw(usize),
}

impl Decoder {
    fn new(program: &Program) -> Result<Decoder, BuildError> {
        match (
            program.input.kind,
            program.input.shape,
            &program.input.audio,
        ) {
            (InputKind::Image, anneal_spec::Shape::Image(shape), _) => Ok(Decoder::Image(shape)),
            (InputKind::Audio, _, Some(p)) => {
                Ok(Decoder::Audio(p.rate, Box::new(LogMelPlan::new(p))))
            }
            (InputKind::Table, _, _) => {
                let table = program.input.table.as_ref().ok_or(BuildError::NotImages)?;
                let plan = TablePlan::new(table).map_err(|e| BuildError::Table(e.to_string()))?;
                Ok(Decoder::Table(Box::new(plan)))
            }
            _ => Err(BuildError::NotImages),
        }
    }

    /// Append the features of `payload` (with metadata `meta`) to `out`, or say what is wrong
    /// with it.
    fn extend(
        &self,
        payload: &[u8],
        meta: &BTreeMap<String, String>,
        out: &mut Vec<f32>,
    ) -> Result<(), String> {
        match self {
            Decoder::Image([c, h, w]) => {
                let image = decode_image(payload, *c, *h, *w).map_err(|e| e.0)?;
                out.extend(image.pixels.iter().map(|&b| f32::from(b)));
            }
            Decoder::Audio(rate, plan) => {
                let samples = decode_wav(payload, *rate).map_err(|e| e.to_string())?;
                out.extend(plan.features(&samples));
            }
            Decoder::Table(plan) => {
                let row = table_row(payload, plan.table().numeric.len())?;
                let numbers: Vec<Option<f32>> = row.into_iter().map(Some).collect();
                plan.encode(&numbers, |f| meta.get(f).map(String::as_str), out);
            }
            Decoder::Raw(k) => out.extend(table_row(payload, *k)?),
        }
        Ok(())
    }
}

/// The `k` numeric columns of an `F32V` table row.
fn table_row(payload: &[u8], k: usize) -> Result<Vec<f32>, String> {
    let values = decode_f32(payload).map_err(|e| e.0)?;
    match values.len() == k {
        true => Ok(values),
        false => Err(format!(
            "its row has {} numeric values; `[data.table] numeric` names {k}",
            values.len()
        )),
    }
}

/// `program` with its table's open columns fitted on the labelled examples of its training
/// split at `commit` (the program itself when it is not a table program, or is fitted).
pub fn fit_table(
    program: &Program,
    store: &Store,
    commit: &CommitId,
) -> Result<Program, BuildError> {
    let Some(table) = program.input.table.as_ref().filter(|t| !t.is_fitted()) else {
        return Ok(program.clone());
    };
    let snap = store.snapshot(commit)?;
    let split = &program.train_split;
    let decoder = Decoder::Raw(table.numeric.len());
    let mut train = Split::default();
    for row in snap
        .rows
        .iter()
        .filter(|r| &r.split == split && r.label.is_some())
    {
        train.push(program, &snap, row, &decoder)?;
    }
    if train.labels.is_empty() {
        let split = split.clone();
        return Err(BuildError::EmptySplit { split, test: false });
    }
    let missing = |c: &&anneal_spec::table::Categorical| c.values.is_none() && !train.has(&c.name);
    if let Some(c) = table.categorical.iter().find(missing) {
        return Err(crate::evaluate::no_field(&c.name, split, &train));
    }
    let fitted: Table = anneal_frontend::table::fit(table, &train.features, &train.meta);
    program.with_table(fitted).map_err(BuildError::Table)
}

impl Split {
    /// True when some example has metadata `field`.
    fn has(&self, field: &str) -> bool {
        self.meta.iter().any(|m| m.contains_key(field))
    }
}

/// The class index of `label`, or an error naming the example and the classes.
fn class_of(program: &Program, row: &Row, label: &str) -> Result<u32, BuildError> {
    match program.classes.iter().position(|k| k == label) {
        Some(class) => Ok(class as u32),
        None => Err(BuildError::UnknownLabel {
            id: row.id.clone(),
            label: label.to_string(),
            classes: program.classes.clone(),
        }),
    }
}
