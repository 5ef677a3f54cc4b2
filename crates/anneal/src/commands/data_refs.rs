//! Branches, tags, checkout and merge. Each verb computes a value that is `Serialize` (what
//! `--json` prints) and `Display` (what people read), printed by [`super::print`].

use std::fmt;
use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::merge::{Conflict, Outcome, Side};
use anneal_data::object::Row;
use anneal_data::{CommitId, ExampleId, Store, StoreError};
use serde::Serialize;

use super::data_show::{plural, print_listing, short};

/// `anneal data tag`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The tag to create.
    name: Option<String>,
    /// What it names (default HEAD).
    rev: Option<String>,
    #[command(flatten)]
    dir: crate::Dir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `anneal data merge`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The branch (or revision) to merge.
    branch: String,
    /// Resolve every conflict with the current branch's version.
    #[arg(long, conflicts_with = "theirs")]
    ours: bool,
    /// Resolve every conflict with the merged branch's version.
    #[arg(long)]
    theirs: bool,
    #[command(flatten)]
    dir: crate::Dir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl MergeArgs {
    /// The side `--ours` or `--theirs` picks for every conflict.
    fn prefer(&self) -> Option<Side> {
        match (self.ours, self.theirs) {
            (true, _) => Some(Side::Ours),
            (_, true) => Some(Side::Theirs),
            _ => None,
        }
    }
}

/// A branch or tag made, or the branch checked out.
#[derive(Debug, Serialize)]
struct Named {
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    commit: CommitId,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    /// How it reads: `created branch`, `on branch` or `tagged`.
    #[serde(skip)]
    verb: &'static str,
}

impl Named {
    /// Branch `name` at `commit`, as `verb` says (`created branch` or `on branch`).
    fn branch(name: &str, commit: CommitId, verb: &'static str) -> Named {
        Named {
            branch: Some(name.to_string()),
            commit,
            tag: None,
            verb,
        }
    }

    /// Tag `name`, made at `commit`.
    fn tag(name: &str, commit: CommitId) -> Named {
        Named {
            branch: None,
            commit,
            tag: Some(name.to_string()),
            verb: "tagged",
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = short(&self.commit);
        match (&self.branch, &self.tag) {
            (_, Some(tag)) => write!(f, "{} {at} as {tag}", self.verb),
            (Some(branch), None) => write!(f, "{} {branch} at {at}", self.verb),
            (None, None) => write!(f, "{} {at}", self.verb),
        }
    }
}

/// The branches, and which is current.
#[derive(Debug, Serialize)]
struct Branches {
    branches: Vec<Branch>,
    current: String,
}

#[derive(Debug, Serialize)]
struct Branch {
    commit: CommitId,
    current: bool,
    name: String,
}

impl Branches {
    /// The store's branches, the current one marked.
    fn of(store: &Store) -> Result<Branches, StoreError> {
        let current = store.branch()?;
        let branches = (store.branches()?.into_iter())
            .map(|(name, h)| Branch {
                commit: h,
                current: name == current,
                name,
            })
            .collect();
        Ok(Branches { branches, current })
    }
}

impl fmt::Display for Branches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |b: &Branch| {
            let mark = if b.current { "*" } else { " " };
            format!("{mark} {} {}", b.name, short(&b.commit))
        };
        let lines: Vec<String> = self.branches.iter().map(line).collect();
        f.write_str(&lines.join("\n"))
    }
}

pub fn branch(dir: &Path, name: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    if let Some(n) = name {
        let named = Named::branch(n, store.create_branch(n, None)?, "created branch");
        super::print(&named, json);
        return Ok(0);
    }
    print_listing(&Branches::of(&store)?, json);
    Ok(0)
}

pub fn checkout(dir: &Path, name: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let named = Named::branch(name, store.checkout(name)?, "on branch");
    super::print(&named, json);
    Ok(0)
}

/// The tags.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Tags(Vec<Tag>);

#[derive(Debug, Serialize)]
struct Tag {
    commit: CommitId,
    name: String,
}

impl fmt::Display for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = (self.0.iter())
            .map(|t| format!("{} {}", t.name, short(&t.commit)))
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

pub fn tag(args: &TagArgs) -> Result<u8, CliError> {
    let store = Store::open(&args.dir.dir)?;
    let json = args.json;
    let Some(n) = &args.name else {
        let tags = store.tags()?.into_iter();
        let tags = tags.map(|(name, h)| Tag { commit: h, name });
        print_listing(&Tags(tags.collect()), json);
        return Ok(0);
    };
    let at = args.rev.as_deref().map(|r| store.resolve(r)).transpose()?;
    let named = Named::tag(n, store.create_tag(n, at)?);
    super::print(&named, json);
    Ok(0)
}

/// A merge's outcome (shared with `pull`): JSON keys `commit`, `conflicts`, `outcome` and
/// `resolved`, those that apply.
#[derive(Debug, Serialize)]
pub struct Merged {
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<CommitId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conflicts: Option<Vec<ConflictView>>,
    outcome: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved: Option<usize>,
}

