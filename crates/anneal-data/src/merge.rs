//! Three-way merge of datasets. An example changed on one side only takes that side; changed
//! identically on both, that change; changed differently on both (a label edited two ways, or
//! edited on one side and removed on the other) is a conflict. Conflicts are listed and nothing
//! is committed, unless the caller explicitly picks a side for all of them.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::hash::ContentHash;
use crate::object::Row;
use crate::store::{Store, StoreError};

/// Which side wins every conflict, when the user says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The current branch.
    Ours,
    /// The branch being merged.
    Theirs,
}

/// An example both sides changed differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The example.
    pub id: String,
    /// In the common ancestor (None: added on both sides).
    pub base: Option<Row>,
    /// On the current branch (None: removed).
    pub ours: Option<Row>,
    /// On the merged branch (None: removed).
    pub theirs: Option<Row>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The other side is already contained in ours.
    UpToDate,
    /// Ours was an ancestor of theirs: the branch moved to theirs.
    FastForward(ContentHash),
    /// A merge commit with both parents.
    Merged {
        /// The commit.
        commit: ContentHash,
        /// Conflicts resolved by the chosen side.
        resolved: usize,
    },
    /// Conflicts, nothing committed.
    Conflicts(Vec<Conflict>),
}

fn ancestors(store: &Store, from: ContentHash) -> Result<HashSet<ContentHash>, StoreError> {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([from]);
    while let Some(h) = queue.pop_front() {
        if !seen.insert(h) {
            continue;
        }
        for p in store.commit_object(&h)?.parents {
            queue.push_back(p);
        }
    }
    Ok(seen)
}

/// The nearest common ancestor of `a` and `b` (breadth-first from `b`).
pub fn merge_base(
    store: &Store,
    a: ContentHash,
    b: ContentHash,
) -> Result<Option<ContentHash>, StoreError> {
    let of_a = ancestors(store, a)?;
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([b]);
    while let Some(h) = queue.pop_front() {
        if of_a.contains(&h) {
            return Ok(Some(h));
        }
        if !seen.insert(h) {
            continue;
        }
        for p in store.commit_object(&h)?.parents {
            queue.push_back(p);
        }
    }
    Ok(None)
}

fn by_id(rows: Vec<Row>) -> HashMap<String, Row> {
    rows.into_iter().map(|r| (r.id.clone(), r)).collect()
}

/// Merge commit `theirs` (named `name` in the message) into the current branch.
pub fn merge(
    store: &Store,
    theirs: ContentHash,
    name: &str,
    prefer: Option<Side>,
) -> Result<Outcome, StoreError> {
    let _lock = store.lock()?;
    let ours = store.head()?.ok_or(StoreError::NoCommits)?;
    let base = merge_base(store, ours, theirs)?;
    if base == Some(theirs) || ours == theirs {
        return Ok(Outcome::UpToDate);
    }
    if base == Some(ours) {
        store.move_branch(Some(ours), theirs, &format!("fast-forward to {name}"))?;
        return Ok(Outcome::FastForward(theirs));
    }
    let rows = |h: &ContentHash| -> Result<Vec<Row>, StoreError> {
        store.rows(&store.table(&store.commit_object(h)?)?)
    };
    let b = match base {
        Some(h) => by_id(rows(&h)?),
        None => HashMap::new(),
    };
    let (o, t) = (by_id(rows(&ours)?), by_id(rows(&theirs)?));
    let ids: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut merged = Vec::with_capacity(o.len().max(t.len()));
    let mut conflicts = Vec::new();
    for id in ids {
        let (rb, ro, rt) = (b.get(id), o.get(id), t.get(id));
        let pick = if ro == rt || rt == rb {
            ro
        } else if ro == rb {
            rt
        } else {
            conflicts.push(Conflict {
                id: id.clone(),
                base: rb.cloned(),
                ours: ro.cloned(),
                theirs: rt.cloned(),
            });
            match prefer {
                Some(Side::Ours) => ro,
                Some(Side::Theirs) => rt,
                None => continue,
            }
        };
        if let Some(r) = pick {
            merged.push(r.clone());
        }
    }
    if prefer.is_none() && !conflicts.is_empty() {
        return Ok(Outcome::Conflicts(conflicts));
    }
    let mut packs = store.table(&store.commit_object(&ours)?)?.packs().to_vec();
    packs.extend_from_slice(store.table(&store.commit_object(&theirs)?)?.packs());
    let message = format!("merge {name}");
    let commit = store.write_full(vec![ours, theirs], merged, packs, &message)?;
    Ok(Outcome::Merged {
        commit,
        resolved: conflicts.len(),
    })
}
