//! Inference requests and responses: the Open Inference Protocol's JSON tensors and Triton's
//! binary tensor extension.
//!
//! A request body is a JSON header, optionally followed by binary tensor data whose JSON length
//! is given by the `Inference-Header-Content-Length` header. An input carries its values either
//! as `data` (flat or nested JSON) or as `parameters.binary_data_size` bytes of the binary part,
//! little-endian, in input order. Outputs are returned as JSON `data` unless the request asks
//! for binary (`parameters.binary_data` on a requested output, or `binary_data_output` on the
//! request); binary outputs follow the JSON response header in output order.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use anneal_pack::Signature;

use crate::dtype::DType;
use crate::error::{ServeError, bad, truncate};

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

/// A validated request.
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

/// Parse and validate a request body against the model's signature.
pub fn parse(
    body: &[u8],
    header_len: Option<usize>,
    sig: &Signature,
    limits: Limits,
) -> Result<Parsed, ServeError> {
    let (json_part, binary) = split_body(body, header_len)?;
    let req = read_request(json_part, limits.max_depth)?;
    let spec = sig.inputs.first().ok_or(ServeError::Internal)?;
    let input = the_input(&req, &spec.name)?;
    let dtype = DType::parse(&input.datatype)?;
    let n = check_shape(&input.shape, &spec.shape, limits.max_examples)?;
    let count = n * spec.shape[1..].iter().product::<i64>() as usize;
    let binary = header_len.map(|_| binary);
    let x = input_values(input, dtype, count, binary)?;
    Ok(Parsed {
        id: req.id.clone(),
        n,
        x,
        outputs: requested_outputs(&req)?,
    })
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

/// The request's one input, which must be the model's `name`.
fn the_input<'r>(req: &'r Request, name: &str) -> Result<&'r InputTensor, ServeError> {
    let [input] = req.inputs.as_slice() else {
        return Err(bad(format!(
            "expected exactly 1 input (`{name}`), got {}",
            req.inputs.len()
        )));
    };
    if input.name != name {
        return Err(bad(format!(
            "unknown input `{}`: the model's input is `{name}`",
            truncate(&input.name)
        )));
    }
    Ok(input)
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

/// The input's `count` values, from its `data` or from the binary part (`None`: the request
/// has no binary part), which it must use up; all finite.
fn input_values(
    input: &InputTensor,
    dtype: DType,
    count: usize,
    binary: Option<&[u8]>,
) -> Result<Vec<f32>, ServeError> {
    let size = match parameter(&input.parameters, "binary_data_size") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| bad("`binary_data_size` must be a non-negative integer"))?,
        ),
    };
    let (x, rest) = match (&input.data, size) {
        (Some(_), Some(_)) => {
            return Err(bad("input `input` has both `data` and `binary_data_size`"));
        }
        (None, None) => {
            return Err(bad(
                "input `input` has neither `data` nor `binary_data_size`",
            ));
        }
        (None, Some(size)) => binary_values(input, dtype, count, size, binary)?,
        (Some(data), None) => (
            json_values(input, data, dtype, count)?,
            binary.unwrap_or_default(),
        ),
    };
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow that no input claims",
            rest.len()
        )));
    }
    match x.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(bad(format!("input values must be finite, found {v}"))),
        None => Ok(x),
    }
}

/// `size` bytes of the binary part as `count` values; the rest of the binary part.
fn binary_values<'b>(
    input: &InputTensor,
    dtype: DType,
    count: usize,
    size: u64,
    binary: Option<&'b [u8]>,
) -> Result<(Vec<f32>, &'b [u8]), ServeError> {
    let Some(binary) = binary else {
        return Err(bad(
            "a binary input needs the Inference-Header-Content-Length header",
        ));
    };
    let want = count * dtype.size();
    if size != want as u64 {
        return Err(bad(format!(
            "binary_data_size is {size} but shape {:?} of {} needs {want} bytes",
            input.shape, input.datatype
        )));
    }
    if binary.len() < want {
        return Err(bad(format!(
            "the body holds {} bytes of binary data, the input needs {want}",
            binary.len()
        )));
    }
    let (mine, rest) = binary.split_at(want);
    let x = mine.chunks_exact(dtype.size()).map(|b| dtype.decode(b));
    Ok((x.collect(), rest))
}

