//! The store verbs that only read: status, show, diff and stats. Each computes a value that is
//! `Serialize` (what `--json` prints; keys in alphabetical order, as they always were) and
//! `Display` (what people read), printed by [`super::print`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_data::diff::Diff;
use anneal_data::object::Row;
use anneal_data::row::Meta;
use anneal_data::tables::Change;
use anneal_data::{CommitId, ExampleId, Store, StoreError};
use serde::Serialize;

/// `anneal data diff`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older revision.
    a: String,
    /// The newer revision (default HEAD).
    #[arg(default_value = "HEAD")]
    b: String,
    #[command(flatten)]
    dir: crate::Dir,
    /// Only the counts.
    #[arg(long)]
    stat: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `s` when `n` is not one.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first 12 hex digits of a commit, for people.
pub fn short(id: &CommitId) -> String {
    id.short()
}

/// Print `value` as [`super::print`] does, but nothing at all when its text is empty (a listing
/// with nothing in it).
pub fn print_listing<T: Serialize + fmt::Display>(value: &T, json: bool) {
    if json || !value.to_string().is_empty() {
        super::print(value, json);
    }
}

/// A staged change, for people.
pub fn change_text(c: &Change) -> String {
    match c {
        Change::Label { id, label } => {
            let label = label.as_deref().unwrap_or("(unlabeled)");
            format!("label  {id} -> {label}")
        }
        Change::Split { id, split } => format!("split  {id} -> {split}"),
        Change::Remove { id } => format!("remove {id}"),
    }
}

/// `anneal data status`: the branch, its commit's table and the staged changes.
#[derive(Debug, Serialize)]
struct Status {
    branch: String,
    commit: Option<CommitId>,
    examples: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    packs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patches: Option<usize>,
    #[serde(serialize_with = "keys_sorted")]
    staged: Vec<Change>,
}

/// Changes as JSON objects with their keys in alphabetical order (`id`, `label`, `op`), as
/// `status` has always printed them.
fn keys_sorted<S: serde::Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    let values: Result<Vec<serde_json::Value>, _> =
        changes.iter().map(serde_json::to_value).collect();
    values.map_err(serde::ser::Error::custom)?.serialize(s)
}

impl Status {
    /// The store's branch, its commit's layout and the staged changes.
    fn read(store: &Store) -> Result<Status, StoreError> {
        let staged = store.staged()?.map(|s| s.changes).unwrap_or_default();
        let head = store.head()?;
        let layout = head.map(|h| store.layout(&h)).transpose()?;
        Ok(Status {
            branch: store.branch()?,
            commit: head,
            examples: layout.map_or(0, |l| l.examples),
            packs: layout.map(|l| l.packs),
            patches: layout.map(|l| l.patches),
            staged,
        })
    }
}

pub fn status(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    super::print(&Status::read(&store)?, json);
    Ok(0)
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = &self.branch;
        let (Some(commit), Some(patches)) = (&self.commit, self.patches) else {
            return write!(f, "on branch {branch}, no commits yet");
        };
        writeln!(f, "on branch {branch} at {}", short(commit))?;
        let es = if patches == 1 { "" } else { "es" };
        let packs = self.packs.unwrap_or_default();
        write!(
            f,
            "{} examples ({patches} patch{es} on a full table), ",
            self.examples
        )?;
        write!(f, "payloads in {packs} packs")?;
        self.fmt_staged(f)
    }
}

impl Status {
    /// The staged changes, one a line after a heading (nothing when there are none).
    fn fmt_staged(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.staged.len();
        if n > 0 {
            write!(
                f,
                "\n{n} staged change{} (commit with `anneal data commit -m MSG`, ",
                plural(n)
            )?;
            write!(f, "drop with `anneal data reset`):")?;
        }
        for c in &self.staged {
            write!(f, "\n  {}", change_text(c))?;
        }
        Ok(())
    }
}

/// An example in a diff: its id, label and split.
#[derive(Debug, Serialize)]
struct Example {
    id: ExampleId,
    label: Option<String>,
    split: String,
}

