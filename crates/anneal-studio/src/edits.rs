//! Label edits from the studio, all through the store (so `anneal data log`, `status` and
//! `diff` show them, and its writer lock keeps concurrent writers from losing edits):
//!
//! - `POST /api/stage {"id", "label"}`: stage one edit in `.anneal/index` (the keyboard path).
//! - `POST /api/commit`: commit what is staged, as `studio: relabel N examples (7 -> 1 ×2, …)`.
//!   If the branch moved meanwhile (a CLI commit), the staged edits are staged again on the
//!   new commit and committed there: an edit is "set this label", so none is lost.
//! - `POST /api/discard`: drop what is staged.
//! - `POST /api/keep {"id", "label"}`: the mislabel queue's "this label is right".
//! - `POST /api/bulk {"ids", "label"}`: label many examples at once, as one commit (with what
//!   was staged, if anything was).

use std::collections::BTreeMap;

use anneal_data::tables::Change;
use anneal_data::{ExampleId, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::StudioError;
use crate::index::NONE;
use crate::state::Studio;

/// One label edit.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelEdit {
    /// The example.
    pub id: String,
    /// The new label; null for the unlabeled pool.
    pub label: Option<String>,
}

/// Many examples given one label.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkEdit {
    /// The examples.
    pub ids: Vec<String>,
    /// Their new label; null for the unlabeled pool.
    pub label: Option<String>,
}

/// What an edit request did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Edits staged now.
    pub staged: usize,
    /// The commit made, if any (hex).
    pub commit: Option<String>,
    /// Its message.
    pub message: String,
}

impl Studio {
    /// Refuse an edit to an unknown example or to a label that is not a class.
    fn check_edit(&self, ids: &[String], label: Option<&str>) -> Result<Vec<Change>, StudioError> {
        let index = self.index();
        if let Some(missing) = ids.iter().find(|id| index.position(id).is_none()) {
            return Err(StudioError::UnknownExample(missing.clone()));
        }
        if let Some(l) = label
            && !index.classes.is_empty()
            && !index.classes.iter().any(|c| c == l)
        {
            return Err(StudioError::BadRequest(format!(
                "`{l}` is not one of the program's classes"
            )));
        }
        let change = |id: &String| Change::Label {
            id: ExampleId::from(id.as_str()),
            label: label.map(str::to_string),
        };
        Ok(ids.iter().map(change).collect())
    }

    /// Stage one label edit.
    pub async fn stage(&self, edit: LabelEdit) -> Result<Outcome, StudioError> {
        let changes = self.check_edit(&[edit.id], edit.label.as_deref())?;
        let store = self.store().clone();
        let staged = tokio::task::spawn_blocking(move || store.stage(changes)).await??;
        Ok(Outcome {
            staged: staged.changes.len(),
            ..Outcome::default()
        })
    }

    /// Commit the staged edits.
    pub async fn commit(&self) -> Result<Outcome, StudioError> {
        let staged = self.store().staged()?.ok_or(StoreError::NothingStaged)?;
        let message = self.message(&staged.changes);
        let (store, m) = (self.store().clone(), message.clone());
        let commit = tokio::task::spawn_blocking(move || match store.commit_staged(&m) {
            Err(StoreError::StaleIndex { .. }) => {
                store.reset_staged()?;
                store.stage(staged.changes)?;
                store.commit_staged(&m)
            }
            other => other,
        });
        let commit = commit.await??;
        Ok(Outcome {
            commit: commit.map(|c| c.to_hex()),
            message,
            staged: 0,
        })
    }

    /// Remember that example `id`'s label `label` was reviewed and is right (the mislabel
    /// queue leaves it out from then on).
    pub async fn keep(&self, edit: LabelEdit) -> Result<Outcome, StudioError> {
        let label = edit
            .label
            .ok_or_else(|| StudioError::BadRequest("keep needs a label".into()))?;
        self.check_edit(std::slice::from_ref(&edit.id), Some(&label))?;
        let dir = self.dir().to_path_buf();
        let pair = [(ExampleId::from(edit.id.as_str()), label)];
        let keep = move || anneal_build::queue::Kept::keep(&dir, &pair).map_err(StudioError::from);
        tokio::task::spawn_blocking(keep).await??;
        Ok(Outcome::default())
    }

    /// Drop the staged edits.
    pub async fn discard(&self) -> Result<Outcome, StudioError> {
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || store.reset_staged()).await??;
        Ok(Outcome::default())
    }

    /// Give many examples one label, as one commit.
    pub async fn bulk(&self, edit: BulkEdit) -> Result<Outcome, StudioError> {
        let changes = self.check_edit(&edit.ids, edit.label.as_deref())?;
        if self.store().staged()?.is_some() {
            let store = self.store().clone();
            tokio::task::spawn_blocking(move || store.stage(changes)).await??;
            return self.commit().await;
        }
        let message = self.message(&changes);
        let (store, m) = (self.store().clone(), message.clone());
        let commit = tokio::task::spawn_blocking(move || store.apply(&m, &changes)).await??;
        Ok(Outcome {
            commit: commit.map(|c| c.to_hex()),
            message,
            staged: 0,
        })
    }

    /// `studio: relabel 3 examples (7 -> 1 ×2, 3 -> 5)`: the label moves, most common first.
    fn message(&self, changes: &[Change]) -> String {
        let index = self.index();
        let mut last: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for c in changes {
            if let Change::Label { id, label } = c {
                last.insert(id.as_str(), label.as_deref());
            }
        }
        let mut moves: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (id, label) in &last {
            let before = index.position(id).map_or(NONE, |p| index.items[p].label);
            let before = shown(Some(index.labels.name(before)).filter(|_| before != NONE));
            *moves.entry((before, shown(*label))).or_default() += 1;
        }
        summary(last.len(), moves)
    }
}

fn shown(label: Option<&str>) -> String {
    label.map_or_else(|| "(none)".to_string(), str::to_string)
}

fn summary(n: usize, moves: BTreeMap<(String, String), usize>) -> String {
    let mut moves: Vec<_> = moves.into_iter().collect();
    moves.sort_by_key(|m| std::cmp::Reverse(m.1));
    let parts: Vec<String> = moves
        .iter()
        .take(6)
        .map(|((a, b), k)| {
            if *k > 1 {
                format!("{a} -> {b} ×{k}")
            } else {
                format!("{a} -> {b}")
            }
        })
        .collect();
    let more = if moves.len() > 6 { ", …" } else { "" };
    let noun = if n == 1 { "example" } else { "examples" };
    format!("studio: relabel {n} {noun} ({}{more})", parts.join(", "))
}
