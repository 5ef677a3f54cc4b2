//! CSV sources: a header line, a label column, and either numeric feature columns (stored as
//! `F32V` payloads) or a column of paths to images or WAVs relative to the CSV.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ImportError;
use super::media::{MediaSummary, PathColumn};
use super::source::{Example, ImportOptions, Progress, Read, file_stem, index_width};
use crate::payload::encode_f32;

/// A `csv` crate error as an import error naming the file (and line, where known).
pub(super) fn csv_error(path: &Path, e: csv::Error) -> ImportError {
    let line = e.position().map_or(0, csv::Position::line);
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ImportError::Io {
            path: path.to_path_buf(),
            source,
        },
        _ => ImportError::Line {
            path: path.to_path_buf(),
            line,
            message,
        },
    }
}

/// A record read from the CSV at `path`, refused unless it has `fields` fields (the header's).
pub(super) fn full_record(
    path: &Path,
    fields: usize,
    record: Result<csv::StringRecord, csv::Error>,
) -> Result<csv::StringRecord, ImportError> {
    let record = record.map_err(|e| csv_error(path, e))?;
    if record.len() != fields {
        return Err(ImportError::Ragged {
            path: path.to_path_buf(),
            line: record.position().map_or(0, csv::Position::line),
            expected: fields,
            found: record.len(),
        });
    }
    Ok(record)
}

/// A CSV reader over `path` (values trimmed, rows of any length: callers check them so the
/// error names the line), with its header row as strings.
pub(super) fn open_with_header(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, Vec<String>), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(crate::fs::open_regular(path).map_err(ImportError::io(path))?);
    let header = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(str::to_string)
        .collect();
    Ok((reader, header))
}

/// The rows of a two-column CSV (`id,label`, `filename,label`), trimmed, each with its 1-based
/// line; a first row whose second field is `label` is a header and skipped. A row of another
/// length is an error naming the file and line.
pub fn read_pairs(path: &Path) -> Result<Vec<(String, String, u64)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(crate::fs::open_regular(path).map_err(ImportError::io(path))?);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        if record.len() != 2 {
            return Err(ImportError::Ragged {
                path: path.to_path_buf(),
                line,
                expected: 2,
                found: record.len(),
            });
        }
        if i == 0 && &record[1] == "label" {
            continue;
        }
        out.push((record[0].to_string(), record[1].to_string(), line));
    }
    Ok(out)
}

/// A finite number, or None.
fn number(s: &str) -> Option<f32> {
    s.parse::<f32>().ok().filter(|v| v.is_finite())
}

/// The data rows of a CSV with their line numbers, each as long as the header.
struct Table {
    header: Vec<String>,
    records: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn read(path: &Path, progress: &mut dyn Progress) -> Result<Table, ImportError> {
        let total = std::fs::metadata(path)
            .map_err(ImportError::io(path))?
            .len();
        let (mut reader, header) = open_with_header(path)?;
        progress.start(total, "bytes");
        let mut records = Vec::new();
        for record in reader.records() {
            let record = full_record(path, header.len(), record)?;
            let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
            if records.len() % 1024 == 0 {
                progress.set(byte);
            }
            records.push((line, record));
        }
        progress.set(total);
        Ok(Table { header, records })
    }

    fn column(&self, path: &Path, name: &str, option: &'static str) -> Result<usize, ImportError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ImportError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                option,
                header: self.header.join(", "),
            })
    }

    /// The non-empty values of `columns` as metadata.
    fn meta(&self, record: &csv::StringRecord, columns: &[usize]) -> BTreeMap<String, String> {
        columns
            .iter()
            .filter(|&&c| !record[c].is_empty())
            .map(|&c| (self.header[c].clone(), record[c].to_string()))
            .collect()
    }
}

/// Read a CSV source.
pub(super) fn read(
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Read, ImportError> {
    let table = Table::read(path, progress)?;
    if table.records.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
            expected: "data rows after the header line",
        });
    }
    let label = if opts.unlabeled {
        table.header.iter().position(|h| *h == opts.label_column)
    } else {
        Some(table.column(path, &opts.label_column, "--label-column")?)
    };
    match &opts.path_column {
        Some(name) => {
            let column = table.column(path, name, "--path-column")?;
            read_paths(path, &table, label, column, opts, progress)
        }
        None => read_features(path, &table, label, opts),
    }
}

