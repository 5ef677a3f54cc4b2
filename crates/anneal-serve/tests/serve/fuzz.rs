//! A fuzz harness for the request parser on stable Rust (RELIABILITY.md, promise 14): proptest
//! feeds `protocol::parse` arbitrary bytes, JSON-like text, and valid JSON and binary requests
//! broken on purpose (fields replaced, added and removed, huge and negative shapes, wrong
//! datatypes, a wrong `Inference-Header-Content-Length`, then bit flips, truncations, inserted
//! and spliced bytes). Every result must be `Ok` or a 4xx: never a panic, never a 5xx.
//!
//! `ANNEAL_FUZZ_CASES` sets the cases per property (default 50,000, about 5 s in a debug
//! build on two cores). A long run:
//! `ANNEAL_FUZZ_CASES=2000000 cargo test -p anneal-serve --test serve fuzz -- --nocapture`.

use anneal_serve::protocol::{self, Limits};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as Run;
use serde_json::Map;

use super::*;

const DEFAULT_CASES: u32 = 50_000;
const LIMITS: Limits = Limits {
    max_examples: 64,
    max_depth: 32,
};
const DTYPES: [&str; 16] = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "BF16", "FP32", "FP64", "BYTES", "FP33", "",
];

fn run() -> Run {
    anneal_fuzz::config_or(DEFAULT_CASES)
}

fn signature() -> anneal_pack::Signature {
    let tensor = |name: &str, datatype: &str, shape: Vec<i64>| TensorSpec {
        name: name.into(),
        datatype: datatype.into(),
        shape,
    };
    anneal_pack::Signature {
        inputs: vec![tensor("input", "FP32", vec![-1, 1, 2, 2])],
        outputs: vec![
            tensor("probabilities", "FP32", vec![-1, 2]),
            tensor("class", "INT64", vec![-1]),
        ],
        classes: vec!["left".into(), "right".into()],
        image: ImageSpec {
            channels: 1,
            height: 2,
            width: 2,
        },
        normalization: Normalization {
            scale: 1.0,
            mean: 0.0,
            std: 1.0,
        },
        temperature: None,
    }
}

/// The front end of an image package with [`signature`].
fn front() -> anneal_serve::frontend::Frontend {
    anneal_serve::frontend::Frontend::Tensor(signature().inputs[0].clone())
}

/// The property: `Ok`, or an error the client caused.
fn parses_or_4xx(body: &[u8], header_len: Option<usize>) -> Result<(), TestCaseError> {
    if let Err(e) = protocol::parse(body, header_len, &front(), LIMITS) {
        let status = e.status();
        prop_assert!(status.is_client_error(), "{status} for {e:?}");
    }
    Ok(())
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A dimension, mostly troublesome.
fn dimension() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(vec![
            -1,
            0,
            1,
            2,
            4,
            64,
            65,
            i64::MAX,
            i64::MIN,
            1 << 62,
            1 << 32,
            (1 << 31) - 1
        ]),
        any::<i64>(),
    ]
}

/// How the valid request carries its values.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Flat,
    Nested,
    Binary,
}

/// A valid request: its JSON head and binary part.
#[derive(Debug, Clone)]
struct Valid {
    head: Value,
    binary: Vec<u8>,
}

fn valid() -> impl Strategy<Value = Valid> {
    let layouts = prop::sample::select(vec![Layout::Flat, Layout::Nested, Layout::Binary]);
    let dtypes = prop::sample::select(DTYPES[..13].to_vec());
    (1usize..4, dtypes, layouts, any::<bool>(), any::<u64>())
        .prop_map(|(n, dtype, layout, binary_out, seed)| build(n, dtype, layout, binary_out, seed))
}

