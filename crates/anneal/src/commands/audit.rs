use std::path::{Path, PathBuf};

use crate::progress::AuditBar;
use anneal::error::CliError;
use anneal_audit::explain::Baseline;
use anneal_audit::{AttackOptions, Audit, ExplainOptions, Opacity, Options, picture};
use anneal_build::Project;
use anneal_data::fs::write_atomic;
use anneal_spec::Adversarial;
use serde::Serialize;

/// `anneal audit`: the last build's test predictions per group of a metadata field.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The program folder.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// A metadata field to group by (repeatable); default: every field with 2 to 64 values.
    #[arg(long, value_name = "FIELD")]
    by: Vec<String>,
    /// The class counted as selected; default: the second class of a binary program.
    #[arg(long, value_name = "CLASS")]
    positive: Option<String>,
    /// Groups with fewer test examples are reported but left out of the gaps.
    #[arg(long, value_name = "N", default_value_t = 30)]
    min_group: usize,
    /// Bootstrap resamples behind the 95% intervals.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    resamples: usize,
    /// The attacks: `fgsm`, `pgd`, both (comma-separated), or `none`.
    #[arg(long, value_name = "LIST", default_value = "fgsm,pgd", value_parser = attacks)]
    attacks: Attacks,
    /// Attack radii (L-infinity, in input units before normalisation: a fraction of the pixel
    /// range for images).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "0.05,0.1,0.2,0.3"
    )]
    epsilon: Vec<f32>,
    /// PGD steps.
    #[arg(long, value_name = "N", default_value_t = 20)]
    steps: usize,
    /// PGD step, in the units of epsilon; default 2.5 * epsilon / steps.
    #[arg(long, value_name = "X")]
    step_size: Option<f32>,
    /// Attack only the first N test examples (in id order).
    #[arg(long, value_name = "N")]
    examples: Option<usize>,
    /// Explain the N worst test predictions (saliency, integrated gradients); 0: no
    /// attributions.
    #[arg(long, value_name = "N", default_value_t = 8)]
    explain: usize,
    /// Explain this test example (repeatable) instead of the worst ones.
    #[arg(long = "example", value_name = "ID")]
    ids: Vec<String>,
    /// Where integrated gradients start (and what removed inputs become): `blank` (a black
    /// image, a silent spectrogram, a table row of means) or `mean` (the mean test input).
    #[arg(long, value_name = "KIND", default_value = "blank", value_parser = baseline)]
    baseline: Baseline,
    /// Points on the integrated-gradients path.
    #[arg(long, value_name = "N", default_value_t = 50)]
    ig_steps: usize,
    /// Test examples the attributions' faithfulness is measured on.
    #[arg(long, value_name = "N", default_value_t = 500)]
    faithfulness: usize,
    /// Folder for the heat maps (PNG); default `target/audit` in the program folder.
    #[arg(long, value_name = "DIR")]
    maps: Option<PathBuf>,
    /// Also write the audit as one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal audit` prints.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub(super) struct Audited(pub Audit);

pub fn run(args: &AuditArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir)?;
    let opts = Options {
        positive: positive(&project, args.positive.as_deref())?,
        min_group: args.min_group,
        resamples: args.resamples.min(100_000),
        ..Options::default()
    };
    let mut audit = anneal_audit::audit(&project, &args.by, &opts)?;
    if args.explain > 0 {
        let mut bar = AuditBar::new(args.json, "attributions", "examples");
        let opacity = anneal_audit::opacity(&project, &explain_options(args)?, &mut bar)?;
        let dir = args
            .maps
            .clone()
            .unwrap_or_else(|| project.dir.join("target/audit"));
        write_maps(&dir, &project, &opacity)?;
        audit.opacity = Some(opacity);
    }
    if let Some(opts) = attack_options(args)? {
        let mut bar = AuditBar::new(args.json, "attacks", "gradient steps");
        let robust = anneal_audit::robustness(&project, &opts, args.examples, &mut bar)?;
        audit.robustness = Some(robust);
    }
    if let Some(path) = &args.html {
        write_html(path, &project, &audit)?;
    }
    super::print(&Audited(audit), args.json);
    Ok(0)
}

/// The HTML report of `audit` at `path`.
fn write_html(path: &Path, project: &Project, audit: &Audit) -> Result<(), CliError> {
    let package = anneal_pack::Header::read(&project.package_path())?;
    let title = format!("{} {}", package.program.name, package.program.version);
    let html = anneal_audit::html::report(&title, &package.program.input, audit)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    write_atomic(path, html.as_bytes()).map_err(|e| CliError::io(path, e))
}

