//! Remotes: push, fetch and clone through the `object_store` crate.
//!
//! A remote holds the same layout as `.anneal/` (`format`, `objects/ab/cdef…`,
//! `refs/heads/NAME`), so a folder remote is itself a store `fsck` can check. Transfers move
//! objects first and a ref last:
//!
//! - **push** uploads the objects the remote lacks, then writes the remote branch ref; a push
//!   cut short leaves the remote ref where it was.
//! - **fetch** downloads what is missing, verifying every object's hash before writing it
//!   (atomically) into the local store, then writes `refs/remotes/REMOTE/BRANCH`; a fetch cut
//!   short moves no local ref.
//!
//! So no ref ever points at missing objects (RELIABILITY.md, promise 3). Remote names and URLs
//! live in `.anneal/remotes.json`. URLs: a folder path, `file:///path`, or `s3://bucket/prefix`
//! (credentials, region and endpoint from the usual `AWS_*` variables; `AWS_ENDPOINT_URL` for
//! an S3-compatible server such as MinIO or moto, plain HTTP allowed there).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::fs::{failpoint, write_atomic};
use crate::graph::{ancestors, reachable_objects};
use crate::hash::{CommitId, ContentHash};
use crate::object::{Commit, Edit, Kind, Table, decode_table, unframe};
use crate::store::{Store, StoreError};

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed (network, permissions, a missing path).
    #[error("remote `{remote}`: {message}")]
    Transfer {
        /// Remote name or URL.
        remote: String,
        /// What failed.
        message: String,
    },
    /// No such remote, or a bad URL.
    #[error("{0}")]
    Config(String),
    /// The remote branch holds commits the push would drop.
    #[error(
        "remote `{remote}`: branch `{branch}` is at {theirs}, which is not in the history being pushed; pull (fetch and merge) first, then push"
    )]
    NotFastForward {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// The remote branch's commit (short).
        theirs: String,
    },
    /// The remote sent bytes that do not match their name.
    #[error("remote `{remote}`: object {hash} does not match its hash; nothing was written")]
    Corrupt {
        /// The remote.
        remote: String,
        /// The object.
        hash: ContentHash,
    },
}

/// What a push or fetch moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The commit the ref now names.
    pub commit: CommitId,
    /// Objects copied.
    pub objects: usize,
    /// Bytes copied.
    pub bytes: u64,
}

impl Store {
    fn remotes_path(&self) -> std::path::PathBuf {
        self.root().join("remotes.json")
    }

    /// Remote names and URLs.
    pub fn remotes(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let path = self.remotes_path();
        let Some(bytes) = crate::store::read_optional(&path, std::fs::read)? else {
            return Ok(BTreeMap::new());
        };
        serde_json::from_slice(&bytes).map_err(|e| crate::store::bad_ref(&path, e))
    }

    /// Add (or replace) a remote.
    pub fn add_remote(&self, name: &str, url: &str) -> Result<(), StoreError> {
        if !crate::store::valid_ref_name(name) || name.contains('/') {
            return Err(StoreError::BadRefName(name.into()));
        }
        let _lock = self.lock()?;
        let mut remotes = self.remotes()?;
        remotes.insert(name.to_string(), absolute_url(url)?);
        let path = self.remotes_path();
        let text = serde_json::to_vec_pretty(&remotes).unwrap_or_default();
        write_atomic(&path, &text).map_err(|source| StoreError::Io { path, source })
    }
}

/// A folder remote as an absolute path, so the remote means the same folder from wherever
/// anneal runs (`-C DIR` or not); other URLs as given.
fn absolute_url(url: &str) -> Result<String, StoreError> {
    if url.contains("://") {
        return Ok(url.to_string());
    }
    let absolute = std::path::absolute(url).map_err(crate::store::io_err(Path::new(url)))?;
    Ok(absolute.display().to_string())
}

