//! Labels a reviewer confirmed in the mislabel queue, so the queue does not show them again:
//! `.anneal/kept`, one `id<TAB>label` line each, rewritten atomically under the store's lock.
//! A kept label no longer applies once the example's label changes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anneal_data::{ExampleId, Store};

use crate::BuildError;

/// The confirmed `(example, label)` pairs of a program.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pairs: HashSet<(String, String)>,
}

impl Kept {
    /// The kept labels of the program in `dir` (none when the file is absent).
    pub fn load(dir: &Path) -> Result<Kept, BuildError> {
        let path = path(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kept::default()),
            Err(source) => Err(BuildError::Io { path, source }),
        }
    }

    /// Remember that `pairs` were reviewed and their labels are right.
    pub fn keep(dir: &Path, pairs: &[(ExampleId, String)]) -> Result<Kept, BuildError> {
        let store = Store::open(dir)?;
        let _lock = store.lock()?;
        let mut kept = Kept::load(dir)?;
        for (id, label) in pairs {
            kept.pairs.insert((id.as_str().to_string(), label.clone()));
        }
        kept.write(&path(dir))?;
        Ok(kept)
    }

    /// True when `label` of example `id` was confirmed.
    pub fn contains(&self, id: &ExampleId, label: &str) -> bool {
        self.pairs
            .contains(&(id.as_str().to_string(), label.to_string()))
    }

    /// How many labels are kept.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn write(&self, path: &Path) -> Result<(), BuildError> {
        let mut lines: Vec<String> = self
            .pairs
            .iter()
            .map(|(i, l)| format!("{i}\t{l}\n"))
            .collect();
        lines.sort_unstable();
        anneal_data::fs::write_atomic(path, lines.concat().as_bytes()).map_err(|source| {
            BuildError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

/// `.anneal/kept` of the program in `dir`.
fn path(dir: &Path) -> PathBuf {
    Store::path_in(dir).join("kept")
}

/// The lines of a kept file; a line without a tab is an error naming it.
fn parse(path: &Path, text: &str) -> Result<Kept, BuildError> {
    let mut pairs = HashSet::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let Some((id, label)) = line.split_once('\t') else {
            let message = format!("line {}: expected `id<TAB>label`, got {line:?}", n + 1);
            let source = std::io::Error::new(std::io::ErrorKind::InvalidData, message);
            return Err(BuildError::Io {
                path: path.to_path_buf(),
                source,
            });
        };
        pairs.insert((id.to_string(), label.to_string()));
    }
    Ok(Kept { pairs })
}
