//! `fsck`: check every object in the store and everything reachable from its refs.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::graph::{Order, Walk};
use crate::hash::{CommitId, ContentHash};
use crate::object::{Commit, Edit, Kind, Row, Table, decode_pack};
use crate::scan::{self, Entry};
use crate::store::{Store, StoreError, read_hash_file};

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
    // 1. Every object file: named by the hash of its bytes.
    for entry in scan::objects(store)? {
        check_file(entry, &mut report);
    }
    // 2. Everything reachable from HEAD and the refs.
    let roots = refs(store, &mut report);
    for (h, commit) in Walk::new(store, &roots, Order::DepthFirst) {
        report.commits += 1;
        if let Err(e) = commit.and_then(|c| check_commit(store, &c)) {
            report.unreachable_object(store, &h, &e);
        }
    }
    Ok(report)
}

fn check_file(entry: Entry, report: &mut Report) {
    let (expected, path) = match entry {
        Entry::Temp(_) => return, // an interrupted write's temp file: harmless, removed by gc
        Entry::Stray(path, why) => return report.problem(path, why),
        Entry::Object(h, path) => (h, path),
    };
    report.objects += 1;
    match std::fs::read(&path) {
        Ok(bytes) if ContentHash::of(&bytes) != expected => {
            let actual = ContentHash::of(&bytes).short();
            report.problem(path, format!("corrupt: content hashes to {actual}"));
        }
        Ok(_) => {}
        Err(e) => report.problem(path, format!("unreadable: {e}")),
    }
}

/// HEAD, then the commit of every branch and tag; what cannot be read is a problem.
fn refs(store: &Store, report: &mut Report) -> Vec<CommitId> {
    let head = store.root().join("HEAD");
    match store.branch() {
        Err(e) => report.problem(head, format!("HEAD is unreadable: {e}")),
        Ok(b) => check_head_branch(store, &b, report),
    }
    let mut roots = Vec::new();
    for kind in ["heads", "tags", "remotes"] {
        for (name, path) in store.ref_files(kind) {
            match read_hash_file(&path) {
                Ok(Some(h)) => roots.push(h),
                Ok(None) => {}
                Err(e) => report.problem(path, format!("ref `{name}` is unreadable: {e}")),
            }
        }
    }
    roots
}

fn check_head_branch(store: &Store, branch: &str, report: &mut Report) {
    let path = store.root().join("refs/heads").join(branch);
    let others = !store.ref_files("heads").is_empty();
    if !path.exists() && others {
        let message = format!("HEAD names branch `{branch}`, which does not exist");
        report.problem(store.root().join("HEAD"), message);
    }
}

impl Report {
    /// Record what went wrong reading commit `h` or an object it reaches.
    fn unreachable_object(&mut self, store: &Store, h: &ContentHash, e: &StoreError) {
        let path = match e {
            StoreError::Missing { path, .. } | StoreError::Corrupt { path, .. } => path.clone(),
            StoreError::Decode { hash, .. } => store.object_path(hash),
            _ => store.object_path(h),
        };
        let at = h.short();
        let message = match e {
            StoreError::Missing { hash, .. } => {
                format!("missing object {hash} (reachable from commit {at})")
            }
            other => format!("{other} (reachable from commit {at})"),
        };
        self.problem(path, message);
    }

    fn problem(&mut self, path: PathBuf, message: impl Into<String>) {
        if !self.problems.iter().any(|p| p.path == path) {
            let message = message.into();
            self.problems.push(Problem { path, message });
        }
    }
}

fn check_commit(store: &Store, commit: &Commit) -> Result<(), StoreError> {
    // The table, and every table down its chain of patches.
    let chain = crate::tables::chain(store, commit.table)?;
    let blobs = match chain.first() {
        Some((_, top)) => payloads(store, top)?,
        None => HashSet::new(),
    };
    let mut rows: Vec<Row> = Vec::new();
    for (_, table) in chain {
        rows.extend(stored_rows(store, table)?);
    }
    if let Some(r) = rows.iter().find(|r| !blobs.contains(&r.payload)) {
        return Err(StoreError::DanglingPayload {
            id: r.id.clone(),
            payload: r.payload,
        });
    }
    Ok(())
}

/// The payloads in a table's packs.
fn payloads(store: &Store, table: &Table) -> Result<HashSet<ContentHash>, StoreError> {
    let mut blobs = HashSet::new();
    for ph in table.packs() {
        let body = store.get(Kind::Pack, ph)?;
        let entries =
            decode_pack(&body).map_err(|source| StoreError::Decode { hash: *ph, source })?;
        blobs.extend(entries.into_iter().map(|(b, _)| b));
    }
    Ok(blobs)
}

/// The rows a table object holds itself: a full table's chunks, or a patch's new rows.
fn stored_rows(store: &Store, table: Table) -> Result<Vec<Row>, StoreError> {
    match table {
        Table::Full(t) => {
            let mut rows = Vec::new();
            for c in &t.chunks {
                rows.extend(store.chunk(c)?);
            }
            Ok(rows)
        }
        Table::Patch(p) => Ok((p.edits.into_iter())
            .filter_map(|e| match e {
                Edit::Add(r) | Edit::Change(_, r) => Some(r),
                Edit::Remove(_) => None,
            })
            .collect()),
    }
}
