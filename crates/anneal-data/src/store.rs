//! The dataset store: a `.anneal/` folder beside `anneal.toml`.
//!
//! ```text
//! .anneal/
//!   format                 "anneal-store 1"
//!   HEAD                   "ref: refs/heads/main"
//!   refs/heads/NAME        the branch's commit hash (hex)
//!   logs/HEAD              one line per ref move: old new unix-time message
//!   objects/ab/cdef…       immutable objects, named by the BLAKE3 of their bytes
//!   lock                   held (advisory lock) while a writer runs
//! ```
//!
//! A commit writes its objects first and moves the branch ref last (atomically), so an
//! interrupted commit leaves HEAD where it was. Reads verify every object's hash.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fs::{append_line, create_dir_durable, write_atomic};
use crate::hash::{CommitId, ContentHash, ObjectId};
use crate::object::{
    ChunkRef, Commit, DecodeError, ExampleId, FullTable, Kind, Row, Table, chunk_rows,
    decode_chunk, decode_table, encode_chunk, encode_pack, encode_table, frame, unframe,
};

/// The store folder's name.
pub const STORE_DIR: &str = ".anneal";
const FORMAT_LINE: &str = "anneal-store 1";
/// Largest pack written (payload bytes); bigger imports are split across packs.
const MAX_PACK_BYTES: usize = 256 << 20;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// There is no store in the folder.
    #[error("no dataset store in {dir} (no `.anneal/` folder)")]
    NoStore {
        /// The program folder.
        dir: PathBuf,
    },
    /// The store was written by an incompatible version.
    #[error("{path}: unsupported store format `{found}` (this anneal reads `{FORMAT_LINE}`)")]
    Format {
        /// The format file.
        path: PathBuf,
        /// What it says.
        found: String,
    },
    /// An object is absent.
    #[error("object {hash} is missing from {path}")]
    Missing {
        /// The object.
        hash: ContentHash,
        /// Where it should be.
        path: PathBuf,
    },
    /// An object's bytes do not match its name.
    #[error("object {path} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The object file.
        path: PathBuf,
        /// The hash of what is there.
        actual: ContentHash,
    },
    /// An object decoded badly.
    #[error("object {hash}: {source}")]
    Decode {
        /// The object.
        hash: ContentHash,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// A ref or HEAD file is malformed.
    #[error("{path}: {message}")]
    BadRef {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Two examples with one id.
    #[error("example `{id}` already exists in the dataset")]
    Duplicate {
        /// The id.
        id: ExampleId,
    },
    /// A revision names no commit.
    #[error(
        "unknown revision `{0}`: expected HEAD, a branch, a tag or a commit hash (or a unique prefix of 4+ hex digits)"
    )]
    UnknownRevision(String),
    /// A hash prefix matches several commits.
    #[error("revision `{0}` is ambiguous: it prefixes several objects")]
    AmbiguousRevision(String),
    /// A branch or tag name is not valid.
    #[error("invalid ref name `{0}`: use letters, digits, `-`, `_`, `.` and `/`")]
    BadRefName(String),
    /// A branch or tag already exists.
    #[error("{kind} `{name}` already exists")]
    RefExists {
        /// `branch` or `tag`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The store has no commit yet.
    #[error("the dataset has no commits yet")]
    NoCommits,
    /// An example id is not in the dataset.
    #[error("no example `{id}` in the dataset")]
    UnknownExample {
        /// The id.
        id: ExampleId,
    },
    /// A row the encoding cannot hold, or text that would not print as itself.
    #[error(transparent)]
    Row(#[from] crate::limits::RowError),
    /// Staged changes were made on another commit than the branch's.
    #[error("the changes in the index were staged on {base}, but the branch is now at {head}")]
    StaleIndex {
        /// The commit they were staged on (short).
        base: String,
        /// The branch's commit (short).
        head: String,
    },
    /// `commit` with nothing staged.
    #[error("nothing staged to commit")]
    NothingStaged,
    /// An action that staged changes would be lost or overtaken by.
    #[error("changes are staged in the index: cannot {action} before they are committed")]
    Staged {
        /// What was refused.
        action: &'static str,
    },
    /// A payload named by a row is in none of the table's packs.
    #[error("example `{id}`: payload {payload} is in none of the dataset's packs")]
    DanglingPayload {
        /// The example.
        id: ExampleId,
        /// Its payload.
        payload: ContentHash,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A ref-like file (a ref, HEAD, the remotes, the index) at `path` that does not read as one.
pub(crate) fn bad_ref(path: &Path, message: impl ToString) -> StoreError {
    let (path, message) = (path.to_path_buf(), message.to_string());
    StoreError::BadRef { path, message }
}

/// `read(path)` (or any other operation on the file), or None when the file does not exist.
pub(crate) fn read_optional<'p, T>(
    path: &'p Path,
    read: impl FnOnce(&'p Path) -> io::Result<T>,
) -> Result<Option<T>, StoreError> {
    match read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// An open store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store folder for a program folder.
    pub fn path_in(program_dir: &Path) -> PathBuf {
        program_dir.join(STORE_DIR)
    }

    /// Open the store of `program_dir`.
    pub fn open(program_dir: &Path) -> Result<Store, StoreError> {
        let root = Self::path_in(program_dir);
        let format = root.join("format");
        let Some(text) = read_optional(&format, fs::read_to_string)? else {
            let dir = program_dir.to_path_buf();
            return Err(StoreError::NoStore { dir });
        };
        if text.trim() != FORMAT_LINE {
            return Err(StoreError::Format {
                path: format,
                found: text.trim().chars().take(60).collect(),
            });
        }
        Ok(Store { root })
    }

    /// Create an empty store in `program_dir` (built in a temporary folder and renamed into
    /// place, so a store is either complete or absent). Opens it if it already exists.
    pub fn init(program_dir: &Path) -> Result<Store, StoreError> {
        let root = Self::path_in(program_dir);
        if root.join("format").exists() {
            return Self::open(program_dir);
        }
        let tmp = program_dir.join(format!(".anneal.init-{}", std::process::id()));
        if let Err(e) = write_empty(program_dir, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err(&root)(e));
        }
        Ok(Store { root })
    }

    /// The `.anneal/` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file an object lives in.
    pub fn object_path(&self, h: &ContentHash) -> PathBuf {
        let hex = h.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// Store an object (no-op if present); returns its hash.
    pub fn put(&self, kind: Kind, body: &[u8]) -> Result<ContentHash, StoreError> {
        let bytes = frame(kind, body);
        let h = ContentHash::of(&bytes);
        let path = self.object_path(&h);
        if !path.exists() {
            let dir = path.parent().unwrap_or(&self.root);
            if !dir.exists() {
                create_dir_durable(dir).map_err(io_err(dir))?;
            }
            write_atomic(&path, &bytes).map_err(io_err(&path))?;
        }
        Ok(h)
    }

    /// Read an object, verify its hash and kind, and return its body.
    pub fn get(&self, kind: Kind, h: &ContentHash) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(h);
        let Some(mut bytes) = read_optional(&path, fs::read)? else {
            return Err(StoreError::Missing { hash: *h, path });
        };
        let actual = ContentHash::of(&bytes);
        if actual != *h {
            return Err(StoreError::Corrupt { path, actual });
        }
        unframe(kind, &bytes).map_err(|source| StoreError::Decode { hash: *h, source })?;
        bytes.drain(..6);
        Ok(bytes)
    }

    /// The current branch name.
    pub fn branch(&self) -> Result<String, StoreError> {
        let path = self.root.join("HEAD");
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        text.trim()
            .strip_prefix("ref: refs/heads/")
            .filter(|b| valid_ref_name(b))
            .map(str::to_string)
            .ok_or_else(|| {
                bad_ref(
                    &path,
                    format!("expected `ref: refs/heads/NAME`, found `{}`", text.trim()),
                )
            })
    }

    /// The commit the current branch points at (None before the first commit).
    pub fn head(&self) -> Result<Option<CommitId>, StoreError> {
        read_hash_file(&self.root.join("refs/heads").join(self.branch()?))
    }

    /// Read a commit.
    pub fn commit_object(&self, h: &CommitId) -> Result<Commit, StoreError> {
        let body = self.get(Kind::Commit, h)?;
        Commit::decode(&body).map_err(|source| StoreError::Decode { hash: h.0, source })
    }

    /// Read the table of a commit.
    pub fn table(&self, commit: &Commit) -> Result<Table, StoreError> {
        self.table_object(&commit.table)
    }

    /// Read the table of commit `commit`.
    pub fn commit_table(&self, commit: &CommitId) -> Result<Table, StoreError> {
        self.table(&self.commit_object(commit)?)
    }

    /// Read a table object.
    pub fn table_object(&self, th: &ObjectId) -> Result<Table, StoreError> {
        let body = self.get(Kind::Table, th)?;
        decode_table(&body).map_err(|source| StoreError::Decode { hash: th.0, source })
    }

    /// Read and check one chunk of a full table.
    pub fn chunk(&self, c: &ChunkRef) -> Result<Vec<Row>, StoreError> {
        let body = self.get(Kind::Chunk, &c.hash)?;
        let decode = |source| StoreError::Decode {
            hash: c.hash,
            source,
        };
        let rows = decode_chunk(&body).map_err(decode)?;
        check_chunk(c, &rows).map_err(|message| {
            decode(DecodeError {
                kind: "chunk",
                offset: 6,
                message,
            })
        })?;
        Ok(rows)
    }

    /// Hold the store's writer lock (advisory; released when the guard drops or the process
    /// dies).
    pub fn lock(&self) -> Result<std::fs::File, StoreError> {
        let lock_path = self.root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        Ok(lock)
    }

    /// Commit `rows` (any order; ids must be unique) on the current branch. `new_blobs` are
    /// payloads not yet in the parent's packs; they are written to new packs.
    pub fn commit(
        &self,
        rows: Vec<Row>,
        new_blobs: &[&[u8]],
        message: &str,
    ) -> Result<CommitId, StoreError> {
        let _lock = self.lock()?;
        self.commit_full_locked(rows, new_blobs, message)
    }

    pub(crate) fn commit_full_locked(
        &self,
        mut rows: Vec<Row>,
        new_blobs: &[&[u8]],
        message: &str,
    ) -> Result<CommitId, StoreError> {
        let parent = self.head()?;
        let mut packs = match &parent {
            Some(p) => self.commit_table(p)?.packs().to_vec(),
            None => Vec::new(),
        };
        sort_by_id(&mut rows)?;
        packs.extend(self.write_packs(new_blobs)?);
        self.write_full(parent.into_iter().collect(), rows, packs, message)
    }

    /// Write `blobs` as packs of up to [`MAX_PACK_BYTES`] each; a blob larger than a row may
    /// name is refused before anything is written.
    fn write_packs(&self, blobs: &[&[u8]]) -> Result<Vec<ContentHash>, StoreError> {
        if let Some(b) = blobs
            .iter()
            .find(|b| b.len() > crate::limits::MAX_PAYLOAD_BYTES)
        {
            let id = format!("(payload {})", ContentHash::of(b).short());
            crate::limits::check_payload(&id, b.len())?;
        }
        let put = |group| self.put(Kind::Pack, &encode_pack(group).0);
        pack_groups(blobs).into_iter().map(put).collect()
    }

    /// Write `rows` (sorted, unique ids) as a full table whose payloads are in `packs`, and
    /// commit it with `parents` (the first is the current branch's commit).
    pub(crate) fn write_full(
        &self,
        parents: Vec<CommitId>,
        rows: Vec<Row>,
        mut packs: Vec<ContentHash>,
        message: &str,
    ) -> Result<CommitId, StoreError> {
        rows.iter().try_for_each(crate::limits::encodable)?;
        let mut seen = HashSet::new();
        packs.retain(|p| seen.insert(*p));
        let table = Table::Full(FullTable {
            rows: rows.len() as u64,
            chunks: self.write_chunks(&rows)?,
            packs,
        });
        let table_hash = self.put(Kind::Table, &encode_table(&table)?)?;
        self.write_commit(parents, ObjectId(table_hash), message)
    }

    /// Write `rows` (sorted) as chunks cut at content-defined boundaries.
    fn write_chunks(&self, rows: &[Row]) -> Result<Vec<ChunkRef>, StoreError> {
        let write = |c: &[Row]| {
            Ok(ChunkRef {
                hash: self.put(Kind::Chunk, &encode_chunk(c)?)?,
                rows: c.len() as u32,
                first: c[0].id.clone(),
            })
        };
        chunk_rows(rows).into_iter().map(write).collect()
    }

    /// Write a commit of `table` on the current branch and move the branch to it.
    pub(crate) fn write_commit(
        &self,
        parents: Vec<CommitId>,
        table: ObjectId,
        message: &str,
    ) -> Result<CommitId, StoreError> {
        let parent = parents.first().copied();
        let commit = Commit {
            format: 1,
            table,
            parents,
            author: author(),
            time: commit_time(),
            message: message.to_string(),
        };
        let body = serde_json::to_vec_pretty(&commit).unwrap_or_default();
        let h = CommitId(self.put(Kind::Commit, &body)?);
        self.move_branch(parent, h, message)?;
        Ok(h)
    }

    /// Point the current branch at `new` (atomically), logging the move.
    pub(crate) fn move_branch(
        &self,
        old: Option<CommitId>,
        new: CommitId,
        message: &str,
    ) -> Result<(), StoreError> {
        let path = self.root.join("refs/heads").join(self.branch()?);
        write_atomic(&path, format!("{new}\n").as_bytes()).map_err(io_err(&path))?;
        let log = self.root.join("logs/HEAD");
        append_line(&log, &log_line(old, new, message)).map_err(io_err(&log))
    }

    /// Commits reachable from HEAD, newest first (first parents).
    pub fn log(&self) -> Result<Vec<(CommitId, Commit)>, StoreError> {
        let mut out = Vec::new();
        let mut next = self.head()?;
        while let Some(h) = next {
            let c = self.commit_object(&h)?;
            next = c.parents.first().copied();
            out.push((h, c));
            if out.len() > 1_000_000 {
                break;
            }
        }
        Ok(out)
    }
}

/// What is wrong with a chunk's `rows` against what its table says of them (their count and
/// first id).
fn check_chunk(c: &ChunkRef, rows: &[Row]) -> Result<(), String> {
    if rows.len() != c.rows as usize {
        return Err(format!("{} rows, the table says {}", rows.len(), c.rows));
    }
    if rows.first().map(|r| &r.id) != Some(&c.first) {
        return Err(format!("first row is not `{}` as the table says", c.first));
    }
    Ok(())
}

/// `blobs` cut into the runs packs hold: each ends at the blob that takes it to
/// [`MAX_PACK_BYTES`] or more, or at the last blob.
fn pack_groups<'a, 'b>(blobs: &'a [&'b [u8]]) -> Vec<&'a [&'b [u8]]> {
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, b) in blobs.iter().enumerate() {
        size += b.len();
        if size >= MAX_PACK_BYTES || i + 1 == blobs.len() {
            groups.push(&blobs[start..=i]);
            (start, size) = (i + 1, 0);
        }
    }
    groups
}

