//! A program back to manifest text, so that a program decoded from untrusted bytes (a
//! package's `anneal.program`) is validated by the very code that validates `anneal.toml`.
//!
//! [`Program::revalidate`] writes the program as a manifest, parses that with
//! [`Program::parse`], and requires the result to equal the program it started from: every
//! rule and bound of the validator (layer grammar, shapes, [`crate::budget`]) applies, and a
//! decoded field the validator would have computed differently (the cost table, a slice's
//! class index) is caught too.

use serde_json::{Value, json};

use crate::error::ManifestError;
use crate::layer::{Base, parse_base};
use crate::program::{Optimizer, Program, Schedule};
use crate::shape::Shape;

/// The file name used in errors about a decoded program.
const DECODED: &str = "anneal.program";

impl Program {
    /// The program as `anneal.toml` text that [`Program::parse`] reads back to an equal program.
    pub fn to_manifest(&self) -> Result<String, String> {
        let value = toml::Value::try_from(self.manifest_json()).map_err(|e| e.to_string())?;
        toml::to_string(&value).map_err(|e| e.to_string())
    }

    /// Validate a program decoded from untrusted bytes with the manifest's own validator.
    pub fn revalidate(&self) -> Result<(), ManifestError> {
        let fail = |m: String| ManifestError::at(DECODED, "", 0..0, m, None);
        let text = self
            .to_manifest()
            .map_err(|e| fail(format!("cannot be written as a manifest: {e}")))?;
        let mut again = Program::parse(DECODED, &text).map_err(|e| fail(e.message))?;
        // The layers written are the scaled ones; the width says what they were scaled by.
        again.width = self.width;
        if let Some(base) = &self.base {
            // A composed program's layers are all written out; its base says how many came
            // from the dependency and how they were trained.
            composed_base(base, self.layers.len()).map_err(fail)?;
            again.base = Some(base.clone());
        }
        match differing(self, &again).as_slice() {
            [] => Ok(()),
            fields => Err(fail(format!(
                "{} differ from what the program's own manifest gives",
                fields.join(", ")
            ))),
        }
    }

    fn manifest_json(&self) -> Value {
        let mut program = json!({"name": self.name, "version": self.version, "format": 1});
        if let Some(d) = &self.description {
            program["description"] = json!(d);
        }
        let mut manifest = json!({
            "program": program,
            "data": self.data_json(),
            "model": {"layers": self.layers.iter().map(ToString::to_string).collect::<Vec<_>>()},
            "train": self.train_json(),
            "check": self.checks.iter().map(|c| check_json(c, &self.classes)).collect::<Vec<_>>(),
        });
        if let Some(q) = self.quantize {
            manifest["model"]["quantize"] = json!(q.name());
        }
        for d in &self.dependencies {
            manifest["dependencies"][&d.name] = json!({"oci": d.oci, "version": d.version});
        }
        manifest
    }

    fn data_json(&self) -> Value {
        let shape = match self.input.shape {
            Shape::Image(d) => d.to_vec(),
            Shape::Flat(d) => d.to_vec(),
        };
        let normalize = serde_json::to_value(self.input.normalize).unwrap_or_default();
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| json!({"path": s.path, "format": s.format, "split": s.split}))
            .collect();
        let kind = serde_json::to_value(self.input.kind).unwrap_or_default();
        let mut data = json!({
            "input": kind, "shape": shape, "classes": self.classes, "normalize": normalize,
            "train-split": self.train_split, "test-split": self.test_split, "source": sources,
        });
        if let Some(v) = &self.validation_split {
            data["validation-split"] = json!(v);
        }
        if let Some(audio) = &self.input.audio {
            data["audio"] = serde_json::to_value(audio).unwrap_or_default();
        }
        if let Some(table) = &self.input.table {
            data["table"] = serde_json::to_value(table).unwrap_or_default();
            data.as_object_mut().map(|d| d.remove("shape"));
            data.as_object_mut().map(|d| d.remove("normalize"));
        }
        data
    }

    fn train_json(&self) -> Value {
        let t = &self.train;
        let optimizer = match t.optimizer {
            Optimizer::Adam { lr } => format!("adam {lr}"),
            Optimizer::Sgd { lr, momentum } => format!("sgd {lr} momentum {momentum}"),
        };
        let schedule = match t.schedule {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        };
        let kind = if t.augment_time_only {
            "time-shift"
        } else {
            "shift"
        };
        let augment = format!("{kind} {}", t.augment_shift);
        let mut train = json!({
            "epochs": t.epochs, "batch": t.batch, "optimizer": optimizer, "schedule": schedule,
            "seed": t.seed, "augment": augment,
        });
        if let Some(a) = &t.adversarial {
            train["adversarial"] = json!(a.to_string());
        }
        train
    }
}

