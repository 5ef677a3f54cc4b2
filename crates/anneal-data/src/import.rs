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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use csv_source::read_pairs;
pub use error::ImportError;
pub use pattern::{Pattern, PatternError};

use crate::hash::ContentHash;
use crate::idx;
use crate::limits::{Field, check_text};
use crate::object::Row;
use crate::payload::encode_raw;
use crate::row::Meta;
use crate::store::{Store, StoreError};

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// IDX images and labels.
    Idx,
    /// A folder of PNG and JPEG images.
    Images,
    /// A folder of WAV files.
    Wav,
    /// A CSV file with a header line.
    Csv,
    /// JSON Lines.
    Jsonl,
}

impl FromStr for Format {
    type Err = ImportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "idx" => Format::Idx,
            "images" => Format::Images,
            "wav" => Format::Wav,
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            other => return Err(ImportError::Format(other.to_string())),
        })
    }
}

impl Format {
    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Images => "images",
            Format::Wav => "wav",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }

    /// Guess the format of `source`: a folder holds images unless it holds `.wav` files; a
    /// file is CSV or JSONL by its extension, IDX otherwise.
    pub fn detect(source: &Path) -> Format {
        if source.is_dir() {
            return if folder::has_wav(source) {
                Format::Wav
            } else {
                Format::Images
            };
        }
        let ext = source
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Format::Csv,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => Format::Idx,
        }
    }
}

/// How to import a source.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The source format.
    pub format: Format,
    /// The split every example goes to.
    pub split: String,
    /// Import every example unlabeled.
    pub unlabeled: bool,
    /// CSV: the label column.
    pub label_column: String,
    /// CSV: a column of file paths (relative to the CSV) to images or WAVs.
    pub path_column: Option<String>,
    /// CSV: the feature columns (default: every numeric column).
    pub features: Option<Vec<String>>,
    /// Folders: labels and metadata from file names.
    pub pattern: Option<Pattern>,
    /// Folders: a CSV of `filename,label` rows.
    pub labels: Option<PathBuf>,
    /// A CSV of metadata joined on its first column.
    pub meta: Option<PathBuf>,
}

impl ImportOptions {
    /// Defaults for `format`: split `train`, labelled, label column `label`.
    pub fn new(format: Format) -> Self {
        ImportOptions {
            format,
            split: "train".into(),
            unlabeled: false,
            label_column: "label".into(),
            path_column: None,
            features: None,
            pattern: None,
            labels: None,
            meta: None,
        }
    }

    fn reject(&self, used: bool, option: &'static str) -> Result<(), ImportError> {
        if used {
            return Err(ImportError::Option {
                option,
                format: self.format.name(),
            });
        }
        Ok(())
    }

    /// Refuse options that the format ignores, rather than ignoring them silently.
    fn check(&self) -> Result<(), ImportError> {
        let (folder, table) = match self.format {
            Format::Images | Format::Wav => (true, false),
            Format::Csv => (false, true),
            Format::Jsonl | Format::Idx => (false, false),
        };
        self.reject(!folder && self.pattern.is_some(), "--pattern")?;
        self.reject(!folder && self.labels.is_some(), "--labels")?;
        self.reject(!table && self.path_column.is_some(), "--path-column")?;
        self.reject(!table && self.features.is_some(), "--features")?;
        self.reject(self.format == Format::Idx && self.meta.is_some(), "--meta")?;
        self.reject(
            self.path_column.is_some() && self.features.is_some(),
            "--features with --path-column",
        )?;
        self.reject(
            self.pattern.is_some() && self.labels.is_some(),
            "--pattern with --labels",
        )
    }
}

/// Told how far an import's reading has got (the commit at the end is not counted).
pub trait Progress {
    /// The work ahead, in `unit`s (`files`, `bytes`, `lines`).
    fn start(&mut self, total: u64, unit: &'static str);
    /// Work done so far.
    fn set(&mut self, done: u64);
    /// Reading is over.
    fn finish(&mut self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64, _: &'static str) {}
    fn set(&mut self, _: u64) {}
}

/// One example read from a source, not yet committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Its id.
    pub id: String,
    /// Its label.
    pub label: Option<String>,
    /// Its metadata.
    pub meta: BTreeMap<String, String>,
    /// Its payload bytes.
    pub payload: Vec<u8>,
}

/// What a source held, before committing.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// The examples.
    pub examples: Vec<Example>,
    /// What the payloads are, for people (`28x28 images`, `WAV 8000 Hz mono`, `6 features`).
    pub detail: String,
    /// Image height and width (folders of images and IDX).
    pub image: [usize; 2],
    /// Feature column names (CSV and JSONL features).
    pub features: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The new commit.
    pub commit: ContentHash,
    /// Examples added.
    pub added: usize,
    /// Payload blobs written (others were already stored).
    pub new_blobs: usize,
    /// Image height and width (zero for sources of other payloads).
    pub image: [usize; 2],
    /// What the payloads are, for people.
    pub detail: String,
    /// Feature columns, in payload order (CSV, JSONL).
    pub features: Vec<String>,
    /// Metadata fields present on the imported examples.
    pub meta_fields: Vec<String>,
}

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
    let opts = ImportOptions {
        split: split.into(),
        unlabeled,
        ..ImportOptions::new(Format::Idx)
    };
    import(program_dir, source, &opts, &mut NoProgress)
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
    let opts = ImportOptions {
        split: split.into(),
        unlabeled,
        ..ImportOptions::new(Format::Images)
    };
    import(program_dir, folder, &opts, &mut NoProgress)
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

/// `STEM:INDEX` ids are zero-padded to this many digits for `n` examples.
fn index_width(n: usize) -> usize {
    n.saturating_sub(1).to_string().len().max(5)
}

/// The file name without its extension.
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "source".into(), |s| s.to_string_lossy().into_owned())
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
        id: e.id.clone(),
        payload: ContentHash::of(&e.payload),
        label: e.label.clone(),
        split: split.to_string(),
        meta: Meta::from_fields(&e.meta),
    }
}
