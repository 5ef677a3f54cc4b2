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
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::fs::{failpoint, write_atomic};
use crate::hash::ContentHash;
use crate::object::{Edit, Kind, Table, decode_table, unframe};
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
    pub commit: ContentHash,
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
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StoreError::BadRef {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
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
    std::path::absolute(url)
        .map(|p| p.display().to_string())
        .map_err(|source| StoreError::Io {
            path: url.into(),
            source,
        })
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

/// Everything reachable from `roots`: commits, tables (down patch chains), chunks and packs.
pub fn reachable_from(
    store: &Store,
    roots: &[ContentHash],
) -> Result<Vec<ContentHash>, StoreError> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack = roots.to_vec();
    while let Some(h) = stack.pop() {
        if !seen.insert(h) {
            continue;
        }
        let commit = store.commit_object(&h)?;
        stack.extend(&commit.parents);
        for (th, table) in crate::tables::chain(store, commit.table)? {
            for o in table.packs().iter().copied().chain(std::iter::once(th)) {
                if seen.insert(o) {
                    order.push(o);
                }
            }
            if let Table::Full(t) = table {
                for c in t.chunks {
                    if seen.insert(c.hash) {
                        order.push(c.hash);
                    }
                }
            }
        }
        order.push(h);
    }
    Ok(order)
}

