use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_build::Project;
use anneal_data::idx::IdxSet;
use anneal_engine::{Model, preprocess};
use anneal_pack::{FieldSlices, Metrics, Package};
use serde::Serialize;

/// `anneal eval`: a package on a labelled IDX source, or on a split of its program's dataset.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The package (.anneal); default: the last build of the program in DIR.
    package: Option<PathBuf>,
    /// A labelled source (IDX images file or prefix); default: the program's dataset at HEAD.
    source: Option<PathBuf>,
    /// Source format (only `idx` for now).
    #[arg(long, default_value = "idx")]
    format: String,
    /// The program folder whose dataset is evaluated on when no SOURCE is given.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The split of the program's dataset (default: the program's test split).
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Also the accuracy per value of this metadata field (`speaker`, `sex`...).
    #[arg(long, value_name = "FIELD")]
    by: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal eval` reports: the package's metrics on a labelled set.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Evaluation(Metrics);

pub fn run(args: &EvalArgs) -> Result<u8, CliError> {
    let metrics = match (&args.package, &args.source) {
        (Some(package), Some(source)) => on_source(args, package, source)?,
        (package, _) => on_dataset(args, package.as_deref())?,
    };
    super::print(&Evaluation(metrics), args.json);
    Ok(0)
}

/// The package on the program's dataset: its store's HEAD, one split, sliced by `--by`.
fn on_dataset(args: &EvalArgs, package: Option<&Path>) -> Result<Metrics, CliError> {
    let project = Project::load(&args.dir)?;
    let path = package.map_or_else(|| project.package_path(), Path::to_path_buf);
    let pkg = read_package(&path)?;
    let split = args.split.as_deref().unwrap_or(&pkg.program.test_split);
    let by = args.by.as_deref();
    Ok(anneal_build::evaluate::evaluate(&project, &pkg, split, by)?)
}

/// The package on a labelled IDX source (which has no splits or metadata).
fn on_source(args: &EvalArgs, package: &Path, source: &Path) -> Result<Metrics, CliError> {
    if args.format != "idx" {
        let format = &args.format;
        return Err(
            CliError::new(format!("unsupported source format `{format}`")).hint("expected `idx`"),
        );
    }
    if args.by.is_some() || args.split.is_some() {
        let message = format!(
            "{}: an IDX source has no splits or metadata",
            source.display()
        );
        let hint = "to evaluate per split or field, leave out SOURCE: `anneal eval -C DIR --split test --by FIELD` evaluates on the program's dataset";
        return Err(CliError::new(message).hint(hint));
    }
    let pkg = Package::read(package)?;
    let model = Model::new(&pkg.program, &pkg.weights)?
        .quantized(pkg.quantization.as_ref())?
        .with_temperature(pkg.signature.temperature);
    let set = anneal_data::idx::read(source, false)?;
    check_size(&set, &pkg)?;
    let labels = class_indices(&set, &pkg.signature.classes, source)?;
    let probs = model.predict(&preprocess(&set.pixels, &pkg.signature.normalization))?;
    Ok(Metrics::compute(&probs, &labels, &pkg.signature.classes))
}

/// The package, or an error saying to build first.
fn read_package(path: &Path) -> Result<Package, CliError> {
    match Package::read(path) {
        Ok(p) => Ok(p),
        Err(anneal_pack::PackError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Err(CliError::new(format!("no build at {}", path.display()))
                .hint("run `anneal build` first, or name a package"))
        }
        Err(e) => Err(e.into()),
    }
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
        self.confusion(f)?;
        for field in m.slices.iter().flatten() {
            by_field(f, field)?;
        }
        Ok(())
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

/// The per-value table of one metadata field.
fn by_field(f: &mut fmt::Formatter<'_>, field: &FieldSlices) -> fmt::Result {
    let (name, n) = (&field.field, field.distinct);
    let values = if n == 1 { "value" } else { "values" };
    write!(f, "\n\nby {name}: {n} {values}")?;
    if field.missing > 0 {
        write!(f, " ({} examples without it)", field.missing)?;
    }
    let (e, a, l) = ("examples", "accuracy", "loss");
    write!(f, "\n{:<16} {e:>9} {a:>9} {l:>9}", "value")?;
    for v in &field.values {
        let (e, a, l) = (v.examples, v.accuracy, v.loss);
        write!(f, "\n{:<16} {e:>9} {a:>9.4} {l:>9.4}", v.value)?;
    }
    Ok(())
}