/// Sort `rows` by id; two rows with one id are an error naming it.
pub(crate) fn sort_by_id(rows: &mut [Row]) -> Result<(), StoreError> {
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    match rows.windows(2).find(|w| w[0].id == w[1].id) {
        Some(w) => Err(StoreError::Duplicate {
            id: w[0].id.clone(),
        }),
        None => Ok(()),
    }
}

/// Build an empty store in `tmp` and rename it into `program_dir`, then sync that folder.
fn write_empty(program_dir: &Path, tmp: &Path) -> io::Result<()> {
    for dir in ["objects", "refs/heads", "refs/tags", "logs"] {
        fs::create_dir_all(tmp.join(dir))?;
    }
    write_atomic(&tmp.join("HEAD"), b"ref: refs/heads/main\n")?;
    write_atomic(&tmp.join("format"), format!("{FORMAT_LINE}\n").as_bytes())?;
    fs::rename(tmp, Store::path_in(program_dir))?;
    crate::fs::sync_dir(program_dir)
}

/// Read a ref file holding one commit hash; None if it does not exist.
pub(crate) fn read_hash_file(path: &Path) -> Result<Option<CommitId>, StoreError> {
    let Some(text) = read_optional(path, fs::read_to_string)? else {
        return Ok(None);
    };
    let id = text.trim().parse();
    id.map(Some)
        .map_err(|e: crate::hash::HashParseError| bad_ref(path, e))
}

