//! Remotes: add/list, push, pull, clone.

use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::Store;
use anneal_data::merge::{Outcome, merge};
use anneal_data::remote::{Transfer, fetch, fetch_url, push as push_branch};
use serde_json::json;

fn transfer_json(t: &Transfer) -> serde_json::Value {
    json!({"commit": t.commit.to_hex(), "objects": t.objects, "bytes": t.bytes})
}

pub fn remote(dir: &Path, args: &[String], json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match args {
        [] => {
            let remotes = store.remotes()?;
            if json {
                let list: Vec<_> = remotes
                    .iter()
                    .map(|(name, url)| json!({"name": name, "url": url}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            }
            for (name, url) in remotes.iter().filter(|_| !json) {
                println!("{name} {url}");
            }
        }
        [verb, name, url] if verb == "add" => {
            anneal_data::remote::open(url, true)?;
            store.add_remote(name, url)?;
            if json {
                println!("{}", json!({"added": name, "url": url}));
            } else {
                println!("added remote {name} {url}");
            }
        }
        _ => {
            return Err(CliError::new(
                "expected `remote add NAME URL` or `remote` to list",
            ));
        }
    }
    Ok(0)
}

pub fn push(dir: &Path, remote: &str, branch: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = match branch {
        Some(b) => b.to_string(),
        None => store.branch()?,
    };
    let t = push_branch(&store, remote, &branch)?;
    if json {
        println!(
            "{}",
            json!({"remote": remote, "branch": branch, "pushed": transfer_json(&t)})
        );
        return Ok(0);
    }
    println!(
        "pushed {branch} ({}) to {remote}: {} objects, {} bytes",
        t.commit.short(),
        t.objects,
        t.bytes
    );
    Ok(0)
}

pub fn pull(dir: &Path, remote: &str, branch: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = match branch {
        Some(b) => b.to_string(),
        None => store.branch()?,
    };
    let t = fetch(&store, remote, &branch)?;
    if !json {
        println!(
            "fetched {remote}/{branch} ({}): {} objects, {} bytes",
            t.commit.short(),
            t.objects,
            t.bytes
        );
    }
    let outcome = if store.head()?.is_none() {
        store.reset_branch(t.commit, &format!("pull {remote}/{branch}"))?;
        Outcome::FastForward(t.commit)
    } else {
        merge(&store, t.commit, &format!("{remote}/{branch}"), None)?
    };
    let code = if matches!(outcome, Outcome::Conflicts(_)) {
        EXIT_FAILED as u8
    } else {
        0
    };
    if json {
        println!(
            "{}",
            json!({"remote": remote, "branch": branch, "fetched": transfer_json(&t),
                   "merge": super::data_refs::outcome_json(&outcome)})
        );
        return Ok(code);
    }
    match outcome {
        Outcome::UpToDate => println!("already up to date"),
        Outcome::FastForward(h) => println!("fast-forward to {}", h.short()),
        Outcome::Merged { commit, .. } => println!("merged as {}", commit.short()),
        Outcome::Conflicts(c) => {
            for c in &c {
                println!("conflict {}", c.id);
            }
            println!(
                "{} conflicts; nothing merged: run `anneal data merge {remote}/{branch}` after fixing, or with --ours/--theirs",
                c.len()
            );
        }
    }
    Ok(code)
}

pub fn clone(dir: &Path, url: &str, json: bool) -> Result<u8, CliError> {
    if Store::open(dir).is_ok_and(|s| s.head().ok().flatten().is_some()) {
        return Err(
            CliError::new(format!("{} already has a dataset", dir.display()))
                .hint("clone into a program without a store"),
        );
    }
    let store = Store::init(dir)?;
    let t = fetch_url(&store, "origin", url, "main")?;
    store.add_remote("origin", url)?;
    store.reset_branch(t.commit, &format!("clone {url}"))?;
    if json {
        println!(
            "{}",
            json!({"url": url, "branch": "main", "fetched": transfer_json(&t)})
        );
        return Ok(0);
    }
    println!(
        "cloned {url}: {} objects, {} bytes, main at {}",
        t.objects,
        t.bytes,
        t.commit.short()
    );
    Ok(0)
}
