//! Three-way merge of datasets. An example changed on one side only takes that side; changed
//! identically on both, that change; changed differently on both (a label edited two ways, or
//! edited on one side and removed on the other) is a conflict. Conflicts are listed and nothing
//! is committed, unless the caller explicitly picks a side for all of them.

use std::collections::{BTreeSet, HashMap};

use crate::graph;
use crate::hash::CommitId;
use crate::object::{ExampleId, Row};
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
    pub id: ExampleId,
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
    FastForward(CommitId),
    /// A merge commit with both parents.
    Merged {
        /// The commit.
        commit: CommitId,
        /// Conflicts resolved by the chosen side.
        resolved: usize,
    },
    /// Conflicts, nothing committed.
    Conflicts(Vec<Conflict>),
}

/// The nearest common ancestor of commits `a` and `b` (see [`graph::merge_base`]).
pub fn merge_base(store: &Store, a: CommitId, b: CommitId) -> Result<Option<CommitId>, StoreError> {
    graph::merge_base(store, a, b)
}

type ById = HashMap<ExampleId, Row>;

/// The rows of commit `h` by id (none for no commit).
fn rows_at(store: &Store, h: Option<CommitId>) -> Result<ById, StoreError> {
    let Some(h) = h else {
        return Ok(HashMap::new());
    };
    let rows = store.commit_rows(&h)?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// Merge commit `theirs` (named `name` in the message) into the current branch.
pub fn merge(
    store: &Store,
    theirs: CommitId,
    name: &str,
    prefer: Option<Side>,
) -> Result<Outcome, StoreError> {
    let _lock = store.lock()?;
    let ours = store.head()?.ok_or(StoreError::NoCommits)?;
    let base = graph::merge_base(store, ours, theirs)?;
    if base == Some(theirs) || ours == theirs {
        return Ok(Outcome::UpToDate);
    }
    if base == Some(ours) {
        store.move_branch(Some(ours), theirs, &format!("fast-forward to {name}"))?;
        return Ok(Outcome::FastForward(theirs));
    }
    let (o, t) = (Some(ours), Some(theirs));
    let sides = [
        rows_at(store, base)?,
        rows_at(store, o)?,
        rows_at(store, t)?,
    ];
    let (merged, conflicts) = merge_rows(&sides, prefer);
    if prefer.is_none() && !conflicts.is_empty() {
        return Ok(Outcome::Conflicts(conflicts));
    }
    let commit = commit_merge(store, [ours, theirs], merged, name)?;
    Ok(Outcome::Merged {
        commit,
        resolved: conflicts.len(),
    })
}

/// The rows of the merge of `[base, ours, theirs]`, and the conflicts (resolved by `prefer`
/// when given, left out of the rows otherwise).
fn merge_rows(sides: &[ById; 3], prefer: Option<Side>) -> (Vec<Row>, Vec<Conflict>) {
    let [b, o, t] = sides;
    let ids: BTreeSet<&ExampleId> = b.keys().chain(o.keys()).chain(t.keys()).collect();
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
        merged.extend(pick.cloned());
    }
    (merged, conflicts)
}

/// Commit `rows` with both parents, over the packs of both.
fn commit_merge(
    store: &Store,
    [ours, theirs]: [CommitId; 2],
    rows: Vec<Row>,
    name: &str,
) -> Result<CommitId, StoreError> {
    let mut packs = store.commit_table(&ours)?.packs().to_vec();
    packs.extend_from_slice(store.commit_table(&theirs)?.packs());
    let message = format!("merge {name}");
    store.write_full(vec![ours, theirs], rows, packs, &message)
}
