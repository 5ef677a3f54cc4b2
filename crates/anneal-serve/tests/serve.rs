//! The server through its router (no sockets) and on a real socket: every endpoint, JSON and
//! binary tensors, a table of malformed requests (all 4xx), backpressure, timeouts and graceful
//! shutdown; slow and idle clients in [`slow_clients`], the request parser fuzzed in [`fuzz`],
//! audio and table packages' raw inputs in [`kinds`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

#[path = "serve/fuzz.rs"]
mod fuzz;
#[path = "serve/kinds.rs"]
mod kinds;
#[path = "serve/slow_clients.rs"]
mod slow_clients;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anneal_pack::{
    ImageSpec, Lineage, Metrics as PackMetrics, Normalization, Package, Signature, TensorSpec,
};
use anneal_serve::{BatchConfig, Config, State, app, load};
use anneal_spec::{NamedTensor, Program};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MANIFEST: &str = r#"[program]
name = "tiny"
version = "0.2.0"
[data]
input = "image"
shape = [1, 2, 2]
classes = ["left", "right"]
[model]
layers = ["flatten", "dense 2"]
"#;

const W: [f32; 8] = [1.0, -1.0, 0.5, 0.25, -0.5, 2.0, 0.0, 1.0];
const B: [f32; 2] = [0.1, -0.2];

