//! What inference runs inside a node: the nodes after it that need no pass of their own over
//! memory. A relu after a dense layer is applied with its bias; a max pooling after a
//! convolution (the plan puts it before the relu that the program writes first) pools the
//! product before its bias, in the convolution's blocks, and applies the relu after it too
//! (an int8 convolution pools its product after the bias, in one pass with the relu).
//! Adding a channel's bias and relu are monotone, so they commute with the maximum: the values
//! are those of the separate passes. Training keeps every node's output, so it folds nothing.

use super::activation::Activation;
use super::node::Node;
use super::pool::PoolGeom;

/// What inference folds into a node.
#[derive(Clone, Copy)]
pub(super) enum Fold<'p> {
    None,
    /// A dense layer applies the relu after it.
    Relu,
    /// A convolution runs the max pooling after it, and the relu after that when `true`.
    Pool(&'p PoolGeom, bool),
}

impl<'p> Fold<'p> {
    /// What inference folds into node `i` of `nodes`.
    pub fn of(nodes: &'p [Node], i: usize) -> Fold<'p> {
        let next = |j: usize| nodes.get(i + j);
        let relu = |n: Option<&Node>| matches!(n, Some(Node::Act(Activation::Relu)));
        match (&nodes[i], next(1)) {
            (Node::Dense(_), n) if relu(n) => Fold::Relu,
            (Node::Conv(_), Some(Node::MaxPool(p))) => Fold::Pool(&p.g, relu(next(2))),
            _ => Fold::None,
        }
    }

    /// The nodes after this one that it runs.
    pub fn skips(self) -> usize {
        match self {
            Fold::None => 0,
            Fold::Relu => 1,
            Fold::Pool(_, relu) => 1 + usize::from(relu),
        }
    }

    /// Which buffer after the node's own holds what it leaves (0: its own).
    pub fn output(self) -> usize {
        match self {
            Fold::Pool(..) => self.skips(),
            _ => 0,
        }
    }
}

/// A monotone activation followed by max pooling runs as the pooling then the activation: the
/// same values and gradients (both pick the same window element), on a quarter of the elements
/// for a 2x2 pool. (Only a NaN input can tell them apart.)
pub(super) fn pool_before_activation(
    nodes: &mut [Node],
    labels: &mut [String],
    sizes: &mut [usize],
) {
    for i in 0..nodes.len().saturating_sub(1) {
        let monotone = matches!(
            nodes[i],
            Node::Act(Activation::Relu | Activation::Tanh | Activation::Sigmoid)
        );
        if monotone && matches!(nodes[i + 1], Node::MaxPool(_)) {
            nodes.swap(i, i + 1);
            labels.swap(i, i + 1);
            sizes[i + 1] = sizes[i + 2];
        }
    }
}
