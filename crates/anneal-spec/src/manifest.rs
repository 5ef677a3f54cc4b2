//! The schema of `anneal.toml`: plain serde types, exactly as written, with spans kept so that
//! validation errors can point at the line and column. Meaning lives in [`crate::program`].

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The whole manifest file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// `[program]`: name and version.
    pub program: ProgramTable,
    /// `[data]`: the input, classes and where the examples come from.
    pub data: DataTable,
    /// `[model]`: the architecture.
    pub model: ModelTable,
    /// `[train]`: optimisation settings.
    #[serde(default)]
    pub train: TrainTable,
    /// `[[check]]`: the program's tests.
    #[serde(default)]
    pub check: Vec<CheckTable>,
    /// `[dependencies]`: packages from OCI registries, by name.
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, Spanned<DependencyTable>>,
}

/// `NAME = { oci = "host[:port]/repository", version = "^0.1" }` in `[dependencies]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DependencyTable {
    /// The repository: `host[:port]/path`, no tag or digest.
    pub oci: Spanned<String>,
    /// A semver requirement (`^0.1`, `=0.1.2`, `>=1.0, <2`).
    pub version: Spanned<String>,
}

/// `[program]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProgramTable {
    /// Package name: lowercase letters, digits, `-` and `_`.
    pub name: Spanned<String>,
    /// Version, `MAJOR.MINOR.PATCH`.
    pub version: Spanned<String>,
    /// One line saying what the program does.
    #[serde(default)]
    pub description: Option<String>,
    /// Manifest format version; only 1 exists.
    #[serde(default)]
    pub format: Option<Spanned<u32>>,
}

/// `[data]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DataTable {
    /// `image`, `audio` or `table`.
    pub input: Spanned<String>,
    /// Per-example input shape, `[C, H, W]` for images (audio's follows from `[data.audio]`).
    #[serde(default)]
    pub shape: Option<Spanned<Vec<usize>>>,
    /// `[data.audio]`: the audio front end (defaults: see [`crate::LogMel`]).
    #[serde(default)]
    pub audio: Option<Spanned<AudioTable>>,
    /// `[data.table]`: a table program's columns (see [`crate::table`]).
    #[serde(default)]
    pub table: Option<Spanned<TableTable>>,
    /// Class names, or a count `N` meaning `"0"` … `"N-1"`.
    pub classes: Spanned<Classes>,
    /// `unit` (pixels / 255, the default), `standard` (then minus the training mean, over the
    /// training standard deviation) or `none`.
    #[serde(default)]
    pub normalize: Option<Spanned<String>>,
    /// The split trained on (default `train`).
    #[serde(default)]
    pub train_split: Option<String>,
    /// The split evaluated on (default `test`).
    #[serde(default)]
    pub test_split: Option<String>,
    /// A held-out split the build fits temperature scaling on (none by default).
    #[serde(default)]
    pub validation_split: Option<String>,
    /// Sources `anneal build` imports into an empty store.
    #[serde(default)]
    pub source: Vec<SourceTable>,
}

/// `[data.audio]`: each field optional, defaulting to [`crate::LogMel::default`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AudioTable {
    /// Sample rate, Hz.
    pub rate: Option<u32>,
    /// Samples per example (padded or trimmed to it).
    pub samples: Option<usize>,
    /// FFT size.
    pub n_fft: Option<usize>,
    /// Samples between frames.
    pub hop: Option<usize>,
    /// Mel bands.
    pub mels: Option<usize>,
    /// Lowest filterbank frequency, Hz.
    pub fmin: Option<f32>,
    /// Highest filterbank frequency, Hz.
    pub fmax: Option<f32>,
    /// Added before the log.
    pub floor: Option<f64>,
    /// Per-utterance range below the spectrogram's maximum (natural-log units).
    pub range: Option<f32>,
}

/// `[data.table]`: columns by name, or with their fitted statistics or values given.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TableTable {
    /// Numeric columns, in the order of the examples' `F32V` payload values.
    #[serde(default)]
    pub numeric: Vec<Column<crate::table::Numeric>>,
    /// Categorical columns (metadata fields).
    #[serde(default)]
    pub categorical: Vec<Column<crate::table::Categorical>>,
}

