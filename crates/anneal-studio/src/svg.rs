//! Small inline SVG charts made of numbers only (no user text goes into them, so they are
//! inserted unescaped): a sparkline and a line chart with its range written beside it.

/// Points of `values` scaled into `w` x `h` (the y axis from the values' range).
fn points(values: &[f32], w: f32, h: f32) -> String {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f32
    } else {
        0.0
    };
    let point = |(i, v): (usize, &f32)| {
        let y = h - (v - lo) / span * h;
        format!(
            "{:.1},{:.1}",
            i as f32 * step,
            if y.is_finite() { y } else { h }
        )
    };
    values
        .iter()
        .enumerate()
        .map(point)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A sparkline of `values`, `w` x `h` pixels.
pub fn sparkline(values: &[f32], w: u32, h: u32) -> String {
    if values.is_empty() {
        return String::new();
    }
    let pts = points(values, w as f32 - 4.0, h as f32 - 4.0);
    format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"-2 -2 {w} {h}\"><polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" points=\"{pts}\"/></svg>"
    )
}

/// A line chart of `values` per epoch (1-based), with the first and last values and the
/// epoch count written on it.
pub fn chart(values: &[f32], w: u32, h: u32) -> String {
    if values.is_empty() {
        return String::new();
    }
    let (pw, ph) = (w as f32 - 60.0, h as f32 - 40.0);
    let pts = points(values, pw, ph);
    let first = values.first().copied().unwrap_or_default();
    let last = values.last().copied().unwrap_or_default();
    let n = values.len();
    format!(
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
<g transform=\"translate(50 10)\"><rect width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#ccc\"/>\
<polyline fill=\"none\" stroke=\"#3a6ea5\" stroke-width=\"2\" points=\"{pts}\"/>\
<text x=\"-6\" y=\"8\" text-anchor=\"end\">{first:.3}</text>\
<text x=\"{pw}\" y=\"{:.0}\" text-anchor=\"end\">{last:.3}</text>\
<text x=\"0\" y=\"{:.0}\">epoch 1</text><text x=\"{pw}\" y=\"{:.0}\" text-anchor=\"end\">epoch {n}</text>\
</g></svg>",
        ph - 6.0,
        ph + 18.0,
        ph + 18.0
    )
}
