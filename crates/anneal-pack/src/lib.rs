//! # anneal-pack: the package format
//!
//! A package (`NAME-VERSION.anneal`) is one [safetensors] file: the tensors are the weights
//! (f32, little-endian, named `layers.{i}.{param}`), and the header's `__metadata__` carries
//! JSON strings:
//!
//! | key | content |
//! |---|---|
//! | `anneal.format` | the package format version (`1`) |
//! | `anneal.program` | the validated program ([`anneal_spec::Program`]) |
//! | `anneal.signature` | [`Signature`]: input and output names, dtypes, shapes, classes, normalisation |
//! | `anneal.lineage` | [`Lineage`]: dataset commit, build key, engine and version, seed |
//! | `anneal.metrics` | [`Metrics`] on the test split, with per-value metrics of each metadata field ([`slices`]) |
//! | `anneal.cost` | [`anneal_spec::CostTable`]: parameters, FLOPs and bytes per example |
//! | `anneal.audit` | [`AuditSummary`], when the build measured it |
//! | `anneal.quantization` | [`anneal_spec::Quantization`], in an int8 package ([`quant`]) |
//!
//! In an int8 package (`[model] quantize = "int8"`) the weight of every `dense` and `conv`
//! layer is stored as an I8 tensor, one scale per output channel in `anneal.quantization`;
//! readers here give it back as the f32 values it stands for (see [`quant`]).
//!
//! Any safetensors reader (Python's `safetensors`, for one) can load it; nothing in it is ever
//! executed. Readers here check the header before allocating (the `safetensors` crate caps the
//! header size and validates every offset) and then the metadata types.
//!
//! [safetensors]: https://github.com/huggingface/safetensors

pub mod audit;
pub mod calibration;
mod config;
mod metrics;
pub mod quant;
pub mod slices;
pub mod temperature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use anneal_spec::Normalization;
use anneal_spec::{CostTable, NamedTensor, Program, Quantization};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

pub use audit::AuditSummary;
pub use metrics::{ClassMetrics, Metrics, argmax};
pub use slices::{FieldSlices, MAX_SLICE_VALUES, SliceMetrics};

/// The package format version this crate writes and reads.
pub const FORMAT: u32 = 1;

/// How inputs are fed and outputs read, enough to serve the package with no other file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Inputs (one: the preprocessed image batch).
    pub inputs: Vec<TensorSpec>,
    /// Outputs (probabilities, then the predicted class).
    pub outputs: Vec<TensorSpec>,
    /// Class names in output order.
    pub classes: Vec<String>,
    /// Raw image layout expected before preprocessing.
    pub image: ImageSpec,
    /// `input = (pixel * scale - mean) / std`.
    pub normalization: Normalization,
    /// Temperature scaling fitted on the program's validation split: the probabilities are
    /// `softmax(logits / temperature)`. Absent: the model's own softmax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

impl Signature {
    /// The signature a package of `program` has: one FP32 input of the program's shape, the
    /// class probabilities and the predicted class out, with `normalization` from training.
    pub fn for_program(program: &Program, normalization: Normalization) -> Signature {
        let mut shape = vec![-1i64];
        shape.extend(program.input.shape.dims().iter().map(|&d| d as i64));
        let [channels, height, width] = match program.input.shape {
            anneal_spec::Shape::Image(d) => d,
            anneal_spec::Shape::Flat([n]) => [1, 1, n],
        };
        let tensor = |name: &str, datatype: &str, shape: Vec<i64>| TensorSpec {
            name: name.into(),
            datatype: datatype.into(),
            shape,
        };
        Signature {
            inputs: vec![tensor("input", "FP32", shape)],
            outputs: vec![
                tensor(
                    "probabilities",
                    "FP32",
                    vec![-1, program.classes.len() as i64],
                ),
                tensor("class", "INT64", vec![-1]),
            ],
            classes: program.classes.clone(),
            image: ImageSpec {
                channels,
                height,
                width,
            },
            normalization,
            temperature: None,
        }
    }
}

