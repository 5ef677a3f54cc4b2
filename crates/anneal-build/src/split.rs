//! One split of a dataset commit, decoded into the program's input shape.

use anneal_data::object::Row;
use anneal_data::payload::decode_image;
use anneal_data::{CommitId, ExampleId, Snapshot, Store};
use anneal_spec::Program;

use crate::BuildError;

/// The labelled examples of one split: ids, pixels back to back, class indices.
#[derive(Debug, Default)]
pub struct Split {
    /// Example ids, in id order.
    pub ids: Vec<ExampleId>,
    /// `C * H * W` pixels per example.
    pub pixels: Vec<u8>,
    /// Class index per example.
    pub labels: Vec<u32>,
}

/// The labelled examples of `split` at `commit`, decoded to the program's image shape.
pub fn collect(
    program: &Program,
    store: &Store,
    commit: &CommitId,
    split: &str,
) -> Result<Split, BuildError> {
    let snap = store.snapshot(commit)?;
    let anneal_spec::Shape::Image(shape) = program.input.shape else {
        return Err(BuildError::NotImages);
    };
    let rows: Vec<&Row> = snap
        .rows
        .iter()
        .filter(|r| r.split == split && r.label.is_some())
        .collect();
    let mut out = Split {
        ids: Vec::with_capacity(rows.len()),
        pixels: Vec::with_capacity(rows.len() * shape.iter().product::<usize>()),
        labels: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        out.push(program, &snap, row, shape)?;
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
        let label = row.label.as_deref().unwrap_or_default();
        let Some(class) = program.classes.iter().position(|k| k == label) else {
            return Err(BuildError::UnknownLabel {
                id: row.id.clone(),
                label: label.to_string(),
                classes: program.classes.clone(),
            });
        };
        let payload = |message: String| BuildError::Payload {
            id: row.id.clone(),
            message,
        };
        let image = decode_image(snap.payload(row)?, c, h, w).map_err(|e| payload(e.0))?;
        self.ids.push(row.id.clone());
        self.pixels.extend_from_slice(&image.pixels);
        self.labels.push(class as u32);
        Ok(())
    }
}
