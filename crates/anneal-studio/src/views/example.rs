//! The example view (`/example/{id}`) and its panel (`/panel/{id}`): the example large, its
//! label, the model's top three, its loss per epoch, its label history and its metadata,
//! with its neighbours in the filtered sequence. The page's script fetches the neighbours'
//! panels ahead and swaps them in on `j`/`k`, so the next example paints without a round trip.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;

use super::{Chrome, label_name, media_urls, page, segment};
use crate::error::StudioError;
use crate::filter::Filter;
use crate::history::{Event, label_history};
use crate::index::{Index, Item};
use crate::state::Studio;
use crate::svg::sparkline;

/// A label key: the key that sets it, and the label.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub label: String,
}

/// The example's panel.
#[derive(Debug, Template)]
#[template(path = "panel.html")]
pub struct Panel {
    pub id: String,
    pub position: usize,
    pub total: usize,
    pub image: String,
    pub audio: String,
    pub wave: String,
    pub features: String,
    pub label: String,
    pub staged: String,
    pub split: String,
    pub top3: Vec<(String, String)>,
    pub loss_svg: String,
    pub mean_loss: String,
    pub history: Vec<Event>,
    pub meta: Vec<(String, String)>,
    pub keys: Vec<Key>,
    pub typeahead: bool,
    pub next: String,
    pub prev: String,
    pub next_href: String,
    pub prev_href: String,
    pub self_url: String,
}

#[derive(Template)]
#[template(path = "example.html")]
struct ExamplePage {
    chrome: Chrome,
    panel: String,
    back: String,
}

/// `GET /example/{id}`.
pub async fn example(
    State(studio): State<Studio>,
    Path(id): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, StudioError> {
    let panel = build_panel(&studio, &id, &filter).await?.render()?;
    let index = studio.index();
    let chrome = Chrome::new(&studio, &index, "example", id.clone());
    page(&ExamplePage {
        chrome,
        panel,
        back: format!("/{}", filter.query()),
    })
}

/// `GET /panel/{id}`: the panel alone, for the script.
pub async fn panel(
    State(studio): State<Studio>,
    Path(id): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, StudioError> {
    page(&build_panel(&studio, &id, &filter).await?)
}

async fn build_panel(studio: &Studio, id: &str, filter: &Filter) -> Result<Panel, StudioError> {
    studio.refresh().await?;
    let (store, owned) = (studio.store().clone(), id.to_string());
    let history = tokio::task::spawn_blocking(move || label_history(&store, &owned)).await??;
    let index = studio.index();
    let at = index
        .position(id)
        .ok_or_else(|| StudioError::UnknownExample(id.into()))?;
    let positions = filter.select(&index).positions;
    let (position, total) = match positions.iter().position(|&p| p == at) {
        Some(k) => (k, positions.len()),
        None => (0, 0),
    };
    let neighbour = |k: Option<usize>| k.and_then(|k| positions.get(k)).map(|&p| &index.items[p]);
    let (prev, next) = (
        neighbour(position.checked_sub(1)),
        neighbour(Some(position + 1)),
    );
    let staged = studio.staged_labels().remove(id);
    let mut panel = panel_of(&index, &index.items[at], history);
    panel.staged = staged
        .map(|l| l.unwrap_or_else(|| "(none)".into()))
        .unwrap_or_default();
    (panel.position, panel.total) = (position + 1, total);
    (panel.prev, panel.prev_href) = links(prev, filter);
    (panel.next, panel.next_href) = links(next, filter);
    (panel.self_url, _) = links(Some(&index.items[at]), filter);
    Ok(panel)
}

/// The panel and page URLs of a neighbour (empty without one).
fn links(item: Option<&Item>, filter: &Filter) -> (String, String) {
    let Some(item) = item else {
        return Default::default();
    };
    let (id, q) = (segment(&item.row.id), filter.with_page(0).query());
    (format!("/panel/{id}{q}"), format!("/example/{id}{q}"))
}

/// The panel of `item`, without its neighbours.
pub fn panel_of(index: &Index, item: &Item, history: Vec<Event>) -> Panel {
    let (image, audio, wave) = media_urls(index, item);
    let losses = index.losses(item);
    let top3 = index.top3(item).into_iter();
    let meta = item.meta.iter().map(|&(k, v)| {
        (
            index.fields.name(k).to_string(),
            index.values.name(v).to_string(),
        )
    });
    let classes = super::grid::class_choices(index);
    Panel {
        id: item.row.id.to_string(),
        position: 0,
        total: 0,
        image,
        audio,
        wave,
        features: index
            .item_payload(item)
            .map(|b| crate::media::features(b, 64))
            .unwrap_or_default(),
        label: label_name(index, item.label),
        staged: String::new(),
        split: item.row.split.clone(),
        top3: top3
            .map(|(c, p)| (c, format!("{:.1}%", p * 100.0)))
            .collect(),
        loss_svg: sparkline(&losses, 160, 36),
        mean_loss: if item.mean_loss.is_nan() {
            String::new()
        } else {
            format!("{:.4}", item.mean_loss)
        },
        history,
        meta: meta.collect(),
        typeahead: classes.len() > 10,
        keys: keys(&classes),
        next: String::new(),
        prev: String::new(),
        next_href: String::new(),
        prev_href: String::new(),
        self_url: String::new(),
    }
}

/// A digit per class with ten classes or fewer (`1`…`9`, `0` for the tenth, or the class's
/// own name when the classes are `0`…`9`); none past ten (the type-ahead box then).
fn keys(classes: &[String]) -> Vec<Key> {
    if classes.len() > 10 {
        return Vec::new();
    }
    let digits = classes.iter().enumerate().all(|(i, c)| *c == i.to_string());
    let key = |(i, c): (usize, &String)| Key {
        key: if digits {
            c.clone()
        } else {
            ((i + 1) % 10).to_string()
        },
        label: c.clone(),
    };
    classes.iter().enumerate().map(key).collect()
}
