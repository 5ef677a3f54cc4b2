//! [`Index`]: the HEAD snapshot in memory, with the last build's report joined by id, so that
//! a filter over a million examples is one pass over small integers.
//!
//! Labels, splits, metadata fields and values are interned ([`Interner`]); the program's
//! classes come first, so a label's code is its class index. When HEAD moves by label, split
//! or metadata edits only (what the studio and `anneal data label` commit), the patches are
//! applied in place ([`Index::fast_forward`]); anything else (an import, a removal, another
//! branch) reads the snapshot again.

use std::collections::HashMap;

use anneal_build::Report;
use anneal_data::object::{Edit, Row, Table};
use anneal_data::{CommitId, ContentHash, ObjectId, Snapshot, Store, StoreError};

/// The code of "none" (unlabeled, no prediction).
pub const NONE: u32 = u32::MAX;

/// Strings as small integers, in order of first sight.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    names: Vec<String>,
    codes: HashMap<String, u32>,
}

impl Interner {
    /// The code of `s`, adding it when new.
    pub fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.codes.get(s) {
            return c;
        }
        let c = self.names.len() as u32;
        self.names.push(s.to_string());
        self.codes.insert(s.to_string(), c);
        c
    }

    /// The code of `s`, if seen.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.codes.get(s).copied()
    }

    /// The string of `code` ("" for [`NONE`] or an unknown code).
    pub fn name(&self, code: u32) -> &str {
        self.names.get(code as usize).map_or("", String::as_str)
    }

    /// Every string, by code.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Where an example is in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `report.train`, at this position.
    Train(u32),
    /// `report.test`, at this position.
    Test(u32),
    /// `report.pool` (unlabeled), at this position.
    Pool(u32),
}

/// One example with its codes and what the report says of it.
#[derive(Debug, Clone)]
pub struct Item {
    /// The row at HEAD.
    pub row: Row,
    /// Label code, or [`NONE`].
    pub label: u32,
    /// Split code.
    pub split: u32,
    /// (field, value) codes of its metadata.
    pub meta: Vec<(u32, u32)>,
    /// The report's predicted class (a label code), or [`NONE`].
    pub pred: u32,
    /// Training loss averaged over epochs (NaN when not trained on).
    pub mean_loss: f32,
    /// Where it is in the report.
    pub at: Option<At>,
}

/// The HEAD snapshot, indexed.
#[derive(Debug, Default)]
pub struct Index {
    /// The commit indexed (None: an empty store).
    pub commit: Option<CommitId>,
    /// Its table.
    table: Option<ObjectId>,
    /// Examples sorted by id.
    pub items: Vec<Item>,
    /// Labels (classes first).
    pub labels: Interner,
    /// Splits.
    pub splits: Interner,
    /// Metadata field names.
    pub fields: Interner,
    /// Metadata values.
    pub values: Interner,
    /// The class names, in the model's output order.
    pub classes: Vec<String>,
    /// The last build's report, if any.
    pub report: Option<Report>,
    snapshot: Option<Snapshot>,
}

impl Index {
    /// Read commit `commit` of `store` with `classes` first among the labels.
    pub fn load(
        store: &Store,
        commit: Option<CommitId>,
        classes: &[String],
    ) -> Result<Index, StoreError> {
        let mut index = Index {
            commit,
            classes: classes.to_vec(),
            ..Index::default()
        };
        for c in classes {
            index.labels.code(c);
        }
        let Some(commit) = commit else {
            return Ok(index);
        };
        index.table = Some(store.commit_object(&commit)?.table);
        let mut snapshot = store.snapshot(&commit)?;
        let rows = std::mem::take(&mut snapshot.rows);
        index.items = rows.into_iter().map(|row| index.item(row)).collect();
        index.snapshot = Some(snapshot);
        Ok(index)
    }

    fn item(&mut self, row: Row) -> Item {
        let label = row.label.as_deref().map_or(NONE, |l| self.labels.code(l));
        let split = self.splits.code(&row.split);
        let meta = self.meta_codes(&row);
        Item {
            row,
            label,
            split,
            meta,
            pred: NONE,
            mean_loss: f32::NAN,
            at: None,
        }
    }

    fn meta_codes(&mut self, row: &Row) -> Vec<(u32, u32)> {
        let fields = row.meta.fields().unwrap_or_default();
        let pairs = fields.iter();
        pairs
            .map(|(k, v)| (self.fields.code(k), self.values.code(v)))
            .collect()
    }

    /// The position of example `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.items
            .binary_search_by(|i| i.row.id.as_str().cmp(id))
            .ok()
    }

    /// The payload bytes of `hash`, if HEAD holds it.
    pub fn payload(&self, hash: ContentHash) -> Option<&[u8]> {
        let row = Row {
            id: Default::default(),
            payload: hash,
            label: None,
            split: String::new(),
            meta: Default::default(),
        };
        self.snapshot.as_ref()?.payload(&row).ok()
    }

    /// The payload of an item.
    pub fn item_payload(&self, item: &Item) -> Option<&[u8]> {
        self.snapshot.as_ref()?.payload(&item.row).ok()
    }

    /// Move to `head` by applying the label, split and metadata patches between the indexed
    /// commit and it; false (the index unchanged) when that is not how `head` was reached.
    pub fn fast_forward(&mut self, store: &Store, head: CommitId) -> Result<bool, StoreError> {
        let Some(patches) = self.patches_to(store, head)? else {
            return Ok(false);
        };
        let edits = patches.iter().rev().flat_map(|p| p.iter());
        if !edits.clone().all(|e| self.in_place(e)) {
            return Ok(false);
        }
        edits.for_each(|e| self.apply(e));
        self.table = Some(store.commit_object(&head)?.table);
        self.commit = Some(head);
        Ok(true)
    }

    /// The edits of each patch from `head` back to the indexed table (newest first), if
    /// `head` is reached from it through first parents whose tables are patches of it.
    fn patches_to(
        &self,
        store: &Store,
        head: CommitId,
    ) -> Result<Option<Vec<Vec<Edit>>>, StoreError> {
        let Some(mine) = self.commit else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let mut at = head;
        while at != mine && out.len() < 64 {
            let commit = store.commit_object(&at)?;
            let Table::Patch(p) = store.table_object(&commit.table)? else {
                return Ok(None);
            };
            let Some(&parent) = commit.parents.first() else {
                return Ok(None);
            };
            let parent_table = store.commit_object(&parent)?.table;
            if p.base != parent_table {
                return Ok(None);
            }
            out.push(p.edits);
            at = parent;
        }
        Ok((at == mine).then_some(out))
    }

    /// Can `edit` be applied without reading payloads?
    fn in_place(&self, edit: &Edit) -> bool {
        match edit {
            Edit::Change(before, after) => {
                before.payload == after.payload && self.position(&after.id).is_some()
            }
            Edit::Add(_) | Edit::Remove(_) => false,
        }
    }

    fn apply(&mut self, edit: &Edit) {
        let Edit::Change(_, row) = edit else {
            return;
        };
        let Some(at) = self.position(&row.id) else {
            return;
        };
        let fresh = self.item(row.clone());
        let item = &mut self.items[at];
        (item.row, item.label, item.split, item.meta) =
            (fresh.row, fresh.label, fresh.split, fresh.meta);
    }
}
