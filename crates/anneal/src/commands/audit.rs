use std::fmt;
use std::path::PathBuf;

use crate::progress::AttackBar;
use anneal::error::CliError;
use anneal_audit::attack::Point;
use anneal_audit::{AttackOptions, Audit, Calibration, Estimate, FieldAudit, Options, Robustness};
use anneal_build::Project;
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal audit` prints.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Audited(Audit);

pub fn run(args: &AuditArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir)?;
    let opts = Options {
        positive: positive(&project, args.positive.as_deref())?,
        min_group: args.min_group,
        resamples: args.resamples.min(100_000),
        ..Options::default()
    };
    let mut audit = anneal_audit::audit(&project, &args.by, &opts)?;
    if let Some(opts) = attack_options(args)? {
        let mut bar = AttackBar::new(args.json);
        let robust = anneal_audit::robustness(&project, &opts, args.examples, &mut bar)?;
        audit.robustness = Some(robust);
    }
    super::print(&Audited(audit), args.json);
    Ok(0)
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
    if args.steps == 0 || args.step_size.is_some_and(|s| bad(&s)) {
        return Err(CliError::new(
            "--steps is at least 1 and --step-size a number >= 0",
        ));
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

impl fmt::Display for Audited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.0;
        write!(
            f,
            "audit of build {} ({} test examples, accuracy {:.4})",
            &a.build_key[..12.min(a.build_key.len())],
            a.examples,
            a.accuracy
        )?;
        if a.fields.is_empty() {
            write!(
                f,
                "\nno metadata field of the test examples has 2 to 64 values: name one with --by"
            )?;
        }
        a.fields
            .iter()
            .try_for_each(|field| write!(f, "\n\n{}", Field(field)))?;
        write!(f, "\n\n{}", Calibrated(&a.calibration))?;
        match &a.robustness {
            Some(r) => write!(f, "\n\n{}", Robust(r)),
            None => Ok(()),
        }
    }
}

/// ECE, MCE and the reliability diagram's non-empty bins.
struct Calibrated<'a>(&'a Calibration);

impl fmt::Display for Calibrated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(
            f,
            "calibration: ECE {:.4}, MCE {:.4}, NLL {:.4} ({} equal-width confidence bins)\n  {:<14} {:>8} {:>11} {:>9}",
            c.ece,
            c.mce,
            c.nll,
            c.bins.len(),
            "confidence",
            "examples",
            "confidence",
            "accuracy"
        )?;
        let width = 1.0 / c.bins.len().max(1) as f64;
        for b in c.bins.iter().filter(|b| b.examples > 0) {
            let range = format!("({:.3}, {:.3}]", b.low, b.low + width);
            let (n, conf, acc) = (b.examples, b.confidence, b.accuracy);
            write!(f, "\n  {range:<14} {n:>8} {conf:>11.4} {acc:>9.4}")?;
        }
        Ok(())
    }
}

/// The accuracy-under-attack table: one row per attack, one column per radius.
struct Robust<'a>(&'a Robustness);

impl fmt::Display for Robust<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(
            f,
            "robustness on {} test examples (clean accuracy {:.4}); epsilon in {}",
            r.examples, r.clean_accuracy, r.units
        )?;
        let rows = r.points.chunk_by(|a, b| a.attack.name() == b.attack.name());
        let first = rows.clone().next().unwrap_or_default();
        let head: Vec<String> = first
            .iter()
            .map(|p| format!("{:>8}", p.attack.epsilon))
            .collect();
        write!(f, "  {:<8} {}", "epsilon", head.join(" "))?;
        for row in rows {
            write!(f, "\n  {:<8} {}", row[0].attack.name(), accuracies(row))?;
        }
        Ok(())
    }
}

/// A row's accuracies, aligned under the radii.
fn accuracies(row: &[Point]) -> String {
    let cells: Vec<String> = row.iter().map(|p| format!("{:>8.4}", p.accuracy)).collect();
    cells.join(" ")
}

/// One field's table and gaps.
struct Field<'a>(&'a FieldAudit);

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        let positive =
            (a.positive.as_deref()).map_or(String::new(), |p| format!(", positive class {p}"));
        let (groups, resamples) = (a.groups.len(), a.resamples);
        writeln!(
            f,
            "{} ({groups} groups{positive}; 95% bootstrap intervals over {resamples} resamples)",
            a.field
        )?;
        self.table(f)?;
        if a.missing > 0 {
            writeln!(f, "  ({} test examples have no `{}`)", a.missing, a.field)?;
        }
        self.gaps(f)
    }
}

impl Field<'_> {
    /// One line per group.
    fn table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups = &self.0.groups;
        let w = groups
            .iter()
            .map(|g| g.value.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let head = [
            "accuracy",
            "selection rate",
            "true positive rate",
            "false positive rate",
        ];
        let [h0, h1, h2, h3] = head;
        writeln!(
            f,
            "  {:<w$} {:>8}  {h0:<24} {h1:<24} {h2:<24} {h3}",
            "value", "examples"
        )?;
        for g in groups {
            let small = if g.gated {
                ""
            } else {
                "  (small: not in the gaps)"
            };
            let figures = [
                g.accuracy,
                g.selection_rate,
                g.true_positive_rate,
                g.false_positive_rate,
            ];
            let [acc, sel, tpr, fpr] = figures.map(shown);
            let (value, n) = (&g.value, g.examples);
            writeln!(
                f,
                "  {value:<w$} {n:>8}  {acc:<24} {sel:<24} {tpr:<24} {fpr}{small}"
            )?;
        }
        Ok(())
    }

    /// The gaps between the groups.
    fn gaps(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        let rows = [
            ("accuracy difference", a.accuracy_difference),
            (
                "demographic parity difference",
                a.demographic_parity_difference,
            ),
            ("demographic parity ratio", a.demographic_parity_ratio),
            ("equalized odds difference", a.equalized_odds_difference),
        ];
        let lines: Vec<String> = rows
            .iter()
            .map(|(name, e)| format!("  {name:<30} {}", shown(*e)))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// `0.9295 [0.9226, 0.9361]`, or `-` where the figure is undefined.
fn shown(e: Option<Estimate>) -> String {
    e.map_or("-".into(), |e| {
        format!("{:.4} [{:.4}, {:.4}]", e.value, e.low, e.high)
    })
}
