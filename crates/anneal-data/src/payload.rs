//! Payload encodings: how an example's bytes are laid out.
//!
//! `RAW8` images: `b"RAW8"`, then `u16 channels, u16 height, u16 width` (little-endian), then
//! `channels * height * width` bytes, channel-major. This is what IDX imports store. Image-folder
//! imports store the original PNG or JPEG bytes, recognised by their own signatures and decoded
//! (converted and resized to the program's input) by [`decode_image`].
//!
//! `F32V` feature vectors (numeric table rows, from CSV and JSONL imports): `b"F32V"`, then
//! `u32 n` (little-endian), then `n` little-endian IEEE-754 `f32` values, in the order of the
//! source's feature columns. Audio (WAV folders) and files named by a CSV or JSONL `path` are
//! stored as the original file bytes (`RIFF....WAVE`, PNG or JPEG), checked at import.

/// A decoded 8-bit image, channel-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Channels (1 or 3).
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// `channels * height * width` bytes.
    pub pixels: Vec<u8>,
}

/// Encode raw pixels as a `RAW8` payload.
pub fn encode_raw(channels: usize, height: usize, width: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + pixels.len());
    out.extend_from_slice(b"RAW8");
    for d in [channels, height, width] {
        out.extend_from_slice(&(d as u16).to_le_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encode numeric features as an `F32V` payload.
pub fn encode_f32(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 * values.len());
    out.extend_from_slice(b"F32V");
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decode an `F32V` payload.
pub fn decode_f32(bytes: &[u8]) -> Result<Vec<f32>, PayloadError> {
    if bytes.len() < 8 || &bytes[..4] != b"F32V" {
        return Err(PayloadError("not an F32V feature payload".into()));
    }
    let n = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let data = &bytes[8..];
    if data.len() != n.saturating_mul(4) {
        return Err(PayloadError(format!(
            "F32V payload of {n} values has {} value bytes",
            data.len()
        )));
    }
    Ok(data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Is this a WAV file (RIFF/WAVE)?
pub fn is_wav(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE"
}

/// Why a payload is not an image this version reads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// Decode a `RAW8` payload.
pub fn decode_raw(bytes: &[u8]) -> Result<Image, PayloadError> {
    if bytes.len() < 10 || &bytes[..4] != b"RAW8" {
        return Err(PayloadError("not a RAW8 image payload".into()));
    }
    let d = |i: usize| usize::from(u16::from_le_bytes([bytes[4 + 2 * i], bytes[5 + 2 * i]]));
    let (channels, height, width) = (d(0), d(1), d(2));
    if bytes.len() - 10 != channels * height * width {
        return Err(PayloadError(format!(
            "RAW8 payload of {channels}x{height}x{width} has {} pixel bytes",
            bytes.len() - 10
        )));
    }
    Ok(Image {
        channels,
        height,
        width,
        pixels: bytes[10..].to_vec(),
    })
}

/// Is this an encoded PNG or JPEG?
pub fn is_encoded_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])
}

/// The largest side of a PNG or JPEG decoded: the header is checked before any pixel is, so a
/// small file declaring 100,000 x 100,000 pixels is refused, not inflated.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Decode a PNG or JPEG within [`MAX_IMAGE_SIDE`] and 512 MiB of pixels.
pub fn load_image(bytes: &[u8]) -> Result<image::DynamicImage, PayloadError> {
    let bad = |e: image::ImageError| PayloadError(format!("not a readable PNG or JPEG image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PayloadError(format!("not a readable PNG or JPEG image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    reader.decode().map_err(bad)
}

/// A PNG or JPEG as greyscale pixels of `w`x`h` (resized when it is not that size).
fn grey_pixels(img: &image::DynamicImage, w: u32, h: u32) -> Vec<u8> {
    let grey = img.to_luma8();
    if grey.dimensions() == (w, h) {
        return grey.into_raw();
    }
    image::imageops::resize(&grey, w, h, image::imageops::FilterType::Triangle).into_raw()
}

/// A PNG or JPEG as RGB pixels of `w`x`h`, channel-major (resized when it is not that size).
fn rgb_pixels(img: &image::DynamicImage, w: u32, h: u32) -> Vec<u8> {
    let rgb = img.to_rgb8();
    let rgb = if rgb.dimensions() == (w, h) {
        rgb
    } else {
        image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle)
    };
    let raw = rgb.into_raw();
    // Interleaved RGB to channel-major.
    (0..3)
        .flat_map(|c| raw.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
        .collect()
}

/// Decode a payload (RAW8, PNG or JPEG) to `channels` (1: grey, 3: RGB) at `height` x `width`.
/// RAW8 payloads must already have that shape; PNG and JPEG are converted and resized.
pub fn decode_image(
    bytes: &[u8],
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Image, PayloadError> {
    if bytes.starts_with(b"RAW8") {
        let img = decode_raw(bytes)?;
        if [img.channels, img.height, img.width] != [channels, height, width] {
            return Err(PayloadError(format!(
                "a {}x{}x{} image where {channels}x{height}x{width} is expected",
                img.channels, img.height, img.width
            )));
        }
        return Ok(img);
    }
    if !is_encoded_image(bytes) {
        return Err(PayloadError("not a RAW8, PNG or JPEG image".into()));
    }
    let img = load_image(bytes)?;
    let (w, h) = (width as u32, height as u32);
    let pixels = if channels == 1 {
        grey_pixels(&img, w, h)
    } else {
        rgb_pixels(&img, w, h)
    };
    Ok(Image {
        channels,
        height,
        width,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip_and_bad_lengths() {
        let v = [1.5f32, -2.0, 0.0, 3.25e7];
        let bytes = encode_f32(&v);
        assert_eq!(bytes.len(), 8 + 16);
        assert_eq!(decode_f32(&bytes).unwrap(), v);
        assert!(decode_f32(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_f32(b"RAW8\x00\x00\x00\x00").is_err());
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_f32(&huge).is_err());
    }
}
