//! The store's upkeep: fsck and gc. Each computes a value that is `Serialize` (what `--json`
//! prints) and `Display` (what people read), printed by [`super::print`].

use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::Store;
use serde::Serialize;

use super::data_show::plural;

/// What `anneal data fsck` found.
#[derive(Debug, Serialize)]
struct Checked {
    commits: usize,
    objects: usize,
    problems: Vec<Problem>,
}

/// One problem, naming the file.
#[derive(Debug, Serialize)]
struct Problem {
    path: PathBuf,
    problem: String,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{}: {}", p.path.display(), p.problem)?;
        }
        let n = self.problems.len();
        let (objects, commits) = (self.objects, self.commits);
        write!(
            f,
            "checked {objects} objects and {commits} commits: {n} problem{}",
            plural(n)
        )
    }
}

impl From<anneal_data::fsck::Report> for Checked {
    fn from(report: anneal_data::fsck::Report) -> Self {
        let problem = |p: anneal_data::fsck::Problem| Problem {
            path: p.path,
            problem: p.message,
        };
        Checked {
            commits: report.commits,
            objects: report.objects,
            problems: report.problems.into_iter().map(problem).collect(),
        }
    }
}

pub fn fsck(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let checked = Checked::from(anneal_data::fsck::fsck(&store)?);
    super::print(&checked, json);
    Ok(if checked.problems.is_empty() {
        0
    } else {
        EXIT_FAILED as u8
    })
}

/// What `anneal data gc` removed.
#[derive(Debug, Serialize)]
struct Collected {
    bytes: u64,
    kept: usize,
    removed: usize,
    strays: usize,
}

impl fmt::Display for Collected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (removed, bytes, kept) = (self.removed, self.bytes, self.kept);
        write!(
            f,
            "removed {removed} unreachable objects ({bytes} bytes), kept {kept}"
        )?;
        if self.strays > 0 {
            write!(
                f,
                "\nleft {} entries that are not objects (links or stray files); `anneal data fsck` lists them",
                self.strays
            )?;
        }
        Ok(())
    }
}

pub fn gc(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let r = anneal_data::gc::gc(&store)?;
    let collected = Collected {
        bytes: r.bytes,
        kept: r.kept,
        removed: r.removed,
        strays: r.strays,
    };
    super::print(&collected, json);
    Ok(0)
}
