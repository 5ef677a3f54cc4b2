//! What importers share: the source [`Format`], the [`ImportOptions`] they are asked for, the
//! [`Example`]s they [`Read`], [`Progress`] reporting, and the [`ImportSummary`] of an import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::ImportError;
use super::media::has_wav;
use super::pattern::Pattern;
use crate::hash::CommitId;

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
            return if has_wav(source) {
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
    pub(super) fn check(&self) -> Result<(), ImportError> {
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
    pub commit: CommitId,
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

/// `STEM:INDEX` ids are zero-padded to this many digits for `n` examples.
pub(super) fn index_width(n: usize) -> usize {
    n.saturating_sub(1).to_string().len().max(5)
}

/// The file name without its extension.
pub(super) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "source".into(), |s| s.to_string_lossy().into_owned())
}
