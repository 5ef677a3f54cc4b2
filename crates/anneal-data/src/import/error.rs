//! [`ImportError`]: why an import failed, naming the file and the place in it.

use std::io;
use std::path::{Path, PathBuf};

use super::pattern::PatternError;
use crate::idx::IdxError;
use crate::limits::RowError;
use crate::store::StoreError;

/// Why an import failed. Every message names the file, and the line, column or field where
/// that applies.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The IDX source is malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An id in the source is already in the dataset.
    #[error("example `{id}` from {source_path} is already in the dataset (imported before?)")]
    Exists {
        /// The id.
        id: crate::row::ExampleId,
        /// The source.
        source_path: String,
    },
    /// Two examples of the source have one id.
    #[error("{source_path}: example `{id}` appears twice")]
    DuplicateId {
        /// The id.
        id: String,
        /// The source.
        source_path: String,
    },
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An image folder problem, naming the file.
    #[error("{path}: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A file that is not a readable WAV.
    #[error("{path}: not a readable WAV file: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// What hound found.
        #[source]
        source: hound::Error,
    },
    /// A CSV or JSONL line is malformed.
    #[error("{path}: line {line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        message: String,
    },
    /// A CSV row with a different number of fields than the header.
    #[error("{path}: line {line}: {found} fields where the header has {expected}")]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A feature value that is not a number.
    #[error("{path}: line {line}, column `{column}`: expected a number, found `{value}`")]
    NotNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column.
        column: String,
        /// What was there.
        value: String,
    },
    /// A column named by an option is not in the header.
    #[error("{path}: no column `{column}` (named by {option}); the header has: {header}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The option naming it.
        option: &'static str,
        /// The header's columns, comma-separated.
        header: String,
    },
    /// A bad `--pattern`.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A file name that does not match `--pattern`.
    #[error("{path}: the file name does not match --pattern `{pattern}`")]
    NoMatch {
        /// The file.
        path: PathBuf,
        /// The pattern.
        pattern: String,
    },
    /// An image or WAV in the folder that the labels CSV does not list.
    #[error("{path}: not listed in {labels} (list it, or move it out of the folder)")]
    Unlisted {
        /// The file.
        path: PathBuf,
        /// The labels CSV.
        labels: PathBuf,
    },
    /// An example without the key that `--meta` joins on.
    #[error("example `{id}` has no `{key}` to join {meta} on (its first column)")]
    MetaNoKey {
        /// The example.
        id: String,
        /// The join key.
        key: String,
        /// The metadata file.
        meta: PathBuf,
    },
    /// A join key value that the metadata file does not list.
    #[error("example `{id}`: {key} `{value}` is not in {meta}")]
    MetaMissing {
        /// The example.
        id: String,
        /// The join key.
        key: String,
        /// The value.
        value: String,
        /// The metadata file.
        meta: PathBuf,
    },
    /// Nothing to import.
    #[error("{path}: no examples found (expected {expected})")]
    Empty {
        /// The source.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
    },
    /// An option that the format does not use.
    #[error("{option} does not apply to --format {format}")]
    Option {
        /// The option.
        option: &'static str,
        /// The format.
        format: &'static str,
    },
    /// An id, label or split the store cannot hold or print.
    #[error(transparent)]
    Row(#[from] RowError),
    /// The format is not supported.
    #[error("unsupported import format `{0}`: expected idx, images, wav, csv or jsonl")]
    Format(String),
}

impl ImportError {
    pub(super) fn io(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
        move |source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
