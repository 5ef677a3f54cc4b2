//! A built package with its test split at the package's dataset commit, as model inputs: what
//! the attacks and the attributions run on.

use std::io::ErrorKind;

use anneal_build::Project;
use anneal_build::split::{self, Split};
use anneal_data::{CommitId, Store};
use anneal_engine::{Model, preprocess};
use anneal_pack::{PackError, Package};

use crate::error::AuditError;

/// The package, its model, and its test examples.
pub struct TestSet {
    /// The package.
    pub package: Package,
    /// Its weights, loaded.
    pub model: Model,
    /// The test examples as stored (ids, features, labels, metadata).
    pub split: Split,
    /// Their model inputs (normalised as the package says).
    pub x: Vec<f32>,
}

impl TestSet {
    /// The built package of `project` and its test split.
    pub fn load(project: &Project) -> Result<TestSet, AuditError> {
        let package = read_package(project)?;
        let program = &package.program;
        let commit: CommitId = package.lineage.dataset_commit.parse().map_err(|e| {
            let path = project.package_path();
            let message = format!("its lineage's dataset commit is not one: {e}");
            AuditError::Package(PackError::Metadata { path, message })
        })?;
        let store = Store::open(&project.dir)?;
        let split = split::collect(program, &store, &commit, &program.test_split)
            .map_err(AuditError::from)?;
        let x = preprocess(&split.features, &package.signature.normalization);
        let model = Model::new(program, &package.weights)?
            .quantized(package.quantization.as_ref())?
            .with_temperature(package.signature.temperature);
        Ok(TestSet {
            package,
            model,
            split,
            x,
        })
    }

    /// Values per example.
    pub fn features(&self) -> usize {
        self.package.program.input.shape.elements()
    }

    /// Test examples.
    pub fn examples(&self) -> usize {
        self.split.labels.len()
    }
}

/// The program's package, or [`AuditError::NoPackage`].
fn read_package(project: &Project) -> Result<Package, AuditError> {
    let path = project.package_path();
    match Package::read(&path) {
        Err(PackError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            Err(AuditError::NoPackage { path })
        }
        other => Ok(other?),
    }
}
