//! `gc`: delete objects no branch or tag reaches, and temp files of interrupted writes.

use std::collections::HashSet;

use crate::hash::ContentHash;
use crate::remote::reachable_from;
use crate::store::{Store, StoreError};

/// What `gc` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Objects kept.
    pub kept: usize,
    /// Objects and temp files removed.
    pub removed: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Every object reachable from the branches and tags.
pub fn reachable(store: &Store) -> Result<HashSet<ContentHash>, StoreError> {
    let roots: Vec<ContentHash> = store
        .branches()?
        .into_iter()
        .chain(store.tags()?)
        .map(|(_, h)| h)
        .collect();
    Ok(reachable_from(store, &roots)?.into_iter().collect())
}

/// Remove what is unreachable. Holds the writer lock, so no commit is in progress.
pub fn gc(store: &Store) -> Result<Collected, StoreError> {
    let _lock = store.lock()?;
    let keep = reachable(store)?;
    let mut out = Collected::default();
    let objects = store.root().join("objects");
    let dirs = std::fs::read_dir(&objects).map_err(|source| StoreError::Io {
        path: objects.clone(),
        source,
    })?;
    for dir in dirs.flatten().map(|e| e.path()) {
        let prefix = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            let name = format!(
                "{prefix}{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let live = name.parse::<ContentHash>().is_ok_and(|h| keep.contains(&h));
            if live {
                out.kept += 1;
                continue;
            }
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&file).map_err(|source| StoreError::Io {
                path: file.clone(),
                source,
            })?;
            out.removed += 1;
            out.bytes += size;
        }
    }
    Ok(out)
}
