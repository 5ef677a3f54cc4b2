//! The opacity audit of a program's built package: attributions of its worst test predictions
//! (highest loss) and the faithfulness of each attribution method ([`crate::explain`]).

use anneal_build::Project;
use anneal_engine::{EngineError, Model, preprocess};
use anneal_spec::Table;
use serde::Serialize;

use crate::error::AuditError;
use crate::explain::{
    Baseline, Faithfulness, Integrated, changed_by_removal, integrated_gradients, random_scores,
    saliency,
};
use crate::robust::Progress;
use crate::testset::TestSet;

/// What to explain and how.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// The worst test examples explained one by one.
    pub examples: usize,
    /// Test examples to explain by id, instead of the worst.
    pub ids: Vec<String>,
    /// Where integrated gradients start.
    pub baseline: Baseline,
    /// Points on the path.
    pub steps: usize,
    /// Test examples (the first, in id order) the faithfulness figure is measured on.
    pub faithfulness: usize,
    /// The share of each example's inputs removed to measure faithfulness.
    pub share: f64,
    /// Seed of the random ranking.
    pub seed: u64,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            examples: 8,
            ids: Vec::new(),
            baseline: Baseline::Blank,
            steps: 50,
            faithfulness: 500,
            share: 0.02,
            seed: 0,
        }
    }
}

/// One explained test example.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// Its id.
    pub id: String,
    /// Its true class.
    pub label: String,
    /// The class the package predicts, whose logit is attributed.
    pub predicted: String,
    /// Its loss (natural log).
    pub loss: f32,
    /// Its model input (after normalisation), for pictures.
    pub input: Vec<f32>,
    /// Saliency per input value.
    pub saliency: Vec<f32>,
    /// Integrated gradients per input value.
    pub integrated: Integrated,
    /// For tables: the attributions summed per column (a category's one-hot values together).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
}

/// A table column's share of an example's attributions.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The column.
    pub name: String,
    /// Its integrated gradients.
    pub integrated: f32,
    /// Its saliency.
    pub saliency: f32,
}

/// What `anneal audit` reports on opacity.
#[derive(Debug, Clone, Serialize)]
pub struct Opacity {
    /// Where integrated gradients start.
    pub baseline: Baseline,
    /// Points on their path.
    pub steps: usize,
    /// The worst test examples, explained.
    pub examples: Vec<Explained>,
    /// Over those examples: mean `|completeness gap|` over mean `|output difference|`.
    pub relative_gap: f64,
    /// How many predictions each method's top inputs decide.
    pub faithfulness: Faithfulness,
}

/// The attributions of the built package of `project`.
pub fn opacity(
    project: &Project,
    opts: &ExplainOptions,
    progress: &mut dyn Progress,
) -> Result<Opacity, AuditError> {
    let set = TestSet::load(project)?;
    let probs = set.model.predict(&set.x)?;
    let baseline = baseline(&set, opts.baseline);
    let worst = match opts.ids.as_slice() {
        [] => worst(
            &probs,
            &set.split.labels,
            set.model.classes(),
            opts.examples,
        ),
        ids => chosen(&set, &probs, ids)?,
    };
    progress.start((worst.len() + opts.faithfulness.min(set.examples())) as u64);
    let mut examples = Vec::with_capacity(worst.len());
    for (i, loss) in worst {
        examples.push(explain_one(&set, &baseline, (i, loss), opts)?);
        progress.tick();
    }
    let faithfulness = faithfulness(&set, &baseline, opts, progress)?;
    let mean = |f: fn(&Integrated) -> f32| {
        let sum: f64 = examples
            .iter()
            .map(|e| f64::from(f(&e.integrated).abs()))
            .sum();
        sum / examples.len().max(1) as f64
    };
    let relative_gap = mean(|i| i.completeness_gap) / mean(|i| i.output_difference).max(1e-12);
    Ok(Opacity {
        baseline: opts.baseline,
        steps: opts.steps,
        examples,
        relative_gap,
        faithfulness,
    })
}

/// The baseline input, in model units.
fn baseline(set: &TestSet, kind: Baseline) -> Vec<f32> {
    let f = set.features();
    match kind {
        Baseline::Blank => {
            let input = &set.package.program.input;
            let floor = input.attack_bounds().map_or(0.0, |(low, _)| low) * input.full_scale();
            preprocess(&vec![floor; f], &set.package.signature.normalization)
        }
        Baseline::Mean => {
            let mut mean = vec![0f32; f];
            for row in set.x.chunks(f) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            let n = set.examples().max(1) as f32;
            mean.iter().map(|m| m / n).collect()
        }
    }
}

