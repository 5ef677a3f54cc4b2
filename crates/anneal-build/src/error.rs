//! Why a build could not be done, with the input named and a hint for people.

use std::path::PathBuf;

/// What can go wrong in a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// There is no `anneal.toml` in the folder.
    #[error("no {} in {}", anneal_spec::MANIFEST, shown(.dir))]
    NoManifest {
        /// The program folder.
        dir: PathBuf,
    },
    /// The manifest is invalid (its `render()` shows it like a compiler's error).
    #[error("{0}")]
    Manifest(#[from] anneal_spec::ManifestError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] anneal_data::StoreError),
    /// A declared source could not be imported.
    #[error("{source}")]
    Import {
        /// The manifest that declares the sources.
        manifest: String,
        /// What went wrong.
        #[source]
        source: anneal_data::import::ImportError,
    },
    /// The program has no build to read a report from.
    #[error("no build report at {}", path.display())]
    NoReport {
        /// Where the report would be.
        path: PathBuf,
    },
    /// The dependency a program `use`s does not fit it, or its package cannot be read.
    #[error("dependency `{name}` ({}): {message}", package.display())]
    Composition {
        /// The dependency's name in `[dependencies]`.
        name: String,
        /// Its package file.
        package: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// A package the build wrote cannot be read back.
    #[error("{0}")]
    Package(#[from] anneal_pack::PackError),
    /// The store is empty and the program declares no sources.
    #[error("the program in {} has no dataset commit", dir.display())]
    NoDataset {
        /// The program folder.
        dir: PathBuf,
    },
    /// A split the build needs holds no labelled example.
    #[error("the dataset has no labelled examples in split `{split}`{}", if *.test { ": the build could not be tested" } else { "" })]
    EmptySplit {
        /// The split.
        split: String,
        /// Whether it is the test split.
        test: bool,
    },
    /// The program's validation split holds no labelled example.
    #[error(
        "the validation split `{split}` has no labelled examples: temperature scaling cannot be fitted"
    )]
    NoValidation {
        /// The split.
        split: String,
    },
    /// No example of a split has the metadata field asked for.
    #[error(
        "no example of split `{split}` has the metadata field `{field}`{}",
        fields_note(fields, field)
    )]
    NoField {
        /// The field asked for.
        field: String,
        /// The split.
        split: String,
        /// The fields its examples have.
        fields: Vec<String>,
    },
    /// An example's label is not one of the program's classes.
    #[error("example `{id}` has label `{label}`, which is not one of the program's classes ({})", classes.join(", "))]
    UnknownLabel {
        /// The example.
        id: anneal_data::ExampleId,
        /// Its label.
        label: String,
        /// The program's classes.
        classes: Vec<String>,
    },
    /// An example's payload is not an input the program takes.
    #[error("example `{id}`: {message}")]
    Payload {
        /// The example.
        id: anneal_data::ExampleId,
        /// What is wrong.
        message: String,
        /// The program's input kind (for the hint).
        kind: anneal_spec::InputKind,
    },
    /// A table program's columns cannot be fitted or encoded as declared.
    #[error("[data.table]: {0}")]
    Table(String),
    /// The program's input kind cannot be built yet.
    #[error("this program's input kind cannot be built yet")]
    NotImages,
    /// No variant `anneal tune` built fits the budget.
    #[error("{0}")]
    NoVariant(String),
    /// The run would exceed a bound (see `anneal_spec::budget`).
    #[error("{0}")]
    Budget(String),
    /// Training or evaluation failed (or was interrupted).
    #[error(transparent)]
    Engine(#[from] anneal_engine::EngineError),
    /// Training handed to PyTorch failed.
    #[error(transparent)]
    Torch(Box<anneal_torch::TorchError>),
    /// A dependency could not be resolved, locked or fetched (see [`crate::deps`]).
    #[error(transparent)]
    Dependency(#[from] crate::deps::DependencyError),
    /// The package could not be written.
    #[error("could not serialize the {what}: {message}")]
    Serialize {
        /// `package` or `report`.
        what: &'static str,
        /// Why.
        message: String,
    },
}

impl BuildError {
    /// How to fix it, when there is a usual way.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            BuildError::NoManifest { .. } => {
                "run in a program folder, pass `-C DIR`, or create one with `anneal new DIR`"
            }
            BuildError::NoDataset { .. } => {
                "import data first: `anneal data import SOURCE --split train`, or declare `[[data.source]]` in anneal.toml"
            }
            BuildError::EmptySplit { test: false, .. } => {
                "import training data with `anneal data import SOURCE --split train`"
            }
            BuildError::EmptySplit { test: true, .. } => {
                "import test data with `anneal data import SOURCE --split test`, or set `test-split` in [data]"
            }
            BuildError::NoValidation { .. } => {
                "import held-out examples with `anneal data import SOURCE --split NAME`, or remove `validation-split` from [data]"
            }
            BuildError::UnknownLabel { .. } => {
                "fix the label, or add the class to `classes` in anneal.toml"
            }
            BuildError::Payload {
                kind: anneal_spec::InputKind::Image,
                ..
            } => "set `shape` in [data] to match the dataset",
            BuildError::Payload {
                kind: anneal_spec::InputKind::Audio,
                ..
            } => {
                "convert the recordings to mono WAV at the `rate` of [data.audio], or set `rate` to theirs"
            }
            BuildError::Payload {
                kind: anneal_spec::InputKind::Table,
                ..
            } => {
                "import the table with `anneal data import FILE.csv`, and list its numeric columns in `numeric` in the order the import printed them"
            }
            BuildError::Budget(_) => "train for fewer epochs",
            BuildError::NoVariant(_) => "raise the budget, or try smaller widths with --widths",
            BuildError::Composition { .. } => {
                "`anneal check` shows the wiring; choose a version whose input fits, or change `upto`"
            }
            BuildError::NoField { .. } => {
                "`anneal data stats` lists each metadata field and its values"
            }
            BuildError::NoReport { .. } => "run `anneal build` first: the queues rank its report",
            BuildError::Torch(e) => return e.hint(),
            _ => return None,
        })
    }
}

impl From<anneal_torch::TorchError> for BuildError {
    fn from(e: anneal_torch::TorchError) -> Self {
        BuildError::Torch(Box::new(e))
    }
}

fn shown(dir: &std::path::Path) -> String {
    if dir.as_os_str().is_empty() || dir == std::path::Path::new(".") {
        "the current folder".into()
    } else {
        dir.display().to_string()
    }
}

/// "; did you mean `speaker`?", or the fields there are, or that there are none.
fn fields_note(fields: &[String], field: &str) -> String {
    let names: Vec<&str> = fields.iter().map(String::as_str).collect();
    if let Some(close) = anneal_spec::layer::suggest(field, &names) {
        return format!("; did you mean `{close}`?");
    }
    match names.as_slice() {
        [] => " (its examples have no metadata)".into(),
        _ => format!(" (its fields: {})", names.join(", ")),
    }
}
