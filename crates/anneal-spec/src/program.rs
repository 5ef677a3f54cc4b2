//! The validated program: what `anneal.toml` means.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::budget;
use crate::error::ManifestError;
use crate::layer::{Layer, parse_layer, suggest};
use crate::manifest::{CheckTable, Classes, Manifest};
use crate::shape::{CostTable, Shape, infer};

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
    /// Training settings.
    pub train: Train,
    /// The split trained on.
    pub train_split: String,
    /// The split evaluated on.
    pub test_split: String,
    /// Sources imported into an empty store by `anneal build`.
    pub sources: Vec<Source>,
    /// The program's tests.
    pub checks: Vec<Check>,
    /// The shape table and forward-pass cost, computed when the program was validated.
    pub cost: CostTable,
}

/// The input kind and shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Always `image` for now.
    pub kind: InputKind,
    /// Per-example shape.
    pub shape: Shape,
    /// Pixel normalisation.
    pub normalize: Normalize,
}

/// What kind of payload an example carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// 8-bit images, `[C, H, W]`.
    Image,
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
    /// Format name (`idx`).
    pub format: String,
    /// Split for its examples.
    pub split: String,
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
    /// The floor.
    pub at_least: f64,
}

/// A metric a check can put a floor under.
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
}

/// A subset of the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slice {
    /// Examples whose true label is this class (its index in `classes`).
    Label { class: usize, name: String },
}

const METRICS: &[&str] = &["accuracy", "precision", "recall", "f1"];

/// The parts of a program that determine its weights, in a canonical encoding: the input, the
/// classes, the layers and the training settings. Names, checks and sources are left out, so
/// raising a test floor or renaming a package does not retrain.
#[derive(Debug, Serialize)]
struct BuildRelevant<'a> {
    input: &'a Input,
    classes: &'a [String],
    layers: Vec<String>,
    train: &'a Train,
    train_split: &'a str,
    test_split: &'a str,
}

impl Program {
    /// Parse and validate a manifest. `file` is only used in error messages.
    pub fn parse(file: &str, source: &str) -> Result<Program, ManifestError> {
        let manifest: Manifest = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let hint = toml_hint(&message);
            ManifestError::at(file, source, span, message, hint)
        })?;
        Validator { file, source }.program(manifest)
    }

    /// Canonical JSON of everything that determines the weights (see the build key).
    pub fn canonical_json(&self) -> String {
        let relevant = BuildRelevant {
            input: &self.input,
            classes: &self.classes,
            layers: self.layers.iter().map(ToString::to_string).collect(),
            train: &self.train,
            train_split: &self.train_split,
            test_split: &self.test_split,
        };
        serde_json::to_string(&relevant).unwrap_or_default()
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
        let known = message.split("expected").nth(1)?;
        let field = message.split('`').nth(1)?;
        let cands: Vec<&str> = known.split('`').skip(1).step_by(2).collect();
        suggest(field, &cands).map(|s| format!("did you mean `{s}`?"))
    } else {
        None
    }
}

struct Validator<'a> {
    file: &'a str,
    source: &'a str,
}

