use std::path::Path;

use anneal::checks::{junit, run as run_check};
use anneal::error::{CliError, EXIT_FAILED};
use anneal_build::{Project, build_key};
use anneal_data::Store;
use anneal_data::fs::write_atomic;

pub fn run(dir: &Path, junit_path: Option<&Path>, json: bool) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let path = project.package_path();
    let header = match anneal_pack::Header::read(&path) {
        Ok(h) => h,
        Err(anneal_pack::PackError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(CliError::new(format!("no build at {}", path.display()))
                .hint("run `anneal build` first"));
        }
        Err(e) => return Err(e.into()),
    };
    if let Ok(Some(commit)) = Store::open(&project.dir).and_then(|s| s.head())
        && build_key(&project.program, &commit) != header.lineage.build_key
    {
        eprintln!(
            "warning: {} is stale (the program or dataset changed since it was built); run `anneal build`",
            path.display()
        );
    }
    let results: Vec<_> = project
        .program
        .checks
        .iter()
        .map(|c| run_check(c, &header.metrics))
        .collect();
    if let Some(j) = junit_path {
        write_atomic(j, junit(&project.program.name, &results).as_bytes())
            .map_err(|e| CliError::io(j, e))?;
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    if json {
        println!(
            "{}",
            serde_json::json!({"package": path, "results": results, "passed": results.len() - failed, "failed": failed})
        );
    } else {
        for r in &results {
            let mark = if r.passed { "ok  " } else { "FAIL" };
            println!(
                "{mark} {:<32} {:.4} (at least {:.4})",
                r.name, r.value, r.at_least
            );
        }
        println!("{} passed, {failed} failed", results.len() - failed);
    }
    Ok(if failed > 0 { EXIT_FAILED as u8 } else { 0 })
}