/// The `count` values of a JSON `data` (flat or nested).
fn json_values(
    input: &InputTensor,
    data: &Value,
    dtype: DType,
    count: usize,
) -> Result<Vec<f32>, ServeError> {
    let mut out = Vec::with_capacity(count);
    flatten(data, dtype, count, &mut out)?;
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

/// Check a request shape against the signature's (`-1` is the batch) and return the batch size.
fn check_shape(shape: &[i64], spec: &[i64], max_examples: usize) -> Result<usize, ServeError> {
    addressable(shape, spec)?;
    if shape[1..] != spec[1..] {
        return Err(bad(format!(
            "input shape {shape:?} does not match the model's {spec:?}"
        )));
    }
    match shape[0] as u64 {
        0 => Err(bad("the batch dimension is 0")),
        n if n > max_examples as u64 => Err(bad(format!(
            "a request may hold at most {max_examples} examples, this one has {n}"
        ))),
        n => Ok(n as usize),
    }
}

/// A shape of the model's rank, no dimension negative, its element count within 64 bits.
fn addressable(shape: &[i64], spec: &[i64]) -> Result<(), ServeError> {
    if shape.len() != spec.len() {
        return Err(bad(format!(
            "input shape {shape:?} has rank {}, the model expects {spec:?}",
            shape.len()
        )));
    }
    if let Some(d) = shape.iter().find(|d| **d < 0) {
        return Err(bad(format!(
            "input shape {shape:?} has a negative dimension {d}"
        )));
    }
    let total = shape.iter().try_fold(1u64, |t, d| t.checked_mul(*d as u64));
    match total {
        Some(_) => Ok(()),
        None => Err(bad(format!(
            "input shape {shape:?} has more elements than can be addressed"
        ))),
    }
}

/// Append the leaves of nested `data` to `out`, stopping past `limit`.
fn flatten(v: &Value, dtype: DType, limit: usize, out: &mut Vec<f32>) -> Result<(), ServeError> {
    match v {
        Value::Array(items) => {
            for item in items {
                flatten(item, dtype, limit, out)?;
                if out.len() > limit {
                    return Ok(());
                }
            }
            Ok(())
        }
        Value::Bool(b) if dtype == DType::Bool => {
            out.push(f32::from(u8::from(*b)));
            Ok(())
        }
        Value::Number(num) if dtype != DType::Bool => {
            out.push(number(num, dtype)?);
            Ok(())
        }
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

/// A response: the bytes, and the JSON header's length when binary data follows.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The whole body.
    pub body: Vec<u8>,
    /// Length of the JSON part, when binary outputs follow it.
    pub header_len: Option<usize>,
}

/// Build the response for `probs` (`n * classes` values).
pub fn respond(
    model: &str,
    version: &str,
    req: &Parsed,
    probs: &[f32],
    classes: &[String],
) -> Encoded {
    let answer = Answer {
        probs,
        predicted: probs
            .chunks(classes.len())
            .map(anneal_pack::argmax)
            .collect(),
        classes,
    };
    let mut binary: Vec<u8> = Vec::new();
    let outputs: Vec<Value> = (req.outputs.iter())
        .map(|&(output, as_binary)| answer.entry(output, req.n, as_binary, &mut binary))
        .collect();
    let mut head = json!({"model_name": model, "model_version": version, "outputs": outputs});
    if let Some(id) = &req.id {
        head["id"] = json!(id);
    }
    let mut body = head.to_string().into_bytes();
    let header_len = (!binary.is_empty()).then_some(body.len());
    body.extend(binary);
    Encoded { body, header_len }
}

/// The model's answer to a request, to encode output by output.
struct Answer<'a> {
    probs: &'a [f32],
    predicted: Vec<usize>,
    classes: &'a [String],
}

impl Answer<'_> {
    /// The response entry of `output` for `n` examples: its values as JSON `data`, or appended
    /// to `binary` with their size in `parameters`.
    fn entry(&self, output: Output, n: usize, as_binary: bool, binary: &mut Vec<u8>) -> Value {
        let mut entry = output.describe(n as i64, self.classes.len());
        if as_binary {
            let start = binary.len();
            self.encode(output, binary);
            entry["parameters"] = json!({"binary_data_size": binary.len() - start});
        } else {
            entry["data"] = self.data(output);
        }
        entry
    }

    /// The values of `output`, little-endian; a label is its length (u32) and its bytes.
    fn encode(&self, output: Output, binary: &mut Vec<u8>) {
        match output {
            Output::Probabilities => binary.extend(self.probs.iter().flat_map(|p| p.to_le_bytes())),
            Output::Class => binary.extend(
                self.predicted
                    .iter()
                    .flat_map(|c| (*c as i64).to_le_bytes()),
            ),
            Output::Label => {
                for c in &self.predicted {
                    let name = self.classes[*c].as_bytes();
                    binary.extend((name.len() as u32).to_le_bytes());
                    binary.extend(name);
                }
            }
        }
    }

    /// The values of `output` as JSON.
    fn data(&self, output: Output) -> Value {
        match output {
            Output::Probabilities => json!(self.probs),
            Output::Class => json!(self.predicted),
            Output::Label => json!(
                self.predicted
                    .iter()
                    .map(|c| &self.classes[*c])
                    .collect::<Vec<_>>()
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: panics are failures
mod tests {
    use super::*;

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
