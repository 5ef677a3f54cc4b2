//! Attribution heat maps as PNG: the input in grey with each value's attribution over it, red
//! where it supports the predicted class and blue where it speaks against it. Images are
//! `[C, H, W]` (channels averaged); spectrograms `[1, mels, frames]` are drawn with the lowest
//! band at the bottom.

use anneal_spec::{InputKind, Shape};
use image::ImageEncoder;

/// Pixels per input value along each side.
pub const ZOOM: u32 = 4;

/// The heat map of `attributions` over `input` (model inputs, one per value of `shape`), or
/// `None` for an input that is not a picture (a table row).
pub fn heatmap(
    kind: InputKind,
    shape: Shape,
    input: &[f32],
    attributions: &[f32],
) -> Option<Vec<u8>> {
    let Shape::Image([c, h, w]) = shape else {
        return None;
    };
    let grey = normalised(&channel_mean(input, c, h * w));
    let heat = channel_mean(attributions, c, h * w);
    let peak = heat.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let flip = kind == InputKind::Audio;
    let pixel = |y: usize, x: usize| {
        let row = if flip { h - 1 - y } else { y };
        tint(grey[row * w + x], heat[row * w + x] / peak)
    };
    png(w, h, pixel)
}

/// The input alone, in grey (for the report beside its maps).
pub fn picture(kind: InputKind, shape: Shape, input: &[f32]) -> Option<Vec<u8>> {
    heatmap(kind, shape, input, &vec![0.0; input.len()])
}

/// Per pixel, the mean over `c` channel planes of `hw` values.
fn channel_mean(v: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0f32; hw];
    for plane in v.chunks(hw).take(c) {
        out.iter_mut()
            .zip(plane)
            .for_each(|(o, p)| *o += p / c as f32);
    }
    out
}

/// Values stretched to `[0, 1]`.
fn normalised(v: &[f32]) -> Vec<f32> {
    let (lo, hi) = v
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    v.iter().map(|x| (x - lo) / span).collect()
}

/// A grey level with a signed heat in `[-1, 1]` laid over it.
fn tint(grey: f32, heat: f32) -> [u8; 3] {
    let t = heat.abs().clamp(0.0, 1.0).sqrt();
    let base = 0.35 + 0.5 * grey;
    let color = if heat >= 0.0 {
        [1.0, 0.1, 0.05]
    } else {
        [0.1, 0.3, 1.0]
    };
    color.map(|c| ((base * (1.0 - t) + c * t) * 255.0).round() as u8)
}

/// A PNG of `w` x `h` values, each drawn as a [`ZOOM`]-pixel square.
fn png(w: usize, h: usize, pixel: impl Fn(usize, usize) -> [u8; 3]) -> Option<Vec<u8>> {
    let z = ZOOM as usize;
    let mut rgb = Vec::with_capacity(w * h * z * z * 3);
    for y in 0..h * z {
        for x in 0..w * z {
            rgb.extend_from_slice(&pixel(y / z, x / z));
        }
    }
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    let (pw, ph) = (u32::try_from(w * z).ok()?, u32::try_from(h * z).ok()?);
    encoder
        .write_image(&rgb, pw, ph, image::ExtendedColorType::Rgb8)
        .ok()?;
    Some(out)
}