/// A named tensor in a signature; `-1` marks the batch dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Name.
    pub name: String,
    /// Open Inference Protocol datatype (`FP32`, `INT64`).
    pub datatype: String,
    /// Shape, `-1` for the batch.
    pub shape: Vec<i64>,
}

/// The raw image an input is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// Where a package came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The dataset commit trained on.
    pub dataset_commit: String,
    /// BLAKE3 of the canonical program, dataset commit, engine version and seed.
    pub build_key: String,
    /// Engine name.
    pub engine: String,
    /// Engine version.
    pub engine_version: String,
    /// The seed.
    pub seed: u64,
    /// Worker threads used in training.
    pub threads: usize,
    /// The anneal version that built it.
    pub anneal_version: String,
    /// Packages this one was derived from.
    pub parents: Vec<String>,
    /// Where it trained when not on anneal's CPU engine (`cpu`, `cuda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Processes that trained it, when more than anneal's one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_size: Option<usize>,
    /// The build key's line for an engine other than anneal's own (its name, version, device
    /// and processes), so that the key can be computed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_key: Option<String>,
}

/// A package in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// The program.
    pub program: Program,
    /// The signature.
    pub signature: Signature,
    /// The lineage.
    pub lineage: Lineage,
    /// Test metrics.
    pub metrics: Metrics,
    /// Forward-pass cost.
    pub cost: CostTable,
    /// What the build measured of the package's risks (`anneal.audit`; absent in packages
    /// built before it was).
    pub audit: Option<AuditSummary>,
    /// How the weights were quantized (`anneal.quantization`; absent: f32).
    pub quantization: Option<Quantization>,
    /// The weights (a quantized layer's as the f32 values its int8 weights stand for).
    pub weights: Vec<NamedTensor>,
}

/// The metadata of a package, without its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The program.
    pub program: Program,
    /// The signature.
    pub signature: Signature,
    /// The lineage.
    pub lineage: Lineage,
    /// Test metrics.
    pub metrics: Metrics,
    /// Forward-pass cost.
    pub cost: CostTable,
    /// What the build measured of the package's risks, if it did.
    pub audit: Option<AuditSummary>,
    /// How the weights were quantized, if they were.
    pub quantization: Option<Quantization>,
}

/// Why a package could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not a safetensors file, or a malformed one.
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        message: String,
    },
    /// A safetensors file that is not an anneal package, or a damaged one.
    #[error("{path}: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl PackError {
    fn io(path: &Path, source: std::io::Error) -> PackError {
        let path = path.to_path_buf();
        PackError::Io { path, source }
    }
}

/// The optional metadata key of [`AuditSummary`].
const AUDIT_KEY: &str = "anneal.audit";

const KEYS: [&str; 6] = [
    "anneal.format",
    "anneal.program",
    "anneal.signature",
    "anneal.lineage",
    "anneal.metrics",
    "anneal.cost",
];

impl Package {
    /// Serialize to bytes. The output is deterministic: metadata keys and tensors are written
    /// in name order, so one build key always gives one digest. (The `safetensors` crate's own
    /// writer orders metadata by a `HashMap`, which is why this writes the header itself; the
    /// reader is the crate's.)
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut tensors: Vec<&NamedTensor> = self.weights.iter().collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        serialize(self.metadata()?, &tensors, self.quantization.as_ref())
    }

    /// The `__metadata__` entries, by key.
    fn metadata(&self) -> Result<BTreeMap<&'static str, String>, String> {
        let json = |v: &dyn erased::Json| v.json();
        let mut meta = BTreeMap::from([
            (KEYS[0], FORMAT.to_string()),
            (KEYS[1], json(&self.program)?),
            (KEYS[2], json(&self.signature)?),
            (KEYS[3], json(&self.lineage)?),
            (KEYS[4], json(&self.metrics)?),
            (KEYS[5], json(&self.cost)?),
        ]);
        if let Some(audit) = &self.audit {
            meta.insert(AUDIT_KEY, json(audit)?);
        }
        if let Some(q) = &self.quantization {
            meta.insert(quant::KEY, json(q)?);
        }
        Ok(meta)
    }

    /// Parse a package from bytes; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Package, PackError> {
        let header = Header::from_bytes(path, bytes)?;
        Package::assemble(header, path, bytes)
    }

    /// Read a package file.
    pub fn read(path: &Path) -> Result<Package, PackError> {
        Self::from_bytes(path, &read_file(path)?)
    }

    /// The BLAKE3 digest of the serialized package, `blake3:HEX`.
    pub fn digest(bytes: &[u8]) -> String {
        format!("blake3:{}", blake3::hash(bytes).to_hex())
    }
}

