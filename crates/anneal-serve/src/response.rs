//! Inference responses: the outputs a request asked for, as JSON `data` or binary after the JSON
//! header (Triton's binary tensor extension), and the HTTP response that carries them.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::protocol::{Output, Parsed};

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

impl IntoResponse for Encoded {
    /// The body, typed as JSON, or as binary with the JSON header's length in
    /// `Inference-Header-Content-Length`.
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        let h = resp.headers_mut();
        match self.header_len {
            Some(n) => {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                h.insert("inference-header-content-length", HeaderValue::from(n));
            }
            None => {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
        }
        resp
    }
}