/// The reference forward pass: softmax(x W + b), W `[4, 2]`.
fn reference(x: &[f32]) -> Vec<f32> {
    x.chunks(4)
        .flat_map(|r| {
            let z: Vec<f32> = (0..2)
                .map(|j| (0..4).map(|i| r[i] * W[i * 2 + j]).sum::<f32>() + B[j])
                .collect();
            let m = z[0].max(z[1]);
            let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
            let s = e[0] + e[1];
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

/// The lineage of the packages these tests write.
fn test_lineage() -> Lineage {
    Lineage {
        dataset_commit: "0".repeat(64),
        build_key: "1".repeat(64),
        engine: "burn-flex".into(),
        engine_version: "0.22.1".into(),
        seed: 1,
        threads: 1,
        anneal_version: "0.1.0".into(),
        parents: vec![],
        device: None,
        world_size: None,
        engine_key: None,
    }
}

fn write_package(dir: &Path, version: &str) -> std::path::PathBuf {
    let program = Program::parse("anneal.toml", &MANIFEST.replace("0.2.0", version)).unwrap();
    let package = Package {
        signature: Signature {
            inputs: vec![TensorSpec {
                name: "input".into(),
                datatype: "FP32".into(),
                shape: vec![-1, 1, 2, 2],
            }],
            outputs: vec![
                TensorSpec {
                    name: "probabilities".into(),
                    datatype: "FP32".into(),
                    shape: vec![-1, 2],
                },
                TensorSpec {
                    name: "class".into(),
                    datatype: "INT64".into(),
                    shape: vec![-1],
                },
            ],
            classes: program.classes.clone(),
            image: ImageSpec {
                channels: 1,
                height: 2,
                width: 2,
            },
            normalization: Normalization {
                scale: 1.0 / 255.0,
                mean: 0.0,
                std: 1.0,
            },
            temperature: None,
        },
        lineage: test_lineage(),
        metrics: PackMetrics::compute(&[], &[], &program.classes),
        cost: program.cost.clone(),
        audit: None,
        quantization: None,
        weights: vec![
            NamedTensor {
                name: "layers.1.weight".into(),
                shape: vec![4, 2],
                data: W.to_vec(),
            },
            NamedTensor {
                name: "layers.1.bias".into(),
                shape: vec![2],
                data: B.to_vec(),
            },
        ],
        program,
    };
    let path = dir.join(format!("tiny-{version}.anneal"));
    std::fs::write(&path, package.to_bytes().unwrap()).unwrap();
    path
}

fn server(config: Config) -> (tempfile::TempDir, Arc<State>) {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path(), "0.1.0");
    write_package(dir.path(), "0.2.0");
    let state = load(&[dir.path().to_path_buf()], config).unwrap();
    (dir, state)
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        let n = self
            .headers
            .get("inference-header-content-length")
            .map_or(self.body.len(), |v| v.to_str().unwrap().parse().unwrap());
        serde_json::from_slice(&self.body[..n])
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

async fn call(state: &Arc<State>, req: Request<Body>) -> Reply {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(state: &Arc<State>, uri: &str) -> Reply {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(
    state: &Arc<State>,
    uri: &str,
    body: impl Into<Body>,
    header_len: Option<usize>,
) -> Reply {
    let mut req = Request::post(uri);
    if let Some(n) = header_len {
        req = req.header("Inference-Header-Content-Length", n);
    }
    call(state, req.body(body.into()).unwrap()).await
}

const INFER: &str = "/v2/models/tiny/infer";
const X: [f32; 8] = [0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.5, 0.4];

#[tokio::test]
async fn health_and_metadata() {
    let (_d, s) = server(Config::default());
    assert_eq!(get(&s, "/v2/health/live").await.status, StatusCode::OK);
    assert_eq!(
        get(&s, "/v2/health/ready").await.json(),
        json!({"ready": true})
    );
    let meta = get(&s, "/v2").await.json();
    assert_eq!(meta["name"], "anneal");
    assert!(
        meta["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("binary_tensor_data"))
    );
    let m = get(&s, "/v2/models/tiny").await.json();
    assert_eq!(m["versions"], json!(["0.1.0", "0.2.0"]));
    assert_eq!(
        m["inputs"][0],
        json!({"name": "input", "datatype": "FP32", "shape": [-1, 1, 2, 2]})
    );
    assert_eq!(m["outputs"][2]["name"], "label");
    assert_eq!(m["parameters"]["classes"], json!(["left", "right"]));
    assert_eq!(
        get(&s, "/v2/models/tiny/versions/0.1.0").await.status,
        StatusCode::OK
    );
    assert_eq!(get(&s, "/v2/models/tiny/ready").await.json()["ready"], true);
    assert_eq!(
        get(&s, "/v2/models/tiny/versions/0.1.0/ready").await.status,
        StatusCode::OK
    );
    for missing in [
        "/v2/models/nope",
        "/v2/models/tiny/versions/9.9.9",
        "/v2/models/nope/ready",
        "/nothing",
    ] {
        let r = get(&s, missing).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(r.json()["error"].is_string());
    }
    let r = get(&s, INFER).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn json_tensors_flat_and_nested_give_the_reference_probabilities() {
    let (_d, s) = server(Config::default());
    let flat = json!({"id": "r1", "inputs": [{"name": "input", "shape": [2, 1, 2, 2], "datatype": "FP32", "data": X}]});
    let nested = json!({"inputs": [{"name": "input", "shape": [2, 1, 2, 2], "datatype": "FP32",
        "data": [[[[0.1, 0.9], [0.3, 0.2]]], [[[0.8, 0.05], [0.5, 0.4]]]]}]});
    let a = post(&s, INFER, flat.to_string(), None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = a.json();
    assert_eq!(a["id"], "r1");
    assert_eq!(a["model_name"], "tiny");
    assert_eq!(a["model_version"], "0.2.0");
    let b = post(&s, INFER, nested.to_string(), None).await.json();
    assert_eq!(a["outputs"], b["outputs"]);
    let probs: Vec<f32> = a["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let want = reference(&X);
    for (p, w) in probs.iter().zip(&want) {
        assert!((p - w).abs() < 1e-6, "{probs:?} vs {want:?}");
    }
    let class: Vec<usize> = want.chunks(2).map(|p| usize::from(p[1] > p[0])).collect();
    assert_eq!(a["outputs"][1]["data"], json!(class));
    let names: Vec<&str> = class.iter().map(|c| ["left", "right"][*c]).collect();
    assert_eq!(a["outputs"][2]["data"], json!(names));
    // Integer datatypes are converted by value; only the requested outputs come back.
    let ints = json!({"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "INT32", "data": [1, 0, 0, 1]}],
                      "outputs": [{"name": "label"}]});
    let r = post(
        &s,
        "/v2/models/tiny/versions/0.1.0/infer",
        ints.to_string(),
        None,
    )
    .await
    .json();
    assert_eq!(r["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(r["model_version"], "0.1.0");
    let want = reference(&[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        r["outputs"][0]["data"][0],
        ["left", "right"][usize::from(want[1] > want[0])]
    );
}

#[tokio::test]
async fn binary_tensors_in_and_out() {
    let (_d, s) = server(Config::default());
    let head = json!({"inputs": [{"name": "input", "shape": [2, 1, 2, 2], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 32}}],
                      "parameters": {"binary_data_output": true}})
    .to_string();
    let mut body = head.clone().into_bytes();
    body.extend(X.iter().flat_map(|v| v.to_le_bytes()));
    let r = post(&s, INFER, body, Some(head.len())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    let n: usize = r.headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let j = r.json();
    let sizes: Vec<usize> = j["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["parameters"]["binary_data_size"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(sizes[..2], [16, 16]);
    assert_eq!(n + sizes.iter().sum::<usize>(), r.body.len());
    let probs: Vec<f32> = r.body[n..n + 16]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(probs, reference(&X));
    // BYTES labels: u32 length + bytes each.
    let labels = &r.body[n + 32..];
    let first = u32::from_le_bytes(labels[..4].try_into().unwrap()) as usize;
    assert!(["left", "right"].contains(&std::str::from_utf8(&labels[4..4 + first]).unwrap()));
    // FP64 and UINT8 binary inputs convert.
    let head = json!({"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP64",
                                   "parameters": {"binary_data_size": 32}}]})
    .to_string();
    let mut body = head.clone().into_bytes();
    body.extend(X[..4].iter().flat_map(|v| f64::from(*v).to_le_bytes()));
    let r = post(&s, INFER, body, Some(head.len())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("inference-header-content-length").is_none(),
        "JSON outputs by default"
    );
}

/// A request that must be refused with a 4xx and a JSON error.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    header_len: Option<usize>,
    uri: &'static str,
    status: u16,
}

fn json_case(name: &'static str, v: Value, status: u16) -> Case {
    Case {
        name,
        body: v.to_string().into_bytes(),
        header_len: None,
        uri: INFER,
        status,
    }
}

fn raw(name: &'static str, body: &[u8], status: u16) -> Case {
    Case {
        name,
        body: body.to_vec(),
        header_len: None,
        uri: INFER,
        status,
    }
}

fn input(shape: Value, datatype: &str, data: Value) -> Value {
    json!({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]})
}

fn binary_case(name: &'static str, head: Value, payload: usize, header_len: Option<usize>) -> Case {
    let h = head.to_string();
    let n = header_len.unwrap_or(h.len());
    let mut body = h.into_bytes();
    body.extend(std::iter::repeat_n(0u8, payload));
    Case {
        name,
        body,
        header_len: Some(n),
        uri: INFER,
        status: 400,
    }
}

fn malformed() -> Vec<Case> {
    let four = json!([0.1, 0.2, 0.3, 0.4]);
    let bin = |size: u64| json!({"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": size}}]});
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let deep_body = format!(
        r#"{{"inputs":[{{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":{deep}}}]}}"#
    );
    vec![
        raw("empty body", b"", 400),
        raw("not json", b"hello", 400),
        raw("truncated json", br#"{"inputs": [{"name": "input""#, 400),
        raw("json array", b"[1, 2]", 400),
        json_case("no inputs field", json!({"id": "x"}), 400),
        json_case("zero inputs", json!({"inputs": []}), 400),
        json_case(
            "two inputs",
            json!({"inputs": [input(json!([1,1,2,2]), "FP32", four.clone())["inputs"][0], input(json!([1,1,2,2]), "FP32", four.clone())["inputs"][0]]}),
            400,
        ),
        json_case(
            "wrong input name",
            json!({"inputs": [{"name": "x", "shape": [1,1,2,2], "datatype": "FP32", "data": four}]}),
            400,
        ),
        json_case(
            "unknown datatype",
            input(json!([1, 1, 2, 2]), "FP33", four.clone()),
            400,
        ),
        json_case(
            "BYTES input",
            input(json!([1, 1, 2, 2]), "BYTES", json!(["a", "b", "c", "d"])),
            400,
        ),
        json_case(
            "count != product(shape)",
            input(json!([1, 1, 2, 2]), "FP32", json!([1.0, 2.0, 3.0])),
            400,
        ),
        json_case(
            "too many values",
            input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4, 5])),
            400,
        ),
        json_case(
            "huge shape [2^62, 4]",
            input(json!([4611686018427387904u64, 4]), "FP32", four.clone()),
            400,
        ),
        json_case(
            "overflowing shape",
            input(
                json!([4611686018427387904u64, 1, 2, 2]),
                "FP32",
                four.clone(),
            ),
            400,
        ),
        json_case(
            "shape beyond u64",
            input(json!([1e30, 1, 2, 2]), "FP32", four.clone()),
            400,
        ),
        json_case(
            "negative dimension",
            input(json!([-1, 1, 2, 2]), "FP32", four.clone()),
            400,
        ),
        json_case("wrong rank", input(json!([4]), "FP32", four.clone()), 400),
        json_case(
            "wrong feature dims",
            input(json!([1, 2, 2, 1]), "FP32", four.clone()),
            400,
        ),
        json_case(
            "zero batch",
            input(json!([0, 1, 2, 2]), "FP32", json!([])),
            400,
        ),
        json_case(
            "too many examples",
            input(json!([100000, 1, 2, 2]), "FP32", four.clone()),
            400,
        ),
        json_case(
            "string in data",
            input(json!([1, 1, 2, 2]), "FP32", json!([1, "2", 3, 4])),
            400,
        ),
        json_case(
            "null in data",
            input(json!([1, 1, 2, 2]), "FP32", json!([1, null, 3, 4])),
            400,
        ),
        json_case(
            "object in data",
            input(json!([1, 1, 2, 2]), "FP32", json!([1, {"a": 1}, 3, 4])),
            400,
        ),
        json_case(
            "float for INT32",
            input(json!([1, 1, 2, 2]), "INT32", json!([1.5, 2, 3, 4])),
            400,
        ),
        json_case(
            "number for BOOL",
            input(json!([1, 1, 2, 2]), "BOOL", json!([1, 0, 1, 0])),
            400,
        ),
        json_case(
            "no data and no binary size",
            json!({"inputs": [{"name": "input", "shape": [1,1,2,2], "datatype": "FP32"}]}),
            400,
        ),
        json_case(
            "unknown output",
            json!({"inputs": input(json!([1,1,2,2]), "FP32", four.clone())["inputs"], "outputs": [{"name": "logits"}]}),
            400,
        ),
        json_case(
            "binary_data not a bool",
            json!({"inputs": input(json!([1,1,2,2]), "FP32", four.clone())["inputs"], "outputs": [{"name": "class", "parameters": {"binary_data": "yes"}}]}),
            400,
        ),
        json_case(
            "unknown request field",
            json!({"inputs": input(json!([1,1,2,2]), "FP32", four.clone())["inputs"], "extra": 1}),
            400,
        ),
        json_case(
            "id not a string",
            json!({"id": 5, "inputs": input(json!([1,1,2,2]), "FP32", four.clone())["inputs"]}),
            400,
        ),
        raw("JSON nested 200 deep", deep_body.as_bytes(), 400),
        binary_case("binary size too small", bin(8), 8, None),
        binary_case("binary size too large", bin(64), 64, None),
        binary_case("binary data missing", bin(16), 4, None),
        binary_case("trailing binary bytes", bin(16), 20, None),
        binary_case("header length past the body", bin(16), 16, Some(100_000)),
        binary_case("header length cuts the JSON", bin(16), 16, Some(10)),
        Case {
            name: "binary size without the header",
            body: bin(16).to_string().into_bytes(),
            header_len: None,
            uri: INFER,
            status: 400,
        },
        binary_case(
            "both data and binary size",
            json!({"inputs": [{"name": "input", "shape": [1,1,2,2], "datatype": "FP32", "data": four, "parameters": {"binary_data_size": 16}}]}),
            16,
            None,
        ),
        Case {
            name: "unknown model",
            body: input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4]))
                .to_string()
                .into_bytes(),
            header_len: None,
            uri: "/v2/models/other/infer",
            status: 404,
        },
        Case {
            name: "unknown version",
            body: input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4]))
                .to_string()
                .into_bytes(),
            header_len: None,
            uri: "/v2/models/tiny/versions/7/infer",
            status: 404,
        },
        Case {
            name: "body over the limit",
            body: vec![b' '; 70_000],
            header_len: None,
            uri: INFER,
            status: 413,
        },
    ]
}

