//! Reading tables (whole, or by id), and committing edits as patches.
//!
//! A label edit of a million-example dataset should not rewrite it: [`Store::apply`] looks up
//! only the rows it changes (one chunk each, found by the chunks' first ids), and commits a
//! patch table holding those rows before and after. Reading applies the patches to their base;
//! past [`MAX_PATCH_DEPTH`] patches, or when an edit touches a quarter of the rows, the commit
//! writes a full table instead.

use std::collections::{HashMap, HashSet};

use crate::edits::{apply_edits, edits_between};
use crate::hash::{CommitId, ContentHash, ObjectId};
use crate::limits::{Field, RowError, check_text};
use crate::object::{
    Edit, ExampleId, Kind, MAX_PATCH_DEPTH, PatchTable, Row, Table, encode_table, find_rows,
};
use crate::store::{Store, StoreError, sort_by_id};

/// How a commit's table is stored (see [`Store::layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Examples in the table.
    pub examples: u64,
    /// Patches between it and its full table.
    pub patches: usize,
    /// Packs holding its payloads.
    pub packs: usize,
}

/// A change to one example.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Change {
    /// Set (or clear) its label.
    Label {
        /// The example.
        id: ExampleId,
        /// The new label; None moves it to the unlabeled pool.
        label: Option<String>,
    },
    /// Move it to another split.
    Split {
        /// The example.
        id: ExampleId,
        /// The split.
        split: String,
    },
    /// Remove it.
    Remove {
        /// The example.
        id: ExampleId,
    },
}

impl Change {
    /// Refuse a label or split the store cannot hold or print (see [`crate::limits`]).
    pub fn check(&self) -> Result<(), RowError> {
        match self {
            Change::Label { id, label: Some(l) } => check_text(id, Field::Label, l),
            Change::Split { id, split } => check_text(id, Field::Split, split),
            Change::Label { label: None, .. } | Change::Remove { .. } => Ok(()),
        }
    }

    /// The row after this change (None: removed, or absent before).
    fn applied_to(&self, row: Option<Row>) -> Option<Row> {
        let mut row = row?;
        match self {
            Change::Label { label, .. } => row.label = label.clone(),
            Change::Split { split, .. } => row.split = split.clone(),
            Change::Remove { .. } => return None,
        }
        Some(row)
    }

    /// The example it changes.
    pub fn id(&self) -> &str {
        match self {
            Change::Label { id, .. } | Change::Split { id, .. } | Change::Remove { id } => id,
        }
    }
}

impl Store {
    /// All rows of a commit, sorted by id.
    pub fn commit_rows(&self, commit: &CommitId) -> Result<Vec<Row>, StoreError> {
        self.rows(&self.commit_table(commit)?)
    }

    /// How a commit's table is stored: its examples, the patches over its full table, its packs.
    pub fn layout(&self, commit: &CommitId) -> Result<Layout, StoreError> {
        let chain = chain(self, self.commit_object(commit)?.table)?;
        let top = &chain[0].1;
        Ok(Layout {
            examples: top.rows(),
            patches: chain.len() - 1,
            packs: top.packs().len(),
        })
    }

    /// All rows of a table, sorted by id (a patch is applied to its base).
    pub fn rows(&self, table: &Table) -> Result<Vec<Row>, StoreError> {
        match table {
            Table::Full(t) => self.full_rows(t),
            Table::Patch(p) => self.patched_rows(p),
        }
    }

    /// The rows of a patch: down the chain to its full table (bounded by its depth), then the
    /// patches back up; a loop, so no chain of objects can overflow the stack.
    fn patched_rows(&self, p: &PatchTable) -> Result<Vec<Row>, StoreError> {
        let chain = chain(self, p.base)?;
        let mut rows = match chain.last() {
            Some((_, Table::Full(t))) => self.full_rows(t)?,
            _ => Vec::new(),
        };
        for (_, t) in chain.iter().rev() {
            if let Table::Patch(q) = t {
                rows = apply_edits(rows, &q.edits);
            }
        }
        Ok(apply_edits(rows, &p.edits))
    }

