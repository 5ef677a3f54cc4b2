//! Branches, tags, checkout and merge.

use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::Store;
use anneal_data::merge::{Outcome, Side};
use anneal_data::object::Row;
use serde_json::json;

pub fn branch(dir: &Path, name: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match name {
        Some(n) => {
            let at = store.create_branch(n, None)?;
            if json {
                println!("{}", json!({"branch": n, "commit": at.to_hex()}));
            } else {
                println!("created branch {n} at {}", at.short());
            }
        }
        None => {
            let current = store.branch()?;
            let branches = store.branches()?;
            if json {
                let list: Vec<_> = branches
                    .iter()
                    .map(
                        |(n, h)| json!({"name": n, "commit": h.to_hex(), "current": *n == current}),
                    )
                    .collect();
                println!("{}", json!({"current": current, "branches": list}));
            }
            for (n, h) in branches.iter().filter(|_| !json) {
                let mark = if *n == current { "*" } else { " " };
                println!("{mark} {n} {}", h.short());
            }
        }
    }
    Ok(0)
}

pub fn checkout(dir: &Path, name: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let at = store.checkout(name)?;
    if json {
        println!("{}", json!({"branch": name, "commit": at.to_hex()}));
    } else {
        println!("on branch {name} at {}", at.short());
    }
    Ok(0)
}

pub fn tag(dir: &Path, name: Option<&str>, rev: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match name {
        Some(n) => {
            let at = rev.map(|r| store.resolve(r)).transpose()?;
            let at = store.create_tag(n, at)?;
            if json {
                println!("{}", json!({"tag": n, "commit": at.to_hex()}));
            } else {
                println!("tagged {} as {n}", at.short());
            }
        }
        None => {
            let tags = store.tags()?;
            if json {
                let list: Vec<_> = tags
                    .iter()
                    .map(|(n, h)| json!({"name": n, "commit": h.to_hex()}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            }
            for (n, h) in tags.iter().filter(|_| !json) {
                println!("{n} {}", h.short());
            }
        }
    }
    Ok(0)
}

/// A merge outcome as JSON (shared with `pull`).
pub fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let label = |r: &Option<Row>| {
        r.as_ref()
            .map(|r| json!({"label": r.label, "split": r.split}))
    };
    match outcome {
        Outcome::UpToDate => json!({"outcome": "up-to-date"}),
        Outcome::FastForward(h) => json!({"outcome": "fast-forward", "commit": h.to_hex()}),
        Outcome::Merged { commit, resolved } => {
            json!({"outcome": "merged", "commit": commit.to_hex(), "resolved": resolved})
        }
        Outcome::Conflicts(conflicts) => {
            let list: Vec<_> = conflicts
                .iter()
                .map(|c| json!({"id": c.id, "base": label(&c.base), "ours": label(&c.ours), "theirs": label(&c.theirs)}))
                .collect();
            json!({"outcome": "conflicts", "conflicts": list})
        }
    }
}

pub fn merge(
    dir: &Path,
    branch: &str,
    ours: bool,
    theirs: bool,
    json: bool,
) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let other = store.resolve(branch)?;
    let prefer = match (ours, theirs) {
        (true, _) => Some(Side::Ours),
        (_, true) => Some(Side::Theirs),
        _ => None,
    };
    let outcome = anneal_data::merge::merge(&store, other, branch, prefer)?;
    let code = if matches!(outcome, Outcome::Conflicts(_)) {
        EXIT_FAILED as u8
    } else {
        0
    };
    if json {
        println!("{}", outcome_json(&outcome));
        return Ok(code);
    }
    match outcome {
        Outcome::UpToDate => println!("already up to date"),
        Outcome::FastForward(h) => println!("fast-forward to {}", h.short()),
        Outcome::Merged { commit, resolved } => {
            println!("merged {branch} as {}", commit.short());
            if resolved > 0 {
                println!(
                    "{resolved} conflict{} resolved by --{}",
                    if resolved == 1 { "" } else { "s" },
                    if ours { "ours" } else { "theirs" }
                );
            }
        }
        Outcome::Conflicts(conflicts) => {
            let show = |r: &Option<Row>| match r {
                None => "(removed)".to_string(),
                Some(r) => r.label.clone().unwrap_or_else(|| "(unlabeled)".into()),
            };
            for c in &conflicts {
                println!(
                    "conflict {}: base {}, ours {}, theirs {}",
                    c.id,
                    show(&c.base),
                    show(&c.ours),
                    show(&c.theirs)
                );
            }
            println!(
                "{} conflict{}; nothing committed",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" }
            );
            println!(
                "resolve by relabeling on either branch and merging again, or pass --ours or --theirs"
            );
        }
    }
    Ok(code)
}
