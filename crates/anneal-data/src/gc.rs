//! `gc`: delete objects no branch or tag reaches, and temp files of interrupted writes.

use std::collections::HashSet;
use std::path::Path;

use crate::graph::reachable_objects;
use crate::hash::{CommitId, ContentHash};
use crate::scan::{self, Entry};
use crate::store::{Store, StoreError, read_hash_file};

/// What `gc` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Objects kept.
    pub kept: usize,
    /// Objects and temp files removed.
    pub removed: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Entries that are not objects (links, stray files), left in place.
    pub strays: usize,
}

/// Every object reachable from HEAD, the branches, the tags and the remote-tracking refs
/// (`refs/remotes/`: what a fetch brought, such as a pull that stopped at a conflict).
pub fn reachable(store: &Store) -> Result<HashSet<ContentHash>, StoreError> {
    let mut roots: Vec<CommitId> = store.head()?.into_iter().collect();
    for kind in ["heads", "tags", "remotes"] {
        for (_, path) in store.ref_files(kind) {
            roots.extend(read_hash_file(&path)?);
        }
    }
    Ok(reachable_objects(store, &roots)?.into_iter().collect())
}

/// Remove what is unreachable: unreachable objects and temp files of interrupted writes, by
/// name and place only (see [`crate::scan`]); links and strays are left for `fsck` to report.
/// Holds the writer lock, so no commit is in progress.
pub fn gc(store: &Store) -> Result<Collected, StoreError> {
    let _lock = store.lock()?;
    let keep = reachable(store)?;
    let mut out = Collected::default();
    for entry in scan::objects(store)? {
        match entry {
            Entry::Object(h, _) if keep.contains(&h) => out.kept += 1,
            Entry::Object(_, path) | Entry::Temp(path) => remove(&path, &mut out)?,
            Entry::Stray(..) => out.strays += 1,
        }
    }
    Ok(out)
}

fn remove(path: &Path, out: &mut Collected) -> Result<(), StoreError> {
    let size = path.symlink_metadata().map_or(0, |m| m.len());
    std::fs::remove_file(path).map_err(crate::store::io_err(path))?;
    out.removed += 1;
    out.bytes += size;
    Ok(())
}
