//! Payloads as the browser takes them, at URLs named by their content hash (so they are cached
//! for good): `RAW8` images as PNG, PNG and JPEG as they are, WAV as it is, and a WAV's
//! waveform as a small SVG. `F32V` feature rows are shown as text, not served.

use anneal_data::payload::{decode_f32, decode_raw, is_encoded_image, is_wav};
use image::ImageEncoder;

use crate::error::StudioError;

/// What kind of example a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `RAW8`, PNG or JPEG.
    Image,
    /// A WAV file.
    Audio,
    /// An `F32V` feature row.
    Features,
    /// Anything else.
    Other,
}

/// The kind of `bytes`.
pub fn kind(bytes: &[u8]) -> Kind {
    if bytes.starts_with(b"RAW8") || is_encoded_image(bytes) {
        Kind::Image
    } else if is_wav(bytes) {
        Kind::Audio
    } else if bytes.starts_with(b"F32V") {
        Kind::Features
    } else {
        Kind::Other
    }
}

/// The payload as served: its content type and bytes.
pub fn served(bytes: &[u8]) -> Result<(&'static str, Vec<u8>), StudioError> {
    if bytes.starts_with(b"RAW8") {
        return Ok(("image/png", raw_to_png(bytes)?));
    }
    if bytes.starts_with(b"\x89PNG") {
        return Ok(("image/png", bytes.to_vec()));
    }
    if is_encoded_image(bytes) {
        return Ok(("image/jpeg", bytes.to_vec()));
    }
    if is_wav(bytes) {
        return Ok(("audio/wav", bytes.to_vec()));
    }
    Err(StudioError::Media("not an image or a sound".into()))
}

/// A `RAW8` payload (channel-major) as a PNG.
fn raw_to_png(bytes: &[u8]) -> Result<Vec<u8>, StudioError> {
    let img = decode_raw(bytes).map_err(|e| StudioError::Media(e.to_string()))?;
    let plane = img.height * img.width;
    let (pixels, color) = match img.channels {
        1 => (img.pixels, image::ExtendedColorType::L8),
        3 => {
            let rgb = (0..plane).flat_map(|i| (0..3).map(move |c| c * plane + i));
            (
                rgb.map(|k| img.pixels[k]).collect(),
                image::ExtendedColorType::Rgb8,
            )
        }
        c => return Err(StudioError::Media(format!("{c} channels"))),
    };
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    let (w, h) = (img.width as u32, img.height as u32);
    encoder
        .write_image(&pixels, w, h, color)
        .map_err(|e| StudioError::Media(e.to_string()))?;
    Ok(out)
}

/// The first `n` features of an `F32V` row as text (`0.12 3.4 …`).
pub fn features(bytes: &[u8], n: usize) -> String {
    let Ok(values) = decode_f32(bytes) else {
        return String::new();
    };
    let shown: Vec<String> = values.iter().take(n).map(|v| format!("{v:.3}")).collect();
    let more = if values.len() > n { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}

/// A WAV's waveform as an SVG of `bins` columns: the peak amplitude per column.
pub fn waveform(bytes: &[u8], bins: usize) -> Result<String, StudioError> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| StudioError::Media(e.to_string()))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .filter_map(Result::ok)
            .collect(),
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
            let ints = reader.into_samples::<i32>().filter_map(Result::ok);
            ints.map(|s| s as f32 / scale).collect()
        }
    };
    Ok(peaks_svg(&peaks(&samples, bins)))
}

/// The peak absolute value of each of `bins` equal runs of `samples` (0 for an empty run).
fn peaks(samples: &[f32], bins: usize) -> Vec<f32> {
    let run = |b: usize| &samples[b * samples.len() / bins..(b + 1) * samples.len() / bins];
    let peak = |r: &[f32]| r.iter().fold(0f32, |m, s| m.max(s.abs())).min(1.0);
    (0..bins).map(|b| peak(run(b))).collect()
}

fn peaks_svg(peaks: &[f32]) -> String {
    let bars: String = peaks
        .iter()
        .enumerate()
        .map(|(x, p)| {
            let h = (p * 30.0).max(0.5);
            format!(
                "<rect x=\"{x}\" y=\"{:.1}\" width=\"0.8\" height=\"{:.1}\"/>",
                16.0 - h / 2.0,
                h
            )
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} 32\" preserveAspectRatio=\"none\" fill=\"#3a6ea5\">{bars}</svg>",
        peaks.len().max(1)
    )
}
