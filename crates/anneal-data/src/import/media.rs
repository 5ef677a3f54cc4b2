//! Media files (PNG, JPEG, WAV): reading and checking one, summing up a source's, and the
//! path columns of CSV and JSONL sources that name them. Shared by every importer of media.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::ImportError;
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
pub(super) fn collect(
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