/// Example values for `dtype`: small integers (0 or 1 for BOOL), as JSON and little-endian.
fn values(n: usize, dtype: &str, seed: u64) -> (Vec<Value>, Vec<u8>) {
    let ints: Vec<u64> = (0..n as u64 * 4)
        .map(|i| (seed >> (i % 60)) % if dtype == "BOOL" { 2 } else { 100 })
        .collect();
    let json = ints
        .iter()
        .map(|v| match dtype {
            "BOOL" => json!(*v == 1),
            "FP16" | "BF16" | "FP32" | "FP64" => json!(*v as f64 / 7.0),
            _ => json!(v),
        })
        .collect();
    let size = match dtype {
        "BOOL" | "UINT8" | "INT8" => 1,
        "UINT16" | "INT16" | "FP16" | "BF16" => 2,
        "UINT32" | "INT32" | "FP32" => 4,
        _ => 8,
    };
    let bytes = ints
        .iter()
        .flat_map(|v| v.to_le_bytes()[..size].to_vec())
        .collect();
    (json, bytes)
}

fn build(n: usize, dtype: &str, layout: Layout, binary_out: bool, seed: u64) -> Valid {
    let (data, bytes) = values(n, dtype, seed);
    let mut input = json!({"name": "input", "shape": [n, 1, 2, 2], "datatype": dtype});
    let mut binary = Vec::new();
    match layout {
        Layout::Flat => input["data"] = Value::Array(data),
        Layout::Nested => {
            let rows: Vec<Value> = data.chunks(2).map(|r| json!(r)).collect();
            let examples: Vec<Value> = rows.chunks(2).map(|e| json!([e])).collect();
            input["data"] = json!(examples);
        }
        Layout::Binary => {
            input["parameters"] = json!({"binary_data_size": bytes.len()});
            binary = bytes;
        }
    }
    let head = json!({"id": format!("r{seed}"), "inputs": [input],
                      "outputs": [{"name": "label", "parameters": {"binary_data": binary_out}}]});
    Valid { head, binary }
}

/// Where a field is added or removed.
#[derive(Debug, Clone, Copy)]
enum Place {
    Top,
    Input,
    InputParameters,
    Output,
}

/// One way to break a request.
#[derive(Debug, Clone)]
enum Mutation {
    Shape(Vec<i64>),
    ShapeValue(Value),
    Datatype(String),
    Data(Value),
    BinarySize(Value),
    Add(Place, String, Value),
    Remove(Place, String),
    HeaderLen(i64),
    NoHeaderLen,
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Splice(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let places = prop::sample::select(vec![
        Place::Top,
        Place::Input,
        Place::InputParameters,
        Place::Output,
    ]);
    let keys = prop::sample::select(vec![
        "id",
        "inputs",
        "outputs",
        "parameters",
        "name",
        "shape",
        "datatype",
        "data",
        "binary_data_size",
        "binary_data",
        "binary_data_output",
        "extra",
    ]);
    let dtypes = prop_oneof![
        prop::sample::select(DTYPES.to_vec()).prop_map(String::from),
        "\\PC{0,6}"
    ];
    prop_oneof![
        prop::collection::vec(dimension(), 0..6).prop_map(Mutation::Shape),
        json_value().prop_map(Mutation::ShapeValue),
        dtypes.prop_map(Mutation::Datatype),
        json_value().prop_map(Mutation::Data),
        json_value().prop_map(Mutation::BinarySize),
        (places.clone(), keys.clone(), json_value()).prop_map(|(p, k, v)| Mutation::Add(
            p,
            k.into(),
            v
        )),
        (places, keys).prop_map(|(p, k)| Mutation::Remove(p, k.into())),
        prop_oneof![-64i64..64, any::<i64>()].prop_map(Mutation::HeaderLen),
        Just(Mutation::NoHeaderLen),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, c)| Mutation::Splice(a, b, c)),
    ]
}

