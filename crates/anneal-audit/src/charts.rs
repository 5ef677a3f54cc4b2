//! The report's pictures as inline SVG: group bars with their intervals, the reliability
//! diagram, accuracy against epsilon, and horizontal bars. Text from the data (group values,
//! column names) is escaped.

use std::fmt::Write;

use crate::attack::Point;
use crate::calibration::Calibration;
use crate::groups::{Estimate, GroupAudit};

const W: f64 = 420.0;
const H: f64 = 240.0;
/// Margins: left (axis labels), bottom.
const L: f64 = 40.0;
const B: f64 = 28.0;

/// `s` safe inside SVG or HTML text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An empty plot with axes from 0 to 1 (y) and 0 to `x_max` (x), labelled.
fn frame(x_max: f64, x_label: &str, y_label: &str) -> String {
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="10">"#
    );
    for k in 0..=4 {
        let v = f64::from(k) / 4.0;
        let (y, x) = (ypos(v), L + v * (W - L - 24.0));
        let _ = write!(
            s,
            r##"<line x1="{L}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.2}</text><text x="{x}" y="{}" text-anchor="middle">{:.3}</text>"##,
            W - 24.0,
            L - 4.0,
            y + 3.0,
            H - B + 12.0,
            v * x_max
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="10" y="{}" transform="rotate(-90 10 {})" text-anchor="middle">{}</text>"#,
        (L + W) / 2.0,
        H - 4.0,
        escape(x_label),
        H / 2.0,
        H / 2.0,
        escape(y_label)
    );
    s
}

/// The y coordinate of a value in `[0, 1]`.
fn ypos(v: f64) -> f64 {
    10.0 + (1.0 - v.clamp(0.0, 1.0)) * (H - B - 10.0)
}

/// The x coordinate of a value in `[0, x_max]`.
fn xpos(v: f64, x_max: f64) -> f64 {
    L + (v / x_max.max(1e-12)).clamp(0.0, 1.0) * (W - L - 24.0)
}

/// The reliability diagram: each non-empty bin's accuracy as a bar at its confidence, with
/// the diagonal a calibrated model would follow.
pub fn reliability(c: &Calibration) -> String {
    let mut s = frame(1.0, "confidence", "accuracy");
    let width = 1.0 / c.bins.len().max(1) as f64;
    for b in c.bins.iter().filter(|b| b.examples > 0) {
        let (x0, x1) = (xpos(b.low, 1.0), xpos(b.low + width, 1.0));
        let y = ypos(b.accuracy);
        let _ = write!(
            s,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#4a78b0" opacity="0.8"><title>{} examples, confidence {:.3}, accuracy {:.3}</title></rect>"##,
            x1 - x0 - 1.0,
            ypos(0.0) - y,
            b.examples,
            b.confidence,
            b.accuracy
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#c0392b" stroke-dasharray="4 3"/></svg>"##,
        xpos(0.0, 1.0),
        ypos(0.0),
        xpos(1.0, 1.0),
        ypos(1.0)
    );
    s
}

/// Accuracy against epsilon, one line per attack, from the clean accuracy at 0.
pub fn curve(points: &[Point], clean: f64) -> String {
    let x_max = points
        .iter()
        .map(|p| f64::from(p.attack.epsilon))
        .fold(0.0, f64::max);
    let mut s = frame(x_max, "epsilon", "accuracy under attack");
    let colors = ["#c0392b", "#4a78b0", "#27ae60"];
    let rows = points.chunk_by(|a, b| a.attack.name() == b.attack.name());
    for (k, row) in rows.enumerate() {
        let color = colors[k % colors.len()];
        let xy = |e: f64, a: f64| format!("{:.1},{:.1}", xpos(e, x_max), ypos(a));
        let mut pts = vec![xy(0.0, clean)];
        pts.extend(
            row.iter()
                .map(|p| xy(f64::from(p.attack.epsilon), p.accuracy)),
        );
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/><text x="{}" y="{}" fill="{color}">{}</text>"#,
            pts.join(" "),
            W - 60.0,
            20.0 + 12.0 * k as f64,
            escape(&row[0].attack.name())
        );
    }
    s + "</svg>"
}

/// One bar per group with its interval: a figure that every group has (`figure` picks it).
pub fn group_bars(
    groups: &[GroupAudit],
    figure: impl Fn(&GroupAudit) -> Option<Estimate>,
) -> String {
    let rows: Vec<(String, f64, f64, f64)> = groups
        .iter()
        .filter_map(|g| figure(g).map(|e| (g.value.clone(), e.value, e.low, e.high)))
        .collect();
    bars(&rows)
}

/// Horizontal bars in `[0, 1]` (or signed, centred, when any value is negative), each with an
/// optional interval: `(label, value, low, high)`.
pub fn bars(rows: &[(String, f64, f64, f64)]) -> String {
    let h = 18.0 * rows.len() as f64 + 10.0;
    let signed = rows.iter().any(|r| r.1 < 0.0);
    let peak = rows
        .iter()
        .fold(1e-12f64, |m, r| m.max(r.1.abs()).max(r.3.abs()));
    let scale = if signed { peak } else { peak.max(1.0) };
    let (x0, span) = if signed {
        (260.0, 150.0)
    } else {
        (120.0, 290.0)
    };
    let x = |v: f64| x0 + v / scale * span;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" font-family="sans-serif" font-size="10">"#
    );
    for (i, (label, v, lo, hi)) in rows.iter().enumerate() {
        let y = 5.0 + 18.0 * i as f64;
        let (a, b) = (x(0.0).min(x(*v)), x(0.0).max(x(*v)));
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{a:.1}" y="{y}" width="{:.1}" height="12" fill="{}"><title>{v:.4} [{lo:.4}, {hi:.4}]</title></rect><line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="#222"/>"##,
            if signed { 110.0 } else { x0 - 4.0 },
            y + 10.0,
            escape(label),
            (b - a).max(0.5),
            if *v < 0.0 { "#4a78b0" } else { "#c0392b" },
            x(*lo),
            x(*hi),
            y + 6.0,
            y + 6.0
        );
    }
    s + "</svg>"
}
