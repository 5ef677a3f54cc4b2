//! JSON Lines sources: one object per line with a `label` and either `features` (an array of
//! numbers, as long on every line) or `path` (an image or WAV, relative to the file). An `id`
//! names the example; other keys are metadata. Blank lines are skipped.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::error::ImportError;
use super::media::{MediaSummary, PathColumn};
use super::source::{Example, ImportOptions, Progress, Read, file_stem, index_width};
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
    let (lines, total) = read_lines(path, progress)?;
    let mut reader = Lines {
        path,
        stem: file_stem(path),
        width: index_width(lines.len()),
        files: PathColumn::new(path),
        features: None,
        media: MediaSummary::default(),
    };
    let mut examples = Vec::with_capacity(lines.len());
    for (i, (line, text)) in lines.iter().enumerate() {
        let mut e = reader.example(i, *line, text)?;
        if opts.unlabeled {
            e.label = None;
        }
        examples.push(e);
    }
    progress.set(total);
    Ok(reader.finish(examples))
}

/// The non-blank lines with their 1-based numbers, and the file's size.
fn read_lines(
    path: &Path,
    progress: &mut dyn Progress,
) -> Result<(Vec<(u64, String)>, u64), ImportError> {
    let file = crate::fs::open_regular(path).map_err(ImportError::io(path))?;
    let total = file.metadata().map_err(ImportError::io(path))?.len();
    progress.start(total, "bytes");
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
    Ok((lines, total))
}

/// What reading the lines of one source keeps: ids' stem and width, the files read, the
/// feature count (and the line that set it) and the media seen.
struct Lines<'a> {
    path: &'a Path,
    stem: String,
    width: usize,
    files: PathColumn<'a>,
    features: Option<(usize, u64)>,
    media: MediaSummary,
}

impl Lines<'_> {
    fn err(&self, line: u64, message: impl Into<String>) -> ImportError {
        ImportError::Line {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// The example on line `line`, the `i`-th non-blank one.
    fn example(&mut self, i: usize, line: u64, text_line: &str) -> Result<Example, ImportError> {
        let mut object = match serde_json::from_str::<Value>(text_line) {
            Ok(Value::Object(o)) => o,
            Ok(other) => {
                let shown: String = other.to_string().chars().take(40).collect();
                return Err(self.err(line, format!("expected a JSON object, found `{shown}`")));
            }
            Err(e) => return Err(self.err(line, format!("not valid JSON: {e}"))),
        };
        let label = self.label(line, object.remove("label"))?;
        let id = self.id(i, line, object.remove("id"))?;
        let payload = self.payload(line, object.remove("features"), object.remove("path"))?;
        let meta = object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), text(v)))
            .collect::<BTreeMap<_, _>>();
        Ok(Example {
            id,
            label,
            meta,
            payload,
        })
    }

    fn label(&self, line: u64, v: Option<Value>) -> Result<Option<String>, ImportError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(_) | Value::Object(_)) => {
                Err(self.err(line, "`label` must be a string or a number"))
            }
            Some(v) => Ok(Some(text(&v))),
        }
    }

    fn id(&self, i: usize, line: u64, v: Option<Value>) -> Result<String, ImportError> {
        let (stem, width) = (&self.stem, self.width);
        match v {
            None => Ok(format!("{stem}:{i:0width$}")),
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(format!("{stem}:{}", text(&v))),
            Some(_) => Err(self.err(line, "`id` must be a string or a number")),
        }
    }

    /// The payload: `features` (numbers, as many on every line) or the file at `path`.
    fn payload(
        &mut self,
        line: u64,
        features: Option<Value>,
        path: Option<Value>,
    ) -> Result<Vec<u8>, ImportError> {
        match (features, path) {
            (Some(Value::Array(values)), None) => self.features(line, &values),
            (None, Some(Value::String(p))) => {
                let (_, bytes, m) = self.files.read(&p, line)?;
                self.media.add(m);
                Ok(bytes)
            }
            (Some(_), Some(_)) => Err(self.err(line, "both `features` and `path`: give one")),
            (Some(_), None) => Err(self.err(line, "`features` must be an array of numbers")),
            (None, Some(_)) => Err(self.err(line, "`path` must be a string")),
            (None, None) => Err(self.err(
                line,
                "no `features` (an array of numbers) or `path` (a file)",
            )),
        }
    }

    fn features(&mut self, line: u64, values: &[Value]) -> Result<Vec<u8>, ImportError> {
        let mut out = Vec::with_capacity(values.len());
        for (k, v) in values.iter().enumerate() {
            let x = v.as_f64().map(|x| x as f32).filter(|x| x.is_finite());
            let x = x.ok_or_else(|| {
                self.err(
                    line,
                    format!("`features[{k}]`: expected a number, found `{v}`"),
                )
            })?;
            out.push(x);
        }
        match self.features {
            None => self.features = Some((out.len(), line)),
            Some((n, first)) if n != out.len() => {
                let message = format!("{} features where line {first} has {n}", out.len());
                return Err(self.err(line, message));
            }
            Some(_) => {}
        }
        Ok(encode_f32(&out))
    }

    fn finish(self, examples: Vec<Example>) -> Read {
        let (detail, features) = match self.features {
            Some((n, _)) => (
                format!("{n} features"),
                (0..n).map(|k| format!("features[{k}]")).collect(),
            ),
            None => (self.media.detail(), Vec::new()),
        };
        Read {
            examples,
            detail,
            image: self.media.image_size(),
            features,
        }
    }
}