/// A column as a bare name, or as a table with its fitted part.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "a column name, or a table: `{ name = \"age\", log = true, mean = 38.6, std = 13.6 }` for a numeric column (all but `name` optional), `{ name = \"sex\", values = [\"Female\", \"Male\"] }` for a categorical one"
)]
pub enum Column<T> {
    /// `"age"`
    Name(String),
    /// `{ name = "sex", values = ["Female", "Male"] }`
    Full(T),
}

/// Class names or a class count.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Classes {
    /// `classes = 10`
    Count(usize),
    /// `classes = ["cat", "dog"]`
    Names(Vec<String>),
}

/// `[[data.source]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceTable {
    /// Path relative to the program folder.
    pub path: Spanned<String>,
    /// `idx` (the default) or `images` (a folder of `LABEL/NAME.png`).
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// The split its examples go to.
    pub split: String,
}

/// `[model]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelTable {
    /// The layers, one string each (see [`crate::layer`]).
    pub layers: Vec<Spanned<String>>,
    /// Scale every hidden layer's units and channels by this (1: as written).
    #[serde(default)]
    pub width: Option<Spanned<f64>>,
    /// Post-training quantization of the built package: `"int8"` (absent: f32).
    #[serde(default)]
    pub quantize: Option<Spanned<String>>,
}

/// `[train]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainTable {
    /// Passes over the training split (default 5).
    pub epochs: Option<Spanned<usize>>,
    /// Examples per step (default 64).
    pub batch: Option<Spanned<usize>>,
    /// `adam LR` or `sgd LR [momentum M]` (default `adam 1e-3`).
    pub optimizer: Option<Spanned<String>>,
    /// `constant` or `cosine` learning-rate schedule (default `constant`).
    pub schedule: Option<Spanned<String>>,
    /// Seed for initialisation, shuffling, dropout and augmentation (default 42).
    pub seed: Option<u64>,
    /// Data augmentation for images: `shift N` (random translation by up to N pixels).
    pub augment: Option<Spanned<String>>,
    /// Adversarial training: `pgd EPSILON STEPS [step SIZE]`, `fgsm EPSILON` or `none`.
    pub adversarial: Option<Spanned<String>>,
}

/// `[[check]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckTable {
    /// A name for reports (default: derived from metric and slice).
    #[serde(default)]
    pub name: Option<String>,
    /// `accuracy`, `precision`, `recall`, `f1`; the rates `selection_rate`,
    /// `true_positive_rate`, `false_positive_rate`; the gaps `demographic_parity_difference`,
    /// `demographic_parity_ratio`, `equalized_odds_difference` (`-` for `_` is read too).
    pub metric: Spanned<String>,
    /// A slice: `label = NAME` or `FIELD = VALUE` of the examples' metadata.
    #[serde(default, rename = "where")]
    pub where_: Option<Spanned<String>>,
    /// A bound on every value of a metadata field (or `label`): one result per value.
    #[serde(default, alias = "for_each")]
    pub for_each: Option<Spanned<String>>,
    /// The metadata field whose groups a gap metric compares (gap metrics only).
    #[serde(default)]
    pub by: Option<Spanned<String>>,
    /// The floor (`at-least`; `at_least` as in DESIGN.md is accepted too).
    #[serde(default, alias = "at_least")]
    pub at_least: Option<Spanned<f64>>,
    /// The ceiling (`at-most` or `at_most`); a check has exactly one of floor and ceiling.
    #[serde(default, alias = "at_most")]
    pub at_most: Option<Spanned<f64>>,
    /// Groups with fewer test examples are left out of a gap (default 30).
    #[serde(default, alias = "min_group")]
    pub min_group: Option<Spanned<i64>>,
    /// The class counted as positive by the rates and gaps (default: the second of two).
    #[serde(default)]
    pub positive: Option<Spanned<String>>,
    /// `robust_accuracy`'s attack: `fgsm` or `pgd`.
    #[serde(default)]
    pub attack: Option<Spanned<String>>,
    /// `robust_accuracy`'s radius, in input units before normalisation.
    #[serde(default)]
    pub epsilon: Option<Spanned<f64>>,
    /// `robust_accuracy`'s PGD steps (default 20).
    #[serde(default)]
    pub steps: Option<Spanned<i64>>,
}
