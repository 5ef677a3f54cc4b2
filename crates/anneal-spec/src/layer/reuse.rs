//! `use NAME frozen|finetune ...`: a published package, declared in `[dependencies]`, as the
//! first layers of the model.
//!
//! ```text
//! use NAME frozen [upto N]                          its weights fixed, batch norm and dropout
//!                                                   in inference mode
//! use NAME finetune [lr F] [upto N] [train-bn]      its weights trained at F times the
//!                                                   program's learning rate (default 1); batch
//!                                                   norm in inference mode unless `train-bn`
//! ```
//!
//! `upto N` keeps the package's first `N` layers (all but a trailing softmax by default).
//!
//! ```
//! use anneal_spec::layer::{Base, Reuse, parse_base};
//! let b = parse_base("use digits finetune lr 0.1 upto 11").unwrap();
//! assert_eq!(b.reuse, Reuse::Finetune { lr: 0.1, train_bn: false });
//! assert_eq!(b.upto, Some(11));
//! assert_eq!(b.to_string(), "use digits finetune lr 0.1 upto 11");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::grammar::{Args, Word, words};
use super::{LayerError, MAX_NUMBER, suggest};

/// The form, for hints.
const FORM: &str = "use NAME frozen|finetune [lr F] [upto N] [train-bn]";

/// The largest learning-rate factor a fine-tuned base may have.
pub const MAX_LR_FACTOR: f64 = 10.0;

/// A dependency reused as the model's first layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Base {
    /// The dependency's name in `[dependencies]`.
    pub name: String,
    /// Frozen or fine-tuned.
    pub reuse: Reuse,
    /// How many of its layers to keep (`None`: all but a trailing softmax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upto: Option<usize>,
    /// How many of the program's layers came from it: 0 until the program is composed with
    /// the dependency ([`crate::Program::compose`]).
    #[serde(default)]
    pub layers: usize,
}

/// How a base's weights are trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Reuse {
    /// Not at all: no weight updates, batch norm and dropout in inference mode.
    Frozen,
    /// At `lr` times the program's learning rate; batch norm keeps its running statistics
    /// (inference mode) unless `train_bn`.
    Finetune {
        /// The learning-rate factor.
        lr: f64,
        /// Batch norm normalises with batch statistics and updates its running ones.
        train_bn: bool,
    },
}

impl Reuse {
    /// Whether the base's batch norm and dropout run as in inference.
    pub fn inference_mode(self) -> bool {
        !matches!(self, Reuse::Finetune { train_bn: true, .. })
    }

    /// The base's learning-rate factor (0: frozen).
    pub fn lr_factor(self) -> f64 {
        match self {
            Reuse::Frozen => 0.0,
            Reuse::Finetune { lr, .. } => lr,
        }
    }
}

/// Whether a layer string is a `use` line.
pub fn is_base(s: &str) -> bool {
    words(s)
        .first()
        .is_some_and(|w| w.text.eq_ignore_ascii_case("use"))
}

/// Parse a `use` line.
pub fn parse_base(s: &str) -> Result<Base, LayerError> {
    let ws = words(s);
    let (Some(head), rest) = (ws.first(), ws.get(1..).unwrap_or_default()) else {
        return Err(LayerError {
            message: "empty layer".into(),
            column: 0,
            hint: Some(format!("the form is `{FORM}`")),
        });
    };
    let args = Args {
        head: *head,
        rest,
        name: "use",
    };
    let name = dependency_name(&args)?;
    let reuse = mode(&args)?;
    let (reuse, upto) = options(&args, reuse)?;
    Ok(Base {
        name,
        reuse,
        upto,
        layers: 0,
    })
}

/// The dependency's name, the word after `use`.
fn dependency_name(a: &Args<'_>) -> Result<String, LayerError> {
    let Some(w) = a.rest.first() else {
        let err = LayerError::at(&a.head, "missing the dependency's name after `use`");
        return Err(err.with_hint(format!("the form is `{FORM}`")));
    };
    if valid_name(w.text) {
        return Ok(w.text.to_string());
    }
    let message = format!(
        "invalid dependency name `{}`: expected lowercase letters, digits, `-` or `_`, starting with a letter",
        w.text
    );
    Err(LayerError::at(w, message))
}

/// A dependency or program name: lowercase letters, digits, `-`, `_`, a letter first.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `frozen` or `finetune`, the word after the name.
fn mode(a: &Args<'_>) -> Result<Reuse, LayerError> {
    let modes = ["frozen", "finetune"];
    let Some(w) = a.rest.get(1) else {
        let after = a.rest.first().unwrap_or(&a.head);
        let err = LayerError::at(after, "missing `frozen` or `finetune` after the name");
        return Err(err.with_hint(format!("the form is `{FORM}`")));
    };
    match w.text {
        "frozen" => Ok(Reuse::Frozen),
        "finetune" => Ok(Reuse::Finetune {
            lr: 1.0,
            train_bn: false,
        }),
        other => {
            let err = LayerError::at(
                w,
                format!("expected `frozen` or `finetune`, found `{other}`"),
            );
            Err(match suggest(other, &modes) {
                Some(s) => err.with_hint(format!("did you mean `{s}`?")),
                None => err.with_hint(format!("the form is `{FORM}`")),
            })
        }
    }
}