/// Push `branch` to the remote `name`: objects first, the remote ref last.
pub fn push(store: &Store, name: &str, branch: &str) -> Result<Transfer, RemoteError> {
    let url = store
        .remotes()?
        .get(name)
        .cloned()
        .ok_or_else(|| RemoteError::Config(format!("no remote named `{name}`")))?;
    let remote = open(&url, true)?;
    let commit = store.resolve(branch)?;
    let objects = reachable_from(store, &[commit])?;
    let fail = |e: object_store::Error| RemoteError::Transfer {
        remote: name.to_string(),
        message: e.to_string(),
    };
    let history: HashSet<ContentHash> = objects.iter().copied().collect();
    let ff = FastForward {
        remote: remote.as_ref(),
        name,
        branch,
        history: &history,
    };
    runtime()?.block_on(async {
        ff.check().await?;
        let present: HashSet<String> = remote
            .list(Some(&StorePath::from("objects")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(fail)?;
        let mut moved = Transfer {
            commit,
            objects: 0,
            bytes: 0,
        };
        remote
            .put(
                &StorePath::from("format"),
                PutPayload::from_static(b"anneal-store 1\n"),
            )
            .await
            .map_err(fail)?;
        for h in &objects {
            let path = object_path(h);
            if present.contains(path.as_ref()) {
                continue;
            }
            let bytes = std::fs::read(store.object_path(h)).map_err(|source| StoreError::Io {
                path: store.object_path(h),
                source,
            })?;
            if ContentHash::of(&bytes) != *h {
                return Err(StoreError::Corrupt {
                    path: store.object_path(h),
                    actual: ContentHash::of(&bytes),
                }
                .into());
            }
            failpoint::step("upload").map_err(|e| RemoteError::Transfer {
                remote: name.to_string(),
                message: e.to_string(),
            })?;
            moved.bytes += bytes.len() as u64;
            moved.objects += 1;
            remote
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(fail)?;
        }
        failpoint::step("upload ref").map_err(|e| RemoteError::Transfer {
            remote: name.to_string(),
            message: e.to_string(),
        })?;
        ff.check().await?;
        let r = StorePath::from(format!("refs/heads/{branch}"));
        remote
            .put(&r, PutPayload::from(format!("{commit}\n").into_bytes()))
            .await
            .map_err(fail)?;
        Ok(moved)
    })
}

/// A push may move a remote branch only forward: to a commit whose history holds the one the
/// remote branch names now (checked before uploading and again just before the ref is written).
struct FastForward<'a> {
    remote: &'a dyn ObjectStore,
    name: &'a str,
    branch: &'a str,
    history: &'a HashSet<ContentHash>,
}

impl FastForward<'_> {
    async fn check(&self) -> Result<(), RemoteError> {
        let Some(theirs) = read_remote_ref(self.remote, self.name, self.branch).await? else {
            return Ok(());
        };
        if self.history.contains(&theirs) {
            return Ok(());
        }
        Err(RemoteError::NotFastForward {
            remote: self.name.to_string(),
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

/// The commit `refs/heads/BRANCH` names on a remote (None if it has no such branch).
async fn read_remote_ref(
    remote: &dyn ObjectStore,
    name: &str,
    branch: &str,
) -> Result<Option<ContentHash>, RemoteError> {
    let r = StorePath::from(format!("refs/heads/{branch}"));
    let bad = |message: String| RemoteError::Transfer {
        remote: name.to_string(),
        message,
    };
    let got = match remote.get(&r).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    if got.meta.size > MAX_REF_BYTES as u64 {
        return Err(bad(format!(
            "ref {r} is {} bytes; a ref is a hash",
            got.meta.size
        )));
    }
    let text = got.bytes().await.map_err(|e| bad(e.to_string()))?;
    let commit = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    commit
        .map(Some)
        .ok_or_else(|| bad(format!("ref {r} is malformed")))
}

/// Fetch `branch` from the remote at `url` (named `name`) into the local store, and point
/// `refs/remotes/NAME/BRANCH` at it. Returns the commit.
pub fn fetch_url(
    store: &Store,
    name: &str,
    url: &str,
    branch: &str,
) -> Result<Transfer, RemoteError> {
    let remote = open(url, false)?;
    let fail = |e: object_store::Error| RemoteError::Transfer {
        remote: name.to_string(),
        message: e.to_string(),
    };
    // Under the writer lock, so `gc` cannot remove what is fetched before its ref is written.
    let _lock = store.lock()?;
    runtime()?.block_on(async {
        let commit = read_remote_ref(remote.as_ref(), name, branch)
            .await?
            .ok_or_else(|| RemoteError::Transfer {
                remote: name.to_string(),
                message: format!(
                    "the remote has no branch `{branch}` (refs/heads/{branch} not found)"
                ),
            })?;
        let mut moved = Transfer {
            commit,
            objects: 0,
            bytes: 0,
        };
        let mut stack = vec![(commit, Kind::Commit)];
        let mut seen = HashSet::new();
        while let Some((h, kind)) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            let local = store.object_path(&h);
            let bytes = if local.exists() {
                // Present: still walk it, since what it names may be missing (an earlier fetch
                // may have been cut short).
                std::fs::read(&local).map_err(|source| StoreError::Io {
                    path: local.clone(),
                    source,
                })?
            } else {
                failpoint::step("download").map_err(|e| RemoteError::Transfer {
                    remote: name.to_string(),
                    message: e.to_string(),
                })?;
                let got = remote.get(&object_path(&h)).await.map_err(fail)?;
                if got.meta.size > MAX_OBJECT_BYTES {
                    return Err(RemoteError::Transfer {
                        remote: name.to_string(),
                        message: format!(
                            "object {h} is {} bytes; no object is over {MAX_OBJECT_BYTES}",
                            got.meta.size
                        ),
                    });
                }
                let bytes = got.bytes().await.map_err(fail)?.to_vec();
                if ContentHash::of(&bytes) != h {
                    return Err(RemoteError::Corrupt {
                        remote: name.to_string(),
                        hash: h,
                    });
                }
                moved.objects += 1;
                moved.bytes += bytes.len() as u64;
                store.put_raw(&h, &bytes)?;
                bytes
            };
            stack.extend(children(kind, h, &bytes)?);
        }
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
                Ok(packs.chain([(p.base, Kind::Table)]).collect())
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
    let c: crate::object::Commit = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
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
    let parents = c.parents.iter().map(|p| (*p, Kind::Commit));
    Ok([(c.table, Kind::Table)]
        .into_iter()
        .chain(parents)
        .collect())
}

/// Fetch `branch` from the remote `name`.
pub fn fetch(store: &Store, name: &str, branch: &str) -> Result<Transfer, RemoteError> {
    let url = store
        .remotes()?
        .get(name)
        .cloned()
        .ok_or_else(|| RemoteError::Config(format!("no remote named `{name}`")))?;
    fetch_url(store, name, &url, branch)
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
        commit: ContentHash,
    ) -> Result<(), StoreError> {
        let path = self.root().join("refs/remotes").join(remote).join(branch);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write_atomic(&path, format!("{commit}\n").as_bytes())
            .map_err(|source| StoreError::Io { path, source })
    }

    /// The commit `refs/remotes/REMOTE/BRANCH` names.
    pub fn remote_ref(
        &self,
        remote: &str,
        branch: &str,
    ) -> Result<Option<ContentHash>, StoreError> {
        crate::store::read_hash_file(&self.root().join("refs/remotes").join(remote).join(branch))
    }

    /// Point the current branch at `commit` (it must be present), as after a clone.
    pub fn reset_branch(&self, commit: ContentHash, message: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        self.commit_object(&commit)?;
        let old = self.head()?;
        self.move_branch(old, commit, message)
    }
}
