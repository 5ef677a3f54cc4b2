//! The mislabel queue: training examples whose label the model could not learn.
//!
//! An example's score is its training loss averaged over the epochs plus the built model's
//! loss on it, `mean_e loss[e] - ln p(label)`. A wrong label is hard to fit early (the net
//! learns the clean majority first) and still disagrees at the end, so the scores of wrong
//! labels form a second, higher mode. A two-component Gaussian mixture on `ln(score)` finds
//! it: the examples more likely in the upper component whose label the built model also
//! disagrees with are the queue's cut, and their count is its estimate of how many labels are
//! wrong. When the fit finds no distinct second mode (clean data: one mode split in two), the
//! review says so: its cut is then only the examples the model gets wrong, hard or mislabelled.

use std::fmt;

use anneal_data::ExampleId;
use serde::Serialize;

use super::{Current, Kept, best, mixture};
use crate::Report;

/// Keeps `ln` finite for a score of zero.
const FLOOR: f64 = 1e-4;

/// The least [`Review::separation`] that counts as a distinct mode of wrong labels: one mode
/// split in two measures about 2 (2.1 and 2.5 on clean Fashion-MNIST and MNIST), 10% flipped
/// labels 6.6 to 8.8.
pub const SEPARATED: f64 = 4.0;

/// The mislabel queue of a build.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The training examples the build saw.
    pub examples: usize,
    /// How many of their labels the queue estimates are wrong (its cut).
    pub estimated: usize,
    /// How distinct the mode of high scores is (see [`SEPARATED`]).
    pub separation: f32,
    /// True when it is distinct: the estimate counts wrong labels, not just hard examples.
    pub separated: bool,
    /// Suspects, most likely wrong first; those still to review (kept and since-relabelled
    /// examples are left out).
    pub suspects: Vec<Suspect>,
}

/// One example in the mislabel queue.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    /// The example.
    pub id: ExampleId,
    /// Its label.
    pub label: String,
    /// The label the model suggests instead.
    pub suggested: String,
    /// The model's probability of the suggestion.
    pub confidence: f32,
    /// The score it was ranked by (higher: more likely wrong).
    pub score: f32,
    /// The probability that its label is wrong, by the mixture (0 when the model agrees with
    /// the label): above 0.5 is within the cut.
    pub wrong: f32,
}

/// The mislabel queue of `report`: every training example ranked, the cut estimated, then
/// the kept and since-changed ones left out.
pub fn mislabeled(report: &Report, kept: &Kept, current: &Current) -> Review {
    let scores = scores(report);
    let ln: Vec<f64> = scores.iter().map(|&s| (s + FLOOR).ln()).collect();
    let fit = mixture::fit(&ln);
    let wrong: Vec<f64> = (0..scores.len())
        .map(|i| fit.upper[i] * disagrees(report, i))
        .collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let suspects = order
        .into_iter()
        .filter_map(|i| suspect(report, i, scores[i], wrong[i]))
        .filter(|s| !kept.contains(&s.id, &s.label) && still(current, s))
        .collect();
    Review {
        examples: scores.len(),
        estimated: wrong.iter().filter(|&&p| p > 0.5).count(),
        separation: fit.separation as f32,
        separated: fit.separation >= SEPARATED,
        suspects,
    }
}

/// Each training example's score (the mean loss alone in reports without probabilities).
fn scores(report: &Report) -> Vec<f64> {
    let train = &report.train;
    let epochs = train.loss.len().max(1) as f64;
    (0..train.ids.len())
        .map(|i| {
            let mean = train.loss.iter().map(|l| f64::from(l[i])).sum::<f64>() / epochs;
            let last = train
                .probs
                .get(i)
                .map_or(0.0, |p| final_loss(p, train.labels[i]));
            mean + last
        })
        .collect()
}

/// 1 when the built model's most probable class for training example `i` is not its label
/// (or the report has no probabilities), else 0.
fn disagrees(report: &Report, i: usize) -> f64 {
    let label = report.train.labels[i] as usize;
    match report.train.probs.get(i).and_then(|p| best(p, None)) {
        Some((class, _)) => f64::from(class != label),
        None => 1.0,
    }
}

/// `-ln p(label)`, the model's loss on one example.
fn final_loss(probs: &[f32], label: u32) -> f64 {
    let p = probs.get(label as usize).copied().unwrap_or(0.0);
    -f64::from(p).max(1e-7).ln()
}

/// Training example `i` as a suspect.
fn suspect(report: &Report, i: usize, score: f64, wrong: f64) -> Option<Suspect> {
    let train = &report.train;
    let label = train.labels[i] as usize;
    let probs = train.probs.get(i).map_or(&[][..], Vec::as_slice);
    let (suggested, confidence) = best(probs, Some(label)).unwrap_or((label, 0.0));
    Some(Suspect {
        id: train.ids[i].clone(),
        label: report.classes.get(label)?.clone(),
        suggested: report.classes.get(suggested)?.clone(),
        confidence,
        score: score as f32,
        wrong: wrong as f32,
    })
}

/// True when the suspect still has the label the build saw.
fn still(current: &Current, s: &Suspect) -> bool {
    matches!(current.get(&s.id), Some(Some(label)) if *label == s.label)
}

impl Review {
    /// What the estimate means, in a sentence.
    pub fn headline(&self) -> String {
        let share = 100.0 * self.estimated as f64 / self.examples.max(1) as f64;
        let (n, of, sep) = (self.estimated, self.examples, self.separation);
        if self.separated {
            return format!("estimated {n} of {of} training labels wrong ({share:.1}%)");
        }
        format!(
            "no distinct mode of misfit labels (separation {sep:.1} < {SEPARATED}): the model gets {n} of {of} training examples wrong ({share:.1}%), hard or mislabelled"
        )
    }
}

impl fmt::Display for Review {
    /// The headline, then one suspect per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        let head = ["example", "label", "suggested", "p", "score"];
        write!(
            f,
            "{:<24} {:>8} {:>10} {:>6} {:>6}",
            head[0], head[1], head[2], head[3], head[4]
        )?;
        for s in &self.suspects {
            let (id, label, sug, p, score) =
                (s.id.as_str(), &s.label, &s.suggested, s.confidence, s.score);
            write!(f, "\n{id:<24} {label:>8} {sug:>10} {p:>6.3} {score:>6.2}")?;
        }
        Ok(())
    }
}
