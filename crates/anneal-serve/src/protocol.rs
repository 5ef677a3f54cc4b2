//! Inference requests and responses: the Open Inference Protocol's JSON tensors and Triton's
//! binary tensor extension.
//!
//! A request body is a JSON header, optionally followed by binary tensor data whose JSON length
//! is given by the `Inference-Header-Content-Length` header. An input carries its values either
//! as `data` (flat or nested JSON) or as `parameters.binary_data_size` bytes of the binary part,
//! little-endian, in input order. Outputs are returned as JSON `data` unless the request asks
//! for binary (`parameters.binary_data` on a requested output, or `binary_data_output` on the
//! request); binary outputs follow the JSON response header in output order.
//!
//! [`read`] is generic: it reads every input by name, numbers or (`BYTES`) strings, each
//! checked against its own shape; a `BYTES` input in the binary part is its elements one after
//! the other, each a 4-byte little-endian length and the bytes. The package's
//! [`Frontend`] then checks the inputs against what the model takes ([`parse`] does both).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::dtype::DType;
use crate::error::{ServeError, bad, truncate};
use crate::frontend::Frontend;
pub use crate::response::{Encoded, respond};

/// The request's JSON header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The outputs a model offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `probabilities`, FP32 `[B, classes]`.
    Probabilities,
    /// `class`, INT64 `[B]`: the index of the most probable class.
    Class,
    /// `label`, BYTES `[B]`: its name.
    Label,
}

impl Output {
    /// Every output a served model offers, in the order they are returned by default: the
    /// package's own two (see `anneal_pack::Signature`) and the class names.
    pub const ALL: [Output; 3] = [Output::Probabilities, Output::Class, Output::Label];

    /// Its name in requests, responses and metadata.
    pub fn name(self) -> &'static str {
        match self {
            Output::Probabilities => "probabilities",
            Output::Class => "class",
            Output::Label => "label",
        }
    }

    /// Its Open Inference Protocol datatype.
    pub fn datatype(self) -> &'static str {
        match self {
            Output::Probabilities => "FP32",
            Output::Class => "INT64",
            Output::Label => "BYTES",
        }
    }

    /// Its shape for `n` examples (`-1`: any number) of `k` classes.
    pub fn shape(self, n: i64, k: usize) -> Value {
        match self {
            Output::Probabilities => json!([n, k]),
            Output::Class | Output::Label => json!([n]),
        }
    }

    /// Its name, datatype and shape, as metadata and responses describe it.
    pub fn describe(self, n: i64, k: usize) -> Value {
        json!({"name": self.name(), "datatype": self.datatype(), "shape": self.shape(n, k)})
    }
}

/// A validated request: the model's input, made by the package's front end.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The request id, echoed back.
    pub id: Option<String>,
    /// Number of examples.
    pub n: usize,
    /// `n * features` model inputs.
    pub x: Vec<f32>,
    /// Outputs to return, each with whether it is binary.
    pub outputs: Vec<(Output, bool)>,
}

/// A request read but not yet interpreted: its input tensors, whatever their names.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The request id, echoed back.
    pub id: Option<String>,
    /// The input tensors, in request order, names unique.
    pub tensors: Vec<Tensor>,
    /// Outputs to return, each with whether it is binary.
    pub outputs: Vec<(Output, bool)>,
}

/// One input tensor of a request with its values: a batch of 1 to `max_examples`, as many
/// values as its shape holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Its datatype as sent.
    pub datatype: String,
    /// Its shape; the first dimension is the batch.
    pub shape: Vec<i64>,
    /// Its values.
    pub values: Values,
}

/// The values of a tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// A numeric (or BOOL) datatype's values, converted to f32, all finite.
    Numbers(Vec<f32>),
    /// `BYTES` values, which must be UTF-8 text.
    Strings(Vec<String>),
}

