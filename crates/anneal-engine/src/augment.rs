//! Augmentation: images translated by a few pixels, the border filled with the background.

/// The most common input value (the background, e.g. black pixels), used to fill shifted images.
pub(crate) fn background(x: &[f32], features: usize) -> f32 {
    let sample = &x[..x.len().min(features * 64)];
    sample.iter().copied().fold(f32::INFINITY, f32::min)
}

/// Append `row` (an image `[c, h, w]`) translated by `(dy, dx)`, filling with `fill`.
pub(crate) fn shifted(
    row: &[f32],
    [c, h, w]: [usize; 3],
    dy: isize,
    dx: isize,
    fill: f32,
    out: &mut Vec<f32>,
) {
    for ch in 0..c {
        let plane = &row[ch * h * w..(ch + 1) * h * w];
        for y in 0..h as isize {
            let sy = y - dy;
            for x in 0..w as isize {
                let sx = x - dx;
                let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                out.push(if inside {
                    plane[(sy * w as isize + sx) as usize]
                } else {
                    fill
                });
            }
        }
    }
}
