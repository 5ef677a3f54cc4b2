//! Paths from untrusted input (a CSV cell, a JSONL field) that must stay inside a folder.
//!
//! [`RelPath::parse`] accepts only relative paths made of plain names: no absolute paths or
//! drive letters, no `..`, no NUL; `\` is read as `/`, and `.` and empty components are
//! dropped, so `./a//b.png` and `a/b.png` are one path. [`RelPath::resolve_in`] then resolves it
//! inside its folder and refuses what a link would take outside, and anything that is not a
//! regular file (a FIFO named `x.png` would block a reader forever).

use std::fmt;
use std::path::{Path, PathBuf};

/// A normalised relative path: `/`-separated plain names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or only `.` and separators.
    #[error("an empty path")]
    Empty,
    /// Starts at a root or a drive.
    #[error("`{0}` is absolute: give a path relative to the source's folder")]
    Absolute(String),
    /// Climbs out with `..`.
    #[error("`{0}` leaves the source's folder (`..`)")]
    Parent(String),
    /// Holds a NUL or another control character.
    #[error("`{0}` holds a control character")]
    Control(String),
    /// Resolves (through a link) to somewhere outside the folder.
    #[error("`{0}` leads outside the source's folder (through a link)")]
    Escapes(String),
    /// Not a regular file.
    #[error("`{0}` is not a regular file")]
    NotAFile(String),
}

impl RelPath {
    /// Parse and normalise an untrusted relative path.
    pub fn parse(raw: &str) -> Result<RelPath, PathError> {
        let shown = crate::limits::shown(raw);
        if raw.chars().any(char::is_control) {
            return Err(PathError::Control(shown));
        }
        let unified = raw.replace('\\', "/");
        if unified.starts_with('/') || has_drive(&unified) {
            return Err(PathError::Absolute(shown));
        }
        let mut parts = Vec::new();
        for part in unified.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == ".." {
                return Err(PathError::Parent(shown));
            }
            parts.push(part);
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(RelPath(parts.join("/")))
    }

    /// The normalised text, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The real path of this file inside `root`: refused if a link takes it outside `root`
    /// or if it is not a regular file.
    pub fn resolve_in(&self, root: &Path) -> Result<PathBuf, ResolveError> {
        let io = |path: PathBuf| move |source| ResolveError::Io { path, source };
        let root = root.canonicalize().map_err(io(root.to_path_buf()))?;
        let joined = root.join(&self.0);
        let real = joined.canonicalize().map_err(io(joined))?;
        if !real.starts_with(&root) {
            return Err(PathError::Escapes(self.0.clone()).into());
        }
        let meta = std::fs::metadata(&real).map_err(io(real.clone()))?;
        if !meta.is_file() {
            return Err(PathError::NotAFile(self.0.clone()).into());
        }
        Ok(real)
    }
}

/// A path that could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The path itself was refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `C:` and the like.
fn has_drive(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_path_are_one_path() {
        let one = RelPath::parse("a/b.png").unwrap();
        for s in ["./a/b.png", "a//b.png", "a\\b.png", "a/./b.png"] {
            assert_eq!(RelPath::parse(s).unwrap(), one, "{s}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        for s in [
            "/etc/passwd",
            "../x.png",
            "a/../../x",
            "C:\\x.png",
            "",
            ".",
            "a\0b",
        ] {
            assert!(RelPath::parse(s).is_err(), "{s:?}");
        }
    }
}
