//! Staged edits: `label --no-commit` and `remove --no-commit` collect changes in
//! `.anneal/index` instead of committing each; `commit -m MSG` applies them all as one commit,
//! `reset` drops them.
//!
//! The index is JSON (`{"format": 1, "base": COMMIT, "changes": [...]}`), rewritten atomically
//! under the writer lock. `base` is the commit the changes were staged on: if the branch has
//! moved since (another commit, a pull), committing is refused rather than applying the edits
//! to a dataset they were not checked against, and so is checking out another branch.

use serde::{Deserialize, Serialize};

use crate::fs::write_atomic;
use crate::hash::CommitId;
use crate::store::{Store, StoreError, bad_ref, io_err, read_optional};
use crate::tables::Change;

const INDEX_FORMAT: u32 = 1;

/// The staged changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// Encoding version (1).
    pub format: u32,
    /// The commit they were staged on (hex).
    pub base: String,
    /// The changes, in the order they were staged (later ones win).
    pub changes: Vec<Change>,
}

/// What dropping the index dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dropped {
    /// This many staged changes.
    Changes(usize),
    /// An index that could not be read (damaged, or from another version).
    Unreadable,
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.root().join("index")
    }

    /// The staged changes, if any.
    pub fn staged(&self) -> Result<Option<Staged>, StoreError> {
        let path = self.index_path();
        let Some(bytes) = read_optional(&path, std::fs::read)? else {
            return Ok(None);
        };
        let staged: Staged = serde_json::from_slice(&bytes)
            .map_err(|e| bad_ref(&path, format!("not a staged-changes index: {e}")))?;
        if staged.format != INDEX_FORMAT {
            let found = &staged.format;
            let message = format!("index format {found} (this anneal reads {INDEX_FORMAT})");
            return Err(bad_ref(&path, message));
        }
        Ok(Some(staged))
    }

    /// The staged changes, checked to be on the current commit.
    fn staged_on(&self, head: &CommitId) -> Result<Option<Staged>, StoreError> {
        let staged = self.staged()?;
        if let Some(s) = &staged
            && s.base != head.to_hex()
        {
            return Err(StoreError::StaleIndex {
                base: s.base.chars().take(12).collect(),
                head: head.short(),
            });
        }
        Ok(staged)
    }

    /// Add `changes` to the index (every id must be in the dataset at HEAD); returns all
    /// staged changes.
    pub fn stage(&self, changes: Vec<Change>) -> Result<Staged, StoreError> {
        changes.iter().try_for_each(Change::check)?;
        let _lock = self.lock()?;
        let head = self.head()?.ok_or(StoreError::NoCommits)?;
        self.changed_rows(&head, &changes)?;
        let mut staged = self.staged_on(&head)?.unwrap_or(Staged {
            format: INDEX_FORMAT,
            base: head.to_hex(),
            changes: Vec::new(),
        });
        staged.changes.extend(changes);
        self.write_index(&staged)?;
        Ok(staged)
    }

    fn write_index(&self, staged: &Staged) -> Result<(), StoreError> {
        let path = self.index_path();
        let body = serde_json::to_vec_pretty(staged).unwrap_or_default();
        write_atomic(&path, &body).map_err(|source| StoreError::Io { path, source })
    }

    /// Commit the staged changes as one commit and clear the index. Returns None when they
    /// change nothing (the index is cleared all the same); errors when nothing is staged.
    pub fn commit_staged(&self, message: &str) -> Result<Option<CommitId>, StoreError> {
        let _lock = self.lock()?;
        let head = self.head()?.ok_or(StoreError::NoCommits)?;
        let staged = self.staged_on(&head)?.ok_or(StoreError::NothingStaged)?;
        let commit = self.apply_locked(head, message, &staged.changes)?;
        self.clear_index()?;
        Ok(commit)
    }

    /// Drop the staged changes, even an index that can no longer be read.
    pub fn reset_staged(&self) -> Result<Dropped, StoreError> {
        let _lock = self.lock()?;
        let dropped = self.dropped();
        self.clear_index()?;
        Ok(dropped)
    }

    /// Move the current branch to commit `to` and drop the staged changes: the way back from
    /// a commit that should not have been made (the old commit stays in the store and in
    /// `logs/HEAD` until `gc`). Returns the commit the branch was at, if it could be read.
    pub fn reset_hard(&self, to: CommitId) -> Result<(Option<CommitId>, Dropped), StoreError> {
        let _lock = self.lock()?;
        self.commit_object(&to)?;
        let old = self.head().ok().flatten();
        let dropped = self.dropped();
        self.clear_index()?;
        self.move_branch(old, to, &format!("reset --hard {}", to.short()))?;
        Ok((old, dropped))
    }

    fn dropped(&self) -> Dropped {
        match self.staged() {
            Ok(s) => Dropped::Changes(s.map_or(0, |s| s.changes.len())),
            Err(_) => Dropped::Unreadable,
        }
    }

    fn clear_index(&self) -> Result<(), StoreError> {
        let path = self.index_path();
        if read_optional(&path, std::fs::remove_file)?.is_some() {
            crate::fs::sync_dir(self.root()).map_err(io_err(&path))?;
        }
        Ok(())
    }
}