impl Tensor {
    /// The batch size (the first dimension).
    pub fn batch(&self) -> usize {
        self.shape[0] as usize
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most examples in one request.
    pub max_examples: usize,
    /// Deepest JSON nesting accepted.
    pub max_depth: usize,
}

/// The deepest nesting of `[`/`{` in a JSON text, outside strings; stops counting past `limit`.
pub fn json_depth(bytes: &[u8], limit: usize) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
                if max > limit {
                    return max;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parse a request body and turn its inputs into the model's input with `front`.
pub fn parse(
    body: &[u8],
    header_len: Option<usize>,
    front: &Frontend,
    limits: Limits,
) -> Result<Parsed, ServeError> {
    let req = read(body, header_len, limits)?;
    let (n, x) = front.model_input(req.tensors)?;
    Ok(Parsed {
        id: req.id,
        n,
        x,
        outputs: req.outputs,
    })
}

/// Read a request body: every input tensor's values, checked against its own shape and
/// datatype, the binary part used up exactly.
pub fn read(body: &[u8], header_len: Option<usize>, limits: Limits) -> Result<Inputs, ServeError> {
    let (json_part, binary) = split_body(body, header_len)?;
    let req = read_request(json_part, limits.max_depth)?;
    let mut binary = header_len.map(|_| binary);
    let mut names = HashSet::new();
    let mut tensors = Vec::with_capacity(req.inputs.len());
    for input in &req.inputs {
        if !names.insert(input.name.as_str()) {
            let name = truncate(&input.name);
            return Err(bad(format!("input `{name}` appears more than once")));
        }
        let t = tensor(input, &mut binary, limits.max_examples).map_err(|e| named(input, e))?;
        tensors.push(t);
    }
    if let Some(rest) = binary.filter(|rest| !rest.is_empty()) {
        return Err(bad(format!(
            "{} bytes of binary data follow that no input claims",
            rest.len()
        )));
    }
    Ok(Inputs {
        id: req.id.clone(),
        tensors,
        outputs: requested_outputs(&req)?,
    })
}

/// A 400 about `input`, its message prefixed with the input's name.
fn named(input: &InputTensor, e: ServeError) -> ServeError {
    match e {
        ServeError::BadRequest(m) => bad(format!("input `{}`: {m}", truncate(&input.name))),
        other => other,
    }
}

/// The JSON header and the binary part after it.
fn split_body(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], &[u8]), ServeError> {
    match header_len {
        Some(n) if n > body.len() => Err(bad(format!(
            "Inference-Header-Content-Length is {n} but the body has only {} bytes",
            body.len()
        ))),
        Some(n) => Ok(body.split_at(n)),
        None => Ok((body, &[][..])),
    }
}

/// The request's JSON header, refused past `max_depth` levels of nesting before it is parsed.
fn read_request(json_part: &[u8], max_depth: usize) -> Result<Request, ServeError> {
    if json_depth(json_part, max_depth) > max_depth {
        return Err(bad(format!(
            "JSON nesting is deeper than {max_depth} levels"
        )));
    }
    serde_json::from_slice(json_part)
        .map_err(|e| bad(format!("invalid inference request JSON: {e}")))
}

/// One input's values, from its `data` or from the front of `binary` (`None`: the request
/// has no binary part), which is advanced past them.
fn tensor(
    input: &InputTensor,
    binary: &mut Option<&[u8]>,
    max_examples: usize,
) -> Result<Tensor, ServeError> {
    let count = element_count(&input.shape, max_examples)?;
    let values = match input.datatype.as_str() {
        "BYTES" => Values::Strings(strings(input, count, binary)?),
        other => Values::Numbers(numbers(input, DType::parse(other)?, count, binary)?),
    };
    Ok(Tensor {
        name: input.name.clone(),
        datatype: input.datatype.clone(),
        shape: input.shape.clone(),
        values,
    })
}

/// The element count of `shape`: rank at least 1, no dimension negative, a batch (the first
/// dimension) of 1 to `max_examples`, the count within 64 bits.
fn element_count(shape: &[i64], max_examples: usize) -> Result<usize, ServeError> {
    let Some(&batch) = shape.first() else {
        return Err(bad("shape [] has no batch dimension"));
    };
    if let Some(d) = shape.iter().find(|d| **d < 0) {
        return Err(bad(format!("shape {shape:?} has a negative dimension {d}")));
    }
    match batch as u64 {
        0 => return Err(bad("the batch dimension is 0")),
        n if n > max_examples as u64 => {
            return Err(bad(format!(
                "a request may hold at most {max_examples} examples, this one has {n}"
            )));
        }
        _ => {}
    }
    let total = shape.iter().try_fold(1u64, |t, d| t.checked_mul(*d as u64));
    total.and_then(|t| usize::try_from(t).ok()).ok_or_else(|| {
        bad(format!(
            "shape {shape:?} has more elements than can be addressed"
        ))
    })
}

/// Where an input's values are.
enum Source<'a> {
    /// JSON `data`.
    Data(&'a Value),
    /// This many bytes of the binary part.
    Binary(usize),
}

fn source(input: &InputTensor) -> Result<Source<'_>, ServeError> {
    let size = match parameter(&input.parameters, "binary_data_size") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad("`binary_data_size` must be a non-negative integer"))?,
        ),
    };
    match (&input.data, size) {
        (Some(_), Some(_)) => Err(bad("both `data` and `binary_data_size` are given")),
        (None, None) => Err(bad("neither `data` nor `binary_data_size` is given")),
        (None, Some(size)) => Ok(Source::Binary(size)),
        (Some(data), None) => Ok(Source::Data(data)),
    }
}

