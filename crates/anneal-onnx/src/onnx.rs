//! ONNX's messages, written with [`Msg`]; the field numbers are those of `onnx/onnx.proto`
//! (IR version 8).
//!
//! | message | fields written |
//! |---|---|
//! | `ModelProto` | 1 ir_version, 2 producer_name, 3 producer_version, 6 doc_string, 7 graph, 8 opset_import, 14 metadata_props |
//! | `OperatorSetIdProto` | 2 version (domain empty: the default `ai.onnx`) |
//! | `StringStringEntryProto` | 1 key, 2 value |
//! | `GraphProto` | 1 node, 2 name, 5 initializer, 11 input, 12 output |
//! | `NodeProto` | 1 input, 2 output, 3 name, 4 op_type, 5 attribute |
//! | `AttributeProto` | 1 name, 2 f, 3 i, 8 ints, 20 type |
//! | `TensorProto` | 1 dims, 2 data_type, 8 name, 9 raw_data (little-endian) |
//! | `ValueInfoProto` | 1 name, 2 type |
//! | `TypeProto` | 1 tensor_type: 1 elem_type, 2 shape: 1 dim: 1 dim_value or 2 dim_param |

use crate::proto::Msg;

/// The IR version written.
pub const IR_VERSION: i64 = 8;
/// The opset of the default domain the graph uses.
pub const OPSET: i64 = 17;

/// `TensorProto.DataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataType {
    Float = 1,
    Uint8 = 2,
    Int8 = 3,
    Int64 = 7,
}

/// An attribute value (`AttributeProto.AttributeType`: FLOAT 1, INT 2, INTS 7).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attr {
    Float(f32),
    Int(i64),
    Ints(Vec<i64>),
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    /// The symbolic batch dimension, `N`.
    Batch,
    Fixed(usize),
}

/// A node of the graph: `op_type`, its inputs and outputs by name, its attributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub op: &'static str,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(&'static str, Attr)>,
}

pub(crate) fn node(n: &Node) -> Msg {
    let mut m = Msg::new();
    for i in &n.inputs {
        m.str(1, i);
    }
    for o in &n.outputs {
        m.str(2, o);
    }
    m.str(3, &n.name).str(4, n.op);
    for (name, value) in &n.attrs {
        m.msg(5, &attribute(name, value));
    }
    m
}

fn attribute(name: &str, value: &Attr) -> Msg {
    let mut m = Msg::new();
    m.str(1, name);
    match value {
        Attr::Float(f) => m.float(2, *f).int(20, 1),
        Attr::Int(i) => m.int(3, *i).int(20, 2),
        Attr::Ints(v) => {
            for i in v {
                m.int(8, *i);
            }
            m.int(20, 7)
        }
    };
    m
}

/// An FP32 initializer `name` of shape `dims`.
pub(crate) fn float_tensor(name: &str, dims: &[usize], data: &[f32]) -> Msg {
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, dims, DataType::Float, &raw)
}

/// An initializer `name` of shape `dims` and type `elem`, from its little-endian bytes.
pub(crate) fn tensor(name: &str, dims: &[usize], elem: DataType, raw: &[u8]) -> Msg {
    let mut m = Msg::new();
    for &d in dims {
        m.int(1, d as i64);
    }
    m.int(2, elem as i64).str(8, name).bytes(9, raw);
    m
}

/// A graph input or output: `name`, a tensor of `elem` with `dims`.
pub(crate) fn value_info(name: &str, elem: DataType, dims: &[Dim]) -> Msg {
    let mut shape = Msg::new();
    for d in dims {
        let mut dim = Msg::new();
        match d {
            Dim::Batch => dim.str(2, "N"),
            Dim::Fixed(n) => dim.int(1, *n as i64),
        };
        shape.msg(1, &dim);
    }
    let mut tensor = Msg::new();
    tensor.int(1, elem as i64).msg(2, &shape);
    let mut ty = Msg::new();
    ty.msg(1, &tensor);
    let mut m = Msg::new();
    m.str(1, name).msg(2, &ty);
    m
}

/// The parts of a graph, each already encoded.
#[derive(Debug, Default)]
pub(crate) struct GraphParts {
    pub name: String,
    pub nodes: Vec<Msg>,
    pub initializers: Vec<Msg>,
    pub inputs: Vec<Msg>,
    pub outputs: Vec<Msg>,
}

pub(crate) fn graph(g: &GraphParts) -> Msg {
    let mut m = Msg::new();
    for n in &g.nodes {
        m.msg(1, n);
    }
    m.str(2, &g.name);
    for t in &g.initializers {
        m.msg(5, t);
    }
    for i in &g.inputs {
        m.msg(11, i);
    }
    for o in &g.outputs {
        m.msg(12, o);
    }
    m
}

/// A model of `graph` by anneal `version`, with `metadata` as its `metadata_props`.
pub(crate) fn model(graph: &Msg, version: &str, doc: &str, metadata: &[(String, String)]) -> Msg {
    let mut opset = Msg::new();
    opset.int(2, OPSET);
    let mut m = Msg::new();
    m.int(1, IR_VERSION)
        .str(2, "anneal")
        .str(3, version)
        .str(6, doc)
        .msg(7, graph)
        .msg(8, &opset);
    for (k, v) in metadata {
        let mut entry = Msg::new();
        entry.str(1, k).str(2, v);
        m.msg(14, &entry);
    }
    m
}
