//! Prediction inputs: PNG and JPEG files (converted and resized to the signature's image size)
//! and IDX image files, as raw 8-bit pixels.

use std::path::Path;

use anneal_pack::ImageSpec;
use image::imageops::FilterType;

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
    let set = anneal_data::idx::read(path, true)?;
    if [1, set.rows, set.cols] != [spec.channels, spec.height, spec.width] {
        return Err(CliError::new(format!(
            "{}: IDX images are 1x{}x{}; the package expects {}x{}x{}",
            set.images_path.display(),
            set.rows,
            set.cols,
            spec.channels,
            spec.height,
            spec.width
        )));
    }
    let px = set.rows * set.cols;
    Ok(set
        .pixels
        .chunks(px)
        .enumerate()
        .map(|(i, p)| Input {
            name: format!("{}#{i}", path.display()),
            pixels: p.to_vec(),
        })
        .collect())
}

fn read_image(path: &Path, spec: &ImageSpec) -> Result<Input, CliError> {
    let img = image::ImageReader::open(path)
        .map_err(|e| CliError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| CliError::io(path, e))?
        .decode()
        .map_err(|e| {
            CliError::new(format!(
                "{}: not a readable PNG or JPEG image: {e}",
                path.display()
            ))
        })?;
    let (w, h) = (spec.width as u32, spec.height as u32);
    let pixels = if spec.channels == 1 {
        image::imageops::resize(&img.to_luma8(), w, h, FilterType::Triangle).into_raw()
    } else {
        let rgb = image::imageops::resize(&img.to_rgb8(), w, h, FilterType::Triangle);
        // Interleaved RGB to channel-major.
        let raw = rgb.into_raw();
        (0..3)
            .flat_map(|c| raw.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
            .collect()
    };
    Ok(Input {
        name: path.display().to_string(),
        pixels,
    })
}
