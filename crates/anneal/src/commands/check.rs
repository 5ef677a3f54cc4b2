use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_build::Project;
use anneal_data::Store;
use anneal_spec::{CostTable, Program};
use serde::Serialize;

/// What `anneal check` reports: the program and its shape and cost table.
#[derive(Debug, Serialize)]
struct Checked<'a> {
    classes: &'a [String],
    cost: &'a CostTable,
    program: &'a str,
    version: &'a str,
    #[serde(skip)]
    checks: usize,
    /// How a table program's input width was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    /// The dependency the first layers come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<Based<'a>>,
}

/// The dependency a composed program's first layers come from.
#[derive(Debug, Serialize)]
struct Based<'a> {
    /// The `use` line.
    line: String,
    /// How many layers it gives.
    layers: usize,
    /// The package's digest, from `anneal.lock`.
    digest: &'a str,
}

pub fn run(dir: &Path, json: bool) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let dependency = project.base_package()?;
    let project = match &dependency {
        Some((package, digest)) => Project {
            program: anneal_build::compose::compose(&project.program, package, digest)?.0,
            ..project
        },
        None => project,
    };
    let (p, note) = table_fitted(&project);
    let base = p.base.as_ref().zip(dependency.as_ref());
    let checked = Checked {
        classes: &p.classes,
        cost: &p.cost,
        program: &p.name,
        version: &p.version,
        checks: p.checks.len(),
        note,
        base: base.map(|(b, (_, digest))| Based {
            line: b.to_string(),
            layers: b.layers,
            digest,
        }),
    };
    super::print(&checked, json);
    Ok(0)
}

/// The program, a table program with its columns fitted on the training split at HEAD where
/// the store has one (the width a build would give), with a note saying which.
fn table_fitted(project: &Project) -> (Program, Option<&'static str>) {
    let program = &project.program;
    if program.input.table.as_ref().is_none_or(|t| t.is_fitted()) {
        return (program.clone(), None);
    }
    let fitted = Store::open(&project.dir).ok().and_then(|store| {
        let head = store.head().ok()??;
        anneal_build::split::fit_table(program, &store, &head).ok()
    });
    match fitted {
        Some(p) => (p, Some("input width fitted on the training split at HEAD")),
        None => (program.clone(), Some(PROVISIONAL)),
    }
}

const PROVISIONAL: &str = "input width provisional: each categorical column counts one slot until it is fitted on the training split";

impl fmt::Display for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.cost;
        let (name, version, classes) = (self.program, self.version, self.classes.len());
        writeln!(
            f,
            "{name} {version}: input {}, {classes} classes, {} checks",
            t.input, self.checks
        )?;
        if let Some(b) = &self.base {
            let (line, n, digest) = (&b.line, b.layers, b.digest);
            writeln!(
                f,
                "layers 0-{} are `{line}` ({digest})",
                n.saturating_sub(1)
            )?;
        }
        writeln!(f)?;
        row(
            f,
            ["#", "layer", "output", "params", "FLOPs", "activations"].map(String::from),
        )?;
        for r in &t.layers {
            row(
                f,
                [
                    r.index.to_string(),
                    r.layer.to_string(),
                    r.output.to_string(),
                    r.params.to_string(),
                    si(r.flops as f64),
                    bytes(r.activation_bytes),
                ],
            )?;
        }
        let (flops, acts) = (si(t.flops as f64), bytes(t.activation_bytes));
        let total = ["", "total", ""].map(String::from);
        let [a, b, c] = total;
        row(
            f,
            [a, b, c, t.params.to_string(), flops.clone(), acts.clone()],
        )?;
        writeln!(f)?;
        let weights = bytes(t.weight_bytes);
        write!(
            f,
            "weights {weights} (f32), {flops} FLOPs and {acts} of activations per example"
        )?;
        match self.note {
            Some(note) => write!(f, "\n{note}"),
            None => Ok(()),
        }
    }
}

/// One line of the table.
fn row(f: &mut fmt::Formatter<'_>, cells: [String; 6]) -> fmt::Result {
    let [index, layer, output, params, flops, acts] = cells;
    writeln!(
        f,
        "{index:>3}  {layer:<26} {output:<18} {params:>10} {flops:>12} {acts:>12}"
    )
}

fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} K", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
