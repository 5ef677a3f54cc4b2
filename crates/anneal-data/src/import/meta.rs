//! `--meta FILE.csv`: metadata joined onto examples by the file's first column (e.g.
//! `speaker,gender,accent` adds `gender` and `accent` to every example whose `speaker` the file
//! lists).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::csv_source::{full_record, open_with_header};
use super::error::ImportError;
use super::source::Example;

/// A metadata file, keyed by its first column's values.
#[derive(Debug)]
pub(super) struct MetaTable {
    path: PathBuf,
    key: String,
    rows: HashMap<String, BTreeMap<String, String>>,
}

impl MetaTable {
    /// Read a metadata CSV (a header line; values trimmed; each key listed once).
    pub(super) fn read(path: &Path) -> Result<MetaTable, ImportError> {
        let (mut reader, header) = open_with_header(path)?;
        let key = match header.first() {
            Some(k) if !k.is_empty() && header.len() > 1 => k.clone(),
            _ => {
                return Err(ImportError::Line {
                    path: path.to_path_buf(),
                    line: 1,
                    message: "expected a header of the join key then the metadata columns, e.g. `speaker,gender,accent`".into(),
                });
            }
        };
        let mut rows = HashMap::new();
        for record in reader.records() {
            let record = full_record(path, header.len(), record)?;
            let line = record.position().map_or(0, csv::Position::line);
            let values: BTreeMap<String, String> = header[1..]
                .iter()
                .zip(record.iter().skip(1))
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            if rows.insert(record[0].to_string(), values).is_some() {
                return Err(ImportError::Line {
                    path: path.to_path_buf(),
                    line,
                    message: format!("{key} `{}` is listed twice", &record[0]),
                });
            }
        }
        Ok(MetaTable {
            path: path.to_path_buf(),
            key,
            rows,
        })
    }

    /// Add each example's row of metadata; an example without the key, or whose key value is
    /// not listed, is an error. Fields the example already has are kept.
    pub(super) fn join(&self, examples: &mut [Example]) -> Result<(), ImportError> {
        for e in examples {
            let value = e
                .meta
                .get(&self.key)
                .ok_or_else(|| ImportError::MetaNoKey {
                    id: e.id.clone(),
                    key: self.key.clone(),
                    meta: self.path.clone(),
                })?;
            let row = self
                .rows
                .get(value)
                .ok_or_else(|| ImportError::MetaMissing {
                    id: e.id.clone(),
                    key: self.key.clone(),
                    value: value.clone(),
                    meta: self.path.clone(),
                })?;
            for (k, v) in row {
                e.meta.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Ok(())
    }
}
