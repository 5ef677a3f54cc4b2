//! A program whose first layer is `use NAME frozen|finetune`: its dependency's package (found
//! through `anneal.lock`, fetched and verified by digest) gives the first layers, their
//! weights and the input normalisation they were trained with.

use std::path::Path;

use anneal_engine::{NamedTensor, Normalization};
use anneal_pack::Package;
use anneal_spec::Program;

use crate::BuildError;

/// What a composed program trains from besides its own data.
#[derive(Debug, Clone)]
pub struct Base {
    /// The lineage entry: `NAME=SOURCE:VERSION@DIGEST` (`DIGEST` alone when built from a file).
    pub parent: String,
    /// The dependency's weights (its first layers' are used).
    pub weights: Vec<NamedTensor>,
    /// The normalisation the dependency was trained with: the composed program uses it too,
    /// so that its first layers see inputs as they were trained on.
    pub normalization: Normalization,
}

/// `program` composed with the dependency package at `package` (digest `digest`), and the
/// base it trains from. The error names the dependency and what does not fit.
pub fn compose(
    program: &Program,
    package: &Path,
    digest: &str,
) -> Result<(Program, Base), BuildError> {
    let name = program.base.as_ref().map_or("", |b| b.name.as_str());
    let fail = |message: String| BuildError::Composition {
        name: name.to_string(),
        package: package.to_path_buf(),
        message,
    };
    let dep = Package::read(package).map_err(|e| fail(e.to_string()))?;
    let composed = program.compose(&dep.program).map_err(fail)?;
    let base = Base {
        parent: format!("{name}={digest}"),
        weights: dep.weights,
        normalization: dep.signature.normalization,
    };
    Ok((composed, base))
}
