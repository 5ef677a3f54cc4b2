//! The layer grammar: one string per layer, as written in `[model] layers`.
//!
//! ```text
//! dense N                       fully connected, N outputs            [B, I] -> [B, N]
//! conv C KxK [stride S] [pad P] 2-D convolution, C output channels    [B, Ci, H, W] -> [B, C, H', W']
//! maxpool K [stride S]          max over KxK windows (stride K)       [B, C, H, W] -> [B, C, H/K, W/K]
//! avgpool K [stride S]          mean over KxK windows (stride K)
//! flatten                       [B, C, H, W] -> [B, C*H*W]
//! relu | gelu | tanh | sigmoid  element-wise activations, shape kept
//! dropout P                     zeroes a fraction P in training, identity in inference
//! batchnorm                     per-feature (or per-channel) normalisation
//! softmax                       probabilities; only as the last layer
//! ```
//!
//! with `H' = (H + 2P - K) / S + 1`. `KxK` may also be written `K` or `KxL`.
//!
//! ```
//! use anneal_spec::layer::{Layer, parse_layer};
//! assert_eq!(
//!     parse_layer("conv 32 5x5 pad 2").unwrap(),
//!     Layer::Conv { channels: 32, kernel: [5, 5], stride: 1, pad: 2 }
//! );
//! let err = parse_layer("maxpol 2").unwrap_err();
//! assert_eq!(err.hint.as_deref(), Some("did you mean `maxpool`?"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// One layer of a model, parsed and range-checked (shapes are checked later, in `shape`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Layer {
    /// Fully connected layer with `units` outputs.
    Dense { units: usize },
    /// 2-D convolution.
    Conv {
        channels: usize,
        kernel: [usize; 2],
        stride: usize,
        pad: usize,
    },
    /// Max pooling over `kernel` windows.
    MaxPool { kernel: usize, stride: usize },
    /// Average pooling over `kernel` windows.
    AvgPool { kernel: usize, stride: usize },
    /// Collapse all but the batch dimension.
    Flatten,
    /// `max(x, 0)`.
    Relu,
    /// Gaussian error linear unit (tanh approximation-free form).
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Dropout with drop probability `p`.
    Dropout { p: f64 },
    /// Batch normalisation (momentum 0.1, epsilon 1e-5).
    BatchNorm,
    /// Softmax over classes; only as the last layer.
    Softmax,
}

/// The layer names the grammar knows, for suggestions.
pub const LAYER_NAMES: &[&str] = &[
    "dense",
    "conv",
    "maxpool",
    "avgpool",
    "flatten",
    "relu",
    "gelu",
    "tanh",
    "sigmoid",
    "dropout",
    "batchnorm",
    "softmax",
];

/// Why a layer string did not parse. `column` is the 0-based byte offset of the offending word
/// inside the layer string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LayerError {
    /// What went wrong, naming the word and what was expected.
    pub message: String,
    /// Byte offset of the offending word inside the layer string.
    pub column: usize,
    /// A suggested fix, if there is one.
    pub hint: Option<String>,
}