/// A check as its `[[check]]` table; `classes` name its positive class.
fn check_json(c: &crate::program::Check, classes: &[String]) -> Value {
    let metric = serde_json::to_value(c.metric).unwrap_or_default();
    let mut out = json!({"name": c.name, "metric": metric});
    let keys = [
        ("where", c.slice.as_ref().map(|s| json!(s.to_string()))),
        ("for-each", c.for_each.as_ref().map(|f| json!(f))),
        ("by", c.by.as_ref().map(|f| json!(f))),
        ("at-least", c.at_least.map(|x| json!(x))),
        ("at-most", c.at_most.map(|x| json!(x))),
        ("min-group", c.min_group.map(|n| json!(n))),
        (
            "positive",
            c.positive.map(|p| json!(class_name(classes, p))),
        ),
    ];
    for (key, value) in keys {
        if let Some(v) = value {
            out[key] = v;
        }
    }
    if let Some(a) = &c.attack {
        out["attack"] = json!(a.attack);
        out["epsilon"] = json!(a.epsilon);
        if a.attack == crate::Attack::Pgd {
            out["steps"] = json!(a.steps);
        }
    }
    out
}

/// A decoded program's base: a valid `use` line, of a program composed with at least one and
/// at most all of its `layers` from the dependency.
fn composed_base(base: &Base, layers: usize) -> Result<(), String> {
    let again = parse_base(&base.to_string()).map_err(|e| format!("`base`: {}", e.message))?;
    let same = again.name == base.name && again.reuse == base.reuse && again.upto == base.upto;
    if same && (1..=layers).contains(&base.layers) {
        return Ok(());
    }
    Err(format!(
        "`base` (`{base}`, {} layers) does not fit the program's {layers} layers",
        base.layers
    ))
}

/// Class `i`'s name, or `#i` (no class's name) past the classes, for the validator to refuse.
fn class_name(classes: &[String], i: usize) -> String {
    classes.get(i).cloned().unwrap_or_else(|| format!("#{i}"))
}

/// The top-level fields in which `a` and `b` differ.
fn differing(a: &Program, b: &Program) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["the program".into()];
    };
    a.iter()
        .filter(|(k, v)| b.get(k.as_str()) != Some(v))
        .map(|(k, _)| format!("`{k}`"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[program]
name = "digits"
version = "0.1.0"
description = "digits"
[data]
input = "image"
shape = [1, 28, 28]
classes = 10
normalize = "standard"
validation-split = "val"
[[data.source]]
path = "data/train"
split = "train"
[model]
layers = ["conv 8 3x3 pad 1", "relu", "maxpool 2 stride 1", "flatten", "dropout 0.25", "dense 10"]
[train]
epochs = 2
optimizer = "sgd 0.1 momentum 0.9"
schedule = "cosine"
augment = "shift 2"
adversarial = "pgd 0.3 40 step 0.01"
[[check]]
metric = "recall"
where = "label = 7"
at_least = 0.9
"#;

    #[test]
    fn a_valid_program_survives_the_round_trip() {
        let p = Program::parse("anneal.toml", GOOD).unwrap();
        let text = p.to_manifest().unwrap();
        assert_eq!(Program::parse("again", &text).unwrap(), p);
        p.revalidate().unwrap();
    }

    #[test]
    fn an_audio_program_survives_the_round_trip() {
        let audio = "[program]\nname = \"a\"\nversion = \"0.1.0\"\n[data]\ninput = \"audio\"\nclasses = 3\n[data.audio]\nrate = 16000\nmels = 20\nrange = 6.5\n[model]\nlayers = [\"flatten\", \"dense 3\"]\n";
        let p = Program::parse("anneal.toml", audio).unwrap();
        let log_mel = p.input.audio.clone().unwrap();
        assert_eq!(
            (log_mel.rate, log_mel.fmax, log_mel.mels, log_mel.range),
            (16000, 8000.0, 20, Some(6.5))
        );
        assert_eq!(p.input.shape.dims(), vec![1, 20, 61]);
        let text = p.to_manifest().unwrap();
        assert_eq!(Program::parse("again", &text).unwrap(), p);
        p.revalidate().unwrap();
    }

    #[test]
    fn a_decoded_program_breaking_a_rule_is_refused() {
        let p = Program::parse("anneal.toml", GOOD).unwrap();
        let mut bad = p.clone();
        bad.layers[0] = crate::Layer::Conv {
            channels: 8,
            kernel: [3, 3],
            stride: 0,
            pad: 1,
        };
        let e = bad.revalidate().unwrap_err();
        assert!(e.message.contains("stride value must be at least 1"), "{e}");
        let mut bad = p.clone();
        bad.classes.truncate(0);
        assert!(bad.revalidate().is_err());
        let mut bad = p.clone();
        bad.cost.params += 1;
        let e = bad.revalidate().unwrap_err();
        assert_eq!(
            e.message,
            "`cost` differ from what the program's own manifest gives"
        );
        let mut bad = p;
        bad.input.shape = Shape::Image([1, 65536, 65536]);
        let e = bad.revalidate().unwrap_err();
        assert!(e.message.contains("at most 67108864 are allowed"), "{e}");
    }
}
