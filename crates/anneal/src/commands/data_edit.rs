//! The store verbs that edit one branch: label, remove, commit (the staged changes) and split.
//! Each computes a value that is `Serialize` (what `--json` prints) and `Display` (what people
//! read), printed by [`super::print`].

use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_data::object::Row;
use anneal_data::tables::Change;
use anneal_data::{CommitId, Store, StoreError};
use serde::Serialize;

use super::data_show::{plural, short};

/// `anneal data label`'s arguments.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// An example id and its new label.
    args: Vec<String>,
    /// A CSV file of id,label rows (a header row is skipped).
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    #[command(flatten)]
    dir: crate::Dir,
    #[command(flatten)]
    mode: EditMode,
}

/// `anneal data remove`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Example ids.
    #[arg(required = true)]
    ids: Vec<String>,
    #[command(flatten)]
    dir: crate::Dir,
    #[command(flatten)]
    mode: EditMode,
}

/// `anneal data split`'s arguments.
#[derive(Debug, clap::Args)]
pub struct SplitArgs {
    /// Fraction for the test split.
    #[arg(long, default_value_t = 0.2)]
    test: f64,
    /// Fraction for the validation split.
    #[arg(long, default_value_t = 0.0)]
    validation: f64,
    /// Only re-split examples now in this split (default: all).
    #[arg(long)]
    from: Option<String>,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Instead of fractions: move the examples whose metadata FIELD is one of the VALUES
    /// (`take=0,1,2,3,4`, `speaker=lucas`) to the split `--to`.
    #[arg(long = "where", value_name = "FIELD=VALUES", conflicts_with_all = ["from"])]
    where_: Option<String>,
    /// The split `--where` moves examples to.
    #[arg(long, default_value = "test", requires = "where_")]
    to: String,
    #[command(flatten)]
    dir: crate::Dir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// How `label` and `remove` record their changes.
#[derive(Debug, Clone, Copy, clap::Args)]
struct EditMode {
    /// Stage the change in the index (see `status`) instead of committing it; `commit`
    /// commits everything staged as one commit.
    #[arg(long)]
    no_commit: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What an edit did: changes staged, or a commit (None: the dataset already matched).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Recorded {
    Staged {
        /// Always null: nothing was committed.
        commit: Option<CommitId>,
        staged: usize,
        staged_total: usize,
    },
    Committed(Committed),
}

/// A commit of changes, or None when they changed nothing.
#[derive(Debug, Serialize)]
struct Committed {
    changes: usize,
    commit: Option<CommitId>,
    message: String,
    /// From the index (`anneal data commit`) rather than the command line.
    #[serde(skip)]
    from_index: bool,
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recorded::Staged {
                staged,
                staged_total,
                ..
            } => write!(
                f,
                "staged {staged} change{} ({staged_total} in the index; `anneal data commit -m MSG` commits them)",
                plural(*staged)
            ),
            Recorded::Committed(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, message, s) = (self.changes, &self.message, plural(self.changes));
        match (self.commit.as_ref().map(short), self.from_index) {
            (Some(at), false) => write!(f, "committed {at} ({message})"),
            (Some(at), true) => write!(f, "committed {at} ({message}): {n} staged change{s}"),
            (None, false) => write!(f, "nothing to commit: the dataset already matches"),
            (None, true) => write!(
                f,
                "nothing to commit: the staged changes match the dataset (index cleared)"
            ),
        }
    }
}

impl Recorded {
    /// Stage `changes` in the index.
    fn stage(store: &Store, changes: Vec<Change>) -> Result<Recorded, StoreError> {
        let staged = changes.len();
        let staged_total = store.stage(changes)?.changes.len();
        Ok(Recorded::Staged {
            commit: None,
            staged,
            staged_total,
        })
    }

    /// Commit `changes` with `message`.
    fn commit(store: &Store, message: String, changes: &[Change]) -> Result<Recorded, StoreError> {
        Ok(Recorded::Committed(Committed {
            changes: changes.len(),
            commit: store.apply(&message, changes)?,
            message,
            from_index: false,
        }))
    }
}

/// Commit `changes` (or stage them) and report it.
fn commit_or_stage(
    dir: &Path,
    message: String,
    changes: Vec<Change>,
    mode: EditMode,
) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let recorded = if mode.no_commit {
        Recorded::stage(&store, changes)?
    } else {
        Recorded::commit(&store, message, &changes)?
    };
    super::print(&recorded, mode.json);
    Ok(0)
}

/// Read `id,label` rows; a first row whose second field is `label` is a header.
fn read_edits(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    Ok(anneal_data::import::read_pairs(path)?
        .into_iter()
        .map(|(id, label, _)| (id, label))
        .collect())
}

/// The `(id, label)` pairs `label ID LABEL` or `label --from FILE.csv` names.
fn edit_pairs(args: &[String], from: Option<&Path>) -> Result<Vec<(String, String)>, CliError> {
    match (from, args) {
        (Some(f), []) => read_edits(f),
        (None, [id, label]) => Ok(vec![(id.clone(), label.clone())]),
        _ => {
            let usage = "expected `label ID LABEL` or `label --from FILE.csv`";
            Err(CliError::new(usage))
        }
    }
}

