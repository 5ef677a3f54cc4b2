use std::path::Path;

use anneal::error::CliError;
use anneal_build::Project;

pub fn run(dir: &Path, json: bool) -> Result<u8, CliError> {
    let project = Project::load(dir)?;
    let p = &project.program;
    if json {
        let out = serde_json::json!({"program": p.name, "version": p.version, "classes": p.classes, "cost": p.cost});
        println!("{out}");
        return Ok(0);
    }
    let t = &p.cost;
    println!(
        "{} {}: input {}, {} classes, {} checks",
        p.name,
        p.version,
        t.input,
        p.classes.len(),
        p.checks.len()
    );
    println!();
    println!(
        "{:>3}  {:<26} {:<18} {:>10} {:>12} {:>12}",
        "#", "layer", "output", "params", "FLOPs", "activations"
    );
    for r in &t.layers {
        println!(
            "{:>3}  {:<26} {:<18} {:>10} {:>12} {:>12}",
            r.index,
            r.layer.to_string(),
            r.output.to_string(),
            r.params,
            si(r.flops as f64),
            bytes(r.activation_bytes)
        );
    }
    println!(
        "{:>3}  {:<26} {:<18} {:>10} {:>12} {:>12}",
        "",
        "total",
        "",
        t.params,
        si(t.flops as f64),
        bytes(t.activation_bytes)
    );
    println!();
    println!(
        "weights {} (f32), {} FLOPs and {} of activations per example",
        bytes(t.weight_bytes),
        si(t.flops as f64),
        bytes(t.activation_bytes)
    );
    Ok(0)
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
