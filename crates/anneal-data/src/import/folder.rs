//! Folders of images or WAV files, labelled by their folder (`FOLDER/LABEL/NAME.png`), by a
//! file-name pattern, or by a `filename,label` CSV. Also the file checks that CSV and JSONL
//! path columns share.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{Example, Format, ImportError, ImportOptions, Progress, Read};
use crate::relpath::RelPath;

/// What a media file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    /// A PNG or JPEG of this height and width.
    Image([usize; 2]),
    /// A WAV at this sample rate and channel count.
    Wav(u32, u16),
}

/// Describes the media of a whole source ("28x28 images", "WAV 8000 Hz, 1 channel").
#[derive(Debug, Default)]
pub(super) struct MediaSummary {
    first: Option<Media>,
    mixed: bool,
    images: usize,
    wavs: usize,
}

impl MediaSummary {
    pub(super) fn add(&mut self, m: Media) {
        match m {
            Media::Image(_) => self.images += 1,
            Media::Wav(..) => self.wavs += 1,
        }
        match self.first {
            None => self.first = Some(m),
            Some(f) if f != m => self.mixed = true,
            Some(_) => {}
        }
    }

    pub(super) fn image_size(&self) -> [usize; 2] {
        match self.first {
            Some(Media::Image(s)) if !self.mixed => s,
            _ => [0, 0],
        }
    }

    pub(super) fn detail(&self) -> String {
        match (self.first, self.mixed) {
            (Some(Media::Image([h, w])), false) => format!("{h}x{w} images"),
            (Some(Media::Wav(rate, ch)), false) => format!(
                "WAV {rate} Hz, {ch} channel{}",
                if ch == 1 { "" } else { "s" }
            ),
            _ => format!(
                "{} images and {} WAVs of mixed shapes",
                self.images, self.wavs
            ),
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Where a CSV or JSONL line's `path` points, for [`media_in`]: the source's folder, the
/// source file and the files already read (so one file under two spellings is one example).
pub(super) struct PathColumn<'a> {
    /// The folder paths are relative to.
    pub base: &'a Path,
    /// The CSV or JSONL file, for errors.
    pub source: &'a Path,
    /// Real paths read so far, with the line that read each.
    pub seen: HashMap<PathBuf, u64>,
}

impl PathColumn<'_> {
    pub(super) fn new<'a>(source: &'a Path) -> PathColumn<'a> {
        let base = source.parent().filter(|p| !p.as_os_str().is_empty());
        PathColumn {
            base: base.unwrap_or(Path::new(".")),
            source,
            seen: HashMap::new(),
        }
    }

    /// Read the file `raw` names on `line`: a relative path that stays inside the source's
    /// folder and names a regular file not read before. Returns its normalised path too.
    pub(super) fn read(
        &mut self,
        raw: &str,
        line: u64,
    ) -> Result<(RelPath, Vec<u8>, Media), ImportError> {
        let err = |message: String| ImportError::Line {
            path: self.source.to_path_buf(),
            line,
            message,
        };
        let rel = RelPath::parse(raw).map_err(|e| err(e.to_string()))?;
        let real = rel.resolve_in(self.base).map_err(|e| err(e.to_string()))?;
        if let Some(first) = self.seen.insert(real.clone(), line) {
            return Err(err(format!("`{rel}` is the same file as line {first}")));
        }
        let (bytes, media) = read_media(&real)?;
        Ok((rel, bytes, media))
    }
}

/// Read a PNG, JPEG or WAV file and check that it decodes (every WAV sample is read, so a
/// truncated file is caught here, not at build).
pub(super) fn read_media(path: &Path) -> Result<(Vec<u8>, Media), ImportError> {
    let bytes = std::fs::read(path).map_err(ImportError::io(path))?;
    let media = match extension(path).as_str() {
        "wav" => check_wav(path, &bytes)?,
        "png" | "jpg" | "jpeg" => {
            let img = crate::payload::load_image(&bytes).map_err(|e| ImportError::Image {
                path: path.to_path_buf(),
                message: e.0,
            })?;
            Media::Image([img.height() as usize, img.width() as usize])
        }
        _ => {
            return Err(ImportError::Image {
                path: path.to_path_buf(),
                message: "expected a .png, .jpg, .jpeg or .wav file".into(),
            });
        }
    };
    Ok((bytes, media))
}

fn check_wav(path: &Path, bytes: &[u8]) -> Result<Media, ImportError> {
    let wav_err = |source| ImportError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(wav_err)?;
    let spec = reader.spec();
    if spec.sample_rate == 0 || spec.channels == 0 {
        return Err(ImportError::Image {
            path: path.to_path_buf(),
            message: format!(
                "a WAV of {} Hz and {} channels holds no sound; expected a rate and channels of at least 1",
                spec.sample_rate, spec.channels
            ),
        });
    }
    match spec.sample_format {
        hound::SampleFormat::Int => {
            for s in reader.into_samples::<i32>() {
                s.map_err(wav_err)?;
            }
        }
        hound::SampleFormat::Float => {
            for s in reader.into_samples::<f32>() {
                s.map_err(wav_err)?;
            }
        }
    }
    Ok(Media::Wav(spec.sample_rate, spec.channels))
}

/// Does the folder (or a folder in it) hold a `.wav` file?
pub(super) fn has_wav(folder: &Path) -> bool {
    let mut files = Vec::new();
    collect(folder, folder, &["wav"], &mut files).is_ok() && !files.is_empty()
}

/// Files under `dir` with one of `exts` (lowercase), as paths relative to `root`; hidden
/// files are skipped and symbolic links refused.
fn collect(
    root: &Path,
    dir: &Path,
    exts: &[&str],
    out: &mut Vec<PathBuf>,
) -> Result<(), ImportError> {
    let entries = std::fs::read_dir(dir).map_err(ImportError::io(dir))?;
    for entry in entries {
        let entry = entry.map_err(ImportError::io(dir))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(ImportError::io(&path))?;
        if kind.is_symlink() {
            return Err(ImportError::Image {
                path,
                message: "symbolic links are not followed".into(),
            });
        }
        if kind.is_dir() {
            collect(root, &path, exts, out)?;
        } else if !exts.contains(&extension(&path).as_str()) {
            continue;
        } else if !kind.is_file() {
            return Err(ImportError::Image {
                path,
                message: "not a regular file (a FIFO, socket or device is never opened)".into(),
            });
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

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
        for (name, label, line) in super::csv_source::read_pairs(path)? {
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
        let path = folder.join(rel);
        let (payload, m) = read_media(&path)?;
        media.add(m);
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let rel_name = parts.join("/");
        let (label, meta) = label_and_meta(&path, &parts, &rel_name, opts, &mut labels)?;
        let stem = rel_name
            .rsplit_once('.')
            .map_or(rel_name.as_str(), |(s, _)| s);
        let label = label.filter(|_| !opts.unlabeled);
        let id = format!("{prefix}:{stem}");
        examples.push(Example {
            id,
            label,
            meta,
            payload,
        });
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
            Err(super::PatternError {
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
