//! JSON Lines sources: one object per line with a `label` and either `features` (an array of
//! numbers, as long on every line) or `path` (an image or WAV, relative to the file). An `id`
//! names the example; other keys are metadata. Blank lines are skipped.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::folder::{MediaSummary, PathColumn};
use super::{Example, ImportError, ImportOptions, Progress, Read, file_stem, index_width};
use crate::payload::encode_f32;

/// A JSON value as a metadata or label string.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Read a JSONL source.
pub(super) fn read(
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Read, ImportError> {
    let file = crate::fs::open_regular(path).map_err(ImportError::io(path))?;
    let total = file.metadata().map_err(ImportError::io(path))?.len();
    progress.start(total, "bytes");
    let mut files = PathColumn::new(path);
    let mut lines = Vec::new();
    let mut done = 0u64;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(ImportError::io(path))?;
        done += line.len() as u64 + 1;
        if !line.trim().is_empty() {
            lines.push((i as u64 + 1, line));
        }
        if i % 1024 == 0 {
            progress.set(done);
        }
    }
    let stem = file_stem(path);
    let width = index_width(lines.len());
    let mut features: Option<(usize, u64)> = None;
    let mut media = MediaSummary::default();
    let mut examples = Vec::with_capacity(lines.len());
    for (i, (line, text_line)) in lines.iter().enumerate() {
        let err = |message: String| ImportError::Line {
            path: path.to_path_buf(),
            line: *line,
            message,
        };
        let mut object = match serde_json::from_str::<Value>(text_line) {
            Ok(Value::Object(o)) => o,
            Ok(other) => {
                return Err(err(format!(
                    "expected a JSON object, found `{}`",
                    other.to_string().chars().take(40).collect::<String>()
                )));
            }
            Err(e) => return Err(err(format!("not valid JSON: {e}"))),
        };
        let label = match object.remove("label") {
            None | Some(Value::Null) => None,
            Some(Value::Array(_) | Value::Object(_)) => {
                return Err(err("`label` must be a string or a number".into()));
            }
            Some(v) => Some(text(&v)),
        };
        let id = match object.remove("id") {
            None => format!("{stem}:{i:0width$}"),
            Some(v @ (Value::String(_) | Value::Number(_))) => format!("{stem}:{}", text(&v)),
            Some(_) => return Err(err("`id` must be a string or a number".into())),
        };
        let payload = match (object.remove("features"), object.remove("path")) {
            (Some(Value::Array(values)), None) => {
                let mut out = Vec::with_capacity(values.len());
                for (k, v) in values.iter().enumerate() {
                    let x = v
                        .as_f64()
                        .map(|x| x as f32)
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            err(format!("`features[{k}]`: expected a number, found `{v}`"))
                        })?;
                    out.push(x);
                }
                match features {
                    None => features = Some((out.len(), *line)),
                    Some((n, first)) if n != out.len() => {
                        return Err(err(format!(
                            "{} features where line {first} has {n}",
                            out.len()
                        )));
                    }
                    Some(_) => {}
                }
                encode_f32(&out)
            }
            (None, Some(Value::String(p))) => {
                let (_, bytes, m) = files.read(&p, *line)?;
                media.add(m);
                bytes
            }
            (Some(_), Some(_)) => return Err(err("both `features` and `path`: give one".into())),
            (Some(_), None) => return Err(err("`features` must be an array of numbers".into())),
            (None, Some(_)) => return Err(err("`path` must be a string".into())),
            (None, None) => {
                return Err(err(
                    "no `features` (an array of numbers) or `path` (a file)".into(),
                ));
            }
        };
        let meta: BTreeMap<String, String> = object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        examples.push(Example {
            id,
            label: label.filter(|_| !opts.unlabeled),
            meta,
            payload,
        });
    }
    progress.set(total);
    let (detail, names) = match features {
        Some((n, _)) => (
            format!("{n} features"),
            (0..n).map(|k| format!("features[{k}]")).collect(),
        ),
        None => (media.detail(), Vec::new()),
    };
    Ok(Read {
        examples,
        detail,
        image: media.image_size(),
        features: names,
    })
}
