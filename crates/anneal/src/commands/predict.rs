use std::path::Path;

use anneal::error::CliError;
use anneal_engine::{Model, preprocess};
use anneal_pack::{Package, argmax};

pub fn run(package: &Path, inputs: &[std::path::PathBuf], json: bool) -> Result<u8, CliError> {
    let pkg = Package::read(package)?;
    let model = Model::new(&pkg.program, &pkg.weights)?;
    let norm = pkg.signature.normalization;
    let mut items = Vec::new();
    for path in inputs {
        items.extend(anneal::inputs::read(path, &pkg.signature.image)?);
    }
    let pixels: Vec<u8> = items
        .iter()
        .flat_map(|i| i.pixels.iter().copied())
        .collect();
    let probs = model.predict(&preprocess(&pixels, &norm))?;
    let k = pkg.signature.classes.len();
    let mut out = Vec::with_capacity(items.len());
    for (item, p) in items.iter().zip(probs.chunks(k)) {
        let c = argmax(p);
        if json {
            out.push(serde_json::json!({"input": item.name, "class": pkg.signature.classes[c], "class_index": c,
                                        "probability": p[c], "probabilities": p}));
        } else {
            println!("{}: {} ({:.4})", item.name, pkg.signature.classes[c], p[c]);
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(out));
    }
    Ok(0)
}
