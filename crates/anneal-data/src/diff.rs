//! Differences between two commits.
//!
//! When one commit's table is a chain of patches on the other's (the usual case for label
//! edits), the diff is read from the patches alone. Between two full tables, chunks with the
//! same hash on both sides are skipped without decoding; only differing chunks are compared.
//! Otherwise both datasets are read and compared row by row.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::edits::edits_between;
use crate::hash::{CommitId, ContentHash, ObjectId};
use crate::object::{ChunkRef, Edit, Row, Table};
use crate::store::{Store, StoreError};
use crate::tables::chain;

/// What changed from one commit to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Examples only in the newer commit.
    pub added: Vec<Row>,
    /// Examples only in the older commit.
    pub removed: Vec<Row>,
    /// Examples whose label changed: (before, after).
    pub relabeled: Vec<(Row, Row)>,
    /// Examples whose metadata changed but not their label: (before, after). Their payload or
    /// split may have changed too.
    pub meta_changed: Vec<(Row, Row)>,
    /// Examples whose payload or split changed, label and metadata unchanged: (before, after).
    pub changed: Vec<(Row, Row)>,
    /// Per label (`""` for unlabeled): the change in its example count, for labels that changed.
    pub class_counts: BTreeMap<String, i64>,
    /// Chunks or patches not decoded because they could not differ.
    pub chunks_skipped: usize,
}

impl Diff {
    /// True if the commits hold the same examples.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.relabeled.is_empty()
            && self.meta_changed.is_empty()
            && self.changed.is_empty()
    }

    fn from_edits(edits: impl IntoIterator<Item = Edit>, skipped: usize) -> Diff {
        let mut d = Diff {
            chunks_skipped: skipped,
            ..Diff::default()
        };
        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut count = |r: &Row, by: i64| {
            *counts
                .entry(r.label.clone().unwrap_or_default())
                .or_default() += by
        };
        for e in edits {
            match e {
                Edit::Add(r) => {
                    count(&r, 1);
                    d.added.push(r);
                }
                Edit::Remove(r) => {
                    count(&r, -1);
                    d.removed.push(r);
                }
                Edit::Change(a, b) => {
                    count(&a, -1);
                    count(&b, 1);
                    d.push_change(a, b);
                }
            }
        }
        d.class_counts = counts.into_iter().filter(|(_, v)| *v != 0).collect();
        d
    }
}

impl Diff {
    /// A changed example, listed by what changed: its label, else its metadata, else the rest.
    fn push_change(&mut self, a: Row, b: Row) {
        if a.label != b.label {
            self.relabeled.push((a, b));
        } else if a.meta != b.meta {
            self.meta_changed.push((a, b));
        } else {
            self.changed.push((a, b));
        }
    }
}

/// Compose the patches of `chain` (newest first) down to `base` into one set of edits.
fn compose(chain: &[(ObjectId, Table)]) -> Vec<Edit> {
    // id -> (row before the first patch, row after the last)
    let mut net: BTreeMap<String, (Option<Row>, Option<Row>)> = BTreeMap::new();
    for (_, t) in chain.iter().rev() {
        let Table::Patch(p) = t else { continue };
        for e in &p.edits {
            let (before, after) = match e {
                Edit::Add(r) => (None, Some(r.clone())),
                Edit::Change(a, b) => (Some(a.clone()), Some(b.clone())),
                Edit::Remove(r) => (Some(r.clone()), None),
            };
            net.entry(e.id().to_string())
                .and_modify(|v| v.1 = after.clone())
                .or_insert((before, after));
        }
    }
    net.into_values()
        .filter_map(|(b, a)| match (b, a) {
            (None, Some(a)) => Some(Edit::Add(a)),
            (Some(b), None) => Some(Edit::Remove(b)),
            (Some(b), Some(a)) if a != b => Some(Edit::Change(b, a)),
            _ => None,
        })
        .collect()
}

fn invert(e: Edit) -> Edit {
    match e {
        Edit::Add(r) => Edit::Remove(r),
        Edit::Remove(r) => Edit::Add(r),
        Edit::Change(a, b) => Edit::Change(b, a),
    }
}

/// The difference from commit `a` to commit `b`.
pub fn diff(store: &Store, a: &CommitId, b: &CommitId) -> Result<Diff, StoreError> {
    let ta = store.commit_object(a)?.table;
    let tb = store.commit_object(b)?.table;
    let chain_b = chain(store, tb)?;
    if let Some(pos) = chain_b.iter().position(|(h, _)| *h == ta) {
        return Ok(Diff::from_edits(compose(&chain_b[..pos]), 0));
    }
    let chain_a = chain(store, ta)?;
    if let Some(pos) = chain_a.iter().position(|(h, _)| *h == tb) {
        return Ok(Diff::from_edits(
            compose(&chain_a[..pos]).into_iter().map(invert),
            0,
        ));
    }
    let (Some((_, full_a)), Some((_, full_b))) = (chain_a.last(), chain_b.last()) else {
        return Ok(Diff::default());
    };
    if let (Table::Full(fa), Table::Full(fb), 1, 1) = (full_a, full_b, chain_a.len(), chain_b.len())
    {
        let ha: HashSet<ContentHash> = fa.chunks.iter().map(|c| c.hash).collect();
        let hb: HashSet<ContentHash> = fb.chunks.iter().map(|c| c.hash).collect();
        let old = differing_rows(store, &fa.chunks, &hb)?;
        let new = differing_rows(store, &fb.chunks, &ha)?;
        let skipped = fa.chunks.iter().filter(|c| hb.contains(&c.hash)).count();
        return Ok(Diff::from_edits(edits_between(&old, &new), skipped));
    }
    let old = store.rows(&chain_a[0].1)?;
    let new = store.rows(&chain_b[0].1)?;
    Ok(Diff::from_edits(edits_between(&old, &new), 0))
}

fn differing_rows(
    store: &Store,
    chunks: &[ChunkRef],
    other: &HashSet<ContentHash>,
) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    for c in chunks.iter().filter(|c| !other.contains(&c.hash)) {
        rows.extend(store.chunk(c)?);
    }
    Ok(rows)
}