impl Validator<'_> {
    fn err(
        &self,
        span: Range<usize>,
        msg: impl Into<String>,
        hint: Option<String>,
    ) -> ManifestError {
        ManifestError::at(self.file, self.source, span, msg, hint)
    }

    fn program(&self, m: Manifest) -> Result<Program, ManifestError> {
        if let Some(f) = &m.program.format
            && *f.get_ref() != 1
        {
            return Err(self.err(
                f.span(),
                format!(
                    "unsupported manifest format {}; this anneal reads format 1",
                    f.get_ref()
                ),
                Some("upgrade anneal, or write `format = 1`".into()),
            ));
        }
        let name = self.name(&m.program.name)?;
        let version = self.version(&m.program.version)?;
        let input = self.input(&m.data)?;
        let classes = self.classes(&m.data.classes)?;
        let layers = self.layers(&m.model.layers)?;
        let cost = self.cost(&input, &layers, classes.len(), &m.model.layers)?;
        let train = self.train(&m.train)?;
        self.batch_fits(&cost, &train, &m.train)?;
        let sources = self.sources(&m.data)?;
        let checks = m
            .check
            .iter()
            .map(|c| self.check(c, &classes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Program {
            name,
            version,
            description: m.program.description,
            input,
            classes,
            layers,
            train,
            train_split: m.data.train_split.unwrap_or_else(|| "train".into()),
            test_split: m.data.test_split.unwrap_or_else(|| "test".into()),
            sources,
            checks,
            cost,
        })
    }

    fn cost(
        &self,
        input: &Input,
        layers: &[Layer],
        classes: usize,
        spans: &[Spanned<String>],
    ) -> Result<CostTable, ManifestError> {
        let span = |i: usize| spans.get(i).map_or(0..0, |l| l.span());
        let cost = infer(input.shape, layers, classes)
            .map_err(|e| self.err(span(e.index), e.to_string(), e.hint))?;
        budget::params(cost.params).map_err(|m| {
            let biggest = cost
                .layers
                .iter()
                .max_by_key(|r| r.params)
                .map_or(0, |r| r.index);
            self.err(span(biggest), m, Some("use fewer units or channels".into()))
        })?;
        Ok(cost)
    }

    /// One batch's activations must fit [`budget::MAX_BATCH_ACTIVATION_BYTES`].
    fn batch_fits(
        &self,
        cost: &CostTable,
        train: &Train,
        t: &crate::manifest::TrainTable,
    ) -> Result<(), ManifestError> {
        budget::batch_activations(cost.activation_bytes, train.batch).map_err(|m| {
            let span = t.batch.as_ref().map_or(0..0, |b| b.span());
            self.err(
                span,
                m,
                Some("use a smaller `batch` or a smaller model".into()),
            )
        })
    }

    fn name(&self, n: &Spanned<String>) -> Result<String, ManifestError> {
        let s = n.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(s.clone())
        } else {
            Err(self.err(
                n.span(),
                format!("invalid program name `{s}`: expected lowercase letters, digits, `-` or `_`, starting with a letter"),
                Some(format!("try `{}`", sanitize(s))),
            ))
        }
    }

    fn version(&self, v: &Spanned<String>) -> Result<String, ManifestError> {
        let s = v.get_ref();
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            Ok(s.clone())
        } else {
            Err(self.err(
                v.span(),
                format!("invalid version `{s}`: expected MAJOR.MINOR.PATCH"),
                Some("write e.g. `version = \"0.1.0\"`".into()),
            ))
        }
    }

    fn input(&self, d: &crate::manifest::DataTable) -> Result<Input, ManifestError> {
        if d.input.get_ref() != "image" {
            let hint = if ["audio", "table"].contains(&d.input.get_ref().as_str()) {
                "only `image` programs can be built by this version"
            } else {
                "expected `image`"
            };
            return Err(self.err(
                d.input.span(),
                format!("unsupported input kind `{}`", d.input.get_ref()),
                Some(hint.into()),
            ));
        }
        let dims = d.shape.get_ref();
        let shape = match dims.as_slice() {
            [_, h, w] if *h > budget::MAX_INPUT_DIM || *w > budget::MAX_INPUT_DIM => {
                return Err(self.err(
                    d.shape.span(),
                    format!(
                        "image shape {dims:?} is too large: each side must be at most {}",
                        budget::MAX_INPUT_DIM
                    ),
                    None,
                ));
            }
            [c, h, w] if c.saturating_mul(*h).saturating_mul(*w) > budget::MAX_EXAMPLE_ELEMENTS => {
                return Err(self.err(
                    d.shape.span(),
                    format!(
                        "an input of {dims:?} has {} values; at most {} are allowed",
                        c.saturating_mul(*h).saturating_mul(*w),
                        budget::MAX_EXAMPLE_ELEMENTS
                    ),
                    None,
                ));
            }
            [c, h, w] if *c > 0 && *h > 0 && *w > 0 && [1, 3].contains(c) => {
                Shape::Image([*c, *h, *w])
            }
            _ => {
                return Err(self.err(
                    d.shape.span(),
                    format!("invalid image shape {dims:?}: expected [C, H, W] with C = 1 (grey) or 3 (RGB)"),
                    Some("write e.g. `shape = [1, 28, 28]`".into()),
                ));
            }
        };
        let normalize = match d
            .normalize
            .as_ref()
            .map(|n| (n.get_ref().as_str(), n.span()))
        {
            None | Some(("unit", _)) => Normalize::Unit,
            Some(("standard", _)) => Normalize::Standard,
            Some(("none", _)) => Normalize::None,
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!(
                        "unknown normalisation `{other}`: expected `unit`, `standard` or `none`"
                    ),
                    suggest(other, &["unit", "standard", "none"])
                        .map(|s| format!("did you mean `{s}`?")),
                ));
            }
        };
        Ok(Input {
            kind: InputKind::Image,
            shape,
            normalize,
        })
    }

    fn classes(&self, c: &Spanned<Classes>) -> Result<Vec<String>, ManifestError> {
        let count = match c.get_ref() {
            Classes::Count(n) => *n,
            Classes::Names(v) => v.len(),
        };
        budget::within(
            "the program",
            count as u64,
            budget::MAX_CLASSES as u64,
            "classes",
        )
        .map_err(|m| self.err(c.span(), m, None))?;
        let names: Vec<String> = match c.get_ref() {
            Classes::Count(n) => (0..*n).map(|i| i.to_string()).collect(),
            Classes::Names(v) => v.clone(),
        };
        if names.len() < 2 {
            return Err(self.err(c.span(), "a classifier needs at least 2 classes", None));
        }
        let mut sorted = names.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.err(c.span(), format!("class `{}` is listed twice", w[0]), None));
        }
        if let Some(bad) = names
            .iter()
            .find(|n| n.is_empty() || n.trim() != n.as_str())
        {
            return Err(self.err(
                c.span(),
                format!(
                    "invalid class name {bad:?}: names must be non-empty without surrounding spaces"
                ),
                None,
            ));
        }
        Ok(names)
    }

    fn layers(&self, ls: &[Spanned<String>]) -> Result<Vec<Layer>, ManifestError> {
        if let Some(extra) = ls.get(budget::MAX_LAYERS) {
            let m = format!(
                "the model has {} layers; at most {} are allowed",
                ls.len(),
                budget::MAX_LAYERS
            );
            return Err(self.err(extra.span(), m, None));
        }
        ls.iter()
            .map(|l| {
                parse_layer(l.get_ref()).map_err(|e| {
                    // +1 skips the opening quote of the TOML string.
                    let start = l.span().start + 1 + e.column;
                    let len = l.get_ref()[e.column..]
                        .split_whitespace()
                        .next()
                        .map_or(1, str::len);
                    self.err(start..start + len, e.message, e.hint)
                })
            })
            .collect()
    }

    fn train(&self, t: &crate::manifest::TrainTable) -> Result<Train, ManifestError> {
        let positive = |v: &Option<Spanned<usize>>, default: usize, what: &str, max: usize| match v
        {
            None => Ok(default),
            Some(s) if (1..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "`{what}` must be between 1 and {max}, found {}",
                    s.get_ref()
                ),
                None,
            )),
        };
        let epochs = positive(&t.epochs, 5, "epochs", budget::MAX_EPOCHS)?;
        let batch = positive(&t.batch, 64, "batch", budget::MAX_BATCH)?;
        let optimizer = match &t.optimizer {
            None => Optimizer::Adam { lr: 1e-3 },
            Some(o) => self.optimizer(o)?,
        };
        let schedule = match t
            .schedule
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span()))
        {
            None | Some(("constant", _)) => Schedule::Constant,
            Some(("cosine", _)) => Schedule::Cosine,
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!("unknown schedule `{other}`: expected `constant` or `cosine`"),
                    suggest(other, &["constant", "cosine"]).map(|s| format!("did you mean `{s}`?")),
                ));
            }
        };
        let augment_shift = match &t.augment {
            None => 0,
            Some(a) => {
                let words: Vec<&str> = a.get_ref().split_whitespace().collect();
                match words.as_slice() {
                    ["shift", n] => {
                        n.parse::<usize>().ok().filter(|n| *n <= 8).ok_or_else(|| {
                            self.err(
                                a.span(),
                                format!("invalid shift `{n}`: expected 0 to 8 pixels"),
                                None,
                            )
                        })?
                    }
                    ["none"] => 0,
                    _ => {
                        return Err(self.err(
                            a.span(),
                            format!(
                                "unknown augmentation `{}`: expected `shift N` or `none`",
                                a.get_ref()
                            ),
                            Some("write e.g. `augment = \"shift 2\"`".into()),
                        ));
                    }
                }
            }
        };
        Ok(Train {
            epochs,
            batch,
            optimizer,
            schedule,
            seed: t.seed.unwrap_or(42),
            augment_shift,
        })
    }

    fn optimizer(&self, o: &Spanned<String>) -> Result<Optimizer, ManifestError> {
        let bad = |msg: String| {
            self.err(
                o.span(),
                msg,
                Some("write `adam 1e-3` or `sgd 0.1 momentum 0.9`".into()),
            )
        };
        let words: Vec<&str> = o.get_ref().split_whitespace().collect();
        let lr = |w: &str| match w.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
            _ => Err(bad(format!(
                "invalid learning rate `{w}`: expected a positive number"
            ))),
        };
        match words.as_slice() {
            ["adam", r] => Ok(Optimizer::Adam { lr: lr(r)? }),
            ["sgd", r] => Ok(Optimizer::Sgd {
                lr: lr(r)?,
                momentum: 0.0,
            }),
            ["sgd", r, "momentum", m] => match m.parse::<f64>() {
                Ok(mv) if (0.0..1.0).contains(&mv) => Ok(Optimizer::Sgd {
                    lr: lr(r)?,
                    momentum: mv,
                }),
                _ => Err(bad(format!(
                    "invalid momentum `{m}`: expected a number in [0, 1)"
                ))),
            },
            [name, ..] if !["adam", "sgd"].contains(name) => Err(bad(format!(
                "unknown optimizer `{name}`: expected `adam` or `sgd`{}",
                suggest(name, &["adam", "sgd"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            ))),
            _ => Err(bad(format!("invalid optimizer `{}`", o.get_ref()))),
        }
    }

    fn sources(&self, d: &crate::manifest::DataTable) -> Result<Vec<Source>, ManifestError> {
        d.source
            .iter()
            .map(|s| {
                let format = match &s.format {
                    None => "idx".to_string(),
                    Some(f) if f.get_ref() == "idx" || f.get_ref() == "images" => {
                        f.get_ref().clone()
                    }
                    Some(f) => {
                        return Err(self.err(
                            f.span(),
                            format!(
                                "unsupported source format `{}`: expected `idx` or `images`",
                                f.get_ref()
                            ),
                            None,
                        ));
                    }
                };
                if s.path.get_ref().is_empty() {
                    return Err(self.err(s.path.span(), "empty source path", None));
                }
                Ok(Source {
                    path: s.path.get_ref().clone(),
                    format,
                    split: s.split.clone(),
                })
            })
            .collect()
    }

    fn check(&self, c: &CheckTable, classes: &[String]) -> Result<Check, ManifestError> {
        let metric = match c.metric.get_ref().as_str() {
            "accuracy" => Metric::Accuracy,
            "precision" => Metric::Precision,
            "recall" => Metric::Recall,
            "f1" => Metric::F1,
            other => {
                return Err(self.err(
                    c.metric.span(),
                    format!(
                        "unknown metric `{other}`: expected one of {}",
                        METRICS.join(", ")
                    ),
                    suggest(other, METRICS).map(|s| format!("did you mean `{s}`?")),
                ));
            }
        };
        let slice = match &c.where_ {
            None => None,
            Some(w) => Some(self.slice(w, classes)?),
        };
        let floor = *c.at_least.get_ref();
        if !(0.0..=1.0).contains(&floor) {
            return Err(self.err(
                c.at_least.span(),
                format!("`at_least = {floor}` is outside [0, 1]"),
                Some("metrics are fractions: write e.g. `at_least = 0.98`".into()),
            ));
        }
        let name = c.name.clone().unwrap_or_else(|| match &slice {
            None => c.metric.get_ref().clone(),
            Some(Slice::Label { name, .. }) => format!("{}[label = {name}]", c.metric.get_ref()),
        });
        Ok(Check {
            name,
            metric,
            slice,
            at_least: floor,
        })
    }

    fn slice(&self, w: &Spanned<String>, classes: &[String]) -> Result<Slice, ManifestError> {
        let text = w.get_ref();
        let Some((field, value)) = text.split_once('=') else {
            return Err(self.err(
                w.span(),
                format!("invalid slice `{text}`: expected `label = NAME`"),
                None,
            ));
        };
        let (field, value) = (field.trim(), value.trim().trim_matches(['"', '\'']));
        if field != "label" {
            return Err(self.err(
                w.span(),
                format!("unknown slice field `{field}`: only `label` is supported"),
                None,
            ));
        }
        match classes.iter().position(|c| c == value) {
            Some(class) => Ok(Slice::Label {
                class,
                name: value.to_string(),
            }),
            None => Err(self.err(
                w.span(),
                format!(
                    "unknown class `{value}` in slice: the classes are {}",
                    classes.join(", ")
                ),
                None,
            )),
        }
    }
}

fn sanitize(s: &str) -> String {
    let t: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if t.starts_with(|c: char| c.is_ascii_lowercase()) {
        t
    } else {
        format!("p{t}")
    }
}
