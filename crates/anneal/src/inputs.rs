//! Prediction inputs: PNG and JPEG files (converted and resized to the signature's image size)
//! and IDX image files, as raw 8-bit pixels.

use std::path::Path;

use anneal_pack::ImageSpec;

use crate::error::CliError;

/// One input ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Input {
    /// A name for output: the file, or `FILE#INDEX` for IDX rows.
    pub name: String,
    /// `channels * height * width` pixels, channel-major.
    pub pixels: Vec<u8>,
}

/// Read `path` as one or more inputs shaped as `spec`.
pub fn read(path: &Path, spec: &ImageSpec) -> Result<Vec<Input>, CliError> {
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
        pixels: p.to_vec(),
    };
    Ok(rows.map(input).collect())
}

fn read_image(path: &Path, spec: &ImageSpec) -> Result<Input, CliError> {
    let bytes = read_regular(path)?;
    let img = anneal_data::payload::decode_image(&bytes, spec.channels, spec.height, spec.width)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(Input {
        name: path.display().to_string(),
        pixels: img.pixels,
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
