//! Folders of images or WAV files, labelled by their folder (`FOLDER/LABEL/NAME.png`), by a
//! file-name pattern, or by a `filename,label` CSV.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::csv_source::read_pairs;
use super::error::ImportError;
use super::media::{Media, MediaSummary, collect, read_media};
use super::source::{Example, Format, ImportOptions, Progress, Read};

/// A `filename,label` CSV: relative path (with `/`) to the label and the line that gave it.
struct Labels {
    path: PathBuf,
    rows: HashMap<String, (Option<String>, u64)>,
}

impl Labels {
    /// Refuse a labels CSV that lists a file the folder does not have (the first such line).
    fn all_used(&self, folder: &Path) -> Result<(), ImportError> {
        match self.rows.iter().min_by_key(|(_, (_, line))| *line) {
            Some((name, (_, line))) => Err(ImportError::Line {
                path: self.path.clone(),
                line: *line,
                message: format!("`{name}` is not a file in {}", folder.display()),
            }),
            None => Ok(()),
        }
    }

    fn read(path: &Path) -> Result<Labels, ImportError> {
        let mut rows = HashMap::new();
        for (name, label, line) in read_pairs(path)? {
            let label = (!label.is_empty()).then_some(label);
            let name = name.replace('\\', "/");
            if rows.insert(name.clone(), (label, line)).is_some() {
                return Err(ImportError::Line {
                    path: path.to_path_buf(),
                    line,
                    message: format!("`{name}` is listed twice"),
                });
            }
        }
        Ok(Labels {
            path: path.to_path_buf(),
            rows,
        })
    }
}

/// Read a folder of images or WAVs.
pub(super) fn read(
    folder: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<Read, ImportError> {
    let files = media_files(folder, opts)?;
    check_pattern(opts)?;
    let prefix = folder
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "files".into());
    let mut labels = opts.labels.as_deref().map(Labels::read).transpose()?;
    progress.start(files.len() as u64, "files");
    let mut media = MediaSummary::default();
    let mut examples = Vec::with_capacity(files.len());
    for (i, rel) in files.iter().enumerate() {
        let (e, m) = example(folder, rel, &prefix, opts, &mut labels)?;
        media.add(m);
        examples.push(e);
        progress.set(i as u64 + 1);
    }
    if let Some(l) = labels {
        l.all_used(folder)?;
    }
    let (detail, image) = (media.detail(), media.image_size());
    Ok(Read {
        examples,
        detail,
        image,
        features: Vec::new(),
    })
}

/// The example of the media file at `rel` in `folder`, and what the file is.
fn example(
    folder: &Path,
    rel: &Path,
    prefix: &str,
    opts: &ImportOptions,
    labels: &mut Option<Labels>,
) -> Result<(Example, Media), ImportError> {
    let path = folder.join(rel);
    let (payload, media) = read_media(&path)?;
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let rel_name = parts.join("/");
    let (label, meta) = label_and_meta(&path, &parts, &rel_name, opts, labels)?;
    let stem = rel_name
        .rsplit_once('.')
        .map_or(rel_name.as_str(), |(s, _)| s);
    let example = Example {
        id: format!("{prefix}:{stem}"),
        label: label.filter(|_| !opts.unlabeled),
        meta,
        payload,
    };
    Ok((example, media))
}

/// The media files under `folder` (relative, sorted): `.wav` for WAV imports, images otherwise.
fn media_files(folder: &Path, opts: &ImportOptions) -> Result<Vec<PathBuf>, ImportError> {
    let (exts, expected): (&[&str], _) = match opts.format {
        Format::Wav => (&["wav"], "FOLDER/NAME.wav files"),
        _ => (
            &["png", "jpg", "jpeg"],
            ".png, .jpg or .jpeg files (FOLDER/LABEL/NAME.png)",
        ),
    };
    let mut files = Vec::new();
    collect(folder, folder, exts, &mut files)?;
    files.sort();
    if files.is_empty() {
        let path = folder.to_path_buf();
        return Err(ImportError::Empty { path, expected });
    }
    Ok(files)
}

/// A labelled import by pattern needs a `{label}` field.
fn check_pattern(opts: &ImportOptions) -> Result<(), ImportError> {
    match &opts.pattern {
        Some(p) if !opts.unlabeled && !p.fields().any(|f| f == "label") => {
            Err(super::pattern::PatternError {
                pattern: p.to_string(),
                message: "no `{label}` field (use --unlabeled to import without labels)".into(),
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// A file's label and metadata: from the pattern, the labels CSV, or its folder.
fn label_and_meta(
    path: &Path,
    parts: &[String],
    rel_name: &str,
    opts: &ImportOptions,
    labels: &mut Option<Labels>,
) -> Result<(Option<String>, BTreeMap<String, String>), ImportError> {
    match (&opts.pattern, labels) {
        (Some(p), _) => {
            let name = parts.last().map_or("", String::as_str);
            let fields = p.matches(name).ok_or_else(|| ImportError::NoMatch {
                path: path.to_path_buf(),
                pattern: p.to_string(),
            })?;
            let (label, meta): (Vec<_>, Vec<_>) =
                fields.into_iter().partition(|(k, _)| k == "label");
            Ok((
                label.into_iter().next().map(|(_, v)| v),
                meta.into_iter().collect(),
            ))
        }
        (None, Some(l)) => {
            let (label, _) = l
                .rows
                .remove(rel_name)
                .ok_or_else(|| ImportError::Unlisted {
                    path: path.to_path_buf(),
                    labels: l.path.clone(),
                })?;
            Ok((label, BTreeMap::new()))
        }
        (None, None) => Ok((folder_label(path, parts, opts.unlabeled)?, BTreeMap::new())),
    }
}

/// The label of `FOLDER/LABEL/NAME`; files directly in `FOLDER` only with `unlabeled`.
fn folder_label(
    path: &Path,
    parts: &[String],
    unlabeled: bool,
) -> Result<Option<String>, ImportError> {
    let err = |message: String| ImportError::Image {
        path: path.to_path_buf(),
        message,
    };
    match parts {
        [_] if unlabeled => Ok(None),
        [name] => Err(err(format!(
            "a file outside a label folder (expected FOLDER/LABEL/{name}); use --unlabeled to import it unlabeled, or --pattern or --labels to label it"
        ))),
        [label, _] => Ok(Some(label.clone())),
        _ => Err(err(
            "nested too deep (expected FOLDER/LABEL/NAME; use --pattern or --labels for other layouts)".into(),
        )),
    }
}
