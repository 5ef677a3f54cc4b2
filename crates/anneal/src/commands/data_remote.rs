//! Remotes: add/list, push, pull, clone.

use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::Store;
use anneal_data::merge::{Outcome, merge};
use anneal_data::remote::{fetch, fetch_url, push as push_branch};

pub fn remote(dir: &Path, args: &[String]) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match args {
        [] => {
            for (name, url) in store.remotes()? {
                println!("{name} {url}");
            }
        }
        [verb, name, url] if verb == "add" => {
            anneal_data::remote::open(url)?;
            store.add_remote(name, url)?;
            println!("added remote {name} {url}");
        }
        _ => {
            return Err(CliError::new(
                "expected `remote add NAME URL` or `remote` to list",
            ));
        }
    }
    Ok(0)
}

pub fn push(dir: &Path, remote: &str, branch: Option<&str>) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = match branch {
        Some(b) => b.to_string(),
        None => store.branch()?,
    };
    let t = push_branch(&store, remote, &branch)?;
    println!(
        "pushed {branch} ({}) to {remote}: {} objects, {} bytes",
        t.commit.short(),
        t.objects,
        t.bytes
    );
    Ok(0)
}

pub fn pull(dir: &Path, remote: &str, branch: Option<&str>) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = match branch {
        Some(b) => b.to_string(),
        None => store.branch()?,
    };
    let t = fetch(&store, remote, &branch)?;
    println!(
        "fetched {remote}/{branch} ({}): {} objects, {} bytes",
        t.commit.short(),
        t.objects,
        t.bytes
    );
    if store.head()?.is_none() {
        store.reset_branch(t.commit, &format!("pull {remote}/{branch}"))?;
        println!("branch set to {}", t.commit.short());
        return Ok(0);
    }
    match merge(&store, t.commit, &format!("{remote}/{branch}"), None)? {
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
            return Ok(EXIT_FAILED as u8);
        }
    }
    Ok(0)
}

pub fn clone(dir: &Path, url: &str) -> Result<u8, CliError> {
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
    println!(
        "cloned {url}: {} objects, {} bytes, main at {}",
        t.objects,
        t.bytes,
        t.commit.short()
    );
    Ok(0)
}
