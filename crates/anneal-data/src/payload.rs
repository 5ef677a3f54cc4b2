//! Payload encodings: how an example's bytes are laid out.
//!
//! `RAW8` images: `b"RAW8"`, then `u16 channels, u16 height, u16 width` (little-endian), then
//! `channels * height * width` bytes, channel-major. This is what IDX imports store; encoded
//! PNG and JPEG payloads are recognised by their own signatures.

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