/// The `(id, label)` edits of `label ID LABEL` or `label --from FILE.csv`, as changes.
fn label_edits(args: &[String], from: Option<&Path>) -> Result<Vec<Change>, CliError> {
    let edits = edit_pairs(args, from)?;
    if let Some((id, _)) = edits.iter().find(|(id, l)| id.is_empty() || l.is_empty()) {
        let message = format!("empty id or label in the edit for `{id}`");
        return Err(CliError::new(message));
    }
    let change = |(id, label): (String, String)| Change::Label {
        id: id.into(),
        label: Some(label),
    };
    Ok(edits.into_iter().map(change).collect())
}

pub fn label(args: &LabelArgs) -> Result<u8, CliError> {
    let changes = label_edits(&args.args, args.from.as_deref())?;
    let n = changes.len();
    let message = args
        .message
        .as_deref()
        .map_or_else(|| format!("label {n} example{}", plural(n)), str::to_string);
    commit_or_stage(&args.dir.dir, message, changes, args.mode)
}

pub fn remove(args: &RemoveArgs) -> Result<u8, CliError> {
    let ids = &args.ids;
    let message = format!("remove {} example{}", ids.len(), plural(ids.len()));
    let remove = |id: &String| Change::Remove {
        id: id.as_str().into(),
    };
    let changes = ids.iter().map(remove).collect();
    commit_or_stage(&args.dir.dir, message, changes, args.mode)
}

/// Commit the staged changes.
pub fn commit(dir: &Path, message: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let n = store.staged()?.map_or(0, |s| s.changes.len());
    let commit = store.commit_staged(message).map_err(commit_error)?;
    let committed = Committed {
        changes: n,
        commit,
        message: message.to_string(),
        from_index: true,
    };
    super::print(&committed, json);
    Ok(0)
}

/// The error of committing the index, with a hint when it was staged on another commit.
fn commit_error(e: StoreError) -> CliError {
    let stale = matches!(e, StoreError::StaleIndex { .. });
    let err = CliError::from(e);
    if stale {
        err.hint("see them with `anneal data status`; drop them with `anneal data reset` and stage them again")
    } else {
        err
    }
}

/// What `anneal data split` moved.
#[derive(Debug, Serialize)]
struct Split {
    commit: Option<CommitId>,
    message: String,
    moved: usize,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.commit {
            Some(h) => {
                let moved = self.moved;
                write!(
                    f,
                    "moved {moved} examples between splits: commit {}",
                    short(h)
                )
            }
            None => write!(f, "nothing to commit: the splits already match"),
        }
    }
}

/// `--where FIELD=V1,V2 --to SPLIT`: the changes and the commit message.
fn by_field(rows: &[Row], rule: &str, to: &str) -> Result<(Vec<Change>, String), CliError> {
    let Some((field, values)) = rule.split_once('=') else {
        let message = format!("--where {rule:?}: expected FIELD=VALUE[,VALUE...]");
        return Err(CliError::new(message).hint("e.g. `--where take=0,1,2,3,4 --to test`"));
    };
    let values: Vec<&str> = values.split(',').map(str::trim).collect();
    let changes = anneal_data::split::matching(rows, field.trim(), &values, to);
    Ok((changes, format!("split {rule} to {to}")))
}

/// `--test F --validation F --seed S`: the changes and the commit message.
fn by_fraction(rows: &[Row], args: &SplitArgs) -> Result<(Vec<Change>, String), CliError> {
    let (test, validation, seed) = (args.test, args.validation, args.seed);
    let fractions = fractions(test, validation)?;
    let from = args.from.as_deref();
    let changes = anneal_data::split::stratified(rows, from, &fractions, "train", seed);
    Ok((
        changes,
        format!("split test {test} validation {validation} seed {seed}"),
    ))
}

/// The splits to draw: test, and validation when asked for.
fn fractions(test: f64, validation: f64) -> Result<Vec<(String, f64)>, CliError> {
    let fraction = |x: f64| (0.0..=1.0).contains(&x);
    if !fraction(test) || !fraction(validation) || test + validation > 1.0 {
        return Err(CliError::new(format!(
            "--test {test} and --validation {validation} must be fractions adding up to at most 1"
        )));
    }
    let mut fractions = vec![("test".to_string(), test)];
    if validation > 0.0 {
        fractions.push(("validation".to_string(), validation));
    }
    Ok(fractions)
}

/// The rows at HEAD; an error before the first commit.
fn head_rows(store: &Store) -> Result<Vec<Row>, CliError> {
    let head = store
        .head()?
        .ok_or_else(|| CliError::new("the dataset has no commits yet"))?;
    Ok(store.commit_rows(&head)?)
}

pub fn split(args: &SplitArgs) -> Result<u8, CliError> {
    let store = Store::open(&args.dir.dir)?;
    let rows = head_rows(&store)?;
    let (changes, message) = match &args.where_ {
        Some(rule) => by_field(&rows, rule, &args.to)?,
        None => by_fraction(&rows, args)?,
    };
    let split = Split {
        commit: store.apply(&message, &changes)?,
        message,
        moved: changes.len(),
    };
    super::print(&split, args.json);
    Ok(0)
}