/// Write `commit` to the ref file `path`, creating its folders.
pub(crate) fn write_ref(path: &Path, commit: CommitId) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    write_atomic(path, format!("{commit}\n").as_bytes()).map_err(io_err(path))
}

/// A branch, tag or remote name: `/`-separated parts of letters, digits, `-`, `_` and `.`,
/// none empty, none starting with `.` (hidden files are skipped when refs are listed, so a
/// branch named `x/.y` would be invisible to `gc`) and none ending in `.lock`, as git has it.
pub(crate) fn valid_ref_name(name: &str) -> bool {
    name.len() <= 255 && name.split('/').all(valid_ref_part)
}

/// One `/`-separated part of a ref name: letters, digits, `-`, `_` and `.`, not starting with
/// `.` nor ending with `.lock`.
fn valid_ref_part(part: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let edges = !part.starts_with('.') && !part.ends_with(".lock");
    !part.is_empty() && edges && part.chars().all(allowed)
}

/// A line of `logs/HEAD`: `old new unix-time message` (`old` all zeros for none; the first
/// line of the message).
fn log_line(old: Option<CommitId>, new: CommitId, message: &str) -> String {
    let old = old.map_or_else(|| "0".repeat(64), |h| h.to_hex());
    let first = message.lines().next().unwrap_or("");
    format!("{old} {new} {} {first}", unix_now())
}

/// Seconds since the Unix epoch (0 for a clock before it).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the Unix epoch, or `SOURCE_DATE_EPOCH` when set (reproducible commits, as
/// reproducible-builds tools expect).
fn commit_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(unix_now)
}

fn author() -> String {
    std::env::var("ANNEAL_AUTHOR")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}