/// The first `size` bytes of the binary part, which is advanced past them.
fn take<'b>(binary: &mut Option<&'b [u8]>, size: usize) -> Result<&'b [u8], ServeError> {
    let Some(rest) = binary else {
        return Err(bad(
            "a binary input needs the Inference-Header-Content-Length header",
        ));
    };
    if rest.len() < size {
        return Err(bad(format!(
            "the body holds {} bytes of binary data, the input needs {size}",
            rest.len()
        )));
    }
    let (mine, after) = rest.split_at(size);
    *binary = Some(after);
    Ok(mine)
}

/// `key` in an optional `parameters` object.
fn parameter<'a>(params: &'a Option<Map<String, Value>>, key: &str) -> Option<&'a Value> {
    params.as_ref().and_then(|p| p.get(key))
}

/// A boolean parameter, `default` when absent.
fn flag(params: &Option<Map<String, Value>>, key: &str, default: bool) -> Result<bool, ServeError> {
    match parameter(params, key) {
        None => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad(format!("`{key}` must be true or false"))),
    }
}

/// A numeric input's `count` values, all finite.
fn numbers(
    input: &InputTensor,
    dtype: DType,
    count: usize,
    binary: &mut Option<&[u8]>,
) -> Result<Vec<f32>, ServeError> {
    let x = match source(input)? {
        Source::Data(data) => {
            let leaf = |v: &Value| number_leaf(v, dtype);
            json_values(input, data, count, &leaf)?
        }
        Source::Binary(size) => {
            let want = count.checked_mul(dtype.size());
            if want != Some(size) {
                return Err(bad(format!(
                    "binary_data_size is {size} but shape {:?} of {} needs {count} values of {} bytes",
                    input.shape,
                    input.datatype,
                    dtype.size()
                )));
            }
            let bytes = take(binary, size)?;
            let x = bytes.chunks_exact(dtype.size()).map(|b| dtype.decode(b));
            x.collect()
        }
    };
    match x.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(bad(format!("values must be finite, found {v}"))),
        None => Ok(x),
    }
}

/// A `BYTES` input's `count` strings: JSON strings, or binary elements each a 4-byte
/// little-endian length and that many bytes; all UTF-8.
fn strings(
    input: &InputTensor,
    count: usize,
    binary: &mut Option<&[u8]>,
) -> Result<Vec<String>, ServeError> {
    match source(input)? {
        Source::Data(data) => json_values(input, data, count, &string_leaf),
        Source::Binary(size) => binary_strings(take(binary, size)?, count),
    }
}