impl From<&Row> for Example {
    fn from(r: &Row) -> Self {
        Example {
            id: r.id.clone(),
            label: r.label.clone(),
            split: r.split.clone(),
        }
    }
}

impl Example {
    /// `SIGN ID LABEL [SPLIT]`.
    fn line(&self, sign: &str) -> String {
        let (id, split) = (&self.id, &self.split);
        format!("{sign} {id} {} [{split}]", label_text(&self.label))
    }
}

/// A label, or `(unlabeled)`.
fn label_text(label: &Option<String>) -> String {
    label.clone().unwrap_or_else(|| "(unlabeled)".into())
}

/// One field of an example, before and after.
#[derive(Debug, Serialize)]
struct Changed<T> {
    after: T,
    before: T,
    id: ExampleId,
}

impl<T> Changed<T> {
    fn new((a, b): (Row, Row), field: fn(Row) -> T) -> Self {
        Changed {
            id: a.id.clone(),
            before: field(a),
            after: field(b),
        }
    }

    /// `field` of each pair of rows, before and after.
    fn all(pairs: Vec<(Row, Row)>, field: fn(Row) -> T) -> Vec<Self> {
        pairs.into_iter().map(|p| Changed::new(p, field)).collect()
    }
}

impl Changed<Option<String>> {
    /// `~ ID BEFORE -> AFTER`.
    fn line(&self) -> String {
        let (before, after) = (label_text(&self.before), label_text(&self.after));
        format!("~ {} {before} -> {after}", self.id)
    }
}

impl Changed<Meta> {
    /// `m ID FIELD: BEFORE -> AFTER, ...`.
    fn line(&self) -> String {
        format!("m {} {}", self.id, meta_changes(&self.before, &self.after))
    }
}

/// `anneal data diff`, and the changes `show` lists: what changed between two commits.
#[derive(Debug, Serialize)]
pub struct DiffView {
    added: Vec<Example>,
    changed: Vec<Example>,
    class_counts: BTreeMap<String, i64>,
    meta_changed: Vec<Changed<Meta>>,
    relabeled: Vec<Changed<Option<String>>>,
    removed: Vec<Example>,
    /// Counts only, without the examples.
    #[serde(skip)]
    stat: bool,
}

impl DiffView {
    fn new(d: Diff, stat: bool) -> Self {
        let rows = |rows: &[Row]| rows.iter().map(Example::from).collect();
        DiffView {
            added: rows(&d.added),
            changed: d.changed.iter().map(|(_, b)| Example::from(b)).collect(),
            class_counts: d.class_counts,
            meta_changed: Changed::all(d.meta_changed, |r| r.meta),
            relabeled: Changed::all(d.relabeled, |r| r.label),
            removed: rows(&d.removed),
            stat,
        }
    }

    /// One line per changed example.
    fn examples(&self) -> Vec<String> {
        let added = self.added.iter().map(|r| r.line("+"));
        let removed = self.removed.iter().map(|r| r.line("-"));
        let relabeled = self.relabeled.iter().map(Changed::<Option<String>>::line);
        let meta = self.meta_changed.iter().map(Changed::<Meta>::line);
        let changed = self
            .changed
            .iter()
            .map(|r| format!("* {} payload or split changed", r.id));
        added
            .chain(removed)
            .chain(relabeled)
            .chain(meta)
            .chain(changed)
            .collect()
    }
}

impl fmt::Display for DiffView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.stat {
            for line in self.examples() {
                writeln!(f, "{line}")?;
            }
        }
        write!(f, "{}", self.totals())?;
        if self.class_counts.is_empty() {
            return Ok(());
        }
        write!(f, "\nper class: {}", self.per_class())
    }
}

impl DiffView {
    /// How many examples were added, removed, relabeled and otherwise changed.
    fn totals(&self) -> String {
        format!(
            "{} added, {} removed, {} relabeled, {} metadata changed, {} changed",
            self.added.len(),
            self.removed.len(),
            self.relabeled.len(),
            self.meta_changed.len(),
            self.changed.len()
        )
    }