/// Which outcome a merge had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    UpToDate,
    FastForward,
    Merged,
    Conflicts,
}

/// An example both sides changed: its label and split on each side (null where removed).
#[derive(Debug, Serialize)]
struct ConflictView {
    base: Option<Labelled>,
    id: ExampleId,
    ours: Option<Labelled>,
    theirs: Option<Labelled>,
    /// The labels, for people (`(removed)`, `(unlabeled)`).
    #[serde(skip)]
    shown: [String; 3],
}

#[derive(Debug, Serialize)]
struct Labelled {
    label: Option<String>,
    split: String,
}

impl Labelled {
    /// The label and split of a side's row (None where it was removed).
    fn of(row: &Option<Row>) -> Option<Labelled> {
        (row.as_ref()).map(|r| Labelled {
            label: r.label.clone(),
            split: r.split.clone(),
        })
    }

    /// A side's label for people: `(removed)` or `(unlabeled)` where there is none.
    fn shown(row: &Option<Row>) -> String {
        match row {
            None => "(removed)".to_string(),
            Some(r) => r.label.clone().unwrap_or_else(|| "(unlabeled)".into()),
        }
    }
}

impl From<&Conflict> for ConflictView {
    fn from(c: &Conflict) -> Self {
        ConflictView {
            base: Labelled::of(&c.base),
            id: c.id.clone(),
            ours: Labelled::of(&c.ours),
            theirs: Labelled::of(&c.theirs),
            shown: [&c.base, &c.ours, &c.theirs].map(Labelled::shown),
        }
    }
}

impl From<&Outcome> for Merged {
    fn from(outcome: &Outcome) -> Self {
        let merged = |outcome, commit: Option<CommitId>| Merged {
            commit,
            conflicts: None,
            outcome,
            resolved: None,
        };
        match outcome {
            Outcome::UpToDate => merged(Kind::UpToDate, None),
            Outcome::FastForward(h) => merged(Kind::FastForward, Some(*h)),
            Outcome::Merged { commit, resolved } => Merged {
                resolved: Some(*resolved),
                ..merged(Kind::Merged, Some(*commit))
            },
            Outcome::Conflicts(conflicts) => Merged {
                conflicts: Some(conflicts.iter().map(ConflictView::from).collect()),
                ..merged(Kind::Conflicts, None)
            },
        }
    }
}

impl Merged {
    /// The exit code: failed when there are conflicts.
    pub fn code(&self) -> u8 {
        if self.conflicts.is_some() {
            EXIT_FAILED as u8
        } else {
            0
        }
    }

    /// The ids in conflict.
    pub fn conflict_ids(&self) -> Vec<&str> {
        let conflicts = self.conflicts.iter().flatten();
        conflicts.map(|c| c.id.as_str()).collect()
    }

    /// The first line every outcome but conflicts reads as, with `merged` for a merge commit.
    pub fn line(&self, merged: &str) -> Option<String> {
        let at = self.commit.as_ref().map(short).unwrap_or_default();
        match self.outcome {
            Kind::UpToDate => Some("already up to date".into()),
            Kind::FastForward => Some(format!("fast-forward to {at}")),
            Kind::Merged => Some(format!("{merged} as {at}")),
            Kind::Conflicts => None,
        }
    }
}

/// `anneal data merge`: the outcome, and the branch and side it was asked for.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Merge {
    merged: Merged,
    #[serde(skip)]
    branch: String,
    #[serde(skip)]
    side: &'static str,
}

impl fmt::Display for Merge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.merged;
        if let Some(line) = m.line(&format!("merged {}", self.branch)) {
            write!(f, "{line}")?;
            if let Some(n) = m.resolved.filter(|n| *n > 0) {
                let side = self.side;
                write!(f, "\n{n} conflict{} resolved by --{side}", plural(n))?;
            }
            return Ok(());
        }
        m.fmt_conflicts(f)
    }
}

impl Merged {
    /// One line per conflict, then how many and how to resolve them.
    fn fmt_conflicts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.conflicts.iter().flatten() {
            let [base, ours, theirs] = &c.shown;
            writeln!(
                f,
                "conflict {}: base {base}, ours {ours}, theirs {theirs}",
                c.id
            )?;
        }
        let n = self.conflict_ids().len();
        writeln!(f, "{n} conflict{}; nothing committed", plural(n))?;
        write!(
            f,
            "resolve by relabeling on either branch and merging again, or pass --ours or --theirs"
        )
    }
}

pub fn merge(args: &MergeArgs) -> Result<u8, CliError> {
    let store = Store::open(&args.dir.dir)?;
    let (branch, ours) = (&args.branch, args.ours);
    let other = store.resolve(branch)?;
    let outcome = anneal_data::merge::merge(&store, other, branch, args.prefer())?;
    let merge = Merge {
        merged: Merged::from(&outcome),
        branch: branch.clone(),
        side: if ours { "ours" } else { "theirs" },
    };
    super::print(&merge, args.json);
    Ok(merge.merged.code())
}
