//! Importers: read a source completely and validate it, then commit it in one step, so a bad
//! source leaves the store unchanged.
//!
//! | format   | source                       | label                            | payload             |
//! |----------|------------------------------|----------------------------------|---------------------|
//! | `idx`    | IDX images (+ labels) file   | the labels file                  | `RAW8` pixels       |
//! | `images` | folder of PNG/JPEG           | `LABEL/NAME.png`, `--pattern`, or `--labels FILE.csv` | the file |
//! | `wav`    | folder of WAV                | `--pattern '{label}_{speaker}.wav'`, `LABEL/NAME.wav` or `--labels` | the file |
//! | `csv`    | CSV with a header line       | `--label-column` (default `label`) | `F32V` features, or the file in `--path-column` |
//! | `jsonl`  | one JSON object per line     | `label`                          | `features` (`F32V`) or the file at `path` |
//!
//! **Ids.** IDX: `STEM:INDEX`; folders: `FOLDER:RELATIVE/PATH` without the extension; CSV and
//! JSONL: `STEM:INDEX` (data rows from 0, zero-padded), `STEM:PATH` for a path column or field,
//! or `STEM:ID` for a JSONL `id`.
//!
//! **Metadata** (stored per example as a JSON object of strings): the `{field}`s of a
//! pattern other than `{label}`; CSV columns that are neither the label, the path nor a
//! feature; JSONL keys other than `id`, `label`, `features` and `path`; and the columns joined
//! from `--meta FILE.csv`. That file's first column is the join key: every example must carry
//! that key, with a value the file lists, or the import fails naming the example and the value
//! (a typo in either file is never silently dropped). Joined columns never replace a field the
//! example already has.
//!
//! **CSV features.** With `--features a,b,c` those columns are the features and any other
//! value is an error naming the line and column. Without it, every column (but the label and
//! path) whose values all parse as numbers is a feature, and the others (categorical
//! columns, or numeric ones with missing values such as `?`) are metadata; the summary lists
//! which is which. Fields are trimmed, so `a, b` reads as `a` and `b`.
//!
//! **Unlabeled.** An empty CSV label, or a JSONL `label` that is absent or `null`, puts that
//! example in the unlabeled pool; `--unlabeled` does so for every example.

mod csv_source;
mod error;
mod folder;
mod jsonl_source;
mod media;
mod meta;
mod pattern;
mod source;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

pub use csv_source::read_pairs;
pub use error::ImportError;
pub use pattern::{Pattern, PatternError};
pub use source::{Example, Format, ImportOptions, ImportSummary, NoProgress, Progress, Read};

use crate::hash::ContentHash;
use crate::idx;
use crate::limits::{Field, check_text};
use crate::object::Row;
use crate::payload::encode_raw;
use crate::row::Meta;
use crate::store::{Store, StoreError};

