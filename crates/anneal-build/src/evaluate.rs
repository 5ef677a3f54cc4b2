//! A package's metrics on one split of its program's dataset at HEAD, optionally per value of
//! a metadata field: what `anneal eval -C DIR [--split NAME] [--by FIELD]` prints.

use anneal_data::Store;
use anneal_engine::{Model, preprocess};
use anneal_pack::{Metrics, Package, slices};

use crate::{BuildError, Project, split};

/// The metrics of `package` on the labelled examples of `split` at the store's HEAD (decoded as
/// the package's program says), with every value of metadata field `by` when given.
pub fn evaluate(
    project: &Project,
    package: &Package,
    split: &str,
    by: Option<&str>,
) -> Result<Metrics, BuildError> {
    let store = Store::open(&project.dir)?;
    let Some(commit) = store.head()? else {
        let dir = project.dir.clone();
        return Err(BuildError::NoDataset { dir });
    };
    let examples = split::collect(&package.program, &store, &commit, split)?;
    if examples.labels.is_empty() {
        let split = split.to_string();
        return Err(BuildError::EmptySplit { split, test: true });
    }
    let probs = predict(package, &examples)?;
    let metrics = Metrics::compute(&probs, &examples.labels, &package.signature.classes);
    let Some(field) = by else { return Ok(metrics) };
    let k = package.signature.classes.len();
    let (labels, meta) = (&examples.labels, &examples.meta);
    match slices::slices_of(field, &probs, labels, k, meta) {
        Some(values) => Ok(Metrics {
            slices: Some(vec![values]),
            ..metrics
        }),
        None => Err(no_field(field, split, &examples)),
    }
}

/// The package's class probabilities for `examples`, back to back.
fn predict(package: &Package, examples: &split::Split) -> Result<Vec<f32>, BuildError> {
    let model = Model::new(&package.program, &package.weights)?
        .quantized(package.quantization.as_ref())?
        .with_temperature(package.signature.temperature);
    let norm = &package.signature.normalization;
    Ok(model.predict(&preprocess(&examples.features, norm))?)
}

/// The error for a field no example of `split` has, naming the fields they do have.
pub(crate) fn no_field(field: &str, split: &str, examples: &split::Split) -> BuildError {
    let mut fields: Vec<String> = examples
        .meta
        .iter()
        .flat_map(|m| m.keys().cloned())
        .collect();
    fields.sort();
    fields.dedup();
    BuildError::NoField {
        field: field.to_string(),
        split: split.to_string(),
        fields,
    }
}
