//! `fsck`: check every object in the store and everything reachable from its refs.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::hash::ContentHash;
use crate::object::{Edit, Kind, Table, decode_pack};
use crate::store::{Store, StoreError};

/// One problem found, naming the object (or file) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// What `fsck` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Object files read and hashed.
    pub objects: usize,
    /// Commits reachable from the refs.
    pub commits: usize,
    /// Everything wrong, in a stable order.
    pub problems: Vec<Problem>,
}

/// Check the store.
pub fn fsck(store: &Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let objects_dir = store.root().join("objects");
    let mut dirs: Vec<_> = std::fs::read_dir(&objects_dir)
        .map_err(|source| StoreError::Io {
            path: objects_dir.clone(),
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    // 1. Every object file: named by the hash of its bytes.
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let name = format!(
                "{}{}",
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            if name.contains(".tmp-") {
                continue; // an interrupted write's temp file: harmless, removed by gc
            }
            report.objects += 1;
            let Ok(expected) = name.parse::<ContentHash>() else {
                report.problems.push(Problem {
                    path: file,
                    message: "stray file: not named by a content hash".into(),
                });
                continue;
            };
            match std::fs::read(&file) {
                Ok(bytes) => {
                    let actual = ContentHash::of(&bytes);
                    if actual != expected {
                        report.problems.push(Problem {
                            path: file,
                            message: format!("corrupt: content hashes to {}", actual.short()),
                        });
                    }
                }
                Err(e) => report.problems.push(Problem {
                    path: file,
                    message: format!("unreadable: {e}"),
                }),
            }
        }
    }
    // 2. Everything reachable from the refs.
    let mut roots: Vec<(String, ContentHash)> = Vec::new();
    roots.extend(
        store
            .branches()?
            .into_iter()
            .map(|(n, h)| (format!("branch {n}"), h)),
    );
    roots.extend(
        store
            .tags()?
            .into_iter()
            .map(|(n, h)| (format!("tag {n}"), h)),
    );
    let mut seen = HashSet::new();
    for (_, root) in roots {
        let mut stack = vec![root];
        while let Some(h) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            report.commits += 1;
            if let Err(e) = check_commit(store, &h, &mut stack) {
                let path = match &e {
                    StoreError::Missing { path, .. } | StoreError::Corrupt { path, .. } => {
                        path.clone()
                    }
                    StoreError::Decode { hash, .. } => store.object_path(hash),
                    _ => store.object_path(&h),
                };
                let message = match &e {
                    StoreError::Missing { hash, .. } => format!(
                        "missing object {hash} (reachable from commit {})",
                        h.short()
                    ),
                    other => format!("{other} (reachable from commit {})", h.short()),
                };
                if !report.problems.iter().any(|p| p.path == path) {
                    report.problems.push(Problem { path, message });
                }
            }
        }
    }
    Ok(report)
}

fn check_commit(
    store: &Store,
    h: &ContentHash,
    stack: &mut Vec<ContentHash>,
) -> Result<(), StoreError> {
    let commit = store.commit_object(h)?;
    for p in &commit.parents {
        stack.push(p.parse().map_err(|_| StoreError::BadRef {
            path: store.object_path(h),
            message: format!("bad parent `{p}`"),
        })?);
    }
    // The table, and every table down its chain of patches.
    let mut blobs = HashSet::new();
    let mut rows_to_check: Vec<crate::object::Row> = Vec::new();
    let top = store.table_hash(&commit, h)?;
    for (i, (_, table)) in crate::tables::chain(store, top)?.into_iter().enumerate() {
        if i == 0 {
            for ph in table.packs() {
                let body = store.get(Kind::Pack, ph)?;
                let entries = decode_pack(&body)
                    .map_err(|source| StoreError::Decode { hash: *ph, source })?;
                blobs.extend(entries.into_iter().map(|(b, _)| b));
            }
        }
        match table {
            Table::Full(t) => {
                for c in &t.chunks {
                    rows_to_check.extend(store.chunk(c)?);
                }
            }
            Table::Patch(p) => {
                for e in p.edits {
                    if let Edit::Add(r) | Edit::Change(_, r) = e {
                        rows_to_check.push(r);
                    }
                }
            }
        }
    }
    if let Some(r) = rows_to_check.iter().find(|r| !blobs.contains(&r.payload)) {
        return Err(StoreError::DanglingPayload {
            id: r.id.clone(),
            payload: r.payload,
        });
    }
    Ok(())
}
