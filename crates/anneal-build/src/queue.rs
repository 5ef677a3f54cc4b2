//! The studio's two queues, computed from a build's [`Report`](crate::Report):
//!
//! - [`mislabeled`]: training examples ranked by how likely their label is wrong, with the
//!   model's suggested label and an estimate of how many labels are wrong (the queue's cut).
//! - [`uncertain`]: unlabeled examples the model is least sure of, spread over the classes it
//!   predicts, each with its predicted label.
//!
//! Labels a reviewer confirmed are remembered in [`Kept`] so they do not come back.

mod kept;
mod mislabeled;
mod mixture;
mod uncertain;

use std::collections::HashMap;

use anneal_data::{ExampleId, Store};

use crate::{BuildError, Project, Report};

pub use kept::Kept;
pub use mislabeled::{Review, Suspect, mislabeled};
pub use uncertain::{Candidate, Uncertain, uncertain};

/// Each example's label in the dataset now (None: unlabeled): a queue leaves out what changed
/// since the build, or is gone.
pub type Current = HashMap<ExampleId, Option<String>>;

/// What both queues start from: the last build's report and the dataset now.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The last build's report.
    pub report: Report,
    /// Each example's label at HEAD.
    pub current: Current,
}

impl Inputs {
    /// The report of `project`'s last build (an error saying to build first when there is
    /// none) and the labels at HEAD.
    pub fn load(project: &Project) -> Result<Inputs, BuildError> {
        let path = project.report_path();
        if !path.is_file() {
            return Err(BuildError::NoReport { path });
        }
        let report = Report::read(&path)?;
        Ok(Inputs {
            report,
            current: current(&Store::open(&project.dir)?)?,
        })
    }
}

/// Each example's label at the store's HEAD (none when it has no commit).
pub fn current(store: &Store) -> Result<Current, BuildError> {
    let Some(head) = store.head()? else {
        return Ok(Current::new());
    };
    let rows = store.commit_rows(&head)?;
    Ok(rows.into_iter().map(|r| (r.id, r.label)).collect())
}

/// The class with the highest probability, skipping `except`; its index and probability.
fn best(probs: &[f32], except: Option<usize>) -> Option<(usize, f32)> {
    probs
        .iter()
        .copied()
        .enumerate()
        .filter(|&(k, _)| Some(k) != except)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}
