//! The graph being built: nodes in order and the initializers they read.

use crate::onnx::{self, Attr, DataType, Node};
use crate::proto::Msg;

/// Nodes and initializers, each node's one output named after the node.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<Msg>,
    pub initializers: Vec<Msg>,
}

impl Graph {
    /// An FP32 initializer; returns its name.
    pub fn constant(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.initializers.push(onnx::float_tensor(name, dims, data));
        name.to_string()
    }

    /// An initializer of type `elem` from its bytes; returns its name.
    pub fn raw(&mut self, name: &str, dims: &[usize], elem: DataType, raw: &[u8]) -> String {
        self.initializers.push(onnx::tensor(name, dims, elem, raw));
        name.to_string()
    }

    /// A scalar FP32 initializer.
    pub fn scalar(&mut self, name: &str, v: f32) -> String {
        self.constant(name, &[], &[v])
    }

    /// Add `op` on `inputs` as node `name`, whose output is also called `name`; returns it.
    pub fn node(
        &mut self,
        op: &'static str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&'static str, Attr)>,
    ) -> String {
        let node = Node {
            op,
            name: name.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![name.to_string()],
            attrs,
        };
        self.nodes.push(onnx::node(&node));
        name.to_string()
    }
}
