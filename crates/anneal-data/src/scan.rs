//! Walking `objects/` as `gc` and `fsck` see it, without ever following a link.
//!
//! An object lives at `objects/XX/YYYY…` where `XXYYYY…` is its 64-hex-digit hash, as a
//! regular file in a real folder. An interrupted write leaves `.YYYY….tmp-PID-N` beside it.
//! Everything else (a symlink, a folder where a file belongs, a file of another name) is a
//! *stray*: reported by `fsck` and never read through nor deleted by `gc`, so a link planted in
//! the store cannot make `gc` delete files outside it.

use std::fs::{self, FileType};
use std::path::{Path, PathBuf};

use crate::hash::ContentHash;
use crate::store::{Store, StoreError};

/// One entry found under `objects/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// A regular file named by a hash, in its folder.
    Object(ContentHash, PathBuf),
    /// A temp file of an interrupted write.
    Temp(PathBuf),
    /// Anything else, with why it is not an object.
    Stray(PathBuf, &'static str),
}

impl Entry {
    /// The file or folder.
    pub fn path(&self) -> &Path {
        match self {
            Entry::Object(_, p) | Entry::Temp(p) | Entry::Stray(p, _) => p,
        }
    }
}

/// Every entry under the store's `objects/`, sorted by path.
pub fn objects(store: &Store) -> Result<Vec<Entry>, StoreError> {
    let root = store.root().join("objects");
    let mut out = Vec::new();
    for (path, name, kind) in list(&root)? {
        match folder_prefix(&name, kind) {
            Ok(prefix) => scan_folder(&path, prefix, &mut out)?,
            Err(why) => out.push(Entry::Stray(path, why)),
        }
    }
    out.sort();
    Ok(out)
}

fn folder_prefix(name: &str, kind: FileType) -> Result<&str, &'static str> {
    if kind.is_symlink() {
        return Err("a link, not a folder of objects (never followed)");
    }
    if !kind.is_dir() {
        return Err("stray file: objects live in folders named by two hex digits");
    }
    if name.len() != 2 || !name.bytes().all(is_hex) {
        return Err("stray folder: not named by two hex digits");
    }
    Ok(name)
}

fn scan_folder(dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), StoreError> {
    for (path, name, kind) in list(dir)? {
        out.push(classify(prefix, &name, kind, path));
    }
    Ok(())
}

fn classify(prefix: &str, name: &str, kind: FileType, path: PathBuf) -> Entry {
    if kind.is_symlink() {
        return Entry::Stray(path, "a link, not an object (never followed)");
    }
    if !kind.is_file() {
        return Entry::Stray(path, "not a regular file");
    }
    if is_temp(name) {
        return Entry::Temp(path);
    }
    match format!("{prefix}{name}").parse() {
        Ok(h) if name.len() == 62 => Entry::Object(h, path),
        _ => Entry::Stray(path, "stray file: not named by a content hash"),
    }
}

/// `.{62 hex}.tmp-…`, as [`crate::fs::write_atomic`] names its temp files.
fn is_temp(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.split_once(".tmp-"))
        .is_some_and(|(hex, _)| hex.len() == 62 && hex.bytes().all(is_hex))
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The entries of `dir` with their own file types (links are not followed).
fn list(dir: &Path) -> Result<Vec<(PathBuf, String, FileType)>, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((entry.path(), name, kind));
    }
    Ok(out)
}
