//! [`RegistryError`]: what went wrong, naming the registry, repository, file or digest.

use std::path::PathBuf;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference (or a source in the lock) does not parse.
    #[error("{0}")]
    Reference(String),
    /// No connection could be made.
    #[error("cannot reach registry `{registry}` at {url}: {message}")]
    Unreachable {
        /// `host[:port]`.
        registry: String,
        /// What was asked.
        url: String,
        /// The transport's reason.
        message: String,
    },
    /// The registry wants credentials, or refused the ones sent.
    #[error("registry `{registry}` refused access to `{repository}` (401 unauthorized){}", if *.had_credentials { ": the credentials were rejected" } else { ": no credentials were found for it" })]
    Unauthorized {
        /// `host[:port]`.
        registry: String,
        /// The repository (empty for the registry itself).
        repository: String,
        /// Whether credentials were sent.
        had_credentials: bool,
    },
    /// The registry answered with an error status.
    #[error("{0}")]
    Status(Box<Refusal>),
    /// Bytes received do not hash to the digest asked for.
    #[error(
        "{what} from `{registry}/{repository}`: expected digest {expected}, got {actual}; nothing was stored"
    )]
    DigestMismatch {
        /// `host[:port]`.
        registry: String,
        /// The repository.
        repository: String,
        /// `blob`, `manifest`.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what came.
        actual: String,
    },
    /// A manifest that is not an anneal package, or not a well-formed one.
    #[error("`{reference}` {message}")]
    Artifact {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The registry has no manifest at that tag or digest.
    #[error("`{reference}`: the registry has no such manifest")]
    NoManifest {
        /// The reference.
        reference: String,
    },
    /// No tag is a version the requirement admits.
    #[error("`{reference}` has no version matching `{requirement}` (versions: {})", if versions.is_empty() { "none".to_string() } else { versions.join(", ") })]
    NoVersion {
        /// The repository.
        reference: String,
        /// The requirement.
        requirement: String,
        /// The semver tags there are.
        versions: Vec<String>,
    },
    /// A version tag that already names other content.
    #[error(
        "`{reference}` already exists with manifest {existing} ({theirs}); this package would be {ours}: versions are never overwritten"
    )]
    TagExists {
        /// The reference.
        reference: String,
        /// The existing manifest's digest.
        existing: String,
        /// Its config and weights digests.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// Credentials could not be read or stored.
    #[error("credentials for `{registry}`: {message}")]
    Credentials {
        /// `host[:port]`.
        registry: String,
        /// What failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The package to publish could not be read.
    #[error(transparent)]
    Package(#[from] anneal_pack::PackError),
    /// Another transport failure (a malformed answer, a body cut short).
    #[error("registry `{registry}`: {message}")]
    Http {
        /// `host[:port]`.
        registry: String,
        /// What failed.
        message: String,
    },
}

/// An error status from a registry, with the code of its JSON body.
#[derive(Debug, thiserror::Error)]
#[error("registry `{registry}`, repository `{repository}`: {what} failed with {status} {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
pub struct Refusal {
    /// `host[:port]`.
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// What was being done (`GET manifest 0.1.0`).
    pub what: String,
    /// The HTTP status.
    pub status: u16,
    /// The error code of the JSON body (`MANIFEST_UNKNOWN`), or `UNKNOWN`.
    pub code: String,
    /// The body's message.
    pub message: String,
}

impl RegistryError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// How to fix it, when there is a usual way.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::Unreachable { registry, .. } => format!(
                "is the registry running? Loopback hosts use plain HTTP; for another plain-HTTP registry set ANNEAL_INSECURE_REGISTRIES={registry}"
            ),
            RegistryError::Unauthorized { registry, .. } => format!(
                "run `anneal login {registry}`, or set ANNEAL_REGISTRY_USER and ANNEAL_REGISTRY_PASSWORD"
            ),
            RegistryError::TagExists { .. } => {
                "bump `version` in anneal.toml, rebuild and publish the new version".into()
            }
            _ => return None,
        })
    }
}
