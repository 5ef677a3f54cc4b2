//! The confusion matrix (`/confusion`, from the report's test probabilities; each cell opens
//! the grid filtered to its label and prediction) and the training curve (`/curves`).

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::{Chrome, page};
use crate::error::StudioError;
use crate::filter::Filter;
use crate::joined::argmax;
use crate::state::Studio;
use crate::svg::chart;

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct MatrixCell {
    pub n: usize,
    pub href: String,
    /// Shade 0 (none) to 5 (the whole row), as a CSS class.
    pub shade: usize,
    pub diagonal: bool,
}

#[derive(Template)]
#[template(path = "confusion.html")]
struct ConfusionPage {
    chrome: Chrome,
    classes: Vec<String>,
    rows: Vec<(String, Vec<MatrixCell>, String)>,
    accuracy: String,
    examples: usize,
}

#[derive(Template)]
#[template(path = "curves.html")]
struct CurvesPage {
    chrome: Chrome,
    chart: String,
    epochs: Vec<(usize, String)>,
    examples: usize,
}

/// `GET /confusion`.
pub async fn confusion(State(studio): State<Studio>) -> Result<Html<String>, StudioError> {
    studio.refresh().await?;
    let index = studio.index();
    let chrome = Chrome::new(&studio, &index, "confusion", "Confusion matrix".into());
    let Some(report) = index.report.as_ref() else {
        return page(&ConfusionPage {
            chrome,
            classes: vec![],
            rows: vec![],
            accuracy: String::new(),
            examples: 0,
        });
    };
    let n = report.classes.len();
    let mut counts = vec![vec![0usize; n]; n];
    let pairs = report.test.labels.iter().zip(&report.test.probs);
    for (&label, probs) in pairs {
        if let (Some(p), true) = (argmax(probs), (label as usize) < n) {
            counts[label as usize][p] += 1;
        }
    }
    let split = studio.test_split();
    let rows = matrix_rows(&report.classes, &counts, &split);
    let right: usize = (0..n).map(|i| counts[i][i]).sum();
    let examples = report.test.labels.len();
    let accuracy = format!("{:.4}", right as f64 / examples.max(1) as f64);
    page(&ConfusionPage {
        chrome,
        classes: report.classes.clone(),
        rows,
        accuracy,
        examples,
    })
}

/// Per true class: its name, its cells, its recall.
fn matrix_rows(
    classes: &[String],
    counts: &[Vec<usize>],
    split: &str,
) -> Vec<(String, Vec<MatrixCell>, String)> {
    let row = |(i, name): (usize, &String)| {
        let total: usize = counts[i].iter().sum();
        let cell = |(j, &n): (usize, &usize)| MatrixCell {
            n,
            href: cell_href(split, name, &classes[j]),
            shade: if n == 0 { 0 } else { 1 + 4 * n / total.max(1) },
            diagonal: i == j,
        };
        let recall = format!("{:.3}", counts[i][i] as f64 / total.max(1) as f64);
        (
            name.clone(),
            counts[i].iter().enumerate().map(cell).collect(),
            recall,
        )
    };
    classes.iter().enumerate().map(row).collect()
}

fn cell_href(split: &str, label: &str, pred: &str) -> String {
    let f = Filter {
        split: split.into(),
        label: label.into(),
        pred: pred.into(),
        ..Filter::default()
    };
    format!("/{}", f.query())
}

/// `GET /curves`.
pub async fn curves(State(studio): State<Studio>) -> Result<Html<String>, StudioError> {
    studio.refresh().await?;
    let index = studio.index();
    let chrome = Chrome::new(&studio, &index, "curves", "Training curves".into());
    let loss = index.report.as_ref().map(|r| &r.train.loss);
    let means: Vec<f32> = loss.into_iter().flatten().map(|e| mean(e)).collect();
    let examples = index.report.as_ref().map_or(0, |r| r.train.ids.len());
    let epochs = means
        .iter()
        .enumerate()
        .map(|(i, m)| (i + 1, format!("{m:.4}")))
        .collect();
    page(&CurvesPage {
        chrome,
        chart: chart(&means, 640, 280),
        epochs,
        examples,
    })
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}
