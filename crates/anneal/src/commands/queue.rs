//! `anneal queue`: the studio's queues on the command line, for scripts and benchmarks.

use std::fmt;

use anneal::error::CliError;
use anneal_build::Project;
use anneal_build::queue::{self, Inputs, Kept};
use anneal_data::ExampleId;
use serde::Serialize;

/// `anneal queue`'s verbs.
#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Training examples whose label is likely wrong, most likely first, with the model's
    /// suggestion; by default the queue's own cut (its estimate of how many are wrong).
    Mislabeled(TopArgs),
    /// Unlabeled examples the model is least sure of, spread over its predicted classes.
    Uncertain(TopArgs),
    /// Confirm the current labels of examples, so the mislabel queue stops showing them.
    Keep {
        /// Example ids.
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        dir: crate::Dir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How much of a queue to print.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// How many examples (mislabeled: default the estimate; uncertain: default 100).
    #[arg(long)]
    top: Option<usize>,
    #[command(flatten)]
    dir: crate::Dir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `keep` did.
#[derive(Debug, Serialize)]
struct Confirmed {
    kept: usize,
    total: usize,
}

pub fn run(command: &QueueCommand) -> Result<u8, CliError> {
    match command {
        QueueCommand::Mislabeled(args) => mislabeled(args),
        QueueCommand::Uncertain(args) => uncertain(args),
        QueueCommand::Keep { ids, dir, json } => keep(&dir.dir, ids, *json),
    }
}

fn mislabeled(args: &TopArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir.dir)?;
    let inputs = Inputs::load(&project)?;
    let kept = Kept::load(&project.dir)?;
    let mut review = queue::mislabeled(&inputs.report, &kept, &inputs.current);
    let top = args.top.unwrap_or(review.estimated);
    review.suspects.truncate(top);
    super::print(&review, args.json);
    Ok(0)
}

fn uncertain(args: &TopArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir.dir)?;
    let inputs = Inputs::load(&project)?;
    let top = args.top.unwrap_or(100);
    super::print(
        &queue::uncertain(&inputs.report, top, &inputs.current),
        args.json,
    );
    Ok(0)
}

/// Keep each example's label at HEAD; an unknown or unlabeled id is an error naming it.
fn keep(dir: &std::path::Path, ids: &[String], json: bool) -> Result<u8, CliError> {
    let store = anneal_data::Store::open(dir)?;
    let current = queue::current(&store)?;
    let pairs = ids
        .iter()
        .map(|id| labelled(&current, id))
        .collect::<Result<Vec<_>, _>>()?;
    let kept = Kept::keep(dir, &pairs)?;
    let done = Confirmed {
        kept: pairs.len(),
        total: kept.len(),
    };
    super::print(&done, json);
    Ok(0)
}

/// `id` with its label now.
fn labelled(current: &queue::Current, id: &str) -> Result<(ExampleId, String), CliError> {
    match current.get(id) {
        Some(Some(label)) => Ok((ExampleId::from(id), label.clone())),
        Some(None) => Err(CliError::new(format!(
            "example {id:?} has no label to keep"
        ))),
        None => Err(CliError::new(format!("no example {id:?} at HEAD"))),
    }
}

impl fmt::Display for Confirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kept {} labels ({} kept in all)", self.kept, self.total)
    }
}
