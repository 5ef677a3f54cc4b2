//! The exported bytes, read back by a minimal protobuf decoder: the model's header, the graph's
//! nodes in order, the initializers and the declared inputs and outputs; and the errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use anneal_onnx::{OnnxError, export};
use anneal_pack::{Lineage, Metrics, Normalization, Package, Signature};
use anneal_spec::{NamedTensor, Program};

/// A decoded field value: wire types 0, 2 and 5.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Varint(u64),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

/// A decoded message: its fields in order.
#[derive(Debug, Clone, PartialEq)]
struct Fields(Vec<(u32, Value)>);

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint longer than ten bytes");
}

fn decode(bytes: &[u8]) -> Fields {
    let mut at = 0;
    let mut out = vec![];
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        let value = match key & 7 {
            0 => Value::Varint(varint(bytes, &mut at)),
            2 => {
                let n = varint(bytes, &mut at) as usize;
                at += n;
                Value::Bytes(bytes[at - n..at].to_vec())
            }
            5 => {
                at += 4;
                Value::Fixed32(bytes[at - 4..at].try_into().unwrap())
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push(((key >> 3) as u32, value));
    }
    Fields(out)
}

impl Fields {
    fn all(&self, field: u32) -> impl Iterator<Item = &Value> {
        self.0
            .iter()
            .filter(move |(f, _)| *f == field)
            .map(|(_, v)| v)
    }

    fn int(&self, field: u32) -> i64 {
        match self.all(field).next() {
            Some(Value::Varint(v)) => *v as i64,
            other => panic!("field {field}: {other:?}"),
        }
    }

    fn ints(&self, field: u32) -> Vec<i64> {
        let ints = self.all(field).map(|v| match v {
            Value::Varint(v) => *v as i64,
            other => panic!("field {field}: {other:?}"),
        });
        ints.collect()
    }

    fn bytes(&self, field: u32) -> Vec<&[u8]> {
        let bytes = self.all(field).map(|v| match v {
            Value::Bytes(b) => b.as_slice(),
            other => panic!("field {field}: {other:?}"),
        });
        bytes.collect()
    }

    fn str(&self, field: u32) -> String {
        self.strs(field).into_iter().next().unwrap_or_default()
    }

    fn strs(&self, field: u32) -> Vec<String> {
        let s = self.bytes(field).into_iter();
        s.map(|b| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    fn msgs(&self, field: u32) -> Vec<Fields> {
        self.bytes(field).into_iter().map(decode).collect()
    }

    fn msg(&self, field: u32) -> Fields {
        self.msgs(field).into_iter().next().unwrap()
    }
}

fn manifest(shape: &str, layers: &str) -> String {
    format!(
        "[program]\nname = \"p\"\nversion = \"1.2.3\"\n[data]\ninput = \"image\"\nshape = {shape}\n\
         classes = 3\n[model]\nlayers = [{layers}]\n"
    )
}

/// A package of `layers` on input `shape`, every weight `0.25`.
fn package(shape: &str, layers: &str) -> Package {
    let program = Program::parse("anneal.toml", &manifest(shape, layers)).unwrap();
    let mut weights = vec![];
    let mut input = program.cost.input;
    for (i, layer) in program.layers.iter().enumerate() {
        for p in layer.parameters(input) {
            let n = p.shape.iter().product();
            let name = format!("layers.{i}.{}", p.name);
            let (shape, data) = (p.shape, vec![0.25; n]);
            weights.push(NamedTensor { name, shape, data });
        }
        input = program.cost.layers[i].output;
    }
    let norm = Normalization {
        scale: 1.0 / 255.0,
        mean: 0.5,
        std: 0.25,
    };
    Package {
        signature: Signature::for_program(&program, norm),
        lineage: Lineage {
            dataset_commit: "0".repeat(64),
            build_key: "1".repeat(64),
            engine: "anneal".into(),
            engine_version: "0.1.0".into(),
            seed: 1,
            threads: 2,
            anneal_version: "0.1.0".into(),
            parents: vec![],
            device: None,
            world_size: None,
            engine_key: None,
        },
        metrics: Metrics::compute(&[0.8, 0.1, 0.1], &[0], &program.classes),
        cost: program.cost.clone(),
        audit: None,
        quantization: None,
        weights,
        program,
    }
}

fn mlp() -> Package {
    package("[1, 2, 2]", r#""flatten", "dense 3", "softmax""#)
}

fn op_types(model: &Fields) -> Vec<String> {
    let nodes = model.msg(7).msgs(1);
    nodes.iter().map(|n| n.str(4)).collect()
}

/// `TensorShapeProto` of a `ValueInfoProto`, as `N` or numbers.
fn dims(info: &Fields) -> Vec<String> {
    let shape = info.msg(2).msg(1).msg(2);
    let dim = |d: &Fields| match d.strs(2).first() {
        Some(p) => p.clone(),
        None => d.int(1).to_string(),
    };
    shape.msgs(1).iter().map(dim).collect()
}

#[test]
fn the_model_header() {
    let model = decode(&export(&mlp()).unwrap());
    assert_eq!(model.int(1), 8, "ir_version");
    assert_eq!(model.str(2), "anneal");
    let opset = model.msg(8);
    assert_eq!((opset.str(1), opset.int(2)), (String::new(), 17));
    let props: Vec<(String, String)> = model
        .msgs(14)
        .iter()
        .map(|e| (e.str(1), e.str(2)))
        .collect();
    assert!(props.contains(&("anneal.classes".into(), r#"["0","1","2"]"#.into())));
    assert!(props.contains(&("anneal.package".into(), "p-1.2.3".into())));
    assert!(
        props
            .iter()
            .any(|(k, v)| k == "anneal.normalization" && v.contains("\"std\":0.25"))
    );
    assert!(!props.iter().any(|(k, _)| k == "anneal.temperature"));
}

#[test]
fn an_mlp_is_normalisation_layers_softmax_argmax() {
    let model = decode(&export(&mlp()).unwrap());
    assert_eq!(
        op_types(&model),
        ["Mul", "Sub", "Div", "Flatten", "Gemm", "Softmax", "ArgMax"]
    );
    let graph = model.msg(7);
    let inputs = graph.msgs(11);
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].str(1), "input");
    assert_eq!(dims(&inputs[0]), ["N", "1", "2", "2"]);
    let outputs = graph.msgs(12);
    let names: Vec<String> = outputs.iter().map(|o| o.str(1)).collect();
    assert_eq!(names, ["probabilities", "class"]);
    assert_eq!(dims(&outputs[0]), ["N", "3"]);
    assert_eq!(dims(&outputs[1]), ["N"]);
    let elem = |o: &Fields| o.msg(2).msg(1).int(1);
    assert_eq!((elem(&outputs[0]), elem(&outputs[1])), (1, 7));
}

#[test]
fn weights_are_initializers_under_their_package_names() {
    let pkg = mlp();
    let graph = decode(&export(&pkg).unwrap()).msg(7);
    let inits = graph.msgs(5);
    let w = inits
        .iter()
        .find(|t| t.str(8) == "layers.1.weight")
        .unwrap();
    assert_eq!(w.ints(1), [4, 3]);
    assert_eq!(w.int(2), 1, "FLOAT");
    let raw: Vec<u8> = pkg
        .weights
        .iter()
        .find(|t| t.name == "layers.1.weight")
        .unwrap()
        .data
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(w.bytes(9), [raw.as_slice()]);
    let gemm = graph
        .msgs(1)
        .into_iter()
        .find(|n| n.str(4) == "Gemm")
        .unwrap();
    assert_eq!(
        gemm.strs(1),
        ["layers.0.flatten", "layers.1.weight", "layers.1.bias"]
    );
    let scale = inits
        .iter()
        .find(|t| t.str(8) == "normalization.scale")
        .unwrap();
    assert!(scale.ints(1).is_empty(), "a scalar");
}

#[test]
fn every_layer_kind_has_its_nodes() {
    let layers = r#""conv 4 3x3 stride 2 pad 1", "batchnorm", "gelu", "maxpool 2", "dropout 0.1",
        "avgpool 1", "flatten", "dense 6", "layernorm", "tanh", "batchnorm", "sigmoid", "relu",
        "dense 3", "softmax""#;
    let model = decode(&export(&package("[1, 8, 8]", layers)).unwrap());
    let ops = op_types(&model);
    for op in [
        "Conv",
        "BatchNormalization",
        "Erf",
        "MaxPool",
        "AveragePool",
        "Flatten",
        "Gemm",
        "LayerNormalization",
        "Tanh",
        "Sigmoid",
        "Relu",
        "Softmax",
        "ArgMax",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} missing from {ops:?}");
    }
    let conv = model
        .msg(7)
        .msgs(1)
        .into_iter()
        .find(|n| n.str(4) == "Conv")
        .unwrap();
    let attrs: Vec<(String, Vec<i64>)> =
        conv.msgs(5).iter().map(|a| (a.str(1), a.ints(8))).collect();
    assert_eq!(
        attrs,
        [
            ("kernel_shape".into(), vec![3, 3]),
            ("strides".into(), vec![2, 2]),
            ("pads".into(), vec![1, 1, 1, 1])
        ]
    );
}

#[test]
fn a_temperature_divides_the_logits() {
    let mut pkg = mlp();
    pkg.signature.temperature = Some(1.5);
    let model = decode(&export(&pkg).unwrap());
    let ops = op_types(&model);
    assert_eq!(ops[ops.len() - 3..], ["Div", "Softmax", "ArgMax"]);
    let props = model.msgs(14);
    assert!(
        props
            .iter()
            .any(|e| e.str(1) == "anneal.temperature" && e.str(2) == "1.5")
    );
}

#[test]
fn a_missing_or_misshapen_weight_names_the_layer() {
    let mut pkg = mlp();
    pkg.weights.retain(|t| t.name != "layers.1.bias");
    let e = export(&pkg).unwrap_err();
    assert!(matches!(e, OnnxError::MissingWeight { index: 1, .. }));
    assert_eq!(
        e.to_string(),
        "layer 1 `dense 3`: the package has no tensor `layers.1.bias`"
    );

    let mut pkg = mlp();
    let w = pkg
        .weights
        .iter_mut()
        .find(|t| t.name == "layers.1.weight")
        .unwrap();
    w.shape = vec![3, 4];
    let e = export(&pkg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "layer 1 `dense 3`: tensor `layers.1.weight` has shape [3, 4], expected [4, 3]"
    );
}

#[test]
fn export_is_deterministic() {
    assert_eq!(export(&mlp()).unwrap(), export(&mlp()).unwrap());
}
