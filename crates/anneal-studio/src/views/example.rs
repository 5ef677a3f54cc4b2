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
    /// `example`, `mislabeled` or `uncertain`: which keys apply.
    pub mode: String,
    /// The queue's suggested label (empty outside the queues), and the model's confidence.
    pub suggestion: String,
    pub confidence: String,
}

/// An example's neighbours: the sequence it is seen in, with the queue's suggestions.
#[derive(Debug, Clone, Default)]
pub struct Order {
    /// Positions in the index, in order.
    pub positions: Vec<usize>,
    /// Per position: the suggested label and its confidence (empty for the grid).
    pub suggestions: Vec<(String, String)>,
    /// A line about the whole sequence.
    pub summary: String,
}

impl Order {
    /// No sequence, and why.
    pub fn empty(summary: &str) -> Order {
        Order {
            summary: summary.into(),
            ..Order::default()
        }
    }

    /// The examples `ids` (those at HEAD) with their suggestions.
    pub fn of_ids(
        index: &Index,
        ids: &[anneal_data::ExampleId],
        suggestions: Vec<(String, String)>,
        summary: String,
    ) -> Order {
        let found = ids
            .iter()
            .zip(suggestions)
            .filter_map(|(id, s)| Some((index.position(id)?, s)));
        let (positions, suggestions) = found.unzip();
        Order {
            positions,
            suggestions,
            summary,
        }
    }
}

/// Where a panel's links point: the example view under a filter, or a queue.
#[derive(Debug, Clone, Copy)]
pub enum Links<'a> {
    /// `/example/{id}?filter`.
    Filter(&'a Filter),
    /// `/queue/{name}?at={id}`.
    Queue(&'static str),
}

impl Links<'_> {
    /// The panel's URL and the page's URL of example `id`.
    fn urls(self, id: &str) -> (String, String) {
        let seg = segment(id);
        match self {
            Links::Filter(f) => {
                let q = f.with_page(0).query();
                (format!("/panel/{seg}{q}"), format!("/example/{seg}{q}"))
            }
            Links::Queue(name) => (
                format!("/queue/{name}/panel/{seg}"),
                format!("/queue/{name}?at={seg}"),
            ),
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Links::Filter(_) => "example",
            Links::Queue(name) => name,
        }
    }
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
    let panel = filtered_panel(&studio, &id, &filter).await?.render()?;
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
    page(&filtered_panel(&studio, &id, &filter).await?)
}

async fn filtered_panel(studio: &Studio, id: &str, filter: &Filter) -> Result<Panel, StudioError> {
    let order = |index: &Index| Order {
        positions: filter.select(index).positions,
        ..Order::default()
    };
    build_panel(studio, id, Links::Filter(filter), order).await
}

/// The panel of example `id` seen in the sequence `order` gives, its links made by `links`.
pub async fn build_panel(
    studio: &Studio,
    id: &str,
    links: Links<'_>,
    order: impl FnOnce(&Index) -> Order,
) -> Result<Panel, StudioError> {
    studio.refresh().await?;
    let (store, owned) = (studio.store().clone(), id.to_string());
    let history = tokio::task::spawn_blocking(move || label_history(&store, &owned)).await??;
    let staged = studio.staged_labels().remove(id);
    let index = studio.index();
    let at = index
        .position(id)
        .ok_or_else(|| StudioError::UnknownExample(id.into()))?;
    let order = order(&index);
    let mut panel = panel_of(&index, &index.items[at], history);
    panel.staged = staged
        .map(|l| l.unwrap_or_else(|| "(none)".into()))
        .unwrap_or_default();
    panel.mode = links.mode().to_string();
    let k = order.positions.iter().position(|&p| p == at);
    if let Some((s, c)) = k.and_then(|k| order.suggestions.get(k)) {
        (panel.suggestion, panel.confidence) = (s.clone(), c.clone());
    }
    (panel.position, panel.total) = (
        k.map_or(0, |k| k + 1),
        if k.is_some() {
            order.positions.len()
        } else {
            0
        },
    );
    let url = |k: Option<usize>| {
        let item = k
            .and_then(|k| order.positions.get(k))
            .map(|&p| &index.items[p]);
        item.map(|i| links.urls(&i.row.id)).unwrap_or_default()
    };
    (panel.prev, panel.prev_href) = url(k.and_then(|k| k.checked_sub(1)));
    (panel.next, panel.next_href) = url(Some(k.map_or(0, |k| k + 1)));
    (panel.self_url, _) = links.urls(id);
    Ok(panel)
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
        mode: String::new(),
        suggestion: String::new(),
        confidence: String::new(),
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