/// Open the object store a URL names. A folder remote is created when `create` (a push) and
/// must exist otherwise (a fetch never leaves an empty folder behind).
pub fn open(url: &str, create: bool) -> Result<Arc<dyn ObjectStore>, RemoteError> {
    let path = if let Some(rest) = url.strip_prefix("file://") {
        rest.to_string()
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            let http = endpoint.starts_with("http://");
            builder = builder.with_endpoint(endpoint).with_allow_http(http);
        }
        let s3 = builder
            .build()
            .map_err(|e| RemoteError::Config(format!("{url}: {e}")))?;
        let store: Arc<dyn ObjectStore> = Arc::new(s3);
        return Ok(match prefix.trim_matches('/') {
            "" => store,
            p => Arc::new(object_store::prefix::PrefixStore::new(store, p.to_string())),
        });
    } else if url.contains("://") {
        return Err(RemoteError::Config(format!(
            "unsupported remote URL `{url}`: expected a folder path, file:///path or s3://bucket/prefix"
        )));
    } else {
        url.to_string()
    };
    if create {
        std::fs::create_dir_all(&path).map_err(|e| RemoteError::Config(format!("{path}: {e}")))?;
    }
    let fs = LocalFileSystem::new_with_prefix(&path)
        .map_err(|e| RemoteError::Config(format!("{path}: {e}")))?;
    Ok(Arc::new(fs))
}

fn runtime() -> Result<tokio::runtime::Runtime, RemoteError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RemoteError::Config(format!("could not start the I/O runtime: {e}")))
}

fn object_path(h: &ContentHash) -> StorePath {
    let hex = h.to_hex();
    StorePath::from(format!("objects/{}/{}", &hex[..2], &hex[2..]))
}

/// The URL of the remote `name`.
fn remote_url(store: &Store, name: &str) -> Result<String, RemoteError> {
    store
        .remotes()?
        .get(name)
        .cloned()
        .ok_or_else(|| RemoteError::Config(format!("no remote named `{name}`")))
}

/// Push `branch` to the remote `name`: objects first, the remote ref last.
pub fn push(store: &Store, name: &str, branch: &str) -> Result<Transfer, RemoteError> {
    let objects = open(&remote_url(store, name)?, true)?;
    let remote = Remote {
        objects: objects.as_ref(),
        name,
    };
    let commit = store.resolve(branch)?;
    let reachable = reachable_objects(store, &[commit])?;
    let ff = FastForward {
        remote: &remote,
        branch,
        history: &ancestors(store, commit)?,
    };
    runtime()?.block_on(async {
        ff.check().await?;
        let moved = remote.upload(store, commit, &reachable).await?;
        failpoint::step("upload ref").map_err(|e| remote.error(e))?;
        ff.check().await?;
        let r = StorePath::from(format!("refs/heads/{branch}"));
        let text = format!("{commit}\n").into_bytes();
        remote.put(&r, PutPayload::from(text)).await?;
        Ok(moved)
    })
}

/// A remote's object store, and its name for messages.
struct Remote<'a> {
    objects: &'a dyn ObjectStore,
    name: &'a str,
}

impl Remote<'_> {
    /// A transfer error naming this remote.
    fn error(&self, message: impl ToString) -> RemoteError {
        RemoteError::Transfer {
            remote: self.name.to_string(),
            message: message.to_string(),
        }
    }

    async fn put(&self, path: &StorePath, payload: PutPayload) -> Result<(), RemoteError> {
        self.objects
            .put(path, payload)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The paths under `objects/` the remote holds.
    async fn present(&self) -> Result<HashSet<String>, RemoteError> {
        self.objects
            .list(Some(&StorePath::from("objects")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.error(e))
    }

    /// Upload the format file and each of `objects` the remote lacks, in order.
    async fn upload(
        &self,
        store: &Store,
        commit: CommitId,
        objects: &[ContentHash],
    ) -> Result<Transfer, RemoteError> {
        let present = self.present().await?;
        let format = PutPayload::from_static(b"anneal-store 1\n");
        self.put(&StorePath::from("format"), format).await?;
        let mut moved = Transfer {
            commit,
            objects: 0,
            bytes: 0,
        };
        for h in objects {
            let path = object_path(h);
            if present.contains(path.as_ref()) {
                continue;
            }
            let bytes = read_verified(store, h)?;
            failpoint::step("upload").map_err(|e| self.error(e))?;
            moved.bytes += bytes.len() as u64;
            moved.objects += 1;
            self.put(&path, PutPayload::from(bytes)).await?;
        }
        Ok(moved)
    }
}

/// The bytes of a local object file, as they are.
fn read_local(store: &Store, h: &ContentHash) -> Result<Vec<u8>, StoreError> {
    let path = store.object_path(h);
    std::fs::read(&path).map_err(|source| StoreError::Io { path, source })
}

/// The bytes of a local object file, checked against its name.
fn read_verified(store: &Store, h: &ContentHash) -> Result<Vec<u8>, StoreError> {
    let bytes = read_local(store, h)?;
    let actual = ContentHash::of(&bytes);
    if actual != *h {
        let path = store.object_path(h);
        return Err(StoreError::Corrupt { path, actual });
    }
    Ok(bytes)
}

/// A push may move a remote branch only forward: to a commit whose history holds the one the
/// remote branch names now (checked before uploading and again just before the ref is written).
struct FastForward<'a> {
    remote: &'a Remote<'a>,
    branch: &'a str,
    history: &'a HashSet<CommitId>,
}

