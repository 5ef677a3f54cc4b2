//! Branches, tags, checkout and revision names.
//!
//! `refs/heads/NAME` and `refs/tags/NAME` each hold a commit hash; `HEAD` names the current
//! branch. Every ref write is atomic. A revision is `HEAD`, a branch, a tag, a full commit hash
//! or a unique prefix of at least 4 hex digits.

use std::path::PathBuf;

use crate::fs::write_atomic;
use crate::hash::{CommitId, ContentHash};
use crate::object::Kind;
use crate::store::{Store, StoreError, read_hash_file, valid_ref_name, write_ref};

impl Store {
    fn ref_path(&self, kind: &str, name: &str) -> Result<PathBuf, StoreError> {
        if !valid_ref_name(name) || name.ends_with('/') || name.contains("//") {
            return Err(StoreError::BadRefName(name.chars().take(80).collect()));
        }
        Ok(self.root().join("refs").join(kind).join(name))
    }

    fn read_ref(&self, kind: &str, name: &str) -> Result<Option<CommitId>, StoreError> {
        read_hash_file(&self.ref_path(kind, name)?)
    }

    fn list_refs(&self, kind: &str) -> Result<Vec<(String, CommitId)>, StoreError> {
        let mut out = Vec::new();
        for (name, path) in self.ref_files(kind) {
            if let Some(h) = read_hash_file(&path)? {
                out.push((name, h));
            }
        }
        Ok(out)
    }

    /// The ref files of `kind` (`heads` or `tags`) with their names, sorted; links and temp
    /// files of interrupted writes are skipped, and folders are walked without following links.
    pub fn ref_files(&self, kind: &str) -> Vec<(String, PathBuf)> {
        let dir = self.root().join("refs").join(kind);
        let mut out = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                let name = path
                    .strip_prefix(&dir)
                    .map(|r| r.to_string_lossy().into_owned());
                match (entry.file_type(), name) {
                    (Ok(k), _) if k.is_dir() => stack.push(path),
                    (Ok(k), Ok(n)) if k.is_file() && !hidden => out.push((n, path)),
                    _ => {}
                }
            }
        }
        out.sort();
        out
    }

    /// Branches and the commits they point at.
    pub fn branches(&self) -> Result<Vec<(String, CommitId)>, StoreError> {
        self.list_refs("heads")
    }

    /// Tags and the commits they point at.
    pub fn tags(&self) -> Result<Vec<(String, CommitId)>, StoreError> {
        self.list_refs("tags")
    }

    fn create_ref(&self, kind: &'static str, name: &str, at: CommitId) -> Result<(), StoreError> {
        let path = self.ref_path(kind, name)?;
        if path.exists() {
            return Err(StoreError::RefExists {
                kind: if kind == "heads" { "branch" } else { "tag" },
                name: name.into(),
            });
        }
        self.commit_object(&at)?;
        write_ref(&path, at)
    }

    fn create_at_head(
        &self,
        kind: &'static str,
        name: &str,
        at: Option<CommitId>,
    ) -> Result<CommitId, StoreError> {
        let at = match at {
            Some(h) => h,
            None => self.head()?.ok_or(StoreError::NoCommits)?,
        };
        self.create_ref(kind, name, at)?;
        Ok(at)
    }

    /// Create branch `name` at `at` (default HEAD).
    pub fn create_branch(&self, name: &str, at: Option<CommitId>) -> Result<CommitId, StoreError> {
        self.create_at_head("heads", name, at)
    }

    /// Create tag `name` at `at` (default HEAD).
    pub fn create_tag(&self, name: &str, at: Option<CommitId>) -> Result<CommitId, StoreError> {
        self.create_at_head("tags", name, at)
    }

    /// Make `name` the current branch.
    pub fn checkout(&self, name: &str) -> Result<CommitId, StoreError> {
        let _lock = self.lock()?;
        if self.staged()?.is_some() {
            return Err(StoreError::Staged {
                action: "check out another branch",
            });
        }
        let at = self
            .read_ref("heads", name)?
            .ok_or_else(|| StoreError::UnknownRevision(name.into()))?;
        let path = self.root().join("HEAD");
        write_atomic(&path, format!("ref: refs/heads/{name}\n").as_bytes())
            .map_err(|source| StoreError::Io { path, source })?;
        Ok(at)
    }

    /// The commit a branch, tag or remote-tracking branch (`REMOTE/BRANCH`) of that name
    /// names, in that order.
    fn named(&self, rev: &str) -> Result<Option<CommitId>, StoreError> {
        if let Some(h) = self.read_ref("heads", rev)? {
            return Ok(Some(h));
        }
        if let Some(h) = self.read_ref("tags", rev)? {
            return Ok(Some(h));
        }
        match rev.split_once('/') {
            Some((remote, branch)) => self.remote_ref(remote, branch),
            None => Ok(None),
        }
    }

    /// The commits whose hash starts with `prefix` (4 to 63 lowercase hex digits).
    fn commits_prefixed(&self, prefix: &str) -> Vec<CommitId> {
        let dir = self.root().join("objects").join(&prefix[..2]);
        let mut found = Vec::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = format!("{}{}", &prefix[..2], e.file_name().to_string_lossy());
            if name.starts_with(prefix)
                && let Ok(h) = name.parse::<ContentHash>()
                && self.get(Kind::Commit, &h).is_ok()
            {
                found.push(CommitId(h));
            }
        }
        found
    }

    /// The commit a revision names.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, StoreError> {
        if rev == "HEAD" {
            return self.head()?.ok_or(StoreError::NoCommits);
        }
        if valid_ref_name(rev)
            && let Some(h) = self.named(rev)?
        {
            return Ok(h);
        }
        if let Ok(h) = rev.parse::<CommitId>() {
            self.commit_object(&h)
                .map_err(|_| StoreError::UnknownRevision(rev.into()))?;
            return Ok(h);
        }
        if !is_hex_prefix(rev) {
            return Err(StoreError::UnknownRevision(rev.chars().take(80).collect()));
        }
        let found = self.commits_prefixed(rev);
        match found.as_slice() {
            [h] => Ok(*h),
            [] => Err(StoreError::UnknownRevision(rev.into())),
            _ => Err(StoreError::AmbiguousRevision(rev.into())),
        }
    }
}

/// 4 to 63 lowercase hex digits: what may name a commit by the start of its hash.
fn is_hex_prefix(rev: &str) -> bool {
    (4..64).contains(&rev.len())
        && rev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