#[tokio::test]
async fn malformed_requests_are_all_4xx() {
    let config = Config {
        max_body: 64 << 10,
        ..Config::default()
    };
    let (_d, s) = server(config);
    let cases = malformed();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let r = post(&s, c.uri, c.body.clone(), c.header_len).await;
        let body: Result<Value, _> = serde_json::from_slice(&r.body);
        let has_error = body.as_ref().is_ok_and(|b| b["error"].is_string());
        if r.status.as_u16() != c.status || !has_error {
            failures.push(format!(
                "{}: {} {}",
                c.name,
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The server is still healthy and answers correctly afterwards.
    let ok = post(
        &s,
        INFER,
        input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4])).to_string(),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let metrics = String::from_utf8(get(&s, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains("anneal_requests_total{code=\"400\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("anneal_batch_size_count"), "{metrics}");
    assert!(
        metrics.contains("anneal_queue_depth{model=\"tiny\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_oversized_body_without_content_length_is_refused_as_it_streams() {
    let (_d, s) = server(Config {
        max_body: 1000,
        ..Config::default()
    });
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 500])).collect();
    let body = Body::from_stream(tokio_stream_from(chunks));
    let r = post(&s, INFER, body, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

fn tokio_stream_from(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_batching_gathers_concurrent_requests() {
    let config = Config {
        batch: BatchConfig {
            max_batch: 64,
            max_delay: Duration::from_millis(50),
            queue: 64,
        },
        ..Config::default()
    };
    let (_d, s) = server(config);
    let body = input(json!([1, 1, 2, 2]), "FP32", json!([0.1, 0.9, 0.3, 0.2])).to_string();
    let calls = (0..16).map(|_| {
        let (s, body) = (s.clone(), body.clone());
        async move { post(&s, INFER, body, None).await }
    });
    let replies = futures_util_join_all(calls).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let metrics = String::from_utf8(get(&s, "/metrics").await.body).unwrap();
    let count: f64 = metric(&metrics, "anneal_batch_size_count");
    assert!(
        count < 16.0,
        "16 concurrent requests ran in {count} forward passes:\n{metrics}"
    );
}

/// A model slow enough (a 3x32x32 convolution) that one large request keeps its worker busy
/// while others arrive.
fn write_slow_package(dir: &Path) -> std::path::PathBuf {
    let text = MANIFEST
        .replace("name = \"tiny\"", "name = \"slow\"")
        .replace("shape = [1, 2, 2]", "shape = [3, 32, 32]")
        .replace(
            "layers = [\"flatten\", \"dense 2\"]",
            "layers = [\"conv 64 3x3 pad 1\", \"relu\", \"flatten\", \"dense 2\"]",
        );
    let program = Program::parse("anneal.toml", &text).unwrap();
    let weights = vec![
        NamedTensor {
            name: "layers.0.weight".into(),
            shape: vec![64, 3, 3, 3],
            data: vec![0.01; 64 * 27],
        },
        NamedTensor {
            name: "layers.0.bias".into(),
            shape: vec![64],
            data: vec![0.0; 64],
        },
        NamedTensor {
            name: "layers.3.weight".into(),
            shape: vec![65536, 2],
            data: vec![0.001; 131_072],
        },
        NamedTensor {
            name: "layers.3.bias".into(),
            shape: vec![2],
            data: vec![0.0; 2],
        },
    ];
    let mut package = Package::from_bytes(
        Path::new("x"),
        &std::fs::read(write_package(dir, "9.9.9")).unwrap(),
    )
    .unwrap();
    package.signature.inputs[0].shape = vec![-1, 3, 32, 32];
    package.signature.image = ImageSpec {
        channels: 3,
        height: 32,
        width: 32,
    };
    package.cost = program.cost.clone();
    package.program = program;
    package.weights = weights;
    let path = dir.join("slow.anneal");
    std::fs::write(&path, package.to_bytes().unwrap()).unwrap();
    std::fs::remove_file(dir.join("tiny-9.9.9.anneal")).unwrap();
    path
}

fn binary_request(n: usize, features: usize) -> (Vec<u8>, usize) {
    let head = json!({"inputs": [{"name": "input", "shape": [n, 3, 32, 32], "datatype": "FP32",
                                   "parameters": {"binary_data_size": n * features * 4}}]})
    .to_string();
    let mut body = head.clone().into_bytes();
    body.resize(head.len() + n * features * 4, 0);
    (body, head.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after_and_a_slow_one_504() {
    let config = Config {
        batch: BatchConfig {
            max_batch: 1,
            max_delay: Duration::ZERO,
            queue: 1,
        },
        max_body: 64 << 20,
        ..Config::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let slow = write_slow_package(dir.path());
    let s = load(&[slow], config).unwrap();
    let uri = "/v2/models/slow/infer";
    // One large request occupies the worker...
    let (big, big_len) = binary_request(2048, 3 * 32 * 32);
    let started = std::time::Instant::now();
    let busy_worker = {
        let s = s.clone();
        tokio::spawn(async move { post(&s, uri, big, Some(big_len)).await })
    };
    // (Waiting on the queue depth, not a fixed time: reading and parsing the large body takes
    // longer than any fixed pause on a loaded machine.)
    let batcher = &s.models["slow"].values().next().unwrap().batcher;
    depth_reaches(batcher, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await; // the worker takes it off the queue
    // ...the next one waits in the queue of 1, and the one after is turned away at once.
    let (small, small_len) = binary_request(1, 3 * 32 * 32);
    let queued = {
        let (s, small) = (s.clone(), small.clone());
        tokio::spawn(async move { post(&s, uri, small, Some(small_len)).await })
    };
    depth_reaches(batcher, 2).await;
    let refused = post(&s, uri, small, Some(small_len)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("at capacity")
    );
    assert_eq!(busy_worker.await.unwrap().status, StatusCode::OK);
    let held = started.elapsed();
    assert!(
        held > Duration::from_millis(400),
        "the large request took only {held:?}: the test proves nothing"
    );
    assert_eq!(queued.await.unwrap().status, StatusCode::OK);
    eprintln!("the large request held the worker for {held:?}");

    let config = Config {
        batch: BatchConfig {
            max_batch: 64,
            max_delay: Duration::from_millis(300),
            queue: 8,
        },
        timeout: Duration::from_millis(20),
        ..Config::default()
    };
    let (_d2, s2) = server(config);
    let r = post(
        &s2,
        INFER,
        input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4])).to_string(),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
}

async fn depth_reaches(batcher: &anneal_serve::batcher::Batcher, depth: usize) {
    let start = std::time::Instant::now();
    while batcher.depth() < depth {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "queue depth {depth} never reached"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn futures_util_join_all<F: std::future::Future<Output = Reply> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Send one raw HTTP/1.1 request on a real socket and return (status, body).
async fn raw_http(addr: std::net::SocketAddr, request: Vec<u8>) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(Vec::new(), |i| buf[i + 4..].to_vec());
    (status, body)
}

fn http_post(body: &str) -> Vec<u8> {
    format!(
        "POST {INFER} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_socket_shutdown_lets_in_flight_requests_finish() {
    let config = Config {
        batch: BatchConfig {
            max_batch: 64,
            max_delay: Duration::from_millis(300),
            queue: 64,
        },
        max_body: 4096,
        ..Config::default()
    };
    let (_d, s) = server(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(anneal_serve::serve(listener, s.clone(), async move {
        let _ = stop_rx.await;
    }));

    // A chunked body over the limit is refused on the wire too.
    let (status, _) = raw_http(
        addr,
        format!("POST {INFER} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4000\r\n{}\r\n0\r\n\r\n", " ".repeat(0x4000))
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = raw_http(
        addr,
        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert_eq!(status, 200);

    let body = input(json!([1, 1, 2, 2]), "FP32", json!([0.1, 0.9, 0.3, 0.2])).to_string();
    let in_flight: Vec<_> = (0..5)
        .map(|_| tokio::spawn(raw_http(addr, http_post(&body))))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).unwrap();
    for h in in_flight {
        let (status, body) = h.await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["outputs"][0]["name"], "probabilities");
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!s.ready.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn a_model_name_serves_the_one_program_under_it() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path(), "0.1.0");
    write_package(dir.path(), "0.2.0");
    let paths = [dir.path().to_path_buf()];
    let state = anneal_serve::load_named(&paths, Config::default(), Some("mnist-digits")).unwrap();
    assert_eq!(
        get(&state, "/v2/models/mnist-digits/ready").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&state, "/v2/models/mnist-digits/versions/0.1.0")
            .await
            .status,
        StatusCode::OK
    );
    let program = state.models.keys().next().unwrap().clone();
    assert_eq!(program, "mnist-digits");
    for bad in ["", "a/b", "a?b"] {
        let e = anneal_serve::load_named(&paths, Config::default(), Some(bad)).unwrap_err();
        assert!(e.to_string().contains("--model-name"), "{e}");
    }
}

/// An int8 package is served through its integer kernels: the probabilities are the scheme's
/// (inputs rounded to their uint8 grid, weights to their int8 one), computed here by hand.
#[tokio::test]
async fn an_int8_package_is_served_as_int8() {
    use anneal_spec::quant::{round_weight, weight_scales};
    use anneal_spec::{QuantLayer, Quantization, Scheme};
    let dir = tempfile::tempdir().unwrap();
    let f32_path = write_package(dir.path(), "0.3.0");
    let mut p = Package::read(&f32_path).unwrap();
    p.program.quantize = Some(Scheme::Int8);
    let scales = weight_scales(&p.weights[1]);
    p.weights[1] = round_weight(&p.weights[1], &scales);
    let q = QuantLayer::calibrated(1, 0.0, 1.0, scales);
    p.quantization = Some(Quantization {
        scheme: Scheme::Int8,
        calibration_examples: 1,
        f32_accuracy: 1.0,
        layers: vec![q.clone()],
    });
    std::fs::write(&f32_path, p.to_bytes().unwrap()).unwrap();
    let s = load(&[dir.path().to_path_buf()], Config::default()).unwrap();
    let body = json!({"inputs": [{"name": "input", "shape": [2, 1, 2, 2], "datatype": "FP32", "data": X}]});
    let r = post(&s, INFER, body.to_string(), None).await.json();
    let got: Vec<f64> = r["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let w = &p.weights[1].data;
    let (b, zp) = (&p.weights[0].data, f32::from(q.input_zero_point));
    let dequantized: Vec<f32> = X
        .iter()
        .map(|x| (f32::from(q.quantize_input(*x)) - zp) * q.input_scale)
        .collect();
    for (e, row) in dequantized.chunks(4).enumerate() {
        let z: Vec<f32> = (0..2)
            .map(|j| (0..4).map(|i| row[i] * w[i * 2 + j]).sum::<f32>() + b[j])
            .collect();
        let p1 = 1.0 / (1.0 + (z[0] - z[1]).exp());
        assert!(
            (got[2 * e + 1] - f64::from(p1)).abs() < 1e-5,
            "{got:?}, {z:?}"
        );
    }
    assert_ne!(dequantized, X, "the inputs were rounded");
}
