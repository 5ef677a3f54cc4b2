//! The validated program: what `anneal.toml` means.

use serde::{Deserialize, Serialize};

use crate::audio::LogMel;
use crate::error::ManifestError;
use crate::layer::{Base, Layer, suggest};
use crate::manifest::Manifest;
use crate::shape::{CostTable, Shape, infer};
use crate::table::Table;
use crate::validate::Validator;

/// A program: the architecture and how to train and test it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// One line of description.
    pub description: Option<String>,
    /// What one example looks like.
    pub input: Input,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// The model.
    pub layers: Vec<Layer>,
    /// The factor every hidden layer's units and channels were scaled by (`[model] width`):
    /// `layers` are the scaled ones.
    #[serde(default = "unit_width", skip_serializing_if = "is_unit_width")]
    pub width: f64,
    /// Post-training quantization of the package (`[model] quantize`; `anneal build --int8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<crate::quant::Scheme>,
    /// The dependency the first layers come from (`use NAME ...`), if any. Until the program
    /// is composed with it ([`Program::compose`]), `layers` holds only the program's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    /// Training settings.
    pub train: Train,
    /// The split trained on.
    pub train_split: String,
    /// The split evaluated on.
    pub test_split: String,
    /// The held-out split temperature scaling is fitted on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_split: Option<String>,
    /// Sources imported into an empty store by `anneal build`.
    pub sources: Vec<Source>,
    /// The program's tests.
    pub checks: Vec<Check>,
    /// The shape table and forward-pass cost, computed when the program was validated.
    pub cost: CostTable,
    /// `[dependencies]`: packages it uses, from OCI registries, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
}

/// A package the program depends on: `NAME = { oci = "host/repo", version = "^0.1" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The name the program uses it by.
    pub name: String,
    /// `host[:port]/repository`.
    pub oci: String,
    /// A valid semver requirement.
    pub version: String,
}

/// The input kind and shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// What an example's payload is.
    pub kind: InputKind,
    /// Per-example shape of the model's input.
    pub shape: Shape,
    /// Normalisation of the features (pixels, or log-mel values).
    pub normalize: Normalize,
    /// The audio front end (audio programs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<LogMel>,
    /// The columns and their encoding (table programs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
}

impl Input {
    /// The feature value that normalisation `unit` maps to 1: 255 for 8-bit pixels, 1 for
    /// log-mel values.
    pub fn full_scale(&self) -> f32 {
        match self.kind {
            InputKind::Image => 255.0,
            InputKind::Audio | InputKind::Table => 1.0,
        }
    }
}

/// What kind of payload an example carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// 8-bit images, `[C, H, W]`.
    Image,
    /// WAV recordings, as log-mel spectrograms `[1, mels, frames]`.
    Audio,
    /// Table rows: numeric columns standardised, categorical ones one-hot, `[width]`.
    Table,
}

/// How pixels become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalize {
    /// `x / 255`.
    Unit,
    /// `(x / 255 - mean) / std`, statistics from the training split.
    Standard,
    /// Raw byte values as floats.
    None,
}

/// A data source for `anneal build` to import into an empty store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Path, relative to the program folder.
    pub path: String,
    /// How its files are read.
    pub format: SourceFormat,
    /// Split for its examples.
    pub split: String,
}

/// How a source's files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// MNIST's IDX files (`images` and `labels`, gzipped or not).
    Idx,
    /// A folder of PNG/JPEG images, one subfolder per class.
    Images,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Train {
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed for everything random.
    pub seed: u64,
    /// Random translation by up to this many pixels (0: none).
    pub augment_shift: usize,
    /// Translate along the last axis only (time, in a spectrogram): `augment = "time-shift N"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub augment_time_only: bool,
    /// Train on adversarial examples of each batch (`adversarial = "pgd 0.1 7"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversarial: Option<crate::Adversarial>,
}

/// The optimiser and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Optimizer {
    /// Adam with the usual betas (0.9, 0.999) and epsilon 1e-8.
    Adam { lr: f64 },
    /// Stochastic gradient descent with optional momentum.
    Sgd { lr: f64, momentum: f64 },
}

impl Optimizer {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Adam { lr } | Optimizer::Sgd { lr, .. } => *lr,
        }
    }
}

/// Learning-rate schedule over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine decay from the base rate to zero at the last step.
    Cosine,
}