    /// `LABEL: +N` per label whose count changed, `(unlabeled)` for none.
    fn per_class(&self) -> String {
        let class = |k: &str| if k.is_empty() { "(unlabeled)" } else { k }.to_string();
        let parts: Vec<String> = (self.class_counts.iter())
            .map(|(k, v)| format!("{}: {v:+}", class(k)))
            .collect();
        parts.join(", ")
    }
}

/// The metadata fields that differ, as `field: before -> after` (`(none)` where absent).
fn meta_changes(before: &Meta, after: &Meta) -> String {
    let (a, b) = (before.value(), after.value());
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return format!("{before} -> {after}");
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} -> {}", field_text(a.get(k)), field_text(b.get(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A metadata value for people: a string as it is, `(none)` where absent, JSON otherwise.
fn field_text(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "(none)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

pub fn diff(args: &DiffArgs) -> Result<u8, CliError> {
    let store = Store::open(&args.dir.dir)?;
    let (a, b) = (store.resolve(&args.a)?, store.resolve(&args.b)?);
    let d = anneal_data::diff::diff(&store, &a, &b)?;
    super::print(&DiffView::new(d, args.stat), args.json);
    Ok(0)
}

/// `anneal data show`: a commit and what it changed from its first parent.
#[derive(Debug, Serialize)]
struct Shown {
    author: String,
    commit: CommitId,
    diff: DiffView,
    message: String,
    parents: Vec<CommitId>,
    time: u64,
}

impl Shown {
    /// Commit `rev` of `store`, with what it changed (its counts only past 20 examples added).
    fn read(store: &Store, rev: &str) -> Result<Shown, CliError> {
        let h = store.resolve(rev)?;
        let c = store.commit_object(&h)?;
        let d = first_parent_diff(store, h, c.parents.first())?;
        let stat = d.added.len() > 20;
        Ok(Shown {
            author: c.author,
            commit: h,
            diff: DiffView::new(d, stat),
            message: c.message,
            parents: c.parents,
            time: c.time,
        })
    }
}

pub fn show(dir: &Path, rev: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    super::print(&Shown::read(&store, rev)?, json);
    Ok(0)
}

/// What commit `h` changed from its first `parent` (everything, for a first commit).
fn first_parent_diff(
    store: &Store,
    h: CommitId,
    parent: Option<&CommitId>,
) -> Result<Diff, CliError> {
    Ok(match parent {
        Some(p) => anneal_data::diff::diff(store, p, &h)?,
        None => Diff {
            added: store.commit_rows(&h)?,
            ..Diff::default()
        },
    })
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (commit, author, time) = (&self.commit, &self.author, self.time);
        writeln!(f, "commit {commit}\nauthor {author}\ntime   {time}\n")?;
        write!(f, "    {}\n\n{}", self.message, self.diff)
    }
}

/// `anneal data stats`: counts per split and label, and per metadata value.
#[derive(Debug, Serialize)]
struct StatsView {
    commit: CommitId,
    counts: BTreeMap<String, BTreeMap<String, u64>>,
    examples: u64,
    meta: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Metadata values listed per field in text; `--json` has them all.
const SHOWN_VALUES: usize = 50;

pub fn stats(dir: &Path, rev: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let h = store.resolve(rev)?;
    let stats = anneal_data::stats::Stats::of(&store.commit_rows(&h)?);
    let view = StatsView {
        commit: h,
        counts: stats.counts,
        examples: stats.examples,
        meta: stats.meta,
    };
    print_listing(&view, json);
    Ok(0)
}

impl fmt::Display for StatsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for (split, labels) in &self.counts {
            let total: u64 = labels.values().sum();
            lines.push(format!("{split}: {total} examples"));
            lines.extend(labels.iter().map(count_line));
        }
        for (field, values) in &self.meta {
            lines.push(format!("{field}: {} values", values.len()));
            lines.extend(values.iter().take(SHOWN_VALUES).map(count_line));
            if values.len() > SHOWN_VALUES {
                let more = values.len() - SHOWN_VALUES;
                lines.push(format!("  ... {more} more (see --json)"));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

/// `  NAME             COUNT`: a label or metadata value and how many examples have it.
fn count_line((name, n): (&String, &u64)) -> String {
    format!("  {name:<16} {n:>8}")
}
