use std::fmt;
use std::path::{Path, PathBuf};

use anneal::checks::{CheckResult, junit, robust, run as run_check};
use anneal::error::{CliError, EXIT_FAILED};
use anneal_audit::AttackOptions;
use anneal_build::{Project, build_key};
use anneal_data::Store;
use anneal_data::fs::write_atomic;
use anneal_spec::Adversarial;

use crate::progress::AuditBar;
use serde::Serialize;

/// What `anneal test` reports: each check of the program on the built package's metrics.
#[derive(Debug, Serialize)]
struct Tested {
    failed: usize,
    package: PathBuf,
    passed: usize,
    results: Vec<CheckResult>,
}

pub fn run(dir: &Path, junit_path: Option<&Path>, json: bool) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let path = project.package_path();
    let header = read_header(&path)?;
    warn_if_stale(&project, &header, &path);
    let results: Vec<_> = project
        .program
        .checks
        .iter()
        .flat_map(|c| match &c.attack {
            Some(attack) => vec![robust(c, robust_accuracy(&project, &header, attack, json))],
            None => run_check(c, &header.metrics),
        })
        .collect();
    if let Some(j) = junit_path {
        write_atomic(j, junit(&project.program.name, &results).as_bytes())
            .map_err(|e| CliError::io(j, e))?;
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    let passed = results.len() - failed;
    let tested = Tested {
        failed,
        package: path,
        passed,
        results,
    };
    super::print(&tested, json);
    Ok(if failed > 0 { EXIT_FAILED as u8 } else { 0 })
}

/// The accuracy of the built package on its test split under `attack`, and the examples
/// attacked: as the build measured it (`anneal.audit`), or measured now when the build did not
/// (a check added since), or why it cannot be.
fn robust_accuracy(
    project: &Project,
    header: &anneal_pack::Header,
    attack: &Adversarial,
    json: bool,
) -> Result<(f64, usize), String> {
    let measured = header.audit.iter().flat_map(|a| &a.robustness);
    if let Some(r) = measured.into_iter().find(|r| r.attack == *attack) {
        return Ok((r.accuracy, r.examples));
    }
    let opts = AttackOptions {
        attacks: vec![*attack],
        epsilons: vec![attack.epsilon],
        ..AttackOptions::default()
    };
    let mut bar = AuditBar::new(json, &attack.name(), "gradient steps");
    let r = anneal_audit::robustness(project, &opts, None, &mut bar).map_err(|e| e.to_string())?;
    let point = r.points.first().ok_or("the attack measured nothing")?;
    Ok((point.accuracy, r.examples))
}

/// The package's header, or an error saying to build first.
fn read_header(path: &Path) -> Result<anneal_pack::Header, CliError> {
    match anneal_pack::Header::read(path) {
        Ok(h) => Ok(h),
        Err(anneal_pack::PackError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Err(CliError::new(format!("no build at {}", path.display()))
                .hint("run `anneal build` first"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Warn when the program or the dataset changed since the package was built.
fn warn_if_stale(project: &Project, header: &anneal_pack::Header, path: &Path) {
    // Built with `--width`: the program at that width.
    let width = Some(header.program.width).filter(|w| *w != project.program.width);
    let rescaled = width.and_then(|w| Project::load_width(&project.dir, Some(w)).ok());
    // Built with `--int8`: the program quantized.
    let mut project = rescaled.unwrap_or_else(|| project.clone());
    project.program.quantize = header.program.quantize;
    let project = &project;
    if let Ok(Some(commit)) = Store::open(&project.dir).and_then(|s| s.head())
        && let Ok(mut lines) = project.parents()
        && {
            lines.extend(header.lineage.engine_key.clone());
            build_key(&project.program, &commit, &lines) != header.lineage.build_key
        }
    {
        eprintln!(
            "warning: {} is stale (the program or dataset changed since it was built); run `anneal build`",
            path.display()
        );
    }
}

impl fmt::Display for Tested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}
