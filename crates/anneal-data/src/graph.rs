//! The commit graph: walks over parents, shared by `gc`, `fsck`, push and fetch, and merge.
//!
//! Every walk reads commits through [`Store::commit_object`], so a parent is parsed and checked
//! one way everywhere: a parent that is malformed, missing or not a commit is an error naming
//! that commit, never skipped.

use std::collections::{HashSet, VecDeque};

use crate::hash::{CommitId, ContentHash};
use crate::object::{Commit, Table};
use crate::store::{Store, StoreError};
use crate::tables::chain;

/// In which order a [`Walk`] visits commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Last found, first visited (a stack): cheapest, for walks that visit everything.
    DepthFirst,
    /// Nearest first (a queue): for "the nearest commit such that".
    BreadthFirst,
}

/// Every commit reachable from some roots, each once, with the commit read (or the error
/// reading it). The parents of a commit that cannot be read are not visited.
#[derive(Debug)]
pub struct Walk<'a> {
    store: &'a Store,
    pending: VecDeque<CommitId>,
    seen: HashSet<CommitId>,
    order: Order,
}

impl<'a> Walk<'a> {
    /// A walk from `roots`.
    pub fn new(store: &'a Store, roots: &[CommitId], order: Order) -> Self {
        let (pending, seen) = (roots.iter().copied().collect(), HashSet::new());
        Walk {
            store,
            pending,
            seen,
            order,
        }
    }

    fn next_pending(&mut self) -> Option<CommitId> {
        match self.order {
            Order::DepthFirst => self.pending.pop_back(),
            Order::BreadthFirst => self.pending.pop_front(),
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = (CommitId, Result<Commit, StoreError>);

    fn next(&mut self) -> Option<Self::Item> {
        let h = loop {
            let h = self.next_pending()?;
            if self.seen.insert(h) {
                break h;
            }
        };
        let commit = self.store.commit_object(&h);
        if let Ok(c) = &commit {
            self.pending.extend(&c.parents);
        }
        Some((h, commit))
    }
}

/// `from` and every commit in its history.
pub fn ancestors(store: &Store, from: CommitId) -> Result<HashSet<CommitId>, StoreError> {
    Walk::new(store, &[from], Order::DepthFirst)
        .map(|(h, c)| c.map(|_| h))
        .collect()
}

/// Whether `ancestor` is `of` or in its history (so moving a ref from `ancestor` to `of` is a
/// fast-forward).
pub fn is_ancestor(store: &Store, ancestor: CommitId, of: CommitId) -> Result<bool, StoreError> {
    Ok(ancestors(store, of)?.contains(&ancestor))
}

/// The nearest common ancestor of `a` and `b` (breadth-first from `b`).
pub fn merge_base(store: &Store, a: CommitId, b: CommitId) -> Result<Option<CommitId>, StoreError> {
    let of_a = ancestors(store, a)?;
    for (h, commit) in Walk::new(store, &[b], Order::BreadthFirst) {
        if of_a.contains(&h) {
            return Ok(Some(h));
        }
        commit?;
    }
    Ok(None)
}

/// Everything reachable from `roots`: commits, tables (down patch chains), chunks and packs,
/// each once, every object before the commit that names it.
pub fn reachable_objects(
    store: &Store,
    roots: &[CommitId],
) -> Result<Vec<ContentHash>, StoreError> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for (h, commit) in Walk::new(store, roots, Order::DepthFirst) {
        for (th, table) in chain(store, commit?.table)? {
            let mut objects = table.packs().to_vec();
            objects.push(th.into());
            objects.extend(chunks(table));
            order.extend(objects.into_iter().filter(|o| seen.insert(*o)));
        }
        order.push(h.into());
    }
    Ok(order)
}

fn chunks(table: Table) -> Vec<ContentHash> {
    match table {
        Table::Full(t) => t.chunks.into_iter().map(|c| c.hash).collect(),
        Table::Patch(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Kind, Row};

    const BLOB: &[u8] = b"RAW8\x01\x00\x01\x00\x01\x00\x7f";

    fn row(id: &str, label: &str) -> Row {
        Row {
            id: id.into(),
            payload: ContentHash::of(BLOB),
            label: Some(label.into()),
            split: "train".into(),
            meta: Default::default(),
        }
    }

    /// `a` on main, then `b` on main and `c` on branch `x`, both children of `a`.
    fn forked() -> (tempfile::TempDir, Store, [CommitId; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let a = store.commit(vec![row("e1", "0")], &[BLOB], "a").unwrap();
        store.create_branch("x", None).unwrap();
        let b = store.commit(vec![row("e1", "1")], &[], "b").unwrap();
        store.checkout("x").unwrap();
        let c = store.commit(vec![row("e1", "2")], &[], "c").unwrap();
        (dir, store, [a, b, c])
    }

    #[test]
    fn ancestors_merge_base_and_fast_forwards() {
        let (_dir, store, [a, b, c]) = forked();
        assert_eq!(ancestors(&store, b).unwrap(), HashSet::from([a, b]));
        assert_eq!(merge_base(&store, b, c).unwrap(), Some(a));
        assert_eq!(merge_base(&store, a, b).unwrap(), Some(a));
        assert!(is_ancestor(&store, a, c).unwrap());
        assert!(is_ancestor(&store, c, c).unwrap());
        assert!(!is_ancestor(&store, b, c).unwrap());
    }

    #[test]
    fn reachable_objects_come_before_the_commit_naming_them_each_once() {
        let (_dir, store, [a, b, c]) = forked();
        let order = reachable_objects(&store, &[b, c]).unwrap();
        let at = |h: ContentHash| order.iter().position(|o| *o == h).unwrap();
        for id in [a, b, c] {
            let table = store.commit_object(&id).unwrap().table;
            assert!(at(table.0) < at(id.0), "table after its commit");
        }
        let unique: HashSet<_> = order.iter().collect();
        assert_eq!(unique.len(), order.len());
    }

    #[test]
    fn a_malformed_parent_is_an_error_naming_its_commit() {
        let (_dir, store, [a, ..]) = forked();
        let table = store.commit_object(&a).unwrap().table;
        let body = format!(
            r#"{{"format":1,"table":"{table}","parents":["{a}","not-a-hash"],"author":"t","time":0,"message":"m"}}"#
        );
        let bad = CommitId(store.put(Kind::Commit, body.as_bytes()).unwrap());
        let err = ancestors(&store, bad).unwrap_err();
        assert!(matches!(err, StoreError::Decode { hash, .. } if hash == bad.0));
        assert!(err.to_string().contains("not-a-hash"), "{err}");
    }
}
