//! What can go wrong in an audit.

use std::path::PathBuf;

use anneal_build::BuildError;

/// Why an audit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading the report, the store or the program (boxed: the build's error is large).
    #[error(transparent)]
    Build(Box<BuildError>),
    /// The package is not there: the program was not built.
    #[error("no build at {}", path.display())]
    NoPackage {
        /// Where the package should be.
        path: PathBuf,
    },
    /// An example asked for is not in the test split.
    #[error("no example `{id}` in the test split `{split}`")]
    UnknownExample {
        /// The id asked for.
        id: String,
        /// The test split.
        split: String,
    },
    /// The package could not be read.
    #[error(transparent)]
    Package(#[from] anneal_pack::PackError),
    /// The model could not run.
    #[error(transparent)]
    Engine(#[from] anneal_engine::EngineError),
}

impl From<BuildError> for AuditError {
    fn from(e: BuildError) -> Self {
        AuditError::Build(Box::new(e))
    }
}

impl From<anneal_data::StoreError> for AuditError {
    fn from(e: anneal_data::StoreError) -> Self {
        BuildError::Store(e).into()
    }
}
