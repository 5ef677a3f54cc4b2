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
    /// An image folder problem, naming the file.
    #[error("{0}")]
    Images(String),
    /// The format is not supported.
    #[error("unsupported import format `{0}`: expected `idx` or `images`")]
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
    let width = set.len().saturating_sub(1).to_string().len().max(5);
    let examples = set
        .pixels
        .chunks(set.rows * set.cols)
        .enumerate()
        .map(|(i, p)| {
            let id = format!("{}:{i:0width$}", set.stem);
            let label = set.labels.as_ref().map(|l| l[i].to_string());
            (id, label, encode_raw(1, set.rows, set.cols, p))
        })
        .collect();
    let source = set.images_path.display().to_string();
    commit_examples(store, examples, split, &source, [set.rows, set.cols])
}

/// Import a folder of images laid out as `FOLDER/LABEL/NAME.png` (or `.jpg`, `.jpeg`) as one
/// commit. Ids are `FOLDER:LABEL/NAME` (`FOLDER` is the folder's own name); payloads are the
/// original file bytes, each decoded once here so that a file that is not a readable image is an
/// error naming it, before anything is written. Files directly in `FOLDER` are imported
/// unlabeled (ids `FOLDER:NAME`) with `unlabeled`, and refused
/// otherwise.
pub fn import_images(
    program_dir: &Path,
    folder: &Path,
    split: &str,
    unlabeled: bool,
) -> Result<ImportSummary, ImportError> {
    let mut files = Vec::new();
    collect_images(folder, folder, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(ImportError::Images(format!(
            "{}: no .png, .jpg or .jpeg files (expected FOLDER/LABEL/NAME.png)",
            folder.display()
        )));
    }
    let prefix = folder
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "images".into());
    let mut examples = Vec::with_capacity(files.len());
    let mut size = [0usize; 2];
    for rel in &files {
        let path = folder.join(rel);
        let bytes = std::fs::read(&path)
            .map_err(|e| ImportError::Images(format!("{}: {e}", path.display())))?;
        let img = image::load_from_memory(&bytes).map_err(|e| {
            ImportError::Images(format!(
                "{}: not a readable PNG or JPEG image: {e}",
                path.display()
            ))
        })?;
        size = [img.height() as usize, img.width() as usize];
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let stem = |name: &str| {
            name.rsplit_once('.')
                .map_or(name.to_string(), |(s, _)| s.to_string())
        };
        let (id, label) = match parts.as_slice() {
            [name] if unlabeled => (format!("{prefix}:{}", stem(name)), None),
            [name] => {
                return Err(ImportError::Images(format!(
                    "{}: an image outside a label folder (expected FOLDER/LABEL/{name}); use --unlabeled to import unlabeled images",
                    path.display()
                )));
            }
            [label, name] => (
                format!("{prefix}:{label}/{}", stem(name)),
                (!unlabeled).then(|| label.clone()),
            ),
            _ => {
                return Err(ImportError::Images(format!(
                    "{}: nested too deep (expected FOLDER/LABEL/NAME.png)",
                    path.display()
                )));
            }
        };
        examples.push((id, label, bytes));
    }
    let existed = Store::path_in(program_dir).exists();
    let store = Store::init(program_dir)?;
    let source = folder.display().to_string();
    let result = commit_examples(&store, examples, split, &source, size);
    if result.is_err() && !existed && store.head().ok().flatten().is_none() {
        let _ = std::fs::remove_dir_all(store.root());
    }
    result
}

fn collect_images(
    root: &Path,
    dir: &Path,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), ImportError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ImportError::Images(format!("{}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| ImportError::Images(format!("{}: {e}", path.display())))?;
        if kind.is_symlink() {
            return Err(ImportError::Images(format!(
                "{}: symbolic links are not followed",
                path.display()
            )));
        }
        if kind.is_dir() {
            collect_images(root, &path, out)?;
        } else {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if ["png", "jpg", "jpeg"].contains(&ext.as_str())
                && let Ok(rel) = path.strip_prefix(root)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    Ok(())
}

/// Commit `(id, label, payload)` examples on top of HEAD in one commit.
fn commit_examples(
    store: &Store,
    examples: Vec<(String, Option<String>, Vec<u8>)>,
    split: &str,
    source: &str,
    image: [usize; 2],
) -> Result<ImportSummary, ImportError> {
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
    if let Some((id, _, _)) = examples.iter().find(|(id, _, _)| ids.contains(id.as_str())) {
        return Err(ImportError::Exists {
            id: id.clone(),
            source_path: source.to_string(),
        });
    }
    let mut fresh: Vec<&[u8]> = Vec::new();
    let mut fresh_set = HashSet::new();
    let mut new_rows = Vec::with_capacity(examples.len());
    for (id, label, payload) in &examples {
        let h = ContentHash::of(payload);
        if !known.contains(&h) && fresh_set.insert(h) {
            fresh.push(payload);
        }
        new_rows.push(Row {
            id: id.clone(),
            payload: h,
            label: label.clone(),
            split: split.to_string(),
            meta: String::new(),
        });
    }
    let added = new_rows.len();
    rows.extend(new_rows);
    let message = format!("import {source} ({added} examples, split {split})");
    let commit = store.commit(rows, &fresh, &message)?;
    Ok(ImportSummary {
        commit,
        added,
        new_blobs: fresh.len(),
        image,
    })
}
