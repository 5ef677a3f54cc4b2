//! One split of a dataset commit, or its unlabeled pool, decoded into the program's input shape.

use std::collections::BTreeMap;

use anneal_data::object::Row;
use anneal_data::payload::decode_image;
use anneal_data::{CommitId, ExampleId, Snapshot, Store};
use anneal_spec::Program;

use crate::BuildError;

/// Examples of one split (or the pool): ids, pixels back to back, class indices, metadata.
#[derive(Debug, Default)]
pub struct Split {
    /// Example ids, in id order.
    pub ids: Vec<ExampleId>,
    /// `C * H * W` pixels per example.
    pub pixels: Vec<u8>,
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
    let anneal_spec::Shape::Image(shape) = program.input.shape else {
        return Err(BuildError::NotImages);
    };
    let rows: Vec<&Row> = snap.rows.iter().filter(|r| keep(r)).collect();
    let mut out = Split {
        ids: Vec::with_capacity(rows.len()),
        pixels: Vec::with_capacity(rows.len() * shape.iter().product::<usize>()),
        labels: Vec::with_capacity(rows.len()),
        meta: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        out.push(program, snap, row, shape)?;
    }
    Ok(out)
}

impl Split {
    fn push(
        &mut self,
        program: &Program,
        snap: &Snapshot,
        row: &Row,
        [c, h, w]: [usize; 3],
    ) -> Result<(), BuildError> {
        if let Some(label) = row.label.as_deref() {
            self.labels.push(class_of(program, row, label)?);
        }
        let payload = |message: String| BuildError::Payload {
            id: row.id.clone(),
            message,
        };
        let image = decode_image(snap.payload(row)?, c, h, w).map_err(|e| payload(e.0))?;
        self.ids.push(row.id.clone());
        self.meta.push(row.meta.fields().unwrap_or_default());
        self.pixels.extend_from_slice(&image.pixels);
        Ok(())
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
