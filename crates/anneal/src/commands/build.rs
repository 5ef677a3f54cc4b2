use std::path::Path;

use anneal::error::CliError;
use anneal_build::{Project, build};

use crate::progress::Progress;

pub fn run(dir: &Path, json: bool, threads: Option<usize>) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    anneal_engine::set_threads(thread_count(threads)?)?;
    let mut progress = Progress::new(json, project.program.train.batch);
    let mut log = |line: String| {
        if json {
            println!("{}", serde_json::json!({"event": "note", "message": line}));
        } else {
            eprintln!("{line}");
        }
    };
    let out = build(&project, &mut progress, &mut log)?;
    if json {
        // The last event of the stream `--json` prints (notes and progress come before it).
        let mut v = serde_json::to_value(&out).map_err(|e| CliError::new(e.to_string()))?;
        v["event"] = "done".into();
        println!("{v}");
    } else {
        println!("{out}");
    }
    Ok(0)
}

/// `--threads`, else `ANNEAL_THREADS`, else 2; at least 1.
fn thread_count(flag: Option<usize>) -> Result<usize, CliError> {
    let threads = match (flag, std::env::var("ANNEAL_THREADS")) {
        (Some(t), _) => t,
        (None, Ok(v)) => v.parse().map_err(|_| {
            CliError::new(format!("ANNEAL_THREADS=`{v}` is not a number of threads"))
        })?,
        (None, Err(_)) => 2,
    };
    match threads {
        0 => Err(CliError::new("--threads must be at least 1")),
        t => Ok(t),
    }
}
