//! Prediction inputs, as the package's features before normalisation: for image programs PNG
//! and JPEG files (converted and resized to the signature's image size) and IDX image files as
//! pixel values; for audio programs WAV files through the package's log-mel front end; for
//! table programs the rows of CSV and JSONL files ([`crate::rows`]).

use std::path::Path;

use anneal_frontend::{LogMelPlan, decode_wav};
use anneal_pack::{ImageSpec, Package};
use anneal_spec::LogMel;

use crate::error::CliError;

/// One input ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Input {
    /// A name for output: the file, or `FILE#INDEX` for IDX rows.
    pub name: String,
    /// The input shape's worth of features (pixels channel-major, or a log-mel spectrogram).
    pub features: Vec<f32>,
}

/// Read `path` as one or more inputs of `package`.
pub fn read(path: &Path, package: &Package) -> Result<Vec<Input>, CliError> {
    let input = &package.program.input;
    match (&input.audio, &input.table) {
        (Some(audio), _) => Ok(vec![read_wav(path, audio)?]),
        (_, Some(table)) => crate::rows::read(path, table),
        _ => read_images(path, &package.signature.image),
    }
}

/// A WAV file through the front end `audio`.
fn read_wav(path: &Path, audio: &LogMel) -> Result<Input, CliError> {
    let bytes = read_regular(path)?;
    let samples = decode_wav(&bytes, audio.rate)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(Input {
        name: path.display().to_string(),
        features: LogMelPlan::new(audio).features(&samples),
    })
}

/// Read `path` as one or more images shaped as `spec`.
fn read_images(path: &Path, spec: &ImageSpec) -> Result<Vec<Input>, CliError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ["png", "jpg", "jpeg"].contains(&ext.as_str()) {
        return Ok(vec![read_image(path, spec)?]);
    }
    read_idx(path, spec)
}

/// Every image of an IDX file, named `FILE#INDEX`.
fn read_idx(path: &Path, spec: &ImageSpec) -> Result<Vec<Input>, CliError> {
    let set = anneal_data::idx::read(path, true)?;
    let want = [spec.channels, spec.height, spec.width];
    if [1, set.rows, set.cols] != want {
        let [c, h, w] = want;
        return Err(CliError::new(format!(
            "{}: IDX images are 1x{}x{}; the package expects {c}x{h}x{w}",
            set.images_path.display(),
            set.rows,
            set.cols,
        )));
    }
    let rows = set.pixels.chunks(set.rows * set.cols).enumerate();
    let input = |(i, p): (usize, &[u8])| Input {
        name: format!("{}#{i}", path.display()),
        features: p.iter().map(|&b| f32::from(b)).collect(),
    };
    Ok(rows.map(input).collect())
}

fn read_image(path: &Path, spec: &ImageSpec) -> Result<Input, CliError> {
    let bytes = read_regular(path)?;
    let img = anneal_data::payload::decode_image(&bytes, spec.channels, spec.height, spec.width)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(Input {
        name: path.display().to_string(),
        features: img.pixels.iter().map(|&b| f32::from(b)).collect(),
    })
}

/// The bytes of a regular file (a FIFO named `x.png` is refused, not waited on).
fn read_regular(path: &Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    anneal_data::fs::open_regular(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| CliError::io(path, e))?;
    Ok(bytes)
}
