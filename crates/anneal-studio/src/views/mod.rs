//! The pages: each a handler that refreshes the index, gathers plain values and renders an
//! askama template (`templates/`), which escapes every value it prints.

pub mod charts;
pub mod example;
pub mod grid;
pub mod queue;

use askama::Template;
use axum::response::Html;

use crate::error::StudioError;
use crate::index::Index;
use crate::state::Studio;

/// What every page shows in its header.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's title.
    pub title: String,
    /// The view's name (`grid`, `example`, …), for the script.
    pub view: &'static str,
    /// The program's name.
    pub program: String,
    /// HEAD (short), or `no commits`.
    pub commit: String,
    /// Edits staged.
    pub staged: usize,
    /// Whether a report is joined.
    pub report: bool,
    /// The script's URL.
    pub script: &'static str,
    /// The stylesheet's URL.
    pub style: &'static str,
}

impl Chrome {
    /// The header of `view` titled `title`.
    pub fn new(studio: &Studio, index: &Index, view: &'static str, title: String) -> Chrome {
        let staged = studio.store().staged().ok().flatten();
        let program = studio
            .inner
            .project
            .as_ref()
            .map(|p| p.program.name.clone());
        Chrome {
            title,
            view,
            program: program.unwrap_or_else(|| "dataset".into()),
            commit: index
                .commit
                .map_or_else(|| "no commits".into(), |c| c.short()),
            staged: staged.map_or(0, |s| s.changes.len()),
            report: index.report.is_some(),
            script: &crate::asset_urls().0,
            style: &crate::asset_urls().1,
        }
    }
}

/// A `<select>` option.
#[derive(Debug, Clone)]
pub struct Opt {
    /// Its value.
    pub value: String,
    /// What it shows.
    pub text: String,
    /// Selected now.
    pub selected: bool,
}

impl Opt {
    /// "any" (the empty value) and then `values`, the one equal to `current` selected.
    pub fn list(values: &[String], current: &str) -> Vec<Opt> {
        let any = Opt {
            value: String::new(),
            text: "any".into(),
            selected: current.is_empty(),
        };
        let each = values.iter().map(|v| Opt {
            value: v.clone(),
            text: v.clone(),
            selected: v == current,
        });
        std::iter::once(any).chain(each).collect()
    }
}

/// Render a page.
pub fn page(t: &impl Template) -> Result<Html<String>, StudioError> {
    Ok(Html(t.render()?))
}

/// `id` as one URL path segment: every byte but letters, digits and `-._~` percent-encoded.
pub fn segment(id: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    id.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The example's media URLs: (image, audio, waveform), each empty when not that kind.
pub fn media_urls(index: &Index, item: &crate::index::Item) -> (String, String, String) {
    let hex = item.row.payload.to_hex();
    match index.item_payload(item).map(crate::media::kind) {
        Some(crate::media::Kind::Image) => (format!("/media/{hex}"), String::new(), String::new()),
        Some(crate::media::Kind::Audio) => (
            String::new(),
            format!("/media/{hex}"),
            format!("/wave/{hex}"),
        ),
        _ => Default::default(),
    }
}

/// The label shown for a code (`(none)` for unlabeled).
pub fn label_name(index: &Index, code: u32) -> String {
    match code {
        crate::index::NONE => "(none)".into(),
        c => index.labels.name(c).to_string(),
    }
}