    /// The rows of a full table's chunks. The row count a table claims is not trusted for
    /// allocation: each chunk is checked against its own count as it is read.
    fn full_rows(&self, t: &crate::object::FullTable) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::with_capacity(t.rows.min(1 << 20) as usize);
        for c in &t.chunks {
            rows.extend(self.chunk(c)?);
        }
        Ok(rows)
    }

    /// Read the rows at HEAD, let `edit` change them, and commit the result, all under the
    /// writer lock (so concurrent edits cannot lose each other's changes). Returns None when
    /// `edit` changed nothing.
    pub fn update(
        &self,
        message: &str,
        edit: impl FnOnce(&mut Vec<Row>) -> Result<(), StoreError>,
    ) -> Result<Option<CommitId>, StoreError> {
        let _lock = self.lock()?;
        let head = self.head()?.ok_or(StoreError::NoCommits)?;
        let mut rows = self.commit_rows(&head)?;
        let before = rows.clone();
        edit(&mut rows)?;
        sort_by_id(&mut rows)?;
        let edits = edits_between(&before, &rows);
        if edits.is_empty() {
            return Ok(None);
        }
        self.commit_edits(head, edits, message).map(Some)
    }

    /// Add `rows` (ids new to the dataset) on top of HEAD as one commit, reading HEAD under
    /// the writer lock so that a commit made while the caller was reading its source is kept.
    /// `blobs` are the rows' payloads; those HEAD already holds are not written again.
    /// Returns the commit and how many blobs were written.
    pub fn add(
        &self,
        rows: Vec<Row>,
        blobs: &[&[u8]],
        message: &str,
    ) -> Result<(CommitId, usize), StoreError> {
        rows.iter().try_for_each(crate::limits::printable)?;
        let _lock = self.lock()?;
        let mut all = match self.head()? {
            Some(h) => self.commit_rows(&h)?,
            None => Vec::new(),
        };
        let ids: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
        if let Some(r) = rows.iter().find(|r| ids.contains(r.id.as_str())) {
            return Err(StoreError::Duplicate { id: r.id.clone() });
        }
        let fresh = fresh_blobs(&all, blobs);
        all.extend(rows);
        let commit = self.commit_full_locked(all, &fresh, message)?;
        Ok((commit, fresh.len()))
    }

    /// The rows with the given ids (absent ids are left out), reading only what it must:
    /// down a chain of patches (a loop, bounded by the chain's depth) to the full table.
    pub fn lookup(
        &self,
        table: &Table,
        ids: &[&str],
    ) -> Result<HashMap<ExampleId, Row>, StoreError> {
        let mut found = HashMap::new();
        let mut rest: Vec<&str> = ids.to_vec();
        let mut owned;
        let mut table = table;
        for _ in 0..=MAX_PATCH_DEPTH {
            let p = match table {
                Table::Full(t) => return self.lookup_full(t, &rest, found),
                Table::Patch(p) => p,
            };
            settle_edited(p, &mut rest, &mut found);
            if rest.is_empty() {
                return Ok(found);
            }
            owned = self.table_object(&p.base)?;
            table = &owned;
        }
        let base = match table {
            Table::Patch(p) => *p.base,
            Table::Full(_) => return Ok(found),
        };
        Err(too_deep(base))
    }

    fn lookup_full(
        &self,
        t: &crate::object::FullTable,
        ids: &[&str],
        mut found: HashMap<ExampleId, Row>,
    ) -> Result<HashMap<ExampleId, Row>, StoreError> {
        let mut by_chunk: HashMap<usize, Vec<&str>> = HashMap::new();
        for id in ids {
            let at = t.chunks.partition_point(|c| c.first.as_str() <= *id);
            if at > 0 {
                by_chunk.entry(at - 1).or_default().push(id);
            }
        }
        for (index, mut wanted) in by_chunk {
            let c = &t.chunks[index];
            let body = self.get(Kind::Chunk, &c.hash)?;
            wanted.sort_unstable();
            let rows = find_rows(&body, &wanted).map_err(|source| StoreError::Decode {
                hash: c.hash,
                source,
            })?;
            found.extend(rows.into_iter().map(|r| (r.id.clone(), r)));
        }
        Ok(found)
    }

    /// Commit `edits` (sorted by id) on top of the current branch's commit `parent`: as a patch
    /// of its table, or as a full table when the chain is long or the edit is large.
    pub(crate) fn commit_edits(
        &self,
        parent: CommitId,
        edits: Vec<Edit>,
        message: &str,
    ) -> Result<CommitId, StoreError> {
        let base = self.commit_object(&parent)?.table;
        let table = self.table_object(&base)?;
        let depth = match &table {
            Table::Full(_) => 1,
            Table::Patch(p) => p.depth + 1,
        };
        if depth > MAX_PATCH_DEPTH || edits.len() as u64 > table.rows() / 4 {
            let rows = apply_edits(self.rows(&table)?, &edits);
            return self.commit_full_locked(rows, &[], message);
        }
        let patch = Table::Patch(patch_of(base, &table, depth, edits));
        let table_hash = self.put(Kind::Table, &encode_table(&patch)?)?;
        self.write_commit(vec![parent], ObjectId(table_hash), message)
    }

    /// Apply `changes` as one commit on the current branch. Every id must exist. Returns None
    /// when nothing changes.
    pub fn apply(&self, message: &str, changes: &[Change]) -> Result<Option<CommitId>, StoreError> {
        let _lock = self.lock()?;
        let head = self.head()?.ok_or(StoreError::NoCommits)?;
        self.apply_locked(head, message, changes)
    }

    /// [`Store::apply`] on commit `head`, with the writer lock already held.
    pub(crate) fn apply_locked(
        &self,
        head: CommitId,
        message: &str,
        changes: &[Change],
    ) -> Result<Option<CommitId>, StoreError> {
        changes.iter().try_for_each(Change::check)?;
        let (ids, current) = self.changed_rows(&head, changes)?;
        let edits = edits_of(&ids, &current, changes);
        if edits.is_empty() {
            return Ok(None);
        }
        self.commit_edits(head, edits, message).map(Some)
    }

    /// The ids `changes` name (sorted, each once) and their rows at commit `head`; an id not
    /// in the dataset is an error naming it.
    pub(crate) fn changed_rows<'c>(
        &self,
        head: &CommitId,
        changes: &'c [Change],
    ) -> Result<(Vec<&'c str>, HashMap<ExampleId, Row>), StoreError> {
        let table = self.commit_table(head)?;
        let mut ids: Vec<&str> = changes.iter().map(Change::id).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = self.lookup(&table, &ids)?;
        match ids.iter().find(|id| !rows.contains_key(**id)) {
            Some(missing) => Err(StoreError::UnknownExample {
                id: (*missing).into(),
            }),
            None => Ok((ids, rows)),
        }
    }
}