impl LayerError {
    fn at(word: &Word<'_>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            column: word.offset,
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    offset: usize,
}

fn words(s: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                out.push(Word {
                    text: &s[st..i],
                    offset: st,
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push(Word {
            text: &s[st..],
            offset: st,
        });
    }
    out
}

/// The largest number a layer takes (units, channels, kernel sides, stride, pad): 2^24.
pub const MAX_NUMBER: usize = 1 << 24;

/// Parse one layer string such as `"conv 32 3x3 pad 1"`.
pub fn parse_layer(s: &str) -> Result<Layer, LayerError> {
    let ws = words(s);
    let Some(head) = ws.first() else {
        return Err(LayerError {
            message: "empty layer".into(),
            column: 0,
            hint: Some(format!("expected one of: {}", LAYER_NAMES.join(", "))),
        });
    };
    let name = head.text.to_ascii_lowercase();
    let args = &ws[1..];
    let layer = match name.as_str() {
        "dense" | "linear" => {
            let units = positive(args, 0, head, "dense N", "the number of outputs")?;
            no_more(args, 1, "dense N")?;
            Layer::Dense { units }
        }
        "conv" => parse_conv(head, args)?,
        "maxpool" | "avgpool" => {
            let kernel = positive(args, 0, head, "maxpool K [stride S]", "the window size")?;
            let opts = options(&args[1..], &["stride"], "maxpool K [stride S]")?;
            let stride = opts.first().copied().flatten().unwrap_or(kernel);
            if name == "maxpool" {
                Layer::MaxPool { kernel, stride }
            } else {
                Layer::AvgPool { kernel, stride }
            }
        }
        "dropout" => {
            let Some(w) = args.first() else {
                return Err(LayerError::at(head, "`dropout` needs a probability")
                    .with_hint("write `dropout 0.2`"));
            };
            let p: f64 = w.text.parse().map_err(|_| {
                LayerError::at(w, format!("expected a probability, found `{}`", w.text))
                    .with_hint("write `dropout 0.2`")
            })?;
            if !(0.0..1.0).contains(&p) {
                return Err(LayerError::at(
                    w,
                    format!("dropout probability must be in [0, 1), found {p}"),
                ));
            }
            no_more(args, 1, "dropout P")?;
            Layer::Dropout { p }
        }
        "flatten" | "relu" | "gelu" | "tanh" | "sigmoid" | "batchnorm" | "softmax" => {
            no_more(args, 0, &name)?;
            match name.as_str() {
                "flatten" => Layer::Flatten,
                "relu" => Layer::Relu,
                "gelu" => Layer::Gelu,
                "tanh" => Layer::Tanh,
                "sigmoid" => Layer::Sigmoid,
                "batchnorm" => Layer::BatchNorm,
                _ => Layer::Softmax,
            }
        }
        _ => {
            let err = LayerError::at(head, format!("unknown layer `{}`", head.text));
            return Err(match suggest(&name, LAYER_NAMES) {
                Some(s) => err.with_hint(format!("did you mean `{s}`?")),
                None => err.with_hint(format!("expected one of: {}", LAYER_NAMES.join(", "))),
            });
        }
    };
    Ok(layer)
}

fn parse_conv(head: &Word<'_>, args: &[Word<'_>]) -> Result<Layer, LayerError> {
    const FORM: &str = "conv C KxK [stride S] [pad P]";
    let channels = positive(args, 0, head, FORM, "the number of output channels")?;
    let Some(k) = args.get(1) else {
        return Err(LayerError::at(head, "`conv` needs a kernel size")
            .with_hint(format!("write `{FORM}`, e.g. `conv {channels} 3x3`")));
    };
    let kernel = parse_kernel(k)?;
    let opts = options(&args[2..], &["stride", "pad"], FORM)?;
    let stride = opts.first().copied().flatten().unwrap_or(1);
    let pad = opts.get(1).copied().flatten().unwrap_or(0);
    Ok(Layer::Conv {
        channels,
        kernel,
        stride,
        pad,
    })
}

fn parse_kernel(w: &Word<'_>) -> Result<[usize; 2], LayerError> {
    let bad = || {
        LayerError::at(
            w,
            format!("expected a kernel size like `3x3`, found `{}`", w.text),
        )
        .with_hint("write the kernel as `KxK`, e.g. `5x5`")
    };
    let mut parts = w.text.split(['x', 'X']);
    let a = parts.next().and_then(|p| p.parse::<usize>().ok());
    let b = match parts.next() {
        Some(p) => p.parse::<usize>().ok(),
        None => a,
    };
    match (a, b, parts.next()) {
        (Some(a), Some(b), None) if a > MAX_NUMBER || b > MAX_NUMBER => Err(LayerError::at(
            w,
            format!(
                "kernel sides must be at most {MAX_NUMBER}, found `{}`",
                w.text
            ),
        )),
        (Some(a), Some(b), None) if a > 0 && b > 0 => Ok([a, b]),
        _ => Err(bad()),
    }
}

/// `keyword value` pairs after the positional arguments, in any order, each at most once.
fn options(args: &[Word<'_>], keys: &[&str], form: &str) -> Result<Vec<Option<usize>>, LayerError> {
    let mut out = vec![None; keys.len()];
    let mut i = 0;
    while i < args.len() {
        let key = &args[i];
        let Some(slot) = keys.iter().position(|k| *k == key.text) else {
            let err = LayerError::at(key, format!("unexpected `{}`", key.text));
            let candidates: Vec<&str> = keys.to_vec();
            return Err(match suggest(key.text, &candidates) {
                Some(s) => err.with_hint(format!("did you mean `{s}`? the form is `{form}`")),
                None => err.with_hint(format!("the form is `{form}`")),
            });
        };
        if out[slot].is_some() {
            return Err(LayerError::at(key, format!("`{}` given twice", key.text)));
        }
        let value = positive(args, i + 1, key, form, &format!("the {} value", key.text))?;
        if key.text == "stride" && value == 0 {
            return Err(LayerError::at(key, "stride must be at least 1"));
        }
        out[slot] = Some(value);
        i += 2;
    }
    Ok(out)
}

fn positive(
    args: &[Word<'_>],
    i: usize,
    after: &Word<'_>,
    form: &str,
    what: &str,
) -> Result<usize, LayerError> {
    let Some(w) = args.get(i) else {
        return Err(
            LayerError::at(after, format!("missing {what} after `{}`", after.text))
                .with_hint(format!("the form is `{form}`")),
        );
    };
    match w.text.parse::<usize>() {
        Ok(0) if what != "the pad value" => Err(LayerError::at(
            w,
            format!("{what} must be at least 1, found 0"),
        )),
        Ok(v) if v > MAX_NUMBER => Err(LayerError::at(
            w,
            format!("{what} must be at most {MAX_NUMBER}, found {v}"),
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(LayerError::at(
            w,
            format!("expected {what} (a whole number), found `{}`", w.text),
        )
        .with_hint(format!("the form is `{form}`"))),
    }
}

fn no_more(args: &[Word<'_>], n: usize, form: &str) -> Result<(), LayerError> {
    match args.get(n) {
        Some(w) => Err(LayerError::at(w, format!("unexpected `{}`", w.text))
            .with_hint(format!("the form is `{form}`"))),
        None => Ok(()),
    }
}

/// The closest candidate within edit distance 2, if any.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.min(c.len().saturating_sub(1)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl fmt::Display for Layer {
    /// The canonical spelling, which parses back to the same layer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Layer::Dense { units } => write!(f, "dense {units}"),
            Layer::Conv {
                channels,
                kernel,
                stride,
                pad,
            } => {
                write!(f, "conv {channels} {}x{}", kernel[0], kernel[1])?;
                if stride != 1 {
                    write!(f, " stride {stride}")?;
                }
                if pad != 0 {
                    write!(f, " pad {pad}")?;
                }
                Ok(())
            }
            Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => {
                let name = if matches!(self, Layer::MaxPool { .. }) {
                    "maxpool"
                } else {
                    "avgpool"
                };
                write!(f, "{name} {kernel}")?;
                if stride != kernel {
                    write!(f, " stride {stride}")?;
                }
                Ok(())
            }
            Layer::Flatten => f.write_str("flatten"),
            Layer::Relu => f.write_str("relu"),
            Layer::Gelu => f.write_str("gelu"),
            Layer::Tanh => f.write_str("tanh"),
            Layer::Sigmoid => f.write_str("sigmoid"),
            Layer::Dropout { p } => write!(f, "dropout {p}"),
            Layer::BatchNorm => f.write_str("batchnorm"),
            Layer::Softmax => f.write_str("softmax"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips() {
        for s in [
            "dense 10",
            "conv 32 5x5",
            "conv 8 3x1 stride 2 pad 1",
            "maxpool 2",
            "avgpool 3 stride 2",
            "flatten",
            "dropout 0.25",
            "batchnorm",
            "softmax",
        ] {
            let l = parse_layer(s).unwrap();
            assert_eq!(l.to_string(), s);
            assert_eq!(parse_layer(&l.to_string()).unwrap(), l);
        }
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = parse_layer("conv 32 5y5").unwrap_err();
        assert_eq!(e.column, 8);
        let e = parse_layer("conv 32 5x5 strid 2").unwrap_err();
        assert_eq!(e.column, 12);
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `stride`? the form is `conv C KxK [stride S] [pad P]`")
        );
        let e = parse_layer("dense").unwrap_err();
        assert!(e.message.contains("missing the number of outputs"));
        let e = parse_layer("dropout 1.5").unwrap_err();
        assert!(e.message.contains("[0, 1)"));
        let e = parse_layer("relu 3").unwrap_err();
        assert_eq!(e.column, 5);
        let e = parse_layer("frobnicate").unwrap_err();
        assert!(e.hint.unwrap().starts_with("expected one of"));
    }
}