/// The JSON object at `place`, created if missing (and if its parent is an object).
fn object_at(head: &mut Value, place: Place) -> Option<&mut Map<String, Value>> {
    let target = match place {
        Place::Top => head,
        Place::Input => head.pointer_mut("/inputs/0")?,
        Place::Output => head.pointer_mut("/outputs/0")?,
        Place::InputParameters => {
            let input = head.pointer_mut("/inputs/0")?.as_object_mut()?;
            input.entry("parameters").or_insert_with(|| json!({}))
        }
    };
    target.as_object_mut()
}

/// A mutation of the JSON head, or `None` for those that act on the bytes.
fn mutate_head(valid: &mut Valid, m: &Mutation) -> Option<()> {
    fn input(head: &mut Value) -> Option<&mut Map<String, Value>> {
        object_at(head, Place::Input)
    }
    match m {
        Mutation::Shape(s) => input(&mut valid.head)?.insert("shape".into(), json!(s)),
        Mutation::ShapeValue(v) => input(&mut valid.head)?.insert("shape".into(), v.clone()),
        Mutation::Datatype(d) => input(&mut valid.head)?.insert("datatype".into(), json!(d)),
        Mutation::Data(v) => input(&mut valid.head)?.insert("data".into(), v.clone()),
        Mutation::BinarySize(v) => object_at(&mut valid.head, Place::InputParameters)?
            .insert("binary_data_size".into(), v.clone()),
        Mutation::Add(p, k, v) => object_at(&mut valid.head, *p)?.insert(k.clone(), v.clone()),
        Mutation::Remove(p, k) => object_at(&mut valid.head, *p)?.remove(k),
        _ => None,
    };
    Some(())
}

/// The body and header length of `valid`, then the byte-level mutations applied.
fn mutate_bytes(valid: &Valid, mutations: &[Mutation]) -> (Vec<u8>, Option<usize>) {
    let head = valid.head.to_string().into_bytes();
    let mut header_len = (!valid.binary.is_empty()).then_some(head.len());
    let mut body = [head, valid.binary.clone()].concat();
    for m in mutations {
        let len = body.len().max(1);
        match m {
            Mutation::HeaderLen(d) => {
                header_len = usize::try_from(body.len() as i64 + d).ok();
            }
            Mutation::NoHeaderLen => header_len = None,
            Mutation::Flip(i, bit) if !body.is_empty() => body[i.index(len)] ^= 1 << bit,
            Mutation::Truncate(i) => body.truncate(i.index(len)),
            Mutation::Insert(i, bytes) => {
                let at = i.index(len + 1).min(body.len());
                body.splice(at..at, bytes.iter().copied());
            }
            Mutation::Splice(from, n, to) if !body.is_empty() => {
                let start = from.index(len);
                let piece = body[start..start + n.index(len - start + 1)].to_vec();
                let at = to.index(len + 1).min(body.len());
                body.splice(at..at, piece);
            }
            _ => {}
        }
    }
    (body, header_len)
}

proptest! {
    #![proptest_config(run())]

    #[test]
    fn fuzz_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..600),
                            header_len in prop::option::of(0usize..700)) {
        parses_or_4xx(&body, header_len)?;
    }

    #[test]
    fn fuzz_json_like_text(text in "[\\[\\]{}\":,0-9a-z .eE+-]{0,200}",
                           header_len in prop::option::of(0usize..220)) {
        parses_or_4xx(text.as_bytes(), header_len)?;
    }

    #[test]
    fn fuzz_mutated_requests(mut valid in valid(),
                             mutations in prop::collection::vec(mutation(), 0..5)) {
        let original = mutate_bytes(&valid, &[]);
        let parsed = protocol::parse(&original.0, original.1, &front(), LIMITS);
        prop_assert!(parsed.is_ok(), "the unmutated request was refused: {parsed:?}");
        for m in &mutations {
            mutate_head(&mut valid, m);
        }
        let (body, header_len) = mutate_bytes(&valid, &mutations);
        parses_or_4xx(&body, header_len)?;
    }
}