/// Take the ids patch `p` edits out of `rest`: a row it adds or changes is found, one it
/// removes is absent, and its base cannot say otherwise.
fn settle_edited(p: &PatchTable, rest: &mut Vec<&str>, found: &mut HashMap<ExampleId, Row>) {
    rest.retain(|id| match p.edits.binary_search_by(|e| e.id().cmp(id)) {
        Ok(k) => {
            if let Edit::Add(r) | Edit::Change(_, r) = &p.edits[k] {
                found.insert(r.id.clone(), r.clone());
            }
            false
        }
        Err(_) => true,
    });
}

/// The blobs none of `rows` names yet, each once.
fn fresh_blobs<'b>(rows: &[Row], blobs: &[&'b [u8]]) -> Vec<&'b [u8]> {
    let mut known: HashSet<ContentHash> = rows.iter().map(|r| r.payload).collect();
    let fresh = blobs.iter().copied();
    fresh.filter(|b| known.insert(ContentHash::of(b))).collect()
}

/// A patch of `edits` over table `base` (which is `table`), `depth` patches from a full table.
fn patch_of(base: ObjectId, table: &Table, depth: u32, edits: Vec<Edit>) -> PatchTable {
    let adds = edits.iter().filter(|e| matches!(e, Edit::Add(_))).count() as u64;
    let removes = edits
        .iter()
        .filter(|e| matches!(e, Edit::Remove(_)))
        .count() as u64;
    PatchTable {
        base,
        depth,
        rows: table.rows() + adds - removes,
        packs: table.packs().to_vec(),
        edits,
    }
}

/// The edits that `changes` make to the `current` rows of `ids` (sorted); later changes of one
/// id win, and a change that leaves a row as it was is no edit.
fn edits_of(ids: &[&str], current: &HashMap<ExampleId, Row>, changes: &[Change]) -> Vec<Edit> {
    let mut after: HashMap<&str, Option<Row>> = HashMap::new();
    for c in changes {
        let now = (after.get(c.id()).cloned()).unwrap_or_else(|| current.get(c.id()).cloned());
        after.insert(c.id(), c.applied_to(now));
    }
    let mut edits: Vec<Edit> = Vec::new();
    for id in ids {
        let before = current.get(*id).cloned();
        match (before, after.remove(id).flatten()) {
            (Some(b), Some(a)) if a != b => edits.push(Edit::Change(b, a)),
            (Some(b), None) => edits.push(Edit::Remove(b)),
            _ => {}
        }
    }
    edits
}

/// The table hashes from `table` down its chain of patches to the full table.
pub fn chain(store: &Store, table: ObjectId) -> Result<Vec<(ObjectId, Table)>, StoreError> {
    let mut out = Vec::new();
    let mut next = Some(table);
    while let Some(h) = next {
        let t = store.table_object(&h)?;
        next = match &t {
            Table::Patch(p) => Some(p.base),
            Table::Full(_) => None,
        };
        out.push((h, t));
        if out.len() > MAX_PATCH_DEPTH as usize + 1 {
            return Err(too_deep(*h));
        }
    }
    Ok(out)
}

/// A chain of patches longer than [`MAX_PATCH_DEPTH`] allows, found at table `h`.
pub(crate) fn too_deep(h: ContentHash) -> StoreError {
    StoreError::Decode {
        hash: h,
        source: crate::object::DecodeError {
            kind: "table",
            offset: 0,
            message: format!(
                "patch chain longer than its depth allows (at most {MAX_PATCH_DEPTH})"
            ),
        },
    }
}