/// The `n` examples of highest loss, with their losses.
fn worst(probs: &[f32], labels: &[u32], k: usize, n: usize) -> Vec<(usize, f32)> {
    let loss = |(i, p): (usize, &[f32])| (i, -p[labels[i] as usize].max(1e-12).ln());
    let mut losses: Vec<(usize, f32)> = probs.chunks(k).enumerate().map(loss).collect();
    losses.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    losses.truncate(n);
    losses
}

/// The test examples named by `ids`, with their losses, or the error naming one that is not
/// in the test split.
fn chosen(set: &TestSet, probs: &[f32], ids: &[String]) -> Result<Vec<(usize, f32)>, AuditError> {
    let k = set.model.classes();
    let find = |id: &String| {
        let i = set.split.ids.iter().position(|e| e.to_string() == *id);
        i.ok_or_else(|| AuditError::UnknownExample {
            id: id.clone(),
            split: set.package.program.test_split.clone(),
        })
    };
    let loss = |i: usize| -probs[i * k + set.split.labels[i] as usize].max(1e-12).ln();
    ids.iter()
        .map(|id| find(id).map(|i| (i, loss(i))))
        .collect()
}

/// Saliency and integrated gradients of test example `i`.
fn explain_one(
    set: &TestSet,
    baseline: &[f32],
    (i, loss): (usize, f32),
    opts: &ExplainOptions,
) -> Result<Explained, AuditError> {
    let f = set.features();
    let x = &set.x[i * f..(i + 1) * f];
    let classes = &set.package.program.classes;
    let predicted = anneal_pack::argmax(&set.model.predict(x)?) as u32;
    let integrated = integrated_gradients(&set.model, x, baseline, predicted, opts.steps)?;
    let saliency = saliency(&set.model, x, &[predicted])?;
    let table = set.package.program.input.table.as_ref();
    Ok(Explained {
        id: set.split.ids[i].to_string(),
        label: classes[set.split.labels[i] as usize].clone(),
        predicted: classes[predicted as usize].clone(),
        loss,
        input: x.to_vec(),
        columns: table.map_or(Vec::new(), |t| {
            columns(t, &integrated.attributions, &saliency)
        }),
        saliency,
        integrated,
    })
}

/// Attributions summed per table column.
fn columns(table: &Table, integrated: &[f32], saliency: &[f32]) -> Vec<Column> {
    let numeric = table.numeric.iter().map(|c| (c.name.clone(), 1));
    let width = |c: &anneal_spec::table::Categorical| c.values.as_ref().map_or(1, Vec::len) + 1;
    let categorical = table.categorical.iter().map(|c| (c.name.clone(), width(c)));
    let mut at = 0;
    let mut out = Vec::new();
    for (name, w) in numeric.chain(categorical) {
        let sum = |v: &[f32]| v.get(at..at + w).map_or(0.0, |s| s.iter().sum());
        out.push(Column {
            name,
            integrated: sum(integrated),
            saliency: sum(saliency),
        });
        at += w;
    }
    out
}

/// The faithfulness of each method on the first test examples.
fn faithfulness(
    set: &TestSet,
    baseline: &[f32],
    opts: &ExplainOptions,
    progress: &mut dyn Progress,
) -> Result<Faithfulness, AuditError> {
    let (f, n) = (set.features(), opts.faithfulness.min(set.examples()));
    let x = &set.x[..n * f];
    let predicted = predicted(&set.model, x)?;
    let mut ig = Vec::with_capacity(n * f);
    for (row, &c) in x.chunks(f).zip(&predicted) {
        let one = integrated_gradients(&set.model, row, baseline, c, opts.steps)?;
        ig.extend(one.attributions);
        progress.tick();
    }
    let sal = saliency(&set.model, x, &predicted)?;
    let random = random_scores(n * f, opts.seed);
    let changed = |scores: &[f32]| {
        changed_by_removal(&set.model, (x, &predicted), scores, baseline, opts.share)
    };
    Ok(Faithfulness {
        examples: n,
        share: opts.share,
        integrated_gradients: changed(&ig)?,
        saliency: changed(&sal)?,
        random: changed(&random)?,
    })
}

/// The class the model predicts for each example.
fn predicted(model: &Model, x: &[f32]) -> Result<Vec<u32>, EngineError> {
    let probs = model.predict(x)?;
    let rows = probs.chunks(model.classes());
    Ok(rows.map(|p| anneal_pack::argmax(p) as u32).collect())
}
