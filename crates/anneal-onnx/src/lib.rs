//! # anneal-onnx: a package as an ONNX model
//!
//! [`export`] turns a [`Package`] into the bytes of an ONNX model (IR version 8, opset 17 of
//! the default domain) that any ONNX runtime runs with no other file:
//!
//! ```text
//! input  FP32 [N, ...shape]   raw features: pixels 0-255, log-mel values, encoded table rows
//!   Mul(scale) -> Sub(mean) -> Div(std)          the package's normalisation
//!   layers.0 ... layers.K                        one or a few nodes per layer (`layers`)
//!   Div(temperature)                             only when the package has one
//!   Softmax(axis -1) -> probabilities  FP32 [N, classes]
//!   ArgMax(axis 1)   -> class          INT64 [N]
//! ```
//!
//! `N` is symbolic. Weights become initializers under their package names
//! (`layers.{i}.weight`, ...). `metadata_props` holds `anneal.package` (name-version),
//! `anneal.classes` (a JSON array), `anneal.normalization` (JSON `{scale, mean, std}`),
//! `anneal.build_key` and, when fitted, `anneal.temperature`.
//!
//! An int8 package exports as a QDQ model, the form onnxruntime's own static quantization
//! writes: each `dense` and `conv` layer's input goes through `QuantizeLinear` (uint8, the
//! calibrated scale and zero point) and `DequantizeLinear`, and its weight is an INT8
//! initializer (`layers.{i}.weight_quantized`) read through `DequantizeLinear` with one scale
//! per output channel. A runtime that fuses the pairs runs integer kernels; one that does not
//! computes the same values in f32.
//!
//! The protobuf is written by hand: `proto` is the wire format, `onnx` the few ONNX messages
//! (with their field numbers), `graph` the node list, `layers` one layer's nodes.

mod graph;
mod layers;
mod onnx;
mod proto;
mod qdq;

use anneal_pack::{Normalization, Package};
use anneal_spec::{Layer, Shape};

use graph::Graph;
use onnx::{DataType, Dim, GraphParts};

pub use onnx::{IR_VERSION, OPSET};

/// Why a package could not be exported; each names the layer at fault.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A layer's tensor is absent from the package.
    #[error("layer {index} `{layer}`: the package has no tensor `{name}`")]
    MissingWeight {
        index: usize,
        layer: Layer,
        name: String,
    },
    /// A layer's tensor has a shape other than the one its layer takes.
    #[error("layer {index} `{layer}`: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    WeightShape {
        index: usize,
        layer: Layer,
        name: String,
        expected: Box<[usize]>,
        got: Box<[usize]>,
    },
    /// A layer ONNX export does not handle.
    #[error("layer {index} `{layer}` cannot be exported to ONNX: {reason}")]
    Unsupported {
        index: usize,
        layer: Layer,
        reason: String,
    },
}

/// The ONNX model of `pkg`, serialized.
pub fn export(pkg: &Package) -> Result<Vec<u8>, OnnxError> {
    let mut g = Graph::default();
    let x = normalize(&mut g, &pkg.signature.normalization);
    let logits = body(&mut g, pkg, &x)?;
    let [probs, class] = head(&mut g, &logits, pkg.signature.temperature);
    let classes = pkg.signature.classes.len();
    let mut input_dims = vec![Dim::Batch];
    input_dims.extend(
        pkg.program
            .input
            .shape
            .dims()
            .iter()
            .map(|&d| Dim::Fixed(d)),
    );
    let parts = GraphParts {
        name: pkg.program.name.clone(),
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: vec![onnx::value_info("input", DataType::Float, &input_dims)],
        outputs: vec![
            onnx::value_info(&probs, DataType::Float, &[Dim::Batch, Dim::Fixed(classes)]),
            onnx::value_info(&class, DataType::Int64, &[Dim::Batch]),
        ],
    };
    let doc = format!(
        "anneal package {}-{}: raw features in, class probabilities and the class out",
        pkg.program.name, pkg.program.version
    );
    let version = env!("CARGO_PKG_VERSION");
    let model = onnx::model(&onnx::graph(&parts), version, &doc, &metadata(pkg));
    Ok(model.into_bytes())
}

/// `(input * scale - mean) / std`, as the engine's `preprocess`.
fn normalize(g: &mut Graph, n: &Normalization) -> String {
    let scale = g.scalar("normalization.scale", n.scale);
    let mean = g.scalar("normalization.mean", n.mean);
    let std = g.scalar("normalization.std", n.std);
    let x = g.node("Mul", "normalization.scaled", &["input", &scale], vec![]);
    let x = g.node("Sub", "normalization.centred", &[&x, &mean], vec![]);
    g.node("Div", "normalization.out", &[&x, &std], vec![])
}

/// The model's layers up to the logits (a trailing `softmax` is the head's).
fn body(g: &mut Graph, pkg: &Package, x: &str) -> Result<String, OnnxError> {
    let cost = &pkg.program.cost;
    let mut cur = x.to_string();
    let mut input = cost.input;
    for (index, &layer) in pkg.program.logit_layers().iter().enumerate() {
        let weights = &pkg.weights;
        let quant = pkg.quantization.as_ref();
        let quant = quant.and_then(|q| q.layers.iter().find(|l| l.layer == index));
        let at = layers::At {
            index,
            layer,
            input,
            weights,
            quant,
        };
        cur = layers::emit(g, &at, &cur)?;
        input = cost.layers.get(index).map_or(input, |row| row.output);
    }
    if let Shape::Image(_) = input {
        // Shape inference gives a flat output; flatten as the engine does rather than fail.
        cur = g.node(
            "Flatten",
            "logits.flat",
            &[&cur],
            vec![("axis", onnx::Attr::Int(1))],
        );
    }
    Ok(cur)
}

/// Softmax of the logits (divided by the temperature, if any) and the argmax.
fn head(g: &mut Graph, logits: &str, temperature: Option<f32>) -> [String; 2] {
    let scaled = match temperature {
        Some(t) => {
            let t = g.scalar("temperature", t);
            g.node("Div", "logits.scaled", &[logits, &t], vec![])
        }
        None => logits.to_string(),
    };
    let axis = |a| vec![("axis", onnx::Attr::Int(a))];
    let probs = g.node("Softmax", "probabilities", &[&scaled], axis(-1));
    let mut argmax = axis(1);
    argmax.push(("keepdims", onnx::Attr::Int(0)));
    let class = g.node("ArgMax", "class", &[&probs], argmax);
    [probs, class]
}

/// The model's `metadata_props`.
fn metadata(pkg: &Package) -> Vec<(String, String)> {
    let s = &pkg.signature;
    let n = &s.normalization;
    let norm = serde_json::json!({"scale": n.scale, "mean": n.mean, "std": n.std});
    let classes = serde_json::Value::from(s.classes.clone());
    let program = &pkg.program;
    let mut out = vec![
        (
            "anneal.package".into(),
            format!("{}-{}", program.name, program.version),
        ),
        ("anneal.classes".into(), classes.to_string()),
        ("anneal.normalization".into(), norm.to_string()),
        ("anneal.build_key".into(), pkg.lineage.build_key.clone()),
    ];
    if let Some(t) = s.temperature {
        out.push(("anneal.temperature".into(), t.to_string()));
    }
    out
}
