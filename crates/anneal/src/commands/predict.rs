use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_engine::{Model, preprocess};
use anneal_pack::{Package, argmax};
use serde::Serialize;

/// One input's predicted class.
#[derive(Debug, Serialize)]
struct Prediction {
    class: String,
    class_index: usize,
    input: String,
    probabilities: Vec<f64>,
    probability: f64,
}

/// What `anneal predict` reports: a prediction per input.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Predictions(Vec<Prediction>);

pub fn run(package: &Path, inputs: &[PathBuf], json: bool) -> Result<u8, CliError> {
    let pkg = Package::read(package)?;
    let model = Model::new(&pkg.program, &pkg.weights)?
        .quantized(pkg.quantization.as_ref())?
        .with_temperature(pkg.signature.temperature);
    let items = anneal::inputs::read_all(inputs, &pkg)?;
    let features: Vec<f32> = items
        .iter()
        .flat_map(|i| i.features.iter().copied())
        .collect();
    let probs = model.predict(&preprocess(&features, &pkg.signature.normalization))?;
    let classes = &pkg.signature.classes;
    let rows = items.iter().zip(probs.chunks(classes.len()));
    let predictions = rows.map(|(item, p)| predicted(&item.name, p, classes));
    super::print(&Predictions(predictions.collect()), json);
    Ok(0)
}

/// The most probable of `classes` for `probs` (probabilities as f64, as JSON has printed them).
fn predicted(input: &str, probs: &[f32], classes: &[String]) -> Prediction {
    let c = argmax(probs);
    Prediction {
        class: classes[c].clone(),
        class_index: c,
        input: input.to_string(),
        probabilities: probs.iter().map(|&p| f64::from(p)).collect(),
        probability: f64::from(probs[c]),
    }
}

impl fmt::Display for Predictions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self
            .0
            .iter()
            .map(|p| format!("{}: {} ({:.4})", p.input, p.class, p.probability));
        f.write_str(&lines.collect::<Vec<_>>().join("\n"))
    }
}