impl Header {
    /// Parse only the metadata of a package held in `bytes`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Header, PackError> {
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| PackError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let bad = |message: String| PackError::Metadata {
            path: path.to_path_buf(),
            message,
        };
        let Some(map) = meta.metadata() else {
            return Err(bad(
                "no `__metadata__`: this safetensors file is not an anneal package".into(),
            ));
        };
        let get = |key: &str| {
            map.get(key)
                .ok_or_else(|| bad(format!("metadata key `{key}` is missing")))
        };
        let format = get(KEYS[0])?;
        if format.trim() != FORMAT.to_string() {
            return Err(bad(format!(
                "package format `{format}`; this anneal reads format {FORMAT}"
            )));
        }
        let header = Header {
            program: parse(KEYS[1], get(KEYS[1])?, &bad)?,
            signature: parse(KEYS[2], get(KEYS[2])?, &bad)?,
            lineage: parse(KEYS[3], get(KEYS[3])?, &bad)?,
            metrics: parse(KEYS[4], get(KEYS[4])?, &bad)?,
            cost: parse(KEYS[5], get(KEYS[5])?, &bad)?,
            audit: match map.get(AUDIT_KEY) {
                Some(text) => Some(parse(AUDIT_KEY, text, &bad)?),
                None => None,
            },
            quantization: match map.get(quant::KEY) {
                Some(text) => Some(parse(quant::KEY, text, &bad)?),
                None => None,
            },
        };
        header.check().map_err(bad)?;
        Ok(header)
    }

    /// A package is untrusted input: its program must pass the manifest's own validation
    /// (with its bounds on sizes), and its signature and cost must be the ones that program
    /// gives, with a usable normalisation.
    fn check(&self) -> Result<(), String> {
        self.program.revalidate().map_err(|e| {
            format!(
                "metadata `{}` is not a valid program: {}",
                KEYS[1], e.message
            )
        })?;
        if self.audit.as_ref().is_some_and(|a| !a.is_finite()) {
            return Err(format!(
                "metadata `{AUDIT_KEY}` holds a figure that is not a number"
            ));
        }
        let norm = self.signature.normalization;
        if !usable(&norm) {
            return Err(format!(
                "metadata `{}`: normalisation {norm:?} is unusable (scale and std must be finite and positive, mean finite)",
                KEYS[2]
            ));
        }
        let t = self.signature.temperature;
        if t.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Err(format!(
                "metadata `{}`: temperature {t:?} is unusable (it must be finite and positive)",
                KEYS[2]
            ));
        }
        let expected = Signature {
            temperature: t,
            ..Signature::for_program(&self.program, norm)
        };
        if self.signature != expected {
            return Err(format!(
                "metadata `{}` does not match the package's program (inputs, outputs, classes or image size differ)",
                KEYS[2]
            ));
        }
        if self.cost != self.program.cost {
            return Err(format!(
                "metadata `{}` does not match the package's program",
                KEYS[5]
            ));
        }
        quant::check(&self.program, self.quantization.as_ref())
    }

    /// Read only the metadata of a package file.
    pub fn read(path: &Path) -> Result<Header, PackError> {
        Self::from_bytes(path, &read_file(path)?)
    }
}