impl FastForward<'_> {
    async fn check(&self) -> Result<(), RemoteError> {
        let Some(theirs) = self.remote.read_ref(self.branch).await? else {
            return Ok(());
        };
        if self.history.contains(&theirs) {
            return Ok(());
        }
        Err(RemoteError::NotFastForward {
            remote: self.remote.name.to_string(),
            branch: self.branch.to_string(),
            theirs: theirs.short(),
        })
    }
}

/// The largest object a store writes: a pack of one payload of the largest size a row holds
/// (see [`crate::limits::MAX_PAYLOAD_BYTES`]), with its header.
const MAX_OBJECT_BYTES: u64 = crate::limits::MAX_PAYLOAD_BYTES as u64 + 4096;

/// The most bytes a ref file may hold (a hash and a newline, with room for spaces).
const MAX_REF_BYTES: usize = 128;

impl Remote<'_> {
    /// The commit `refs/heads/BRANCH` names on the remote (None if it has no such branch).
    async fn read_ref(&self, branch: &str) -> Result<Option<CommitId>, RemoteError> {
        let r = StorePath::from(format!("refs/heads/{branch}"));
        let got = match self.objects.get(&r).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        if got.meta.size > MAX_REF_BYTES as u64 {
            let size = got.meta.size;
            return Err(self.error(format!("ref {r} is {size} bytes; a ref is a hash")));
        }
        let text = got.bytes().await.map_err(|e| self.error(e))?;
        let commit = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        commit
            .map(Some)
            .ok_or_else(|| self.error(format!("ref {r} is malformed")))
    }

    /// Fetch `commit` and every object it reaches, each checked before its children are read.
    async fn fetch_reachable(
        &self,
        store: &Store,
        commit: CommitId,
    ) -> Result<Transfer, RemoteError> {
        let mut moved = Transfer {
            commit,
            objects: 0,
            bytes: 0,
        };
        let mut stack = vec![(commit.0, Kind::Commit)];
        let mut seen = HashSet::new();
        while let Some((h, kind)) = stack.pop() {
            if seen.insert(h) {
                let bytes = self.fetch_object(store, h, &mut moved).await?;
                stack.extend(children(kind, h, &bytes)?);
            }
        }
        Ok(moved)
    }

    /// Download object `h`, refusing one larger than any store writes or whose bytes do not
    /// match its name.
    async fn download(&self, h: ContentHash) -> Result<Vec<u8>, RemoteError> {
        failpoint::step("download").map_err(|e| self.error(e))?;
        let got = self
            .objects
            .get(&object_path(&h))
            .await
            .map_err(|e| self.error(e))?;
        if got.meta.size > MAX_OBJECT_BYTES {
            let size = got.meta.size;
            let message =
                format!("object {h} is {size} bytes; no object is over {MAX_OBJECT_BYTES}");
            return Err(self.error(message));
        }
        let bytes = got.bytes().await.map_err(|e| self.error(e))?.to_vec();
        if ContentHash::of(&bytes) != h {
            return Err(RemoteError::Corrupt {
                remote: self.name.to_string(),
                hash: h,
            });
        }
        Ok(bytes)
    }

    /// The bytes of object `h`: the local copy when present (still walked, since what it names
    /// may be missing: an earlier fetch may have been cut short), else downloaded and written.
    async fn fetch_object(
        &self,
        store: &Store,
        h: ContentHash,
        moved: &mut Transfer,
    ) -> Result<Vec<u8>, RemoteError> {
        if store.object_path(&h).exists() {
            return Ok(read_local(store, &h)?);
        }
        let bytes = self.download(h).await?;
        moved.objects += 1;
        moved.bytes += bytes.len() as u64;
        store.put_raw(&h, &bytes)?;
        Ok(bytes)
    }
}

