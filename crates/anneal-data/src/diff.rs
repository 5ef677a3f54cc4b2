//! Differences between two commits. Chunks with the same hash on both sides are skipped without
//! decoding; only the rows of differing chunks are compared.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::hash::ContentHash;
use crate::object::{Kind, Row, decode_chunk};
use crate::store::{Store, StoreError};

/// What changed from one commit to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Examples only in the newer commit.
    pub added: Vec<Row>,
    /// Examples only in the older commit.
    pub removed: Vec<Row>,
    /// Examples whose label changed: (before, after).
    pub relabeled: Vec<(Row, Row)>,
    /// Examples whose payload, split or metadata changed (label unchanged): (before, after).
    pub changed: Vec<(Row, Row)>,
    /// Per label (`""` for unlabeled): the change in its example count, for labels that changed.
    pub class_counts: BTreeMap<String, i64>,
    /// Chunks compared without decoding because they were identical.
    pub chunks_skipped: usize,
}

impl Diff {
    /// True if the commits hold the same examples.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.relabeled.is_empty()
            && self.changed.is_empty()
    }
}

fn differing_rows(
    store: &Store,
    chunks: &[(ContentHash, u32)],
    other: &HashSet<ContentHash>,
) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    for (h, _) in chunks.iter().filter(|(h, _)| !other.contains(h)) {
        let body = store.get(Kind::Chunk, h)?;
        rows.extend(decode_chunk(&body).map_err(|source| StoreError::Decode { hash: *h, source })?);
    }
    Ok(rows)
}

/// The difference from commit `a` to commit `b`.
pub fn diff(store: &Store, a: &ContentHash, b: &ContentHash) -> Result<Diff, StoreError> {
    let ta = store.table(&store.commit_object(a)?, a)?;
    let tb = store.table(&store.commit_object(b)?, b)?;
    let ha: HashSet<ContentHash> = ta.chunks.iter().map(|(h, _)| *h).collect();
    let hb: HashSet<ContentHash> = tb.chunks.iter().map(|(h, _)| *h).collect();
    let old = differing_rows(store, &ta.chunks, &hb)?;
    let new = differing_rows(store, &tb.chunks, &ha)?;
    let mut d = Diff {
        chunks_skipped: ta.chunks.iter().filter(|(h, _)| hb.contains(h)).count(),
        ..Diff::default()
    };
    let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
    for r in &old {
        counts
            .entry(r.label.clone().unwrap_or_default())
            .or_default()
            .0 += 1;
    }
    for r in &new {
        counts
            .entry(r.label.clone().unwrap_or_default())
            .or_default()
            .1 += 1;
    }
    let old_by_id: HashMap<&str, &Row> = old.iter().map(|r| (r.id.as_str(), r)).collect();
    let new_ids: HashSet<&str> = new.iter().map(|r| r.id.as_str()).collect();
    for r in &new {
        match old_by_id.get(r.id.as_str()) {
            None => d.added.push(r.clone()),
            Some(before) if before.label != r.label => {
                d.relabeled.push(((*before).clone(), r.clone()))
            }
            Some(before) if *before != r => d.changed.push(((*before).clone(), r.clone())),
            Some(_) => {}
        }
    }
    d.removed = old
        .iter()
        .filter(|r| !new_ids.contains(r.id.as_str()))
        .cloned()
        .collect();
    d.class_counts = counts
        .into_iter()
        .filter(|(_, (before, after))| before != after)
        .map(|(label, (before, after))| (label, after as i64 - before as i64))
        .collect();
    Ok(d)
}