/// A safetensors file of `meta` and `tensors` (in the order given).
fn serialize(
    meta: BTreeMap<&str, String>,
    tensors: &[&NamedTensor],
    q: Option<&Quantization>,
) -> Result<Vec<u8>, String> {
    let encoded: Vec<quant::Encoded> = tensors.iter().map(|t| quant::encode(t, q)).collect();
    let (mut text, size) = safetensors_header(meta, tensors, &encoded)?;
    // Pad the header with spaces so the data starts 8-byte aligned, as the format suggests.
    while (8 + text.len()) % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + size);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for e in &encoded {
        out.extend_from_slice(&e.bytes);
    }
    Ok(out)
}

/// The tensors of a safetensors file, each checked (F32, finite), in name order.
fn tensors(
    path: &Path,
    bytes: &[u8],
    q: Option<&Quantization>,
) -> Result<Vec<NamedTensor>, PackError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| PackError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut weights = st
        .tensors()
        .into_iter()
        .map(|(name, view)| match quant::scales_of(q, &name) {
            Some(scales) => quant::decode(name, &view, scales),
            None => weight(name, &view),
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|message| PackError::Metadata {
            path: path.to_path_buf(),
            message,
        })?;
    weights.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(weights)
}

/// The safetensors JSON header for `meta` and `tensors` (laid out in order), and the size of
/// the data after it.
fn safetensors_header(
    meta: BTreeMap<&str, String>,
    tensors: &[&NamedTensor],
    encoded: &[quant::Encoded],
) -> Result<(String, usize), String> {
    let mut header = serde_json::Map::new();
    let meta = serde_json::to_value(&meta).map_err(|e| e.to_string())?;
    header.insert("__metadata__".into(), meta);
    let mut offset = 0usize;
    for (t, e) in tensors.iter().zip(encoded) {
        if t.shape.iter().product::<usize>() != t.data.len() {
            let (name, n, shape) = (&t.name, t.data.len(), &t.shape);
            return Err(format!(
                "tensor `{name}` has {n} values for shape {shape:?}"
            ));
        }
        let end = offset + e.bytes.len();
        let entry =
            serde_json::json!({"dtype": e.dtype, "shape": t.shape, "data_offsets": [offset, end]});
        header.insert(t.name.clone(), entry);
        offset = end;
    }
    let text = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    Ok((text, offset))
}

/// One tensor of a package: F32, every value finite.
fn weight(name: String, view: &safetensors::tensor::TensorView<'_>) -> Result<NamedTensor, String> {
    if view.dtype() != Dtype::F32 {
        return Err(format!(
            "tensor `{name}` is {:?}; packages hold F32 weights",
            view.dtype()
        ));
    }
    let data: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "tensor `{name}` holds a non-finite weight ({} at index {i}); a package's weights must be finite",
            data[i]
        ));
    }
    let shape = view.shape().to_vec();
    Ok(NamedTensor { name, shape, data })
}

/// The metadata entry `key`, parsed from its JSON `text`.
fn parse<T: serde::de::DeserializeOwned>(
    key: &str,
    text: &str,
    bad: &dyn Fn(String) -> PackError,
) -> Result<T, PackError> {
    serde_json::from_str(text).map_err(|e| bad(format!("metadata `{key}` is malformed: {e}")))
}

/// Scale and deviation finite and positive, mean finite.
fn usable(norm: &Normalization) -> bool {
    let finite = [norm.scale, norm.mean, norm.std]
        .iter()
        .all(|v| v.is_finite());
    finite && norm.std > 0.0 && norm.scale > 0.0
}

/// The bytes of a package file: a regular file (a FIFO is refused, not waited on).
fn read_file(path: &Path) -> Result<Vec<u8>, PackError> {
    let io = |source| PackError::io(path, source);
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
        return Err(io(e));
    }
    std::fs::read(path).map_err(io)
}

mod erased {
    /// Serialize to a JSON string without a generic in the caller's signature.
    pub trait Json {
        fn json(&self) -> Result<String, String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Result<String, String> {
            serde_json::to_string(self).map_err(|e| e.to_string())
        }
    }
}
