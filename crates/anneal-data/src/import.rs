//! Importers: read a source completely and validate it, then commit it in one step, so a bad
//! source leaves the store unchanged.

use std::collections::HashSet;
use std::path::Path;

use crate::hash::ContentHash;
use crate::idx::{self, IdxError};
use crate::object::Row;
use crate::payload::encode_raw;
use crate::store::{Store, StoreError};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source is malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An id in the source is already in the dataset.
    #[error("example `{id}` from {source_path} is already in the dataset (imported before?)")]
    Exists {
        /// The id.
        id: String,
        /// The source.
        source_path: String,
    },
    /// The format is not supported.
    #[error("unsupported import format `{0}`: expected `idx`")]
    Format(String),
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
    /// Image height and width.
    pub image: [usize; 2],
}

/// Import an IDX pair into the store of `program_dir` (created if absent), as one commit.
/// Ids are `STEM:INDEX` (zero-padded), e.g. `train10k:00042`.
pub fn import_idx(
    program_dir: &Path,
    source: &Path,
    split: &str,
    unlabeled: bool,
) -> Result<ImportSummary, ImportError> {
    let set = idx::read(source, unlabeled)?;
    let existed = Store::path_in(program_dir).exists();
    let store = Store::init(program_dir)?;
    let result = commit_idx(&store, &set, split);
    if result.is_err() && !existed && store.head().ok().flatten().is_none() {
        let _ = std::fs::remove_dir_all(store.root());
    }
    result
}

fn commit_idx(store: &Store, set: &idx::IdxSet, split: &str) -> Result<ImportSummary, ImportError> {
    let (mut rows, known) = match store.head()? {
        Some(h) => {
            let c = store.commit_object(&h)?;
            let rows = store.rows(&store.table(&c, &h)?)?;
            let known: HashSet<ContentHash> = rows.iter().map(|r| r.payload).collect();
            (rows, known)
        }
        None => (Vec::new(), HashSet::new()),
    };
    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let n = set.len();
    let width = n.saturating_sub(1).to_string().len().max(5);
    let px = set.rows * set.cols;
    let payloads: Vec<Vec<u8>> = set
        .pixels
        .chunks(px)
        .map(|p| encode_raw(1, set.rows, set.cols, p))
        .collect();
    let mut new_rows = Vec::with_capacity(n);
    let mut fresh: Vec<&[u8]> = Vec::new();
    let mut fresh_set = HashSet::new();
    for (i, payload) in payloads.iter().enumerate() {
        let id = format!("{}:{i:0width$}", set.stem);
        if ids.contains(id.as_str()) {
            return Err(ImportError::Exists {
                id,
                source_path: set.images_path.display().to_string(),
            });
        }
        let h = ContentHash::of(payload);
        if !known.contains(&h) && fresh_set.insert(h) {
            fresh.push(payload);
        }
        new_rows.push(Row {
            id,
            payload: h,
            label: set.labels.as_ref().map(|l| l[i].to_string()),
            split: split.to_string(),
            meta: String::new(),
        });
    }
    let added = new_rows.len();
    rows.extend(new_rows);
    let message = format!(
        "import {} ({added} examples, split {split})",
        set.images_path.display()
    );
    let commit = store.commit(rows, &fresh, &message)?;
    Ok(ImportSummary {
        commit,
        added,
        new_blobs: fresh.len(),
        image: [set.rows, set.cols],
    })
}
