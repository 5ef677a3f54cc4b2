//! Audio and table packages take raw inputs: a waveform through the package's own log-mel
//! front end, and one input per column (JSON and binary `BYTES`), each answered with the
//! probabilities the front end and the model give directly; requests that do not fit are 400s
//! naming the input.

use anneal_engine::{Model, preprocess};
use anneal_frontend::{LogMelPlan, TablePlan};
use anneal_spec::table::{Categorical, Numeric};
use anneal_spec::{LogMel, Table};

use super::*;

const AUDIO: &str = r#"[program]
name = "hear"
version = "0.1.0"
[data]
input = "audio"
classes = ["no", "yes", "maybe"]
[data.audio]
rate = 8000
samples = 256
n-fft = 64
hop = 32
mels = 8
[model]
layers = ["flatten", "dense 3"]
"#;

const TABLE: &str = r#"[program]
name = "rows"
version = "0.1.0"
[data]
input = "table"
classes = ["low", "high"]
[data.table]
numeric = ["age", "hours"]
categorical = ["sex", "job"]
[model]
layers = ["dense 2"]
"#;

/// Deterministic weights in [-1, 1].
fn weights(name: &str, inputs: usize, outputs: usize) -> Vec<NamedTensor> {
    let value = |i: usize| ((i * 7919 % 101) as f32 / 50.0) - 1.0;
    vec![
        NamedTensor {
            name: format!("{name}.weight"),
            shape: vec![inputs, outputs],
            data: (0..inputs * outputs).map(value).collect(),
        },
        NamedTensor {
            name: format!("{name}.bias"),
            shape: vec![outputs],
            data: (0..outputs).map(|i| value(i + 3) / 10.0).collect(),
        },
    ]
}

/// A package of `program` with `weights`, written into `dir`.
fn write(dir: &Path, program: Program, norm: Normalization, weights: Vec<NamedTensor>) {
    let package = Package {
        signature: Signature::for_program(&program, norm),
        lineage: test_lineage(),
        metrics: PackMetrics::compute(&[], &[], &program.classes),
        cost: program.cost.clone(),
        audit: None,
        quantization: None,
        weights,
        program,
    };
    let path = dir.join(format!("{}.anneal", package.program.name));
    std::fs::write(path, package.to_bytes().unwrap()).unwrap();
}

const AUDIO_NORM: Normalization = Normalization {
    scale: 1.0,
    mean: -6.0,
    std: 3.0,
};

fn audio_program() -> Program {
    Program::parse("anneal.toml", AUDIO).unwrap()
}

/// The fitted table: two numeric columns (one logged), two categorical.
fn fitted() -> Table {
    let numeric = |name: &str, log, mean, std| Numeric {
        name: name.into(),
        log,
        mean: Some(mean),
        std: Some(std),
    };
    let categorical = |name: &str, values: &[&str]| Categorical {
        name: name.into(),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    };
    Table {
        numeric: vec![
            numeric("age", false, 40.0, 12.0),
            numeric("hours", true, 3.5, 0.5),
        ],
        categorical: vec![
            categorical("sex", &["F", "M"]),
            categorical("job", &["clerk", "cook", "pilot"]),
        ],
    }
}

fn table_program() -> Program {
    let declared = Program::parse("anneal.toml", TABLE).unwrap();
    declared.with_table(fitted()).unwrap()
}

/// An audio package (`hear`) and a table package (`rows`) served.
fn audio_and_table() -> (tempfile::TempDir, Arc<State>) {
    let dir = tempfile::tempdir().unwrap();
    let audio = audio_program();
    let features = audio.input.shape.dims().iter().product();
    write(
        dir.path(),
        audio,
        AUDIO_NORM,
        weights("layers.1", features, 3),
    );
    let identity = Normalization {
        scale: 1.0,
        mean: 0.0,
        std: 1.0,
    };
    write(
        dir.path(),
        table_program(),
        identity,
        weights("layers.0", 9, 2),
    );
    let state = load(&[dir.path().to_path_buf()], Config::default()).unwrap();
    (dir, state)
}