/// One `[[check]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Name for reports.
    pub name: String,
    /// The metric.
    pub metric: Metric,
    /// The slice it is measured on (None: the whole test split).
    pub slice: Option<Slice>,
    /// A metadata field (or `label`) whose every value in the test split gets the bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// The metadata field whose groups a gap metric compares (gap metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The floor: the check passes when the value is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// The ceiling: the check passes when the value is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// Groups of fewer test examples are reported but left out of a gap (gap metrics only;
    /// [`DEFAULT_MIN_GROUP`] unless the manifest says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_group: Option<usize>,
    /// The class counted as positive (its index in `classes`), for the rates and the gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<usize>,
    /// The attack `robust_accuracy` is measured under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<crate::Adversarial>,
}

impl Check {
    /// Whether `value` is within the check's bounds, [`BOUND_TOLERANCE`] included: a gap of
    /// `0.4 - 0.1` computes as `0.30000000000000004`, and must meet `at_most = 0.3`.
    pub fn admits(&self, value: f64) -> bool {
        self.at_least
            .is_none_or(|floor| value >= floor - BOUND_TOLERANCE)
            && self
                .at_most
                .is_none_or(|ceiling| value <= ceiling + BOUND_TOLERANCE)
    }
}

/// How far past a bound a value may be from rounding alone: the arithmetic of fractions rounds
/// by under 1e-15, while a ratio of test-split counts that truly differs from a bound of a few
/// decimals differs by far more than 1e-12.
pub const BOUND_TOLERANCE: f64 = 1e-12;

/// Groups smaller than this are left out of a gap unless a check's `min_group` says otherwise
/// (as `anneal audit --min-group` defaults).
pub const DEFAULT_MIN_GROUP: usize = 30;

/// A metric a check can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Fraction correct.
    Accuracy,
    /// Macro-averaged (or per-class, with a label slice) precision.
    Precision,
    /// Macro-averaged (or per-class) recall.
    Recall,
    /// Macro-averaged (or per-class) F1.
    F1,
    /// Share predicted as the positive class.
    SelectionRate,
    /// Share of the positive class's examples predicted as it.
    TruePositiveRate,
    /// Share of the other classes' examples predicted as the positive class.
    FalsePositiveRate,
    /// Largest minus smallest selection rate between the groups of a field.
    DemographicParityDifference,
    /// Smallest over largest selection rate between the groups of a field.
    DemographicParityRatio,
    /// The larger of the true- and false-positive-rate gaps between the groups of a field.
    EqualizedOddsDifference,
    /// Accuracy on the test split under an adversarial attack (`attack`, `epsilon`, `steps`).
    RobustAccuracy,
}

impl Metric {
    /// Every metric, by its name in a manifest (snake case; kebab case is read too).
    pub const NAMES: &[(&str, Metric)] = &[
        ("accuracy", Metric::Accuracy),
        ("precision", Metric::Precision),
        ("recall", Metric::Recall),
        ("f1", Metric::F1),
        ("selection_rate", Metric::SelectionRate),
        ("true_positive_rate", Metric::TruePositiveRate),
        ("false_positive_rate", Metric::FalsePositiveRate),
        (
            "demographic_parity_difference",
            Metric::DemographicParityDifference,
        ),
        ("demographic_parity_ratio", Metric::DemographicParityRatio),
        ("equalized_odds_difference", Metric::EqualizedOddsDifference),
        ("robust_accuracy", Metric::RobustAccuracy),
    ];

    /// The metric named `word` (`selection_rate` or `selection-rate`).
    pub fn named(word: &str) -> Option<Metric> {
        let snake = word.replace('-', "_");
        Metric::NAMES
            .iter()
            .find(|(n, _)| *n == snake)
            .map(|(_, m)| *m)
    }

    /// Its name in a manifest, snake case.
    pub fn name(self) -> &'static str {
        Metric::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("", |(n, _)| n)
    }

    /// A gap between the groups of a field (`by`): one figure for the whole field.
    pub fn is_gap(self) -> bool {
        matches!(
            self,
            Metric::DemographicParityDifference
                | Metric::DemographicParityRatio
                | Metric::EqualizedOddsDifference
        )
    }

    /// A rate of predicting the positive class (per group with `where` or `for_each`).
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Metric::SelectionRate | Metric::TruePositiveRate | Metric::FalsePositiveRate
        )
    }
}

