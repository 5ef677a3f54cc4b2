//! `anneal tune`: the program at several widths, measured, with its Pareto front as a table,
//! JSON (`target/tune/tune.json`) and an SVG plot (`target/tune/pareto.svg`); `--pick` makes
//! the best variant within a budget the program's package.

use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_build::tune::{self, Budget, DEFAULT_WIDTHS, Variant};
use anneal_build::{Engine, Project};
use serde::Serialize;

use crate::progress::Progress;

/// `anneal tune` arguments.
#[derive(Debug, clap::Args)]
pub struct TuneArgs {
    /// The program folder.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The widths to build, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_WIDTHS)]
    widths: Vec<f64>,
    /// Also build each width quantized to int8.
    #[arg(long)]
    int8: bool,
    /// Pick the most accurate variant whose batch-1 latency is at most this many milliseconds.
    #[arg(long, conflicts_with = "budget_flops")]
    budget_ms: Option<f64>,
    /// Pick the most accurate variant of at most this many forward FLOPs per example.
    #[arg(long)]
    budget_flops: Option<u64>,
    /// Write the picked variant as the program's package (target/NAME-VERSION.anneal).
    #[arg(long)]
    pick: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal tune` reports.
#[derive(Debug, Serialize)]
struct Tuned {
    variants: Vec<Variant>,
    /// The variant picked within the budget.
    picked: Option<usize>,
    /// Where the package was written, with --pick.
    written: Option<PathBuf>,
    plot: PathBuf,
}

pub fn run(args: &TuneArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir)?;
    if args.widths.is_empty() || args.widths.iter().any(|w| !(*w > 0.0 && *w <= 16.0)) {
        return Err(CliError::new(
            "--widths must be numbers above 0 and at most 16",
        ));
    }
    let budget = match (args.budget_ms, args.budget_flops) {
        (Some(ms), _) => Some(Budget::Ms(ms)),
        (_, Some(f)) => Some(Budget::Flops(f)),
        _ => None,
    };
    if args.pick && budget.is_none() {
        return Err(CliError::new("--pick needs --budget-ms or --budget-flops"));
    }
    let mut progress = Progress::new(args.json, project.program.train.batch);
    let mut log = |line: String| eprintln!("{line}");
    let variants = tune::tune(
        &project,
        (&args.widths, args.int8),
        &Engine::Native,
        &mut progress,
        &mut log,
    )?;
    let picked = match budget {
        Some(b) => Some(index_of(&variants, tune::pick(&variants, b)?)),
        None => None,
    };
    let written = match (args.pick, picked) {
        (true, Some(i)) => Some(write_picked(&project, &variants[i])?),
        _ => None,
    };
    let out = project.target.join("tune");
    let plot = out.join("pareto.svg");
    let tuned = Tuned {
        variants,
        picked,
        written,
        plot,
    };
    save(&out, &tuned)?;
    super::print(&tuned, args.json);
    Ok(0)
}

fn index_of(variants: &[Variant], v: &Variant) -> usize {
    variants
        .iter()
        .position(|o| std::ptr::eq(o, v))
        .unwrap_or(0)
}

/// The variant's package and report as the program's, and the lock saying so.
fn write_picked(project: &Project, v: &Variant) -> Result<PathBuf, CliError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| CliError::new(format!("{}: {e}", path.display()))
    };
    let to = project.package_path();
    let bytes = std::fs::read(&v.package).map_err(io(&v.package))?;
    let report_from = v.package.with_extension("report.json");
    let report = std::fs::read(&report_from).map_err(io(&report_from))?;
    std::fs::create_dir_all(&project.target).map_err(io(&project.target))?;
    anneal_data::fs::write_atomic(&project.report_path(), &report).map_err(io(&to))?;
    anneal_data::fs::write_atomic(&to, &bytes).map_err(io(&to))?;
    let header = anneal_pack::Header::read(&to)?;
    let commit =
        header.lineage.dataset_commit.parse().map_err(|_| {
            CliError::new(format!("{}: its dataset commit is malformed", to.display()))
        })?;
    anneal_build::report::write_lock(&project.dir, &commit, &v.build_key, &bytes)?;
    Ok(to)
}

/// `tune.json` and `pareto.svg` in `out`.
fn save(out: &Path, tuned: &Tuned) -> Result<(), CliError> {
    let fail = |e: String| CliError::new(format!("{}: {e}", out.display()));
    let json = serde_json::to_vec_pretty(tuned).map_err(|e| fail(e.to_string()))?;
    anneal_data::fs::write_atomic(&out.join("tune.json"), &json)
        .map_err(|e| fail(e.to_string()))?;
    let svg = plot(&tuned.variants);
    anneal_data::fs::write_atomic(&tuned.plot, svg.as_bytes()).map_err(|e| fail(e.to_string()))
}

/// Accuracy against batch-1 latency, the front joined by a line.
fn plot(variants: &[Variant]) -> String {
    let (w, h, m) = (560.0, 360.0, 56.0);
    let max_ms = variants.iter().map(|v| v.latency_ms).fold(0.0, f64::max) * 1.1;
    let (lo, hi) = variants.iter().fold((1.0f64, 0.0f64), |(lo, hi), v| {
        (lo.min(v.accuracy), hi.max(v.accuracy))
    });
    let (lo, hi) = (lo - 0.005, hi + 0.005);
    let x = |ms: f64| m + (w - 2.0 * m) * ms / max_ms.max(1e-9);
    let y = |a: f64| h - m - (h - 2.0 * m) * (a - lo) / (hi - lo).max(1e-9);
    let mut front: Vec<&Variant> = variants.iter().filter(|v| v.pareto).collect();
    front.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
    let line: Vec<String> = front
        .iter()
        .map(|v| format!("{:.1},{:.1}", x(v.latency_ms), y(v.accuracy)))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#444\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{b}\" stroke=\"#444\"/>\n\
         <text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">latency at batch 1 (ms, 0 to {max_ms:.3})</text>\n\
         <text x=\"14\" y=\"{cy}\" transform=\"rotate(-90 14 {cy})\" text-anchor=\"middle\">test accuracy ({lo:.3} to {hi:.3})</text>\n\
         <polyline fill=\"none\" stroke=\"#1f77b4\" points=\"{}\"/>\n",
        line.join(" "),
        b = h - m,
        r = w - m,
        cx = w / 2.0,
        ty = h - 16.0,
        cy = h / 2.0,
    );
    for v in variants {
        let (px, py) = (x(v.latency_ms), y(v.accuracy));
        let fill = if v.pareto { "#1f77b4" } else { "#bbb" };
        svg += &format!(
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            px + 6.0,
            py - 6.0,
            label(v)
        );
    }
    svg + "</svg>\n"
}

impl fmt::Display for Tuned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>9} {:>9} {:>10} {:>11} {:>11} {:>12}  front",
            "width", "accuracy", "params", "FLOPs", "batch 1 us", "batch 256 us"
        )?;
        for (i, v) in self.variants.iter().enumerate() {
            let front = if v.pareto { "*" } else { "" };
            let picked = if self.picked == Some(i) {
                "  picked"
            } else {
                ""
            };
            writeln!(
                f,
                "{:>9} {:>9.4} {:>10} {:>11} {:>11.1} {:>12.2}  {front}{picked}",
                label(v),
                v.accuracy,
                v.params,
                v.flops,
                v.latency_ms * 1e3,
                v.batch_us
            )?;
        }
        write!(f, "plot {}", self.plot.display())?;
        match &self.written {
            Some(p) => write!(f, "\nwrote {}", p.display()),
            None => Ok(()),
        }
    }
}

/// A variant as the table and the plot name it: `w0.5`, `w0.5 int8`.
fn label(v: &Variant) -> String {
    let int8 = if v.int8 { " int8" } else { "" };
    format!("w{}{int8}", v.width)
}
