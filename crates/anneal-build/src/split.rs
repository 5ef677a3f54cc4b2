//! One split of a dataset commit, or its unlabeled pool, decoded into the program's features:
//! pixel values for images, log-mel spectrograms for audio (both before normalisation).

use std::collections::BTreeMap;

use anneal_data::object::Row;
use anneal_data::payload::decode_image;
use anneal_data::{CommitId, ExampleId, Snapshot, Store};
use anneal_frontend::{LogMelPlan, decode_wav};
use anneal_spec::{InputKind, Program};

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
        decoder
            .extend(snap.payload(row)?, &mut self.features)
            .map_err(payload)?;
        self.ids.push(row.id.clone());
        self.meta.push(row.meta.fields().unwrap_or_default());
        Ok(())
    }
}

/// How a payload becomes features, per input kind.
enum Decoder {
    /// An image of this `[C, H, W]`.
    Image([usize; 3]),
    /// A WAV at this rate, through the log-mel front end.
    Audio(u32, Box<LogMelPlan>),
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
            _ => Err(BuildError::NotImages),
        }
    }

    /// Append the features of `payload` to `out`, or say what is wrong with it.
    fn extend(&self, payload: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        match self {
            Decoder::Image([c, h, w]) => {
                let image = decode_image(payload, *c, *h, *w).map_err(|e| e.0)?;
                out.extend(image.pixels.iter().map(|&b| f32::from(b)));
            }
            Decoder::Audio(rate, plan) => {
                let samples = decode_wav(payload, *rate).map_err(|e| e.to_string())?;
                out.extend(plan.features(&samples));
            }
        }
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