fn label_of(
    record: &csv::StringRecord,
    label: Option<usize>,
    opts: &ImportOptions,
) -> Option<String> {
    label
        .filter(|_| !opts.unlabeled)
        .map(|c| &record[c])
        .filter(|l| !l.is_empty())
        .map(str::to_string)
}

/// The feature columns: those `--features` names, or else every column but the label whose
/// values all parse as numbers.
fn feature_columns(
    path: &Path,
    table: &Table,
    others: &[usize],
    opts: &ImportOptions,
) -> Result<Vec<usize>, ImportError> {
    let features: Vec<usize> = match &opts.features {
        Some(names) => names
            .iter()
            .map(|n| table.column(path, n, "--features"))
            .collect::<Result<_, _>>()?,
        None => others
            .iter()
            .copied()
            .filter(|&c| table.records.iter().all(|(_, r)| number(&r[c]).is_some()))
            .collect(),
    };
    if features.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
            expected: "a column of numbers to use as features, or --path-column",
        });
    }
    Ok(features)
}

/// The values of `features` in the record at `line`; a value that is not a number is an error
/// naming the line and column.
fn feature_values(
    path: &Path,
    table: &Table,
    (line, record): &(u64, csv::StringRecord),
    features: &[usize],
) -> Result<Vec<f32>, ImportError> {
    let value = |c: usize| {
        number(&record[c]).ok_or_else(|| ImportError::NotNumber {
            path: path.to_path_buf(),
            line: *line,
            column: table.header[c].clone(),
            value: record[c].to_string(),
        })
    };
    features.iter().map(|&c| value(c)).collect()
}

fn read_features(
    path: &Path,
    table: &Table,
    label: Option<usize>,
    opts: &ImportOptions,
) -> Result<Read, ImportError> {
    let others: Vec<usize> = (0..table.header.len())
        .filter(|c| Some(*c) != label)
        .collect();
    let features = feature_columns(path, table, &others, opts)?;
    let meta: Vec<usize> = others
        .into_iter()
        .filter(|c| !features.contains(c))
        .collect();
    let stem = file_stem(path);
    let width = index_width(table.records.len());
    let mut examples = Vec::with_capacity(table.records.len());
    for (i, entry) in table.records.iter().enumerate() {
        let values = feature_values(path, table, entry, &features)?;
        let record = &entry.1;
        examples.push(Example {
            id: format!("{stem}:{i:0width$}"),
            label: label_of(record, label, opts),
            meta: table.meta(record, &meta),
            payload: encode_f32(&values),
        });
    }
    let names: Vec<String> = features.iter().map(|&c| table.header[c].clone()).collect();
    Ok(Read {
        examples,
        detail: format!("{} features", names.len()),
        image: [0, 0],
        features: names,
    })
}

fn read_paths(
    path: &Path,
    table: &Table,
    label: Option<usize>,
    column: usize,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Read, ImportError> {
    let mut files = PathColumn::new(path);
    let meta: Vec<usize> = (0..table.header.len())
        .filter(|c| Some(*c) != label && *c != column)
        .collect();
    let stem = file_stem(path);
    let mut media = MediaSummary::default();
    let mut examples = Vec::with_capacity(table.records.len());
    progress.start(table.records.len() as u64, "files");
    for (i, (line, record)) in table.records.iter().enumerate() {
        if record[column].is_empty() {
            return Err(ImportError::Line {
                path: path.to_path_buf(),
                line: *line,
                message: format!("empty `{}`", table.header[column]),
            });
        }
        let (rel, payload, m) = files.read(&record[column], *line)?;
        media.add(m);
        let id = rel
            .as_str()
            .rsplit_once('.')
            .map_or(rel.as_str(), |(s, _)| s);
        examples.push(Example {
            id: format!("{stem}:{id}"),
            label: label_of(record, label, opts),
            meta: table.meta(record, &meta),
            payload,
        });
        progress.set(i as u64 + 1);
    }
    Ok(Read {
        examples,
        detail: media.detail(),
        image: media.image_size(),
        features: Vec::new(),
    })
}