/// The field name that slices by the true label: `where = "label = 7"`, `for_each = "label"`.
pub const LABEL: &str = "label";

/// A subset of the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slice {
    /// Examples whose true label is this class (its index in `classes`).
    Label { class: usize, name: String },
    /// Examples whose metadata has `field = value` (`speaker = lucas`).
    Meta { field: String, value: String },
}

impl std::fmt::Display for Slice {
    /// As written after `where =`: `label = 7`, `speaker = lucas`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slice::Label { name, .. } => write!(f, "label = {name}"),
            Slice::Meta { field, value } => write!(f, "{field} = {value}"),
        }
    }
}

/// The parts of a program that determine its weights, in a canonical encoding: the input, the
/// classes, the layers and the training settings. Names, checks and sources are left out, so
/// raising a test floor or renaming a package does not retrain.
#[derive(Debug, Serialize)]
struct BuildRelevant<'a> {
    input: &'a Input,
    classes: &'a [String],
    layers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<&'a Base>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantize: Option<crate::quant::Scheme>,
    train: &'a Train,
    train_split: &'a str,
    test_split: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    validation_split: Option<&'a str>,
}

fn unit_width() -> f64 {
    1.0
}

fn is_unit_width(w: &f64) -> bool {
    *w == 1.0
}

impl Program {
    /// Parse and validate a manifest. `file` is only used in error messages.
    pub fn parse(file: &str, source: &str) -> Result<Program, ManifestError> {
        Program::parse_width(file, source, None)
    }

    /// [`Program::parse`] with `[model] width` set to `width` when given (`anneal build
    /// --width`), as if the manifest said so.
    pub fn parse_width(
        file: &str,
        source: &str,
        width: Option<f64>,
    ) -> Result<Program, ManifestError> {
        let mut manifest: Manifest = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let hint = toml_hint(&message);
            ManifestError::at(file, source, span, message, hint)
        })?;
        if let Some(w) = width {
            manifest.model.width = Some(toml::Spanned::new(0..0, w));
        }
        Validator { file, source }.program(manifest)
    }

    /// Canonical JSON of everything that determines the weights (see the build key).
    pub fn canonical_json(&self) -> String {
        let relevant = BuildRelevant {
            input: &self.input,
            classes: &self.classes,
            layers: self.layers.iter().map(ToString::to_string).collect(),
            base: self.base.as_ref(),
            quantize: self.quantize,
            train: &self.train,
            train_split: &self.train_split,
            test_split: &self.test_split,
            validation_split: self.validation_split.as_deref(),
        };
        serde_json::to_string(&relevant).unwrap_or_default()
    }

    /// This table program with its columns fitted as `table` says: the input shape and the
    /// cost table follow from the fitted width. An error says why the model cannot take it.
    pub fn with_table(&self, table: Table) -> Result<Program, String> {
        table
            .check()
            .map_err(|(field, why)| format!("column `{field}` {why}"))?;
        let shape = table.shape();
        let cost = infer(shape, &self.layers, self.classes.len()).map_err(|e| e.to_string())?;
        crate::budget::params(cost.params)?;
        let mut program = self.clone();
        program.input.shape = shape;
        program.input.table = Some(table);
        program.cost = cost;
        Ok(program)
    }

    /// The packages of `[dependencies]`, in name order.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.dependencies
    }

    /// The layers used for training: the model without a trailing `softmax` (the loss applies
    /// log-softmax itself).
    pub fn logit_layers(&self) -> &[Layer] {
        match self.layers.last() {
            Some(Layer::Softmax) => &self.layers[..self.layers.len() - 1],
            _ => &self.layers,
        }
    }
}

fn toml_hint(message: &str) -> Option<String> {
    if message.starts_with("missing field") {
        Some("see the manifest reference in README.md".into())
    } else if message.starts_with("unknown field") {
        unknown_field_hint(message)
    } else {
        None
    }
}

/// The known field closest to the unknown one that TOML's message names.
fn unknown_field_hint(message: &str) -> Option<String> {
    let known = message.split("expected").nth(1)?;
    let field = message.split('`').nth(1)?;
    let cands: Vec<&str> = known.split('`').skip(1).step_by(2).collect();
    suggest(field, &cands).map(|s| format!("did you mean `{s}`?"))
}
