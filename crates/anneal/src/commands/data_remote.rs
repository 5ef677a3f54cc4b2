//! Remotes: add/list, push, pull, clone. Each verb computes a value that is `Serialize` (what
//! `--json` prints) and `Display` (what people read), printed by [`super::print`].

use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_data::merge::{Outcome, merge};
use anneal_data::remote::{Transfer, fetch, fetch_url, push as push_branch};
use anneal_data::{CommitId, Store};
use serde::Serialize;

use super::data_refs::Merged;
use super::data_show::{print_listing, short};

/// `anneal data push` and `pull`'s arguments: a remote and a branch.
#[derive(Debug, clap::Args)]
pub struct RemoteBranchArgs {
    /// The remote (default origin).
    #[arg(default_value = "origin")]
    remote: String,
    /// The branch (default: the current one).
    #[arg(long)]
    branch: Option<String>,
    #[command(flatten)]
    dir: crate::Dir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What a push or fetch moved.
#[derive(Debug, Serialize)]
struct Moved {
    bytes: u64,
    commit: CommitId,
    objects: usize,
}

impl From<Transfer> for Moved {
    fn from(t: Transfer) -> Self {
        Moved {
            bytes: t.bytes,
            commit: t.commit,
            objects: t.objects,
        }
    }
}

/// The remotes, or the one added.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Remotes {
    List(Vec<Remote>),
    Added { added: String, url: String },
}

#[derive(Debug, Serialize)]
struct Remote {
    name: String,
    url: String,
}

impl fmt::Display for Remotes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remotes::Added { added, url } => write!(f, "added remote {added} {url}"),
            Remotes::List(list) => {
                let lines: Vec<String> = list
                    .iter()
                    .map(|r| format!("{} {}", r.name, r.url))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}

impl Remotes {
    /// The store's remotes.
    fn list(store: &Store) -> Result<Remotes, CliError> {
        let remotes = store.remotes()?.into_iter();
        Ok(Remotes::List(
            remotes.map(|(name, url)| Remote { name, url }).collect(),
        ))
    }

    /// Add remote `name` at `url`, once the url opens.
    fn add(store: &Store, name: &str, url: &str) -> Result<Remotes, CliError> {
        anneal_data::remote::open(url, true)?;
        store.add_remote(name, url)?;
        let (added, url) = (name.to_string(), url.to_string());
        Ok(Remotes::Added { added, url })
    }
}

pub fn remote(dir: &Path, args: &[String], json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let remotes = match args {
        [] => Remotes::list(&store)?,
        [verb, name, url] if verb == "add" => Remotes::add(&store, name, url)?,
        _ => {
            let usage = "expected `remote add NAME URL` or `remote` to list";
            return Err(CliError::new(usage));
        }
    };
    print_listing(&remotes, json);
    Ok(0)
}

impl RemoteBranchArgs {
    /// The store, and the branch named (the current one by default).
    fn open(&self) -> Result<(Store, String), CliError> {
        let store = Store::open(&self.dir.dir)?;
        let branch = match &self.branch {
            Some(b) => b.clone(),
            None => store.branch()?,
        };
        Ok((store, branch))
    }
}

/// What `anneal data push` moved.
#[derive(Debug, Serialize)]
struct Pushed {
    branch: String,
    pushed: Moved,
    remote: String,
}

impl fmt::Display for Pushed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (branch, remote, p) = (&self.branch, &self.remote, &self.pushed);
        let at = short(&p.commit);
        write!(
            f,
            "pushed {branch} ({at}) to {remote}: {} objects, {} bytes",
            p.objects, p.bytes
        )
    }
}

pub fn push(args: &RemoteBranchArgs) -> Result<u8, CliError> {
    let (remote, json) = (&args.remote, args.json);
    let (store, branch) = args.open()?;
    let pushed = Moved::from(push_branch(&store, remote, &branch)?);
    let pushed = Pushed {
        branch,
        pushed,
        remote: remote.to_string(),
    };
    super::print(&pushed, json);
    Ok(0)
}

/// What `anneal data pull` fetched (printed as soon as it is, in text) and how it merged.
#[derive(Debug, Serialize)]
struct Pulled {
    branch: String,
    fetched: Moved,
    merge: Merged,
    remote: String,
}

/// The fetch of a pull, for people.
struct Fetched<'a>(&'a Pulled);

impl fmt::Display for Fetched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (remote, branch, t) = (&self.0.remote, &self.0.branch, &self.0.fetched);
        let at = short(&t.commit);
        write!(
            f,
            "fetched {remote}/{branch} ({at}): {} objects, {} bytes",
            t.objects, t.bytes
        )
    }
}

impl fmt::Display for Pulled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.merge.line("merged") {
            return write!(f, "{line}");
        }
        let ids = self.merge.conflict_ids();
        for id in &ids {
            writeln!(f, "conflict {id}")?;
        }
        let (remote, branch) = (&self.remote, &self.branch);
        write!(
            f,
            "{} conflicts; nothing merged: run `anneal data merge {remote}/{branch}` after fixing, or with --ours/--theirs",
            ids.len()
        )
    }
}

pub fn pull(args: &RemoteBranchArgs) -> Result<u8, CliError> {
    let (remote, json) = (&args.remote, args.json);
    let (store, branch) = args.open()?;
    let t = fetch(&store, remote, &branch)?;
    let mut pulled = Pulled {
        branch,
        fetched: Moved::from(t),
        merge: Merged::from(&Outcome::UpToDate),
        remote: remote.to_string(),
    };
    if !json {
        println!("{}", Fetched(&pulled));
    }
    let name = format!("{remote}/{}", pulled.branch);
    pulled.merge = Merged::from(&merge_fetched(&store, t.commit, &name)?);
    super::print(&pulled, json);
    Ok(pulled.merge.code())
}

/// Merge the fetched `commit` (named `name`) into the current branch; a store without
/// commits takes it as it is.
fn merge_fetched(store: &Store, commit: CommitId, name: &str) -> Result<Outcome, CliError> {
    if store.head()?.is_some() {
        return Ok(merge(store, commit, name, None)?);
    }
    store.reset_branch(commit, &format!("pull {name}"))?;
    Ok(Outcome::FastForward(commit))
}

/// What `anneal data clone` fetched.
#[derive(Debug, Serialize)]
struct Cloned {
    branch: &'static str,
    fetched: Moved,
    url: String,
}

impl fmt::Display for Cloned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (url, t) = (&self.url, &self.fetched);
        let at = short(&t.commit);
        write!(
            f,
            "cloned {url}: {} objects, {} bytes, main at {at}",
            t.objects, t.bytes
        )
    }
}

/// Refuse to clone into a program whose store has commits.
fn check_no_dataset(dir: &Path) -> Result<(), CliError> {
    if Store::open(dir).is_ok_and(|s| s.head().ok().flatten().is_some()) {
        return Err(
            CliError::new(format!("{} already has a dataset", dir.display()))
                .hint("clone into a program without a store"),
        );
    }
    Ok(())
}

pub fn clone(dir: &Path, url: &str, json: bool) -> Result<u8, CliError> {
    check_no_dataset(dir)?;
    let store = Store::init(dir)?;
    let t = fetch_url(&store, "origin", url, "main")?;
    store.add_remote("origin", url)?;
    store.reset_branch(t.commit, &format!("clone {url}"))?;
    let cloned = Cloned {
        branch: "main",
        fetched: Moved::from(t),
        url: url.to_string(),
    };
    super::print(&cloned, json);
    Ok(0)
}
