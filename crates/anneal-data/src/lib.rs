//! # anneal-data: the versioned dataset store
//!
//! Git's ideas, shaped for labelled examples. A program's examples live in `.anneal/` beside its
//! `anneal.toml`, as content-addressed objects (BLAKE3) written atomically:
//!
//! - [`hash`]: [`ContentHash`], and the ids that say what a hash names ([`CommitId`],
//!   [`ObjectId`]), hex only at the edges.
//! - [`store`]: opening, reading objects (hash-verified), writing commits, moving the branch
//!   and the log; [`tables`]: reading a table's rows (whole or by id) and committing edits as
//!   patches, on [`edits`] between sorted rows; [`snapshot`]: a commit's rows with payloads.
//! - [`object`]: the byte layout of every object kind (packs of payloads, chunks of example
//!   rows cut at content-defined boundaries, tables, commits), on the shared `codec` (a
//!   bounds-checked reader, and rows as chunks and patches hold them); [`pack`]: pack bodies;
//!   [`row`]: one example as stored, with its id ([`ExampleId`]) and typed metadata
//!   ([`row::Meta`]).
//! - [`idx`] and [`import`]: reading sources (IDX, image and WAV folders, CSV, JSONL), with
//!   labels and metadata, and importing each as one commit.
//! - [`stage`]: edits staged in `.anneal/index` and committed together; [`split`]: splits
//!   assigned by seed and fraction.
//! - [`stats`]: counts per split, label and metadata value.
//! - [`payload`]: how example payloads are encoded; [`limits`]: what a row may hold.
//! - [`graph`]: walks over the commit graph (reachability, ancestors, merge base), shared by
//!   [`gc`], [`fsck`], [`remote`] (push, fetch, clone) and [`merge`] (three-way).
//! - [`refs`]: branches, tags, checkout and revision names; [`diff`] between commits;
//!   [`fsck`] over every object and everything reachable.
//! - [`relpath`]: untrusted relative paths that stay inside their folder.
//! - [`scan`]: walking `objects/` by name and place, never following links.
//! - [`fs`]: the single atomic-write helper every store write goes through.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use anneal_data::{object::Row, store::Store, hash::ContentHash};
//! let store = Store::init(dir.path()).unwrap();
//! let blob = b"RAW8\x01\x00\x01\x00\x01\x00\x7f";
//! let row = Row { id: "a".into(), payload: ContentHash::of(blob), label: Some("1".into()),
//!                 split: "train".into(), meta: Default::default() };
//! let commit = store.commit(vec![row.clone()], &[blob], "first").unwrap();
//! assert_eq!(store.head().unwrap(), Some(commit));
//! let snap = store.snapshot(&commit).unwrap();
//! assert_eq!(snap.payload(&snap.rows[0]).unwrap(), blob);
//! ```

pub(crate) mod codec;
pub mod diff;
pub mod edits;
pub mod fs;
pub mod fsck;
pub mod gc;
pub mod graph;
pub mod hash;
pub mod idx;
pub mod import;
pub mod limits;
pub mod merge;
pub mod object;
pub mod pack;
pub mod payload;
pub mod refs;
pub mod relpath;
pub mod remote;
pub mod row;
pub mod scan;
pub mod snapshot;
pub mod split;
pub mod stage;
pub mod stats;
pub mod store;
pub mod tables;

pub use hash::{CommitId, ContentHash, ObjectId};
pub use row::ExampleId;
pub use snapshot::Snapshot;
pub use store::{Store, StoreError};
