//! From a parsed manifest to a [`Program`]: every field checked, every error pointing at the
//! text it is about.

use std::ops::Range;

use toml::Spanned;

use crate::audio::LogMel;
use crate::budget;
use crate::error::ManifestError;
use crate::layer::{Layer, parse_layer, suggest};
use crate::manifest::{AudioTable, CheckTable, Classes, DataTable, Manifest, TrainTable};
use crate::program::{
    Input, InputKind, Normalize, Optimizer, Program, Schedule, Source, SourceFormat, Train,
};
use crate::shape::{CostTable, Shape, infer};

mod checks;
mod dependencies;
mod gates;
mod model;
mod robust;
mod table;

/// The manifest's file name and text, for errors.
pub(crate) struct Validator<'a> {
    pub file: &'a str,
    pub source: &'a str,
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

    pub(crate) fn program(&self, m: Manifest) -> Result<Program, ManifestError> {
        self.format(m.program.format.as_ref())?;
        let name = self.name(&m.program.name)?;
        let version = self.version(&m.program.version)?;
        let input = self.input(&m.data)?;
        let classes = self.classes(&m.data.classes)?;
        let (base, layers) = self.model(&m.model.layers, &input)?;
        let width = self.width(m.model.width.as_ref())?;
        let layers = crate::layer::scaled(&layers, width);
        let quantize = self.quantize(m.model.quantize.as_ref())?;
        let train = self.train(&m.train)?;
        let cost = match base {
            // Shapes are inferred when the program is composed with the dependency.
            Some(_) => model::unresolved(&input),
            None => {
                let cost = self.cost(&input, &layers, classes.len(), &m.model.layers)?;
                self.batch_fits(&cost, &train, &m.train)?;
                cost
            }
        };
        let sources = self.sources(&m.data)?;
        let check = |c: &CheckTable| self.check(c, &classes);
        let checks = m.check.iter().map(check).collect::<Result<Vec<_>, _>>()?;
        let dependencies = self.dependencies(&m.dependencies)?;
        Ok(Program {
            name,
            version,
            description: m.program.description,
            input,
            classes,
            layers,
            width,
            quantize,
            base,
            train,
            train_split: m.data.train_split.unwrap_or_else(|| "train".into()),
            test_split: m.data.test_split.unwrap_or_else(|| "test".into()),
            validation_split: m.data.validation_split,
            sources,
            checks,
            cost,
            dependencies,
        })
    }

    /// `format = 1`, the only manifest format there is.
    fn format(&self, format: Option<&Spanned<u32>>) -> Result<(), ManifestError> {
        match format {
            Some(f) if *f.get_ref() != 1 => Err(self.err(
                f.span(),
                format!(
                    "unsupported manifest format {}; this anneal reads format 1",
                    f.get_ref()
                ),
                Some("upgrade anneal, or write `format = 1`".into()),
            )),
            _ => Ok(()),
        }
    }

    /// An error at `span`, without a hint.
    fn fail(&self, span: Range<usize>, msg: impl Into<String>) -> ManifestError {
        self.err(span, msg, None)
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
        t: &TrainTable,
    ) -> Result<(), ManifestError> {
        let span = t.batch.as_ref().map_or(0..0, |b| b.span());
        let hint = "use a smaller `batch` or a smaller model";
        budget::batch_activations(cost.activation_bytes, train.batch)
            .map_err(|m| self.fail(span, m).with_hint(hint))
    }

    fn name(&self, n: &Spanned<String>) -> Result<String, ManifestError> {
        let s = n.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let message = format!(
            "invalid program name `{s}`: expected lowercase letters, digits, `-` or `_`, starting with a letter"
        );
        ok.then(|| s.clone()).ok_or_else(|| {
            self.fail(n.span(), message)
                .with_hint(format!("try `{}`", sanitize(s)))
        })
    }

    fn version(&self, v: &Spanned<String>) -> Result<String, ManifestError> {
        let s = v.get_ref();
        let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if s.split('.').count() == 3 && s.split('.').all(number) {
            return Ok(s.clone());
        }
        let message = format!("invalid version `{s}`: expected MAJOR.MINOR.PATCH");
        let hint = "write e.g. `version = \"0.1.0\"`";
        Err(self.fail(v.span(), message).with_hint(hint))
    }

    fn input(&self, d: &DataTable) -> Result<Input, ManifestError> {
        match self.input_kind(&d.input)? {
            InputKind::Image => self.no_table(d).and_then(|()| self.image_input(d)),
            InputKind::Audio => self.no_table(d).and_then(|()| self.audio_input(d)),
            InputKind::Table => self.table_input(d),
        }
    }

    /// An image program: its `shape` and pixel normalisation (`unit` by default).
    fn image_input(&self, d: &DataTable) -> Result<Input, ManifestError> {
        let Some(shape) = d.shape.as_ref() else {
            let hint = "write e.g. `shape = [1, 28, 28]` ([channels, height, width])";
            return Err(self
                .fail(d.input.span(), "an image program needs `shape`")
                .with_hint(hint));
        };
        if let Some(audio) = &d.audio {
            return Err(self
                .fail(audio.span(), "`[data.audio]` is for audio programs")
                .with_hint("remove it, or set `input = \"audio\"`"));
        }
        Ok(Input {
            kind: InputKind::Image,
            shape: self.image_shape(shape)?,
            normalize: self.normalize(d)?.unwrap_or(Normalize::Unit),
            audio: None,
            table: None,
        })
    }

    /// An audio program: its front end (defaults filled in) and the shape that follows;
    /// features standardised by default.
    fn audio_input(&self, d: &DataTable) -> Result<Input, ManifestError> {
        let table = d
            .audio
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_default();
        let audio = log_mel(&table);
        let span = d.audio.as_ref().map_or(d.input.span(), |t| t.span());
        if let Err((field, why)) = audio.check() {
            return Err(self.fail(span, format!("[data.audio] `{field}` {why}")));
        }
        if let Some(shape) = &d.shape
            && audio.shape().dims() != shape.get_ref().as_slice()
        {
            let message = format!(
                "`shape` {:?} does not match the audio front end's {:?}",
                shape.get_ref(),
                audio.shape().dims()
            );
            return Err(self
                .fail(shape.span(), message)
                .with_hint("remove `shape`: an audio program's follows from `[data.audio]`"));
        }
        Ok(Input {
            kind: InputKind::Audio,
            shape: audio.shape(),
            normalize: self.normalize(d)?.unwrap_or(Normalize::Standard),
            audio: Some(audio),
            table: None,
        })
    }

    fn normalize(&self, d: &DataTable) -> Result<Option<Normalize>, ManifestError> {
        self.keyword(
            d.normalize.as_ref(),
            "normalisation",
            &[
                ("unit", Normalize::Unit),
                ("standard", Normalize::Standard),
                ("none", Normalize::None),
            ],
        )
    }

    /// `input`: `image`, `audio` or `table`.
    fn input_kind(&self, kind: &Spanned<String>) -> Result<InputKind, ManifestError> {
        let kinds = [
            ("image", InputKind::Image),
            ("audio", InputKind::Audio),
            ("table", InputKind::Table),
        ];
        Ok(self
            .keyword(Some(kind), "input kind", &kinds)?
            .unwrap_or(InputKind::Image))
    }

    /// `shape = [C, H, W]` with C 1 or 3, within the budget.
    fn image_shape(&self, shape: &Spanned<Vec<usize>>) -> Result<Shape, ManifestError> {
        let dims = shape.get_ref();
        let fail = |message: String, hint: Option<String>| self.err(shape.span(), message, hint);
        match dims.as_slice() {
            [_, h, w] if *h > budget::MAX_INPUT_DIM || *w > budget::MAX_INPUT_DIM => Err(fail(
                format!(
                    "image shape {dims:?} is too large: each side must be at most {}",
                    budget::MAX_INPUT_DIM
                ),
                None,
            )),
            [c, h, w] if c.saturating_mul(*h).saturating_mul(*w) > budget::MAX_EXAMPLE_ELEMENTS => {
                Err(fail(
                    format!(
                        "an input of {dims:?} has {} values; at most {} are allowed",
                        c.saturating_mul(*h).saturating_mul(*w),
                        budget::MAX_EXAMPLE_ELEMENTS
                    ),
                    None,
                ))
            }
            [c, h, w] if *c > 0 && *h > 0 && *w > 0 && [1, 3].contains(c) => {
                Ok(Shape::Image([*c, *h, *w]))
            }
            _ => Err(fail(
                format!(
                    "invalid image shape {dims:?}: expected [C, H, W] with C = 1 (grey) or 3 (RGB)"
                ),
                Some("write e.g. `shape = [1, 28, 28]`".into()),
            )),
        }
    }

    /// One of a fixed set of words (`None` when absent), or an error naming the `what` and
    /// listing the choices.
    fn keyword<T: Copy>(
        &self,
        value: Option<&Spanned<String>>,
        what: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, ManifestError> {
        let Some(v) = value else { return Ok(None) };
        let word = v.get_ref().as_str();
        if let Some((_, t)) = choices.iter().find(|(w, _)| *w == word) {
            return Ok(Some(*t));
        }
        let names: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        Err(self.err(
            v.span(),
            format!("unknown {what} `{word}`: expected {}", one_of(&names)),
            suggest(word, &names).map(|s| format!("did you mean `{s}`?")),
        ))
    }

    fn classes(&self, c: &Spanned<Classes>) -> Result<Vec<String>, ManifestError> {
        let count = match c.get_ref() {
            Classes::Count(n) => *n,
            Classes::Names(v) => v.len(),
        };
        let max = budget::MAX_CLASSES as u64;
        budget::within("the program", count as u64, max, "classes")
            .map_err(|m| self.fail(c.span(), m))?;
        let names: Vec<String> = match c.get_ref() {
            Classes::Count(n) => (0..*n).map(|i| i.to_string()).collect(),
            Classes::Names(v) => v.clone(),
        };
        class_names_problem(&names).map_or(Ok(names), |m| Err(self.fail(c.span(), m)))
    }

    fn layers(&self, ls: &[Spanned<String>]) -> Result<Vec<Layer>, ManifestError> {
        if let Some(extra) = ls.get(budget::MAX_LAYERS) {
            let m = format!(
                "the model has {} layers; at most {} are allowed",
                ls.len(),
                budget::MAX_LAYERS
            );
            return Err(self.fail(extra.span(), m));
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

    fn train(&self, t: &TrainTable) -> Result<Train, ManifestError> {
        let optimizer = match &t.optimizer {
            None => Optimizer::Adam { lr: 1e-3 },
            Some(o) => self.optimizer(o)?,
        };
        let schedules = [
            ("constant", Schedule::Constant),
            ("cosine", Schedule::Cosine),
        ];
        let schedule = self.keyword(t.schedule.as_ref(), "schedule", &schedules)?;
        let augment = t
            .augment
            .as_ref()
            .map_or(Ok((0, false)), |a| self.augment(a))?;
        Ok(Train {
            epochs: self.bounded(&t.epochs, 5, "epochs", budget::MAX_EPOCHS)?,
            batch: self.bounded(&t.batch, 64, "batch", budget::MAX_BATCH)?,
            optimizer,
            schedule: schedule.unwrap_or(Schedule::Constant),
            seed: t.seed.unwrap_or(42),
            augment_shift: augment.0,
            augment_time_only: augment.1,
            adversarial: self.adversarial(t.adversarial.as_ref())?,
        })
    }

    /// `adversarial = "pgd EPS STEPS [step S]"`, `"fgsm EPS"` or `"none"`.
    fn adversarial(
        &self,
        a: Option<&Spanned<String>>,
    ) -> Result<Option<crate::Adversarial>, ManifestError> {
        let Some(a) = a.filter(|a| a.get_ref().trim() != "none") else {
            return Ok(None);
        };
        crate::Adversarial::parse(a.get_ref()).map(Some).map_err(|message| {
            let hint = "write e.g. `adversarial = \"pgd 0.1 7\"` (radius in input units before normalisation)";
            self.fail(a.span(), message).with_hint(hint)
        })
    }

    /// A whole number in `1..=max`, `default` when absent.
    fn bounded(
        &self,
        v: &Option<Spanned<usize>>,
        default: usize,
        what: &str,
        max: usize,
    ) -> Result<usize, ManifestError> {
        match v {
            None => Ok(default),
            Some(s) if (1..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => {
                let found = s.get_ref();
                let message = format!("`{what}` must be between 1 and {max}, found {found}");
                Err(self.fail(s.span(), message))
            }
        }
    }

    /// `augment = "shift N"` (N pixels, 0 to 8), `"time-shift N"` (along the last axis only,
    /// 0 to 16) or `"none"`: the shift and whether it is along time only.
    fn augment(&self, a: &Spanned<String>) -> Result<(usize, bool), ManifestError> {
        let words: Vec<&str> = a.get_ref().split_whitespace().collect();
        let shift = |n: &str, most: usize, time| {
            let n = n.parse::<usize>().ok().filter(|n| *n <= most);
            let message = format!("invalid shift `{}`: expected 0 to {most}", a.get_ref());
            n.map(|n| (n, time))
                .ok_or_else(|| self.fail(a.span(), message))
        };
        match words.as_slice() {
            ["shift", n] => shift(n, 8, false),
            ["time-shift", n] => shift(n, 16, true),
            ["none"] => Ok((0, false)),
            _ => {
                let message = format!(
                    "unknown augmentation `{}`: expected `shift N`, `time-shift N` or `none`",
                    a.get_ref()
                );
                Err(self
                    .fail(a.span(), message)
                    .with_hint("write e.g. `augment = \"shift 2\"`"))
            }
        }
    }

    fn optimizer(&self, o: &Spanned<String>) -> Result<Optimizer, ManifestError> {
        let words: Vec<&str> = o.get_ref().split_whitespace().collect();
        let optimizer = match words.as_slice() {
            ["adam", r] => learning_rate(r).map(|lr| Optimizer::Adam { lr }),
            ["sgd", r] => learning_rate(r).map(|lr| Optimizer::Sgd { lr, momentum: 0.0 }),
            ["sgd", r, "momentum", m] => momentum(m).and_then(|momentum| {
                Ok(Optimizer::Sgd {
                    lr: learning_rate(r)?,
                    momentum,
                })
            }),
            [name, ..] if !["adam", "sgd"].contains(name) => Err(format!(
                "unknown optimizer `{name}`: expected `adam` or `sgd`{}",
                suggest(name, &["adam", "sgd"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            )),
            _ => Err(format!("invalid optimizer `{}`", o.get_ref())),
        };
        let hint = "write `adam 1e-3` or `sgd 0.1 momentum 0.9`";
        optimizer.map_err(|m| self.fail(o.span(), m).with_hint(hint))
    }

    fn sources(&self, d: &DataTable) -> Result<Vec<Source>, ManifestError> {
        let formats = [("idx", SourceFormat::Idx), ("images", SourceFormat::Images)];
        let source = |s: &crate::manifest::SourceTable| {
            let format = self.keyword(s.format.as_ref(), "source format", &formats)?;
            if s.path.get_ref().is_empty() {
                return Err(self.fail(s.path.span(), "empty source path"));
            }
            Ok(Source {
                path: s.path.get_ref().clone(),
                format: format.unwrap_or(SourceFormat::Idx),
                split: s.split.clone(),
            })
        };
        d.source.iter().map(source).collect()
    }
}

fn sanitize(s: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let lower = s.to_ascii_lowercase();
    let t: String = lower
        .chars()
        .map(|c| if keep(c) { c } else { '-' })
        .collect();
    if t.starts_with(|c: char| c.is_ascii_lowercase()) {
        t
    } else {
        format!("p{t}")
    }
}

/// "`a`, `b` or `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What is wrong with a list of class names, if anything: fewer than 2, one listed twice, or an
/// empty or padded name.
fn class_names_problem(names: &[String]) -> Option<String> {
    if names.len() < 2 {
        return Some("a classifier needs at least 2 classes".into());
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Some(format!("class `{}` is listed twice", w[0]));
    }
    let bad = names
        .iter()
        .find(|n| n.is_empty() || n.trim() != n.as_str())?;
    Some(format!(
        "invalid class name {bad:?}: names must be non-empty without surrounding spaces"
    ))
}

fn learning_rate(w: &str) -> Result<f64, String> {
    match w.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!(
            "invalid learning rate `{w}`: expected a positive number"
        )),
    }
}

fn momentum(w: &str) -> Result<f64, String> {
    match w.parse::<f64>() {
        Ok(m) if (0.0..1.0).contains(&m) => Ok(m),
        _ => Err(format!(
            "invalid momentum `{w}`: expected a number in [0, 1)"
        )),
    }
}

/// `[data.audio]` with the defaults filled in.
fn log_mel(t: &AudioTable) -> LogMel {
    let d = LogMel::default();
    LogMel {
        rate: t.rate.unwrap_or(d.rate),
        samples: t.samples.unwrap_or(d.samples),
        n_fft: t.n_fft.unwrap_or(d.n_fft),
        hop: t.hop.unwrap_or(d.hop),
        mels: t.mels.unwrap_or(d.mels),
        fmin: t.fmin.unwrap_or(d.fmin),
        fmax: t.fmax.unwrap_or(t.rate.map_or(d.fmax, |r| r as f32 / 2.0)),
        floor: t.floor.unwrap_or(d.floor),
        range: t.range,
    }
}
