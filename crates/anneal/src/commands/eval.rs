use std::path::Path;

use anneal::error::CliError;
use anneal_engine::{Model, preprocess};
use anneal_pack::{Metrics, Package};

pub fn run(package: &Path, source: &Path, format: &str, json: bool) -> Result<u8, CliError> {
    if format != "idx" {
        return Err(
            CliError::new(format!("unsupported source format `{format}`")).hint("expected `idx`"),
        );
    }
    let pkg = Package::read(package)?;
    let model = Model::new(&pkg.program, &pkg.weights)?;
    let set = anneal_data::idx::read(source, false)?;
    let spec = &pkg.signature.image;
    if [1, set.rows, set.cols] != [spec.channels, spec.height, spec.width] {
        return Err(CliError::new(format!(
            "{}: images are 1x{}x{}; the package expects {}x{}x{}",
            set.images_path.display(),
            set.rows,
            set.cols,
            spec.channels,
            spec.height,
            spec.width
        )));
    }
    let classes = &pkg.signature.classes;
    let labels = set
        .labels
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            classes
                .iter()
                .position(|c| *c == l.to_string())
                .map(|i| i as u32)
                .ok_or_else(|| {
                    CliError::new(format!(
                        "{}: label `{l}` is not one of the package's classes",
                        source.display()
                    ))
                })
        })
        .collect::<Result<Vec<u32>, _>>()?;
    let probs = model.predict(&preprocess(&set.pixels, &pkg.signature.normalization))?;
    let m = Metrics::compute(&probs, &labels, classes);
    if json {
        println!(
            "{}",
            serde_json::to_string(&m).map_err(|e| CliError::new(e.to_string()))?
        );
        return Ok(0);
    }
    println!(
        "{} examples, accuracy {:.4}, loss {:.4}",
        m.examples, m.accuracy, m.loss
    );
    println!();
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "f1", "support"
    );
    for c in &m.per_class {
        println!(
            "{:<12} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.class, c.precision, c.recall, c.f1, c.support
        );
    }
    println!();
    println!("confusion (rows: true, columns: predicted)");
    print!("{:>8}", "");
    for c in classes {
        print!("{c:>6}");
    }
    println!();
    for (c, row) in classes.iter().zip(&m.confusion) {
        print!("{c:>8}");
        for v in row {
            print!("{v:>6}");
        }
        println!();
    }
    Ok(0)
}