/// Fetch `branch` from the remote at `url` (named `name`) into the local store, and point
/// `refs/remotes/NAME/BRANCH` at it. Returns the commit.
pub fn fetch_url(
    store: &Store,
    name: &str,
    url: &str,
    branch: &str,
) -> Result<Transfer, RemoteError> {
    let objects = open(url, false)?;
    let remote = Remote {
        objects: objects.as_ref(),
        name,
    };
    // Under the writer lock, so `gc` cannot remove what is fetched before its ref is written.
    let _lock = store.lock()?;
    runtime()?.block_on(async {
        let commit = remote.read_ref(branch).await?.ok_or_else(|| {
            remote.error(format!(
                "the remote has no branch `{branch}` (refs/heads/{branch} not found)"
            ))
        })?;
        let moved = remote.fetch_reachable(store, commit).await?;
        store.set_remote_ref(name, branch, commit)?;
        Ok(moved)
    })
}

/// The objects a fetched object names, after checking that it decodes and that every row and
/// commit message in it is text the store would have accepted (see [`crate::limits`]), so a
/// remote cannot plant what a local verb refuses.
fn children(
    kind: Kind,
    h: ContentHash,
    bytes: &[u8],
) -> Result<Vec<(ContentHash, Kind)>, StoreError> {
    let decode = |source| StoreError::Decode { hash: h, source };
    let body = unframe(kind, bytes).map_err(decode)?;
    match kind {
        Kind::Commit => commit_children(h, body),
        Kind::Table => match decode_table(body).map_err(decode)? {
            Table::Full(t) => Ok(t
                .packs
                .iter()
                .map(|p| (*p, Kind::Pack))
                .chain(t.chunks.iter().map(|c| (c.hash, Kind::Chunk)))
                .collect()),
            Table::Patch(p) => {
                for e in &p.edits {
                    if let Edit::Add(r) | Edit::Change(_, r) = e {
                        crate::limits::printable(r)?;
                    }
                }
                let packs = p.packs.iter().map(|p| (*p, Kind::Pack));
                Ok(packs.chain([(*p.base, Kind::Table)]).collect())
            }
        },
        Kind::Chunk => {
            let rows = crate::object::decode_chunk(body).map_err(decode)?;
            rows.iter().try_for_each(crate::limits::printable)?;
            Ok(Vec::new())
        }
        Kind::Pack => Ok(Vec::new()),
    }
}

fn commit_children(h: ContentHash, body: &[u8]) -> Result<Vec<(ContentHash, Kind)>, StoreError> {
    let bad = |message: String| StoreError::Decode {
        hash: h,
        source: crate::object::DecodeError {
            kind: "commit",
            offset: 0,
            message,
        },
    };
    let c = Commit::decode(body).map_err(|source| StoreError::Decode { hash: h, source })?;
    if let Some(ch) = c
        .message
        .chars()
        .chain(c.author.chars())
        .find(|ch| crate::limits::is_control(*ch) && *ch != '\n' && *ch != '\t')
    {
        return Err(bad(format!(
            "message or author holds the control character U+{:04X}",
            u32::from(ch)
        )));
    }
    let parents = c.parents.iter().map(|p| (p.0, Kind::Commit));
    Ok([(c.table.0, Kind::Table)]
        .into_iter()
        .chain(parents)
        .collect())
}

/// Fetch `branch` from the remote `name`.
pub fn fetch(store: &Store, name: &str, branch: &str) -> Result<Transfer, RemoteError> {
    fetch_url(store, name, &remote_url(store, name)?, branch)
}

impl Store {
    /// Write an object whose bytes were verified against `h` (atomically).
    pub fn put_raw(&self, h: &ContentHash, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.object_path(h);
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            crate::fs::create_dir_durable(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write_atomic(&path, bytes).map_err(|source| StoreError::Io { path, source })
    }

    /// Point `refs/remotes/REMOTE/BRANCH` at `commit`.
    pub fn set_remote_ref(
        &self,
        remote: &str,
        branch: &str,
        commit: CommitId,
    ) -> Result<(), StoreError> {
        let path = self.root().join("refs/remotes").join(remote).join(branch);
        crate::store::write_ref(&path, commit)
    }

    /// The commit `refs/remotes/REMOTE/BRANCH` names.
    pub fn remote_ref(&self, remote: &str, branch: &str) -> Result<Option<CommitId>, StoreError> {
        crate::store::read_hash_file(&self.root().join("refs/remotes").join(remote).join(branch))
    }

    /// Point the current branch at `commit` (it must be present), as after a clone.
    pub fn reset_branch(&self, commit: CommitId, message: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        self.commit_object(&commit)?;
        let old = self.head()?;
        self.move_branch(old, commit, message)
    }
}