/// `count` binary `BYTES` elements filling `bytes` exactly.
fn binary_strings(mut bytes: &[u8], count: usize) -> Result<Vec<String>, ServeError> {
    let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
    while !bytes.is_empty() {
        if out.len() == count {
            return Err(bad(format!(
                "binary_data_size holds more than the {count} elements of its shape"
            )));
        }
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(bad("binary data ends inside an element's 4-byte length"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(bad(format!(
                "an element of {len} bytes runs past binary_data_size"
            )));
        }
        let (text, rest) = rest.split_at(len);
        let text = std::str::from_utf8(text).map_err(|_| bad("an element is not UTF-8 text"))?;
        out.push(text.to_string());
        bytes = rest;
    }
    if out.len() != count {
        return Err(bad(format!(
            "binary_data_size holds {} elements, its shape needs {count}",
            out.len()
        )));
    }
    Ok(out)
}

/// The `count` leaves of a JSON `data` (flat or nested), each read by `leaf`.
fn json_values<T>(
    input: &InputTensor,
    data: &Value,
    count: usize,
    leaf: &impl Fn(&Value) -> Result<T, ServeError>,
) -> Result<Vec<T>, ServeError> {
    let mut out = Vec::with_capacity(count.min(1 << 16));
    flatten(data, count, leaf, &mut out)?;
    if out.len() != count {
        return Err(bad(format!(
            "`data` holds {} values, shape {:?} needs {count}",
            out.len(),
            input.shape
        )));
    }
    Ok(out)
}

/// The outputs asked for (all by default), each with whether it is returned binary.
fn requested_outputs(req: &Request) -> Result<Vec<(Output, bool)>, ServeError> {
    let default_binary = flag(&req.parameters, "binary_data_output", false)?;
    let Some(list) = &req.outputs else {
        return Ok(Output::ALL.iter().map(|o| (*o, default_binary)).collect());
    };
    list.iter()
        .map(|o| {
            Ok((
                output_kind(&o.name)?,
                flag(&o.parameters, "binary_data", default_binary)?,
            ))
        })
        .collect()
}

fn output_kind(name: &str) -> Result<Output, ServeError> {
    let found = Output::ALL.into_iter().find(|o| o.name() == name);
    found.ok_or_else(|| {
        bad(format!(
            "unknown output `{}`: expected probabilities, class or label",
            truncate(name)
        ))
    })
}

/// Append the leaves of nested `data` to `out`, each read by `leaf`, stopping past `limit`.
fn flatten<T>(
    v: &Value,
    limit: usize,
    leaf: &impl Fn(&Value) -> Result<T, ServeError>,
    out: &mut Vec<T>,
) -> Result<(), ServeError> {
    let Value::Array(items) = v else {
        out.push(leaf(v)?);
        return Ok(());
    };
    for item in items {
        flatten(item, limit, leaf, out)?;
        if out.len() > limit {
            return Ok(());
        }
    }
    Ok(())
}

/// A leaf of a numeric input's `data`: a boolean for `BOOL`, a number otherwise.
fn number_leaf(v: &Value, dtype: DType) -> Result<f32, ServeError> {
    match v {
        Value::Bool(b) if dtype == DType::Bool => Ok(f32::from(u8::from(*b))),
        Value::Number(num) if dtype != DType::Bool => number(num, dtype),
        other => {
            let expected = if dtype == DType::Bool {
                "booleans"
            } else {
                "numbers"
            };
            Err(bad(format!(
                "`data` holds {}, expected {expected}",
                kind(other)
            )))
        }
    }
}

/// A leaf of a `BYTES` input's `data`: a string.
fn string_leaf(v: &Value) -> Result<String, ServeError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(bad(format!(
            "`data` holds {}, expected strings (datatype BYTES)",
            kind(other)
        ))),
    }
}

/// A JSON number as a value of `dtype`: an integer where the datatype is one.
fn number(num: &serde_json::Number, dtype: DType) -> Result<f32, ServeError> {
    let f = num
        .as_f64()
        .ok_or_else(|| bad("a number in `data` is out of range"))?;
    let integral = !matches!(dtype, DType::F16 | DType::Bf16 | DType::F32 | DType::F64);
    if integral && (f.fract() != 0.0 || num.is_f64() && !(num.is_i64() || num.is_u64())) {
        return Err(bad(format!(
            "`data` holds {num}, which is not an integer as datatype requires"
        )));
    }
    Ok(f as f32)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: panics are failures
mod tests {
    use super::*;
    use anneal_pack::Signature;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a": "[[[[", "b": [[1]]}"#, 100), 3);
        assert_eq!(json_depth(br#"{"a": "\"[[", "b": 1}"#, 100), 1);
    }

    /// Every output a package's signature declares is served under its name, datatype and
    /// shape; the served list adds only `label`.
    #[test]
    fn the_signature_outputs_are_served_as_declared() {
        let toml = "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\n\
                    shape = [1, 4, 4]\nclasses = 3\n[model]\nlayers = [\"flatten\", \"dense 3\"]\n";
        let program = anneal_spec::Program::parse("anneal.toml", toml).unwrap();
        let sig = Signature::for_program(
            &program,
            anneal_spec::Normalization::fit(anneal_spec::Normalize::Unit, 255.0, &[0.0, 255.0]),
        );
        let k = sig.classes.len();
        for t in &sig.outputs {
            let o = Output::ALL
                .into_iter()
                .find(|o| o.name() == t.name)
                .unwrap();
            assert_eq!(
                o.describe(-1, k),
                json!({"name": t.name, "datatype": t.datatype, "shape": t.shape})
            );
        }
        let extra: Vec<_> = Output::ALL
            .iter()
            .filter(|o| !sig.outputs.iter().any(|t| t.name == o.name()))
            .collect();
        assert_eq!(extra, [&Output::Label]);
    }
}
