//! # anneal-spec: what a program *is*
//!
//! Parses `anneal.toml` and validates it into a [`Program`], with no I/O of its own.
//!
//! - [`manifest`]: the serde schema, exactly as written (spans kept for errors).
//! - [`program`]: the validated meaning: input, classes, layers, training, checks (checked
//!   field by field in `validate`, each error pointing at its text).
//! - [`layer`]: the layer grammar (`"conv 32 5x5 pad 2"`), with suggestions for typos; one
//!   file per layer kind under `layer/`, owning its grammar, shape and cost rule and parameters.
//! - [`shape`]: shape inference and the forward-pass cost model (parameters, FLOPs, bytes).
//! - [`adversarial`]: attacks as a program states them ([`Adversarial`]), and what an
//!   attack's radius means for each kind of input.
//! - [`audio`]: the audio front end's parameters ([`LogMel`]).
//! - [`table`]: a table program's columns and their fitted encoding ([`Table`]).
//! - [`normalization`]: how pixels become inputs, fitted by a build and recorded in its package.
//! - [`tensor`]: [`NamedTensor`], weights as plain f32 buffers.
//! - [`budget`]: the bounds on what a program may ask for (layers, classes, sizes, epochs).
//! - [`error`]: [`ManifestError`], located at file:line:column and rendered like a compiler's.
//!
//! ```
//! let toml = r#"
//! [program]
//! name = "tiny"
//! version = "0.1.0"
//! [data]
//! input = "image"
//! shape = [1, 4, 4]
//! classes = 2
//! [model]
//! layers = ["flatten", "dense 8", "relu", "dense 2"]
//! "#;
//! let program = anneal_spec::Program::parse("anneal.toml", toml).unwrap();
//! assert_eq!(program.cost.params, 16 * 8 + 8 + 8 * 2 + 2);
//!
//! let bad = toml.replace("relu", "rleu");
//! let err = anneal_spec::Program::parse("anneal.toml", &bad).unwrap_err();
//! assert_eq!(err.hint.as_deref(), Some("did you mean `relu`?"));
//! ```

pub mod adversarial;
pub mod audio;
pub mod budget;
mod compose;
pub mod error;
pub mod layer;
pub mod manifest;
pub mod normalization;
pub mod program;
pub mod quant;
mod roundtrip;
pub mod shape;
pub mod table;
pub mod tensor;
mod validate;

pub use adversarial::{Adversarial, Attack};
pub use audio::LogMel;
pub use error::ManifestError;
pub use layer::{Base, Layer, Reuse};
pub use normalization::Normalization;
pub use program::{
    Check, DEFAULT_MIN_GROUP, Dependency, InputKind, LABEL, Metric, Normalize, Optimizer, Program,
    Schedule, Slice, SourceFormat,
};
pub use quant::{QuantLayer, Quantization, Scheme};
pub use shape::{CostTable, Shape};
pub use table::Table;
pub use tensor::NamedTensor;

/// The manifest file name.
pub const MANIFEST: &str = "anneal.toml";
