//! The two queues (`/queue/mislabeled`, `/queue/uncertain`), computed by
//! [`anneal_build::queue`] from the joined report and the labels at HEAD, shown one example
//! at a time in the example panel with the queue's suggestion: in the mislabel queue `k`
//! keeps the label (remembered in `.anneal/kept`), `a` or Enter accepts the suggestion, a
//! class key picks another; in the uncertain queue the predicted label is pre-filled and
//! Enter confirms it.

use anneal_build::queue::{Current, Kept, mislabeled, uncertain};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::example::{Links, Order, Panel, build_panel};
use super::{Chrome, page};
use crate::error::StudioError;
use crate::index::{Index, NONE};
use crate::state::Studio;

/// Candidates shown in the uncertain queue.
pub const UNCERTAIN_TOP: usize = 500;

/// Which queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Suspected mislabels.
    Mislabeled,
    /// The least sure unlabeled examples.
    Uncertain,
}

impl Queue {
    /// Its name in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Mislabeled => "mislabeled",
            Queue::Uncertain => "uncertain",
        }
    }
}

/// `?at=ID`: the example to open (default: the queue's first).
#[derive(Debug, Default, Deserialize)]
pub struct At {
    #[serde(default)]
    at: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    panel: String,
    summary: String,
}

/// Each example's label at HEAD, as the queues take it.
fn current(index: &Index) -> Current {
    let label = |c: u32| (c != NONE).then(|| index.labels.name(c).to_string());
    index
        .items
        .iter()
        .map(|i| (i.row.id.clone(), label(i.label)))
        .collect()
}

/// The queue's order, suggestions and summary over `index`.
pub fn order(index: &Index, queue: Queue, kept: &Kept) -> Order {
    let Some(report) = index.report.as_ref() else {
        return Order::empty("no build report yet: run anneal build or press Rebuild");
    };
    let current = current(index);
    let (ids, suggestions, summary): (Vec<_>, Vec<_>, String) = match queue {
        Queue::Mislabeled => {
            let review = mislabeled(report, kept, &current);
            let summary = format!("{}; {} to review", review.headline(), review.suspects.len());
            let rows = review.suspects.into_iter();
            let (ids, s) = rows
                .map(|s| (s.id, (s.suggested, cut_note(s.confidence, s.wrong))))
                .unzip();
            (ids, s, summary)
        }
        Queue::Uncertain => {
            let u = uncertain(report, UNCERTAIN_TOP, &current);
            let summary = format!(
                "{} least sure of {} unlabeled examples",
                u.candidates.len(),
                u.pool
            );
            let rows = u.candidates.into_iter();
            let (ids, s) = rows
                .map(|c| (c.id, (c.predicted, percent(c.confidence))))
                .unzip();
            (ids, s, summary)
        }
    };
    Order::of_ids(index, &ids, suggestions, summary)
}

/// The suggestion's confidence, and whether the example is within the queue's cut.
fn cut_note(confidence: f32, wrong: f32) -> String {
    let side = if wrong > 0.5 { "within" } else { "past" };
    format!("{} · {side} the cut", percent(confidence))
}

fn percent(p: f32) -> String {
    format!("{:.0}%", p * 100.0)
}

async fn kept(studio: &Studio) -> Result<Kept, StudioError> {
    let dir = studio.dir().to_path_buf();
    let load = move || Kept::load(&dir).map_err(StudioError::from);
    tokio::task::spawn_blocking(load).await?
}

async fn queue_panel(
    studio: &Studio,
    queue: Queue,
    at: &str,
) -> Result<Option<Panel>, StudioError> {
    studio.refresh().await?;
    let kept = kept(studio).await?;
    let first = {
        let index = studio.index();
        let o = order(&index, queue, &kept);
        match at {
            "" => o
                .positions
                .first()
                .map(|&p| index.items[p].row.id.to_string()),
            id => Some(id.to_string()),
        }
    };
    let Some(id) = first else {
        return Ok(None);
    };
    let links = Links::Queue(queue.name());
    let panel = build_panel(studio, &id, links, |index| order(index, queue, &kept)).await?;
    Ok(Some(panel))
}

/// `GET /queue/mislabeled` and `/queue/uncertain`.
async fn queue_page(studio: Studio, queue: Queue, at: &str) -> Result<Html<String>, StudioError> {
    let panel = queue_panel(&studio, queue, at).await?;
    let kept = kept(&studio).await?;
    let index = studio.index();
    let summary = order(&index, queue, &kept).summary;
    let title = match queue {
        Queue::Mislabeled => "Mislabel queue",
        Queue::Uncertain => "Uncertain queue",
    };
    let chrome = Chrome::new(&studio, &index, queue.name(), title.into());
    let panel = panel.map(|p| p.render()).transpose()?.unwrap_or_default();
    page(&QueuePage {
        chrome,
        panel,
        summary,
    })
}

/// `GET /queue/mislabeled`.
pub async fn mislabeled_page(
    State(studio): State<Studio>,
    Query(at): Query<At>,
) -> Result<Html<String>, StudioError> {
    queue_page(studio, Queue::Mislabeled, &at.at).await
}

/// `GET /queue/uncertain`.
pub async fn uncertain_page(
    State(studio): State<Studio>,
    Query(at): Query<At>,
) -> Result<Html<String>, StudioError> {
    queue_page(studio, Queue::Uncertain, &at.at).await
}

/// `GET /queue/{name}/panel/{id}`.
pub async fn queue_panel_route(
    State(studio): State<Studio>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Html<String>, StudioError> {
    let queue = match name.as_str() {
        "mislabeled" => Queue::Mislabeled,
        "uncertain" => Queue::Uncertain,
        other => return Err(StudioError::BadRequest(format!("no queue `{other}`"))),
    };
    let panel = queue_panel(&studio, queue, &id).await?;
    page(&panel.ok_or_else(|| StudioError::UnknownExample(id))?)
}
