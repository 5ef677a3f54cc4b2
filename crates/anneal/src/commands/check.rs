use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_build::Project;
use anneal_spec::CostTable;
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
}

pub fn run(dir: &Path, json: bool) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let p = &project.program;
    let checked = Checked {
        classes: &p.classes,
        cost: &p.cost,
        program: &p.name,
        version: &p.version,
        checks: p.checks.len(),
    };
    super::print(&checked, json);
    Ok(0)
}

impl fmt::Display for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.cost;
        let (name, version, classes) = (self.program, self.version, self.classes.len());
        writeln!(
            f,
            "{name} {version}: input {}, {classes} classes, {} checks",
            t.input, self.checks
        )?;
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
        )
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
