use std::fmt;
use std::path::Path;

use anneal::error::CliError;
use anneal_data::idx::IdxSet;
use anneal_engine::{Model, preprocess};
use anneal_pack::{Metrics, Package};
use serde::Serialize;

/// What `anneal eval` reports: the package's metrics on a labelled set.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Evaluation(Metrics);

pub fn run(package: &Path, source: &Path, format: &str, json: bool) -> Result<u8, CliError> {
    if format != "idx" {
        return Err(
            CliError::new(format!("unsupported source format `{format}`")).hint("expected `idx`"),
        );
    }
    let pkg = Package::read(package)?;
    let model = Model::new(&pkg.program, &pkg.weights)?;
    let set = anneal_data::idx::read(source, false)?;
    check_size(&set, &pkg)?;
    let labels = class_indices(&set, &pkg.signature.classes, source)?;
    let probs = model.predict(&preprocess(&set.pixels, &pkg.signature.normalization))?;
    let metrics = Metrics::compute(&probs, &labels, &pkg.signature.classes);
    super::print(&Evaluation(metrics), json);
    Ok(0)
}

/// The images must have the package's size.
fn check_size(set: &IdxSet, pkg: &Package) -> Result<(), CliError> {
    let spec = &pkg.signature.image;
    let want = [spec.channels, spec.height, spec.width];
    if [1, set.rows, set.cols] == want {
        return Ok(());
    }
    let [c, h, w] = want;
    Err(CliError::new(format!(
        "{}: images are 1x{}x{}; the package expects {c}x{h}x{w}",
        set.images_path.display(),
        set.rows,
        set.cols,
    )))
}

/// Each example's label as an index into the package's classes.
fn class_indices(set: &IdxSet, classes: &[String], source: &Path) -> Result<Vec<u32>, CliError> {
    let labels = set.labels.as_deref().unwrap_or_default();
    let index = |l: &u8| {
        let i = classes.iter().position(|c| *c == l.to_string());
        i.map(|i| i as u32).ok_or_else(|| {
            CliError::new(format!(
                "{}: label `{l}` is not one of the package's classes",
                source.display()
            ))
        })
    };
    labels.iter().map(index).collect()
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        let (n, accuracy, loss) = (m.examples, m.accuracy, m.loss);
        writeln!(f, "{n} examples, accuracy {accuracy:.4}, loss {loss:.4}\n")?;
        let (p, r, f1, s) = ("precision", "recall", "f1", "support");
        writeln!(f, "{:<12} {p:>9} {r:>9} {f1:>9} {s:>8}", "class")?;
        for c in &m.per_class {
            let (p, r, f1, s) = (c.precision, c.recall, c.f1, c.support);
            writeln!(f, "{:<12} {p:>9.4} {r:>9.4} {f1:>9.4} {s:>8}", c.class)?;
        }
        writeln!(f, "\nconfusion (rows: true, columns: predicted)")?;
        self.confusion(f)
    }
}

impl Evaluation {
    /// The confusion matrix, its rows and columns named by class.
    fn confusion(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        write!(f, "{:>8}", "")?;
        for c in &m.per_class {
            write!(f, "{:>6}", c.class)?;
        }
        for (c, row) in m.per_class.iter().zip(&m.confusion) {
            write!(f, "\n{:>8}", c.class)?;
            for v in row {
                write!(f, "{v:>6}")?;
            }
        }
        Ok(())
    }
}