/// The options after the mode: `lr F`, `upto N`, `train-bn` (the first and last only when
/// fine-tuning), each at most once.
fn options(a: &Args<'_>, mut reuse: Reuse) -> Result<(Reuse, Option<usize>), LayerError> {
    let mut upto = None;
    let mut seen: Vec<&str> = Vec::new();
    let mut i = 2;
    while let Some(w) = a.rest.get(i) {
        if seen.contains(&w.text) {
            return Err(LayerError::at(w, format!("`{}` given twice", w.text)));
        }
        seen.push(w.text);
        i += match (w.text, &mut reuse) {
            ("upto", _) => {
                upto = Some(count(a.rest, i)?);
                2
            }
            ("lr", Reuse::Finetune { lr, .. }) => {
                *lr = factor(a.rest, i)?;
                2
            }
            ("train-bn", Reuse::Finetune { train_bn, .. }) => {
                *train_bn = true;
                1
            }
            _ => return Err(unexpected(w, reuse)),
        };
    }
    Ok((reuse, upto))
}

fn unexpected(w: &Word<'_>, reuse: Reuse) -> LayerError {
    let err = LayerError::at(w, format!("unexpected `{}`", w.text));
    match (w.text, reuse) {
        ("lr" | "train-bn", Reuse::Frozen) => err.with_hint(format!(
            "`{}` is for `finetune`; a frozen base is not trained",
            w.text
        )),
        _ => err.with_hint(format!("the form is `{FORM}`")),
    }
}

/// The whole number after `upto` at `rest[i]`.
fn count(rest: &[Word<'_>], i: usize) -> Result<usize, LayerError> {
    let w = value(rest, i, "a layer count")?;
    match w.text.parse::<usize>() {
        Ok(n) if (1..=MAX_NUMBER).contains(&n) => Ok(n),
        _ => Err(LayerError::at(
            w,
            format!(
                "expected a layer count (at least 1) after `upto`, found `{}`",
                w.text
            ),
        )),
    }
}

/// The learning-rate factor after `lr` at `rest[i]`.
fn factor(rest: &[Word<'_>], i: usize) -> Result<f64, LayerError> {
    let w = value(rest, i, "a learning-rate factor")?;
    match w.text.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= MAX_LR_FACTOR => Ok(f),
        _ => Err(LayerError::at(
            w,
            format!(
                "expected a learning-rate factor above 0 and at most {MAX_LR_FACTOR} after `lr`, found `{}`",
                w.text
            ),
        )),
    }
}

fn value<'r, 'a>(rest: &'r [Word<'a>], i: usize, what: &str) -> Result<&'r Word<'a>, LayerError> {
    rest.get(i + 1).ok_or_else(|| {
        let key = &rest[i];
        LayerError::at(key, format!("missing {what} after `{}`", key.text))
            .with_hint(format!("the form is `{FORM}`"))
    })
}

impl fmt::Display for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "use {}", self.name)?;
        match self.reuse {
            Reuse::Frozen => write!(f, " frozen")?,
            Reuse::Finetune { lr: 1.0, .. } => write!(f, " finetune")?,
            Reuse::Finetune { lr, .. } => write!(f, " finetune lr {lr}")?,
        }
        if let Some(n) = self.upto {
            write!(f, " upto {n}")?;
        }
        if let Reuse::Finetune { train_bn: true, .. } = self.reuse {
            write!(f, " train-bn")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        for s in [
            "use digits frozen",
            "use digits frozen upto 9",
            "use d-2 finetune",
            "use d finetune lr 0.05 upto 3 train-bn",
        ] {
            assert_eq!(parse_base(s).unwrap().to_string(), s);
        }
        let b = parse_base("use d finetune train-bn lr 2").unwrap();
        assert_eq!(
            b.reuse,
            Reuse::Finetune {
                lr: 2.0,
                train_bn: true
            }
        );
        assert!(!b.reuse.inference_mode());
        assert!(Reuse::Frozen.inference_mode());
    }

    #[test]
    fn bad_lines_name_the_word() {
        let cases = [
            ("use", "missing the dependency's name", 0),
            ("use Digits frozen", "invalid dependency name `Digits`", 4),
            ("use d", "missing `frozen` or `finetune`", 4),
            ("use d frozn", "expected `frozen` or `finetune`", 6),
            ("use d frozen lr 0.1", "unexpected `lr`", 13),
            ("use d frozen upto 0", "expected a layer count", 18),
            ("use d frozen upto", "missing a layer count", 13),
            ("use d finetune lr 11", "at most 10", 18),
            ("use d finetune lr nan", "learning-rate factor", 18),
            ("use d frozen upto 2 upto 3", "`upto` given twice", 20),
        ];
        for (s, message, column) in cases {
            let e = parse_base(s).unwrap_err();
            assert!(e.message.contains(message), "{s}: {}", e.message);
            assert_eq!(e.column, column, "{s}");
        }
        let e = parse_base("use d frozn").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `frozen`?"));
    }
}
