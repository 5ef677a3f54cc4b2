use std::path::Path;

use anneal::error::CliError;
use anneal_build::{Project, build};

use crate::progress::Progress;

pub fn run(dir: &Path, json: bool, threads: Option<usize>) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let threads = match threads {
        Some(t) => t,
        None => match std::env::var("ANNEAL_THREADS") {
            Ok(v) => v.parse().map_err(|_| {
                CliError::new(format!("ANNEAL_THREADS=`{v}` is not a number of threads"))
            })?,
            Err(_) => 2,
        },
    };
    if threads == 0 {
        return Err(CliError::new("--threads must be at least 1"));
    }
    anneal_engine::set_threads(threads)?;
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
        let mut v = serde_json::to_value(&out).map_err(|e| CliError::new(e.to_string()))?;
        v["event"] = "done".into();
        println!("{v}");
        return Ok(0);
    }
    let state = if out.fresh { "fresh" } else { "built" };
    println!("{state} {}", out.package.display());
    println!(
        "  test accuracy {:.4} on {} examples",
        out.accuracy, out.test_examples
    );
    println!("  build time    {:.2}s", out.seconds);
    println!("  build key     {}", out.build_key);
    println!("  dataset       {}", out.dataset_commit);
    Ok(0)
}