/// Read and validate `source` as `opts` say, without touching any store.
pub fn read(
    source: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Read, ImportError> {
    opts.check()?;
    let mut read = match opts.format {
        Format::Idx => read_idx(source, opts.unlabeled)?,
        Format::Images | Format::Wav => folder::read(source, opts, progress)?,
        Format::Csv => csv_source::read(source, opts, progress)?,
        Format::Jsonl => jsonl_source::read(source, opts, progress)?,
    };
    progress.finish();
    if let Some(meta) = &opts.meta {
        meta::MetaTable::read(meta)?.join(&mut read.examples)?;
    }
    for e in &read.examples {
        check_text(&e.id, Field::Id, &e.id)?;
        if let Some(l) = &e.label {
            check_text(&e.id, Field::Label, l)?;
        }
        check_text(&e.id, Field::Split, &opts.split)?;
        crate::limits::check_payload(&e.id, e.payload.len())?;
        for (k, v) in &e.meta {
            check_text(&e.id, Field::Meta, k)?;
            check_text(&e.id, Field::Meta, v)?;
        }
    }
    let mut seen = HashSet::with_capacity(read.examples.len());
    if let Some(e) = read.examples.iter().find(|e| !seen.insert(e.id.as_str())) {
        return Err(ImportError::DuplicateId {
            id: e.id.clone(),
            source_path: source.display().to_string(),
        });
    }
    Ok(read)
}

/// Import `source` into the store of `program_dir` (created if absent) as one commit. The
/// whole source is read and checked first; a bad source leaves the store as it was (and
/// leaves no store behind where there was none).
pub fn import(
    program_dir: &Path,
    source: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ImportError> {
    import_all(program_dir, &[(source, opts)], progress)
}

/// Import several sources as one commit: all are read and checked before anything is written,
/// so a bad one leaves the store as it was (as `anneal build` needs for `[[data.source]]`).
pub fn import_all(
    program_dir: &Path,
    sources: &[(&Path, &ImportOptions)],
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ImportError> {
    let mut reads = Vec::with_capacity(sources.len());
    for (source, opts) in sources {
        let read = read(source, opts, progress)?;
        if read.examples.is_empty() {
            return Err(ImportError::Empty {
                path: source.to_path_buf(),
                expected: "at least one example",
            });
        }
        reads.push((read, opts.split.as_str(), source.display().to_string()));
    }
    let existed = Store::path_in(program_dir).exists();
    let store = Store::init(program_dir)?;
    let result = commit_examples(&store, reads);
    if result.is_err() && !existed && store.head().ok().flatten().is_none() {
        let _ = std::fs::remove_dir_all(store.root());
    }
    result
}

/// Import an IDX pair into the store of `program_dir` (created if absent), as one commit.
/// Ids are `STEM:INDEX` (zero-padded), e.g. `train10k:00042`.
pub fn import_idx(
    program_dir: &Path,
    source: &Path,
    split: &str,
    unlabeled: bool,
) -> Result<ImportSummary, ImportError> {
    import_into(program_dir, source, Format::Idx, split, unlabeled)
}

/// Import a folder of images laid out as `FOLDER/LABEL/NAME.png` (or `.jpg`, `.jpeg`) as one
/// commit. Ids are `FOLDER:LABEL/NAME` (`FOLDER` is the folder's own name); payloads are the
/// original file bytes, each decoded once here so that a file that is not a readable image is an
/// error naming it, before anything is written. Files directly in `FOLDER` are imported
/// unlabeled (ids `FOLDER:NAME`) with `unlabeled`, and refused otherwise.
pub fn import_images(
    program_dir: &Path,
    folder: &Path,
    split: &str,
    unlabeled: bool,
) -> Result<ImportSummary, ImportError> {
    import_into(program_dir, folder, Format::Images, split, unlabeled)
}

/// Import `source` as `format` into `split`, other options at their defaults, without progress.
fn import_into(
    program_dir: &Path,
    source: &Path,
    format: Format,
    split: &str,
    unlabeled: bool,
) -> Result<ImportSummary, ImportError> {
    let opts = ImportOptions {
        split: split.into(),
        unlabeled,
        ..ImportOptions::new(format)
    };
    import(program_dir, source, &opts, &mut NoProgress)
}

fn read_idx(source: &Path, unlabeled: bool) -> Result<Read, ImportError> {
    let set = idx::read(source, unlabeled)?;
    let width = set.len().saturating_sub(1).to_string().len().max(5);
    let examples = set
        .pixels
        .chunks(set.rows * set.cols)
        .enumerate()
        .map(|(i, p)| Example {
            id: format!("{}:{i:0width$}", set.stem),
            label: set.labels.as_ref().map(|l| l[i].to_string()),
            meta: BTreeMap::new(),
            payload: encode_raw(1, set.rows, set.cols, p),
        })
        .collect();
    Ok(Read {
        examples,
        detail: format!("{}x{} images", set.rows, set.cols),
        image: [set.rows, set.cols],
        features: Vec::new(),
    })
}

/// The rows of every `(read, split, source)`, the metadata fields they hold, and the source
/// of each id; an id read twice is an error naming both.
struct Gathered<'a> {
    rows: Vec<Row>,
    fields: BTreeSet<String>,
    origin: HashMap<&'a str, &'a str>,
}

fn gather<'a>(reads: &'a [(Read, &str, String)]) -> Result<Gathered<'a>, ImportError> {
    let mut out = Gathered {
        rows: Vec::new(),
        fields: BTreeSet::new(),
        origin: HashMap::new(),
    };
    for (read, split, source) in reads {
        for e in &read.examples {
            out.fields.extend(e.meta.keys().cloned());
            if out.origin.insert(e.id.as_str(), source.as_str()).is_some() {
                return Err(ImportError::DuplicateId {
                    id: e.id.clone(),
                    source_path: source.clone(),
                });
            }
            out.rows.push(row(e, split));
        }
    }
    Ok(out)
}

/// Commit the examples of every `(read, split, source)` on top of HEAD in one commit (HEAD is
/// read under the writer lock, so edits committed while the sources were being read are kept).
fn commit_examples(
    store: &Store,
    reads: Vec<(Read, &str, String)>,
) -> Result<ImportSummary, ImportError> {
    let Gathered {
        rows,
        fields,
        origin,
    } = gather(&reads)?;
    let added = rows.len();
    let blobs: Vec<&[u8]> = reads
        .iter()
        .flat_map(|(r, ..)| r.examples.iter().map(|e| e.payload.as_slice()))
        .collect();
    let message = match reads.as_slice() {
        [(_, split, source)] => format!("import {source} ({added} examples, split {split})"),
        _ => format!("import {} sources ({added} examples)", reads.len()),
    };
    let (commit, new_blobs) = store.add(rows, &blobs, &message).map_err(|e| match e {
        StoreError::Duplicate { id } => {
            let source_path = origin
                .get(id.as_str())
                .map_or_else(String::new, |s| s.to_string());
            ImportError::Exists { source_path, id }
        }
        e => ImportError::Store(e),
    })?;
    let first = reads
        .into_iter()
        .next()
        .map(|(r, ..)| r)
        .unwrap_or_default();
    Ok(ImportSummary {
        commit,
        added,
        new_blobs,
        image: first.image,
        detail: first.detail,
        features: first.features,
        meta_fields: fields.into_iter().collect(),
    })
}

fn row(e: &Example, split: &str) -> Row {
    Row {
        id: e.id.as_str().into(),
        payload: ContentHash::of(&e.payload),
        label: e.label.clone(),
        split: split.to_string(),
        meta: Meta::from_fields(&e.meta),
    }
}
