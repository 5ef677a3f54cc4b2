//! The grid (`/`): a page of the examples a [`Filter`] selects, per-class counts, paging, and
//! checkboxes for bulk labeling.

use std::collections::HashMap;

use anneal_data::ExampleId;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;

use super::{Chrome, Opt, label_name, media_urls, page, segment};
use crate::error::StudioError;
use crate::filter::{Filter, PER_PAGE, Selection};
use crate::index::{Index, Item, NONE};
use crate::state::Studio;

/// One example in the grid.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: String,
    pub href: String,
    pub thumb: String,
    pub audio: String,
    pub wave: String,
    pub features: String,
    pub label: String,
    pub staged: String,
    pub pred: String,
    pub wrong: bool,
    pub loss: String,
}

/// A per-class count, linking to the grid filtered to that label.
#[derive(Debug, Clone)]
pub struct Count {
    pub name: String,
    pub n: usize,
    pub href: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage {
    chrome: Chrome,
    filter: Filter,
    splits: Vec<Opt>,
    labels: Vec<Opt>,
    preds: Vec<Opt>,
    correct: Vec<Opt>,
    classes: Vec<String>,
    counts: Vec<Count>,
    cells: Vec<Cell>,
    total: usize,
    page: usize,
    pages: usize,
    prev: String,
    next: String,
    millis: String,
}

/// `GET /`.
pub async fn grid(
    State(studio): State<Studio>,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, StudioError> {
    studio.refresh().await?;
    let start = std::time::Instant::now();
    let index = studio.index();
    let selection = filter.select(&index);
    let staged = studio.staged_labels();
    let mut grid = grid_page(&studio, &index, &filter, &selection, &staged);
    grid.millis = format!("{:.1}", start.elapsed().as_secs_f64() * 1e3);
    page(&grid)
}

fn grid_page(
    studio: &Studio,
    index: &Index,
    filter: &Filter,
    selection: &Selection,
    staged: &HashMap<ExampleId, Option<String>>,
) -> GridPage {
    let total = selection.positions.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = filter.page().min(pages);
    let shown = selection
        .positions
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE);
    let labels = index.labels.names();
    GridPage {
        chrome: Chrome::new(studio, index, "grid", "Grid".into()),
        splits: Opt::list(index.splits.names(), &filter.split),
        labels: Opt::list(labels, &filter.label),
        preds: Opt::list(labels, &filter.pred),
        correct: Opt::list(&["yes".into(), "no".into()], &filter.correct),
        classes: class_choices(index),
        counts: counts(index, filter, selection),
        cells: shown
            .map(|&p| cell(index, &index.items[p], filter, staged))
            .collect(),
        prev: if page > 1 {
            filter.with_page(page - 1).query()
        } else {
            String::new()
        },
        next: if page < pages {
            filter.with_page(page + 1).query()
        } else {
            String::new()
        },
        filter: filter.clone(),
        total,
        page,
        pages,
        millis: String::new(),
    }
}

/// The classes a label can be set to: the program's, or every label seen.
pub fn class_choices(index: &Index) -> Vec<String> {
    match index.classes.is_empty() {
        true => index.labels.names().to_vec(),
        false => index.classes.clone(),
    }
}

fn counts(index: &Index, filter: &Filter, selection: &Selection) -> Vec<Count> {
    let count = |&(code, n): &(u32, usize)| {
        let name = label_name(index, code);
        let f = match code {
            NONE => Filter {
                pool: "1".into(),
                label: String::new(),
                ..filter.with_page(1)
            },
            _ => Filter {
                label: name.clone(),
                ..filter.with_page(1)
            },
        };
        let active = (code == NONE && filter.pool == "1") || (code != NONE && filter.label == name);
        Count {
            href: format!("/{}", f.query()),
            name,
            n,
            active,
        }
    };
    selection.counts.iter().map(count).collect()
}

fn cell(
    index: &Index,
    item: &Item,
    filter: &Filter,
    staged: &HashMap<ExampleId, Option<String>>,
) -> Cell {
    let (thumb, audio, wave) = media_urls(index, item);
    let features = index
        .item_payload(item)
        .map(|b| crate::media::features(b, 6));
    let staged = staged
        .get(&item.row.id)
        .map(|l| l.clone().unwrap_or_else(|| "(none)".into()));
    Cell {
        id: item.row.id.to_string(),
        href: format!(
            "/example/{}{}",
            segment(&item.row.id),
            filter.with_page(0).query()
        ),
        thumb,
        audio,
        wave,
        features: features.unwrap_or_default(),
        label: label_name(index, item.label),
        staged: staged.unwrap_or_default(),
        pred: if item.pred == NONE {
            String::new()
        } else {
            label_name(index, item.pred)
        },
        wrong: item.pred != NONE && item.label != NONE && item.pred != item.label,
        loss: if item.mean_loss.is_nan() {
            String::new()
        } else {
            format!("{:.3}", item.mean_loss)
        },
    }
}
