//! Prediction inputs, as the package's features before normalisation: for image programs PNG
//! and JPEG files (converted and resized to the signature's image size) and IDX image files as
//! pixel values; for audio programs WAV files through the package's log-mel front end; for
//! table programs the rows of CSV and JSONL files ([`crate::rows`]).

use std::path::{Path, PathBuf};

use anneal_frontend::{LogMelPlan, TablePlan, decode_wav};
use anneal_pack::{ImageSpec, Package};

use crate::error::CliError;

/// One input ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Input {
    /// A name for output: the file, or `FILE#INDEX` for IDX rows.
    pub name: String,
    /// The input shape's worth of features (pixels channel-major, or a log-mel spectrogram).
    pub features: Vec<f32>,
}

/// Read every file of `paths` as inputs of `package`, in order (the front end planned once).
pub fn read_all(paths: &[PathBuf], package: &Package) -> Result<Vec<Input>, CliError> {
    let reader = Reader::new(package)?;
    let mut out = Vec::new();
    for path in paths {
        out.extend(reader.read(path)?);
    }
    Ok(out)
}

/// How a package reads its input files.
enum Reader<'p> {
    /// WAV files at this rate, through the log-mel front end.
    Audio(u32, Box<LogMelPlan>),
    /// CSV or JSONL rows, through the fitted table.
    Table(Box<TablePlan>),
    /// PNG, JPEG or IDX images of this layout.
    Images(&'p ImageSpec),
}

impl<'p> Reader<'p> {
    fn new(package: &'p Package) -> Result<Reader<'p>, CliError> {
        let input = &package.program.input;
        Ok(match (&input.audio, &input.table) {
            (Some(audio), _) => Reader::Audio(audio.rate, Box::new(LogMelPlan::new(audio))),
            (_, Some(table)) => {
                let plan = TablePlan::new(table).map_err(|e| CliError::new(e.to_string()))?;
                Reader::Table(Box::new(plan))
            }
            _ => Reader::Images(&package.signature.image),
        })
    }

    /// `path` as one or more inputs.
    fn read(&self, path: &Path) -> Result<Vec<Input>, CliError> {
        match self {
            Reader::Audio(rate, plan) => Ok(vec![read_wav(path, *rate, plan)?]),
            Reader::Table(plan) => crate::rows::read(path, plan),
            Reader::Images(spec) => read_images(path, spec),
        }
    }
}

/// A WAV file at `rate` through the front end `plan`.
fn read_wav(path: &Path, rate: u32, plan: &LogMelPlan) -> Result<Input, CliError> {
    let bytes = read_regular(path)?;
    let samples =
        decode_wav(&bytes, rate).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(Input {
        name: path.display().to_string(),
        features: plan.features(&samples),
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
