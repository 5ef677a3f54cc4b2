//! The audit as one self-contained HTML file: every picture inline (SVG charts, PNG heat maps
//! as data URIs), no script, nothing fetched. Text from the data is escaped by the template.

use askama::Template;
use base64::Engine;

use crate::charts;
use crate::groups::{Estimate, FieldAudit, GroupAudit, shown};
use crate::opacity::{Explained, Opacity};
use crate::picture;
use crate::report::Audit;
use crate::robust::Robustness;
use anneal_spec::program::Input;

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    title: String,
    build_key: String,
    dataset_commit: String,
    examples: usize,
    accuracy: String,
    fields: Vec<FieldView>,
    ece: String,
    mce: String,
    nll: String,
    reliability: String,
    temperature: Option<String>,
    opacity: Option<OpacityView>,
    robustness: Option<RobustView>,
}

struct FieldView {
    name: String,
    note: String,
    rows: Vec<GroupRow>,
    bars_title: String,
    bars: String,
    gaps: Vec<(String, String)>,
}

struct GroupRow {
    value: String,
    examples: usize,
    gated: bool,
    accuracy: String,
    selection: String,
    tpr: String,
    fpr: String,
}

struct OpacityView {
    baseline: String,
    steps: usize,
    gap: String,
    share: String,
    faithful_examples: usize,
    faithfulness: String,
    examples: Vec<ExampleView>,
}

struct ExampleView {
    id: String,
    label: String,
    predicted: String,
    loss: String,
    /// `(caption, base64 PNG)`; empty for tables.
    maps: Vec<(String, String)>,
    /// For tables: the columns' attributions as bars.
    columns: String,
}

struct RobustView {
    examples: usize,
    clean: String,
    units: String,
    curve: String,
    epsilons: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

/// The report of `audit` of program `title` (`name version`), whose input is `input`.
pub fn report(title: &str, input: &Input, audit: &Audit) -> Result<String, askama::Error> {
    let c = &audit.calibration;
    Page {
        title: title.to_string(),
        build_key: audit.build_key.clone(),
        dataset_commit: audit.dataset_commit.clone(),
        examples: audit.examples,
        accuracy: format!("{:.4}", audit.accuracy),
        fields: audit.fields.iter().map(field).collect(),
        ece: format!("{:.4}", c.ece),
        mce: format!("{:.4}", c.mce),
        nll: format!("{:.4}", c.nll),
        reliability: charts::reliability(c),
        temperature: c.temperature.as_ref().map(|s| {
            format!(
                "{:.3}, fitted on the validation split (unscaled: ECE {:.4}, NLL {:.4})",
                s.temperature, s.unscaled_ece, s.unscaled_nll
            )
        }),
        opacity: audit.opacity.as_ref().map(|o| opacity(input, o)),
        robustness: audit.robustness.as_ref().map(robust),
    }
    .render()
}

fn field(f: &FieldAudit) -> FieldView {
    let binary = f.positive.is_some();
    let (bars_title, figure): (_, fn(&GroupAudit) -> Option<Estimate>) = if binary {
        ("Selection rate per group, with its 95% interval:", |g| {
            g.selection_rate
        })
    } else {
        ("Accuracy per group, with its 95% interval:", |g| g.accuracy)
    };
    let gaps = [
        ("accuracy difference", f.accuracy_difference),
        (
            "demographic parity difference",
            f.demographic_parity_difference,
        ),
        ("demographic parity ratio", f.demographic_parity_ratio),
        ("equalized odds difference", f.equalized_odds_difference),
    ];
    FieldView {
        name: f.field.clone(),
        note: format!(
            "{} groups; positive class {}; groups under {} examples are shown but left out of the gaps; intervals from {} bootstrap resamples",
            f.groups.len(),
            f.positive.as_deref().unwrap_or("none (accuracy only)"),
            f.min_group,
            f.resamples
        ),
        rows: f.groups.iter().map(group_row).collect(),
        bars_title: bars_title.into(),
        bars: charts::group_bars(&f.groups, figure),
        gaps: gaps
            .iter()
            .map(|(n, e)| (n.to_string(), shown(*e)))
            .collect(),
    }
}

fn group_row(g: &GroupAudit) -> GroupRow {
    GroupRow {
        value: g.value.clone(),
        examples: g.examples,
        gated: g.gated,
        accuracy: shown(g.accuracy),
        selection: shown(g.selection_rate),
        tpr: shown(g.true_positive_rate),
        fpr: shown(g.false_positive_rate),
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn opacity(input: &Input, o: &Opacity) -> OpacityView {
    let f = &o.faithfulness;
    let bars = [
        ("integrated gradients", f.integrated_gradients),
        ("saliency", f.saliency),
        ("random", f.random),
    ];
    let rows: Vec<_> = bars
        .iter()
        .map(|(n, v)| (n.to_string(), *v, *v, *v))
        .collect();
    OpacityView {
        baseline: o.baseline.to_string(),
        steps: o.steps,
        gap: pct(o.relative_gap),
        share: pct(f.share),
        faithful_examples: f.examples,
        faithfulness: charts::bars(&rows),
        examples: o.examples.iter().map(|e| example(input, e)).collect(),
    }
}

fn example(input: &Input, e: &Explained) -> ExampleView {
    let (kind, shape) = (input.kind, input.shape);
    let b64 = |png: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(png);
    let maps = [
        ("input", picture::picture(kind, shape, &e.input)),
        (
            "saliency",
            picture::heatmap(kind, shape, &e.input, &e.saliency),
        ),
        (
            "integrated gradients",
            picture::heatmap(kind, shape, &e.input, &e.integrated.attributions),
        ),
    ];
    let maps = maps
        .into_iter()
        .filter_map(|(n, png)| Some((n.to_string(), b64(png?))));
    let column = |c: &crate::opacity::Column| {
        let v = f64::from(c.integrated);
        (c.name.clone(), v, v, v)
    };
    let columns: Vec<_> = e.columns.iter().map(column).collect();
    ExampleView {
        id: e.id.clone(),
        label: e.label.clone(),
        predicted: e.predicted.clone(),
        loss: format!("{:.3}", e.loss),
        maps: maps.collect(),
        columns: if columns.is_empty() {
            String::new()
        } else {
            charts::bars(&columns)
        },
    }
}

fn robust(r: &Robustness) -> RobustView {
    let rows = r.points.chunk_by(|a, b| a.attack.name() == b.attack.name());
    let first = rows.clone().next().unwrap_or_default();
    let accuracies =
        |row: &[crate::attack::Point]| row.iter().map(|p| format!("{:.4}", p.accuracy)).collect();
    RobustView {
        examples: r.examples,
        clean: format!("{:.4}", r.clean_accuracy),
        units: r.units.clone(),
        curve: charts::curve(&r.points, r.clean_accuracy),
        epsilons: first.iter().map(|p| p.attack.epsilon.to_string()).collect(),
        rows: rows
            .map(|row| (row[0].attack.name(), accuracies(row)))
            .collect(),
    }
}