/// `n` waveforms of 256 samples: tones of different pitch and loudness.
fn waves(n: usize) -> Vec<f32> {
    (0..n * 256)
        .map(|i| {
            let (k, t) = ((i / 256) as f32, (i % 256) as f32);
            (t * (0.2 + 0.3 * k)).sin() * (0.3 + 0.2 * k)
        })
        .collect()
}

fn probabilities(reply: &Value) -> Vec<f32> {
    let data = reply["outputs"][0]["data"].as_array().unwrap();
    data.iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[tokio::test]
async fn audio_requests_go_through_the_packages_log_mel_front_end() {
    let (_d, s) = audio_and_table();
    let x = waves(2);
    let req =
        json!({"inputs": [{"name": "waveform", "shape": [2, 256], "datatype": "FP32", "data": x}]});
    let r = post(&s, "/v2/models/hear/infer", req.to_string(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let program = audio_program();
    let plan = LogMelPlan::new(program.input.audio.as_ref().unwrap());
    let features: Vec<f32> = x.chunks(256).flat_map(|w| plan.features(w)).collect();
    let model = Model::new(&program, &weights("layers.1", 56, 3)).unwrap();
    let want = model.predict(&preprocess(&features, &AUDIO_NORM)).unwrap();
    assert_close(&probabilities(&r.json()), &want);
    // Binary FP32 waveforms too.
    let head = json!({"inputs": [{"name": "waveform", "shape": [2, 256], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 2048}}]})
    .to_string();
    let mut body = head.clone().into_bytes();
    body.extend(x.iter().flat_map(|v| v.to_le_bytes()));
    let r = post(&s, "/v2/models/hear/infer", body, Some(head.len())).await;
    assert_close(&probabilities(&r.json()), &want);
}

#[tokio::test]
async fn a_waveform_of_another_length_is_refused_naming_the_shape() {
    let (_d, s) = audio_and_table();
    for (shape, n) in [(json!([1, 200]), 200), (json!([1, 1, 256]), 256)] {
        let req = json!({"inputs": [{"name": "waveform", "shape": shape, "datatype": "FP32", "data": vec![0.0; n]}]});
        let r = post(&s, "/v2/models/hear/infer", req.to_string(), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains("[-1, 256]"), "{error}");
    }
    let req = json!({"inputs": [{"name": "input", "shape": [1, 256], "datatype": "FP32", "data": vec![0.0; 256]}]});
    let r = post(&s, "/v2/models/hear/infer", req.to_string(), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"].as_str().unwrap().contains("`waveform`"));
}

/// Three rows as text records: the third has an unseen job and a missing sex.
const ROWS: [[&str; 4]; 3] = [
    ["25", "40", "F", "clerk"],
    ["61.5", "12", "M", "pilot"],
    ["38", "60", "", "astronaut"],
];
const COLUMNS: [&str; 4] = ["age", "hours", "sex", "job"];

/// What `TablePlan::encode_record` and the model give for [`ROWS`].
fn table_reference() -> Vec<f32> {
    let plan = TablePlan::new(&fitted()).unwrap();
    let mut x = Vec::new();
    for row in ROWS {
        let get = |name: &str| COLUMNS.iter().position(|c| *c == name).map(|i| row[i]);
        plan.encode_record(get, &mut x).unwrap();
    }
    let model = Model::new(&table_program(), &weights("layers.0", 9, 2)).unwrap();
    model.predict(&x).unwrap()
}

fn column(i: usize) -> Vec<&'static str> {
    ROWS.iter().map(|r| r[i]).collect()
}

/// The rows as JSON inputs: numeric columns FP32 `[3]`, categorical BYTES `[3, 1]`.
fn json_columns() -> Vec<Value> {
    let number = |i| {
        column(i)
            .iter()
            .map(|v| v.parse::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    vec![
        json!({"name": "age", "shape": [3], "datatype": "FP32", "data": number(0)}),
        json!({"name": "hours", "shape": [3, 1], "datatype": "INT32", "data": [40, 12, 60]}),
        json!({"name": "sex", "shape": [3, 1], "datatype": "BYTES", "data": column(2)}),
        json!({"name": "job", "shape": [3], "datatype": "BYTES", "data": column(3)}),
    ]
}

const ROWS_INFER: &str = "/v2/models/rows/infer";

#[tokio::test]
async fn table_requests_take_one_input_per_column() {
    let (_d, s) = audio_and_table();
    let want = table_reference();
    let req = json!({"inputs": json_columns()});
    let r = post(&s, ROWS_INFER, req.to_string(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_close(&probabilities(&r.json()), &want);
    // The columns in any order give the same answer.
    let mut reversed = json_columns();
    reversed.reverse();
    let r = post(
        &s,
        ROWS_INFER,
        json!({"inputs": reversed}).to_string(),
        None,
    )
    .await;
    assert_close(&probabilities(&r.json()), &want);
}

/// Triton's binary `BYTES`: each element a 4-byte little-endian length and its bytes.
fn bytes_elements(values: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend((v.len() as u32).to_le_bytes());
        out.extend(v.as_bytes());
    }
    out
}

#[tokio::test]
async fn table_requests_in_binary_bytes_give_the_same_answer() {
    let (_d, s) = audio_and_table();
    let age: Vec<u8> = [25f32, 61.5, 38.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let hours: Vec<u8> = [40f64, 12.0, 60.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let (sex, job) = (bytes_elements(&column(2)), bytes_elements(&column(3)));
    let binary = |name: &str, datatype: &str, size: usize| json!({"name": name, "shape": [3], "datatype": datatype, "parameters": {"binary_data_size": size}});
    let head = json!({"inputs": [
        binary("sex", "BYTES", sex.len()), binary("age", "FP32", 12),
        binary("job", "BYTES", job.len()), binary("hours", "FP64", 24),
    ]})
    .to_string();
    let mut body = head.clone().into_bytes();
    for part in [&sex, &age, &job, &hours] {
        body.extend(part);
    }
    let r = post(&s, ROWS_INFER, body, Some(head.len())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_close(&probabilities(&r.json()), &table_reference());
}

#[tokio::test]
async fn a_numeric_column_sent_as_text_may_leave_a_value_missing() {
    let (_d, s) = audio_and_table();
    let plan = TablePlan::new(&fitted()).unwrap();
    let mut x = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let age = if i == 1 { "" } else { row[0] };
        let get = |name: &str| match name {
            "age" => Some(age),
            _ => COLUMNS.iter().position(|c| *c == name).map(|c| row[c]),
        };
        plan.encode_record(get, &mut x).unwrap();
    }
    let model = Model::new(&table_program(), &weights("layers.0", 9, 2)).unwrap();
    let want = model.predict(&x).unwrap();
    let mut inputs = json_columns();
    inputs[0] = json!({"name": "age", "shape": [3], "datatype": "BYTES", "data": ["25", "", "38"]});
    let r = post(&s, ROWS_INFER, json!({"inputs": inputs}).to_string(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let got = probabilities(&r.json());
    assert_close(&got, &want);
    assert!(
        (got[2] - table_reference()[2]).abs() > 1e-6,
        "a missing age is not 61.5"
    );
}

#[tokio::test]
async fn table_requests_that_do_not_fit_are_400s_naming_the_column() {
    let (_d, s) = audio_and_table();
    let without = |name: &str| {
        let inputs: Vec<Value> = json_columns()
            .into_iter()
            .filter(|c| c["name"] != name)
            .collect();
        inputs
    };
    let with = |extra: Value| {
        let mut inputs = without(extra["name"].as_str().unwrap());
        inputs.push(extra);
        inputs
    };
    let cases = [
        ("missing column", without("job"), "`job`"),
        (
            "extra column",
            with(json!({"name": "zip", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]})),
            "`zip`",
        ),
        (
            "mismatched batch",
            with(json!({"name": "age", "shape": [2], "datatype": "FP32", "data": [1, 2]})),
            "`age`",
        ),
        (
            "number in a BYTES column",
            with(json!({"name": "sex", "shape": [3], "datatype": "BYTES", "data": ["F", 1, "M"]})),
            "`sex`",
        ),
        (
            "numbers for a categorical column",
            with(json!({"name": "sex", "shape": [3], "datatype": "FP32", "data": [0, 1, 0]})),
            "`sex`",
        ),
        (
            "text that is not a number in a numeric column",
            with(
                json!({"name": "age", "shape": [3], "datatype": "BYTES", "data": ["1", "two", "3"]}),
            ),
            "`age` is a numeric column: row 1 holds `two`",
        ),
        (
            "a column of two per row",
            with(
                json!({"name": "age", "shape": [3, 2], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}),
            ),
            "`age`",
        ),
        (
            "a column twice",
            with(json_columns()[0].clone())
                .into_iter()
                .chain([json_columns()[0].clone()])
                .collect(),
            "`age`",
        ),
    ];
    for (name, inputs, named) in cases {
        let r = post(&s, ROWS_INFER, json!({"inputs": inputs}).to_string(), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(named), "{name}: {error}");
    }
}

#[tokio::test]
async fn binary_bytes_that_do_not_fit_are_400s() {
    let (_d, s) = audio_and_table();
    let head = |size: usize| {
        json!({"inputs": [{"name": "sex", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": size}}]})
            .to_string()
    };
    let cases: [(&str, Vec<u8>); 4] = [
        ("a length past the end", [9u8, 0, 0, 0, b'F'].to_vec()),
        ("a cut length", [1u8, 0, 0, 0, b'F', 1, 0].to_vec()),
        ("one element of two", bytes_elements(&["F"])),
        (
            "not UTF-8",
            [[1u8, 0, 0, 0, 0xff].as_slice(), &bytes_elements(&["M"])].concat(),
        ),
    ];
    for (name, payload) in cases {
        let h = head(payload.len());
        let mut body = h.clone().into_bytes();
        body.extend(&payload);
        let r = post(&s, ROWS_INFER, body, Some(h.len())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains("`sex`"), "{name}: {error}");
    }
}

#[tokio::test]
async fn metadata_lists_the_raw_inputs_and_the_front_end() {
    let (_d, s) = audio_and_table();
    let m = get(&s, "/v2/models/hear").await.json();
    assert_eq!(
        m["inputs"],
        json!([{"name": "waveform", "datatype": "FP32", "shape": [-1, 256]}])
    );
    let audio: LogMel = serde_json::from_value(m["parameters"]["audio"].clone()).unwrap();
    assert_eq!(&audio, audio_program().input.audio.as_ref().unwrap());
    let m = get(&s, "/v2/models/rows").await.json();
    assert_eq!(
        m["inputs"],
        json!([
            {"name": "age", "datatype": "FP32", "shape": [-1]},
            {"name": "hours", "datatype": "FP32", "shape": [-1]},
            {"name": "sex", "datatype": "BYTES", "shape": [-1]},
            {"name": "job", "datatype": "BYTES", "shape": [-1]},
        ])
    );
    let table: Table = serde_json::from_value(m["parameters"]["table"].clone()).unwrap();
    assert_eq!(table, fitted());
    assert_eq!(m["outputs"][2]["name"], "label");
}

mod fuzzed {
    use anneal_serve::frontend::Frontend;
    use anneal_serve::protocol::{self, Limits};
    use proptest::prelude::*;

    use super::*;

    fn rows_front() -> Frontend {
        let program = table_program();
        let identity = Normalization {
            scale: 1.0,
            mean: 0.0,
            std: 1.0,
        };
        Frontend::for_package(&program, &Signature::for_program(&program, identity)).unwrap()
    }

    proptest! {
        #![proptest_config(anneal_fuzz::config_or(5_000))]

        /// Any binary payload for a `BYTES` column, under any claimed size and shape, is
        /// parsed or refused with a 4xx.
        #[test]
        fn binary_bytes_parse_or_4xx(payload in prop::collection::vec(any::<u8>(), 0..40),
                                     rows in 0i64..4, slack in -2i64..3) {
            let size = (payload.len() as i64 + slack).max(0);
            let head = json!({"inputs": [{"name": "job", "shape": [rows], "datatype": "BYTES",
                                           "parameters": {"binary_data_size": size}}]})
            .to_string();
            let mut body = head.clone().into_bytes();
            body.extend(&payload);
            let limits = Limits { max_examples: 64, max_depth: 32 };
            if let Err(e) = protocol::parse(&body, Some(head.len()), &rows_front(), limits) {
                prop_assert!(e.status().is_client_error(), "{e:?}");
            }
        }
    }
}