/// `--explain`'s settings, checked.
fn explain_options(args: &AuditArgs) -> Result<ExplainOptions, CliError> {
    if !(1..=10_000).contains(&args.ig_steps) {
        return Err(CliError::new("--ig-steps is 1 to 10000"));
    }
    if args.faithfulness == 0 {
        return Err(CliError::new("--faithfulness is at least 1 test example"));
    }
    Ok(ExplainOptions {
        examples: args.explain,
        ids: args.ids.clone(),
        baseline: args.baseline,
        steps: args.ig_steps,
        faithfulness: args.faithfulness,
        ..ExplainOptions::default()
    })
}

/// Each explained example's input, saliency and integrated-gradients maps as PNG files in
/// `dir` (`ID.input.png`, `ID.saliency.png`, `ID.ig.png`), for inputs that are pictures.
fn write_maps(dir: &Path, project: &Project, opacity: &Opacity) -> Result<(), CliError> {
    let input = &project.program.input;
    let package = anneal_pack::Header::read(&project.package_path())?;
    let (kind, shape) = (input.kind, package.program.input.shape);
    for e in &opacity.examples {
        let maps = [
            ("input", picture::picture(kind, shape, &e.input)),
            (
                "saliency",
                picture::heatmap(kind, shape, &e.input, &e.saliency),
            ),
            (
                "ig",
                picture::heatmap(kind, shape, &e.input, &e.integrated.attributions),
            ),
        ];
        for (name, png) in maps {
            let Some(png) = png else { return Ok(()) };
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
            let path = dir.join(format!("{}.{name}.png", file_name(&e.id)));
            write_atomic(&path, &png).map_err(|e| CliError::io(&path, e))?;
        }
    }
    Ok(())
}

/// An example id as a file name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
fn file_name(id: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    id.chars().map(|c| if keep(c) { c } else { '_' }).collect()
}

/// `--baseline`: `zero` or `mean`.
fn baseline(s: &str) -> Result<Baseline, String> {
    match s {
        "blank" => Ok(Baseline::Blank),
        "mean" => Ok(Baseline::Mean),
        other => Err(format!("`{other}` is not a baseline: blank or mean")),
    }
}

/// Which attacks `--attacks` names.
#[derive(Debug, Clone, Copy)]
struct Attacks {
    fgsm: bool,
    pgd: bool,
}

/// `--attacks`: `fgsm`, `pgd`, `fgsm,pgd` or `none`.
fn attacks(s: &str) -> Result<Attacks, String> {
    let mut a = Attacks {
        fgsm: false,
        pgd: false,
    };
    for name in s.split(',').map(str::trim) {
        match name {
            "fgsm" => a.fgsm = true,
            "pgd" => a.pgd = true,
            "none" => {}
            other => return Err(format!("`{other}` is not an attack: fgsm, pgd or none")),
        }
    }
    Ok(a)
}

/// The attacks to run, or `None` for `--attacks none`.
fn attack_options(args: &AuditArgs) -> Result<Option<AttackOptions>, CliError> {
    let bad = |v: &f32| !(v.is_finite() && *v >= 0.0);
    if let Some(e) = args.epsilon.iter().find(|v| bad(v)) {
        return Err(CliError::new(format!(
            "--epsilon {e}: a radius is a finite number >= 0"
        )));
    }
    let most = anneal_spec::adversarial::MAX_STEPS;
    if !(1..=most).contains(&args.steps) || args.step_size.is_some_and(|s| bad(&s)) {
        return Err(CliError::new(format!(
            "--steps is at least 1 (at most {most}) and --step-size a number >= 0"
        )));
    }
    if args.examples == Some(0) {
        return Err(CliError::new("--examples is at least 1 test example"));
    }
    let pgd = Adversarial {
        step: args.step_size,
        ..Adversarial::pgd(0.0, args.steps)
    };
    let Attacks {
        fgsm,
        pgd: with_pgd,
    } = args.attacks;
    let chosen = [(fgsm, Adversarial::fgsm(0.0)), (with_pgd, pgd)];
    let attacks: Vec<Adversarial> = chosen.into_iter().filter(|a| a.0).map(|a| a.1).collect();
    Ok((!attacks.is_empty()).then(|| AttackOptions {
        attacks,
        epsilons: args.epsilon.clone(),
        ..AttackOptions::default()
    }))
}

/// The index of the class named `--positive`, or an error listing the classes.
fn positive(project: &Project, name: Option<&str>) -> Result<Option<u32>, CliError> {
    let Some(name) = name else { return Ok(None) };
    let classes = &project.program.classes;
    match classes.iter().position(|c| c == name) {
        Some(k) => Ok(Some(k as u32)),
        None => Err(CliError::new(format!(
            "--positive `{name}` is not one of the program's classes ({})",
            classes.join(", ")
        ))),
    }
}
