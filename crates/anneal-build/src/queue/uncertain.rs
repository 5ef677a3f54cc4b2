//! The active-learning queue: unlabeled examples the model is least sure of, first.
//!
//! Uncertainty is the margin between the model's two most probable classes (small: unsure).
//! So that a batch is not all one confusion, the queue takes the `WINDOW` times `top` least
//! sure examples and deals them out by predicted class, round robin, each class's turn giving
//! its least sure example left.

use std::collections::HashMap;
use std::fmt;

use anneal_data::ExampleId;
use serde::Serialize;

use super::{Current, best};
use crate::Report;

/// How many more of the least sure examples than asked for the round robin draws from.
const WINDOW: usize = 3;

/// The active-learning queue of a build.
#[derive(Debug, Clone, Serialize)]
pub struct Uncertain {
    /// Unlabeled examples the build predicted.
    pub pool: usize,
    /// The least sure of them, in the order to label them.
    pub candidates: Vec<Candidate>,
}

/// One unlabeled example to label.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The example.
    pub id: ExampleId,
    /// The model's most probable class: the label pre-filled.
    pub predicted: String,
    /// Its probability.
    pub confidence: f32,
    /// Its lead over the runner-up (small: unsure).
    pub margin: f32,
}

/// Up to `top` of the report's pool (those still unlabeled in `current`), least sure first,
/// spread over the predicted classes.
pub fn uncertain(report: &Report, top: usize, current: &Current) -> Uncertain {
    let mut all: Vec<Candidate> = (0..report.pool.ids.len())
        .filter(|&i| matches!(current.get(&report.pool.ids[i]), Some(None)))
        .filter_map(|i| candidate(report, i))
        .collect();
    all.sort_by(|a, b| a.margin.total_cmp(&b.margin));
    all.truncate(top.saturating_mul(WINDOW));
    Uncertain {
        pool: report.pool.ids.len(),
        candidates: round_robin(all, top),
    }
}

/// Pool example `i` as a candidate.
fn candidate(report: &Report, i: usize) -> Option<Candidate> {
    let probs = report.pool.probs.get(i)?;
    let (first, p) = best(probs, None)?;
    let runner_up = best(probs, Some(first)).map_or(0.0, |(_, q)| q);
    Some(Candidate {
        id: report.pool.ids[i].clone(),
        predicted: report.classes.get(first)?.clone(),
        confidence: p,
        margin: p - runner_up,
    })
}

/// `sorted` (least sure first) dealt out by predicted class until `top` are taken: round `r`
/// holds each class's `r`-th least sure example, least sure first.
fn round_robin(sorted: Vec<Candidate>, top: usize) -> Vec<Candidate> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut dealt: Vec<(usize, usize, Candidate)> = sorted
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let round = taken.entry(c.predicted.clone()).or_default();
            *round += 1;
            (*round, i, c)
        })
        .collect();
    dealt.sort_by_key(|&(round, i, _)| (round, i));
    dealt.into_iter().take(top).map(|(_, _, c)| c).collect()
}

impl fmt::Display for Uncertain {
    /// One candidate per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, pool) = (self.candidates.len(), self.pool);
        writeln!(f, "{n} of {pool} unlabeled examples, least sure first")?;
        write!(
            f,
            "{:<24} {:>10} {:>6} {:>7}",
            "example", "predicted", "p", "margin"
        )?;
        for c in &self.candidates {
            let (id, pred) = (c.id.as_str(), &c.predicted);
            write!(
                f,
                "\n{id:<24} {pred:>10} {:>6.3} {:>7.3}",
                c.confidence, c.margin
            )?;
        }
        Ok(())
    }
}
