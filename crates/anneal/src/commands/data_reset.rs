//! `anneal data reset [--hard REV]`: drop the staged changes, and with `--hard` move the
//! branch back to an earlier commit (the way back from a commit that should not have been made).

use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_data::stage::Dropped;
use anneal_data::{CommitId, Store};
use serde::Serialize;

use super::data_show::{plural, short};

/// What `reset` did.
#[derive(Debug, Serialize)]
pub struct Reset {
    /// The staged changes dropped.
    dropped: Dropped,
    /// With `--hard`: the commit the branch was at (if readable) and the one it is at now.
    #[serde(skip_serializing_if = "Option::is_none")]
    moved: Option<Moved>,
}

#[derive(Debug, Serialize)]
struct Moved {
    branch: String,
    from: Option<CommitId>,
    to: CommitId,
}

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dropped {
            Dropped::Changes(n) => write!(f, "dropped {n} staged change{}", plural(n))?,
            Dropped::Unreadable => write!(f, "dropped an index that could not be read")?,
        }
        match &self.moved {
            Some(m) => write!(f, "\n{m}"),
            None => Ok(()),
        }
    }
}

/// Where the branch went, and how to undo it.
impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "branch {} is now at {}", self.branch, short(&self.to))?;
        if let Some(from) = &self.from {
            let back = format!("anneal data reset --hard {}", short(from));
            write!(f, " (was {}; undo with `{back}`)", short(from))?;
        }
        Ok(())
    }
}

/// Drop the staged changes; with `hard`, also move the current branch to that revision.
pub fn run(dir: &Path, hard: Option<&str>, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let reset = match hard {
        None => Reset {
            dropped: store.reset_staged()?,
            moved: None,
        },
        Some(rev) => hard_reset(&store, rev)?,
    };
    super::print(&reset, json);
    Ok(0)
}

fn hard_reset(store: &Store, rev: &str) -> Result<Reset, CliError> {
    let to = store.resolve(rev)?;
    let (from, dropped) = store.reset_hard(to)?;
    let moved = Moved {
        branch: store.branch()?,
        from,
        to,
    };
    Ok(Reset {
        dropped,
        moved: Some(moved),
    })
}
