//! Dependencies: packages from OCI registries, declared in `[dependencies]`, pinned in
//! `anneal.lock` by manifest, config and weights digest, fetched into the user's cache.
//!
//! - [`lock_dependency`] (`anneal add`, and `anneal fetch` for an entry not locked yet):
//!   the highest tag the requirement admits, its manifest, config and weights fetched and
//!   checked; a version already locked whose tag now names another manifest is refused.
//! - [`fetch_locked`] (`anneal fetch`, and the build through [`resolve_dependencies`]): by
//!   digest only, so a tag that moved is irrelevant; the manifest must point at the locked
//!   config and weights.
//!
//! Cached blobs are hashed again every time they are used (see [`anneal_registry::cache`]):
//! a blob that no longer matches is dropped and fetched again; the package file is assembled
//! again from them and rewritten if it differs.

use std::path::{Path, PathBuf};

use anneal_registry::pull::assemble;
use anneal_registry::{Access, Cache, Client, Reference, RegistryError, VersionReq, credentials};
use anneal_spec::{Dependency, Program};
use serde::Serialize;

use crate::BuildError;
use crate::lock::{LOCK, Lock, LockedDependency};

/// A dependency ready to use: its package file in the cache, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The name in `[dependencies]`.
    pub name: String,
    /// The cached package file (its bytes hash to `weights`).
    pub package: PathBuf,
    /// `oci://host/repository`.
    pub source: String,
    /// The exact version.
    pub version: String,
    /// The manifest digest.
    pub manifest: String,
    /// The weights digest.
    pub weights: String,
}

/// Why a dependency could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// `anneal.lock` does not parse, or a field is not what it must be.
    #[error("{}:{line}: {message}", path.display())]
    Lock {
        /// The lock.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A `use` line names a dependency `[dependencies]` does not declare.
    #[error("the model's `use {name}` names no dependency declared in [dependencies]")]
    Undeclared {
        /// The name the `use` line gives.
        name: String,
    },
    /// Declared but not locked.
    #[error("dependency `{name}` is declared in anneal.toml but not locked in anneal.lock")]
    Unlocked {
        /// The dependency.
        name: String,
    },
    /// The lock's entry is for another repository or a version the requirement excludes.
    #[error(
        "dependency `{name}`: anneal.toml asks for {field} `{declared}`, anneal.lock has `{locked}`"
    )]
    Stale {
        /// The dependency.
        name: String,
        /// `oci` or `version`.
        field: &'static str,
        /// What anneal.toml says.
        declared: String,
        /// What the lock says.
        locked: String,
    },
    /// A locked version's tag now names another manifest.
    #[error(
        "dependency `{name}`: tag `{reference}` moved: anneal.lock pins manifest {old} for version {version}, the registry now has {new}"
    )]
    TagMoved {
        /// The dependency.
        name: String,
        /// `host/repository:version`.
        reference: String,
        /// The version.
        version: String,
        /// The locked manifest digest.
        old: String,
        /// The tag's manifest digest now.
        new: String,
    },
    /// The locked manifest points at other blobs than the lock says.
    #[error(
        "dependency `{name}`: manifest {manifest} has {what} {found}, but anneal.lock says {locked}"
    )]
    Changed {
        /// The dependency.
        name: String,
        /// The manifest digest.
        manifest: String,
        /// `config` or `weights`.
        what: &'static str,
        /// The lock's digest.
        locked: String,
        /// The manifest's.
        found: String,
    },
    /// The declaration cannot be used (a repository that does not parse).
    #[error("dependency `{name}`: {message}")]
    Declared {
        /// The dependency.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The registry, the cache or the package failed.
    #[error("dependency `{name}`: {source}")]
    Registry {
        /// The dependency.
        name: String,
        /// What failed.
        #[source]
        source: Box<RegistryError>,
    },
}

impl DependencyError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DependencyError::Lock { .. } => "anneal.lock is written by anneal; restore it from version control, or delete the entry and run `anneal fetch`".into(),
            DependencyError::Unlocked { .. } | DependencyError::Stale { .. } => "run `anneal fetch` to lock it (or `anneal add` to choose a version)".into(),
            DependencyError::TagMoved { .. } => "a published version must not change: ask its publisher, or delete the entry from anneal.lock to accept the new content deliberately".into(),
            DependencyError::Changed { .. } => "anneal.lock was edited by hand: restore it, or delete the entry and run `anneal fetch`".into(),
            DependencyError::Undeclared { name } => format!("run `anneal add HOST/REPOSITORY@VERSION --name {name}`"),
            DependencyError::Registry { source, .. } => return source.hint(),
            _ => return None,
        })
    }
}

/// Every `[dependencies]` entry of `program`, locked in `dir/anneal.lock` and in the cache
/// (fetched by digest if missing), verified.
pub fn resolve_dependencies(dir: &Path, program: &Program) -> Result<Vec<Resolved>, BuildError> {
    if program.dependencies().is_empty() {
        return Ok(Vec::new());
    }
    let lock = Lock::read(dir)?;
    let cache = user_cache("")?;
    let resolve = |d: &Dependency| {
        let locked = lock
            .dependency(&d.name)
            .ok_or_else(|| DependencyError::Unlocked {
                name: d.name.clone(),
            })?;
        check_declared(d, locked)?;
        let (package, _) = fetch_locked(&cache, locked, false)?;
        Ok::<_, DependencyError>(resolved(locked, package))
    };
    Ok(program
        .dependencies()
        .iter()
        .map(resolve)
        .collect::<Result<_, _>>()?)
}

/// The resolved form of a lock entry.
pub fn resolved(l: &LockedDependency, package: PathBuf) -> Resolved {
    Resolved {
        name: l.name.clone(),
        package,
        source: l.source.source(),
        version: l.version.to_string(),
        manifest: l.manifest.to_string(),
        weights: l.weights.to_string(),
    }
}

/// The lock entry is for the declared repository and a version the requirement admits.
pub fn check_declared(d: &Dependency, l: &LockedDependency) -> Result<(), DependencyError> {
    let declared = reference(d)?;
    if declared.registry != l.source.registry || declared.repository != l.source.repository {
        return Err(stale(d, "oci", declared.source(), l.source.source()));
    }
    let req = requirement(d)?;
    match req.matches(&l.version) {
        true => Ok(()),
        false => Err(stale(
            d,
            "version",
            d.version.clone(),
            l.version.to_string(),
        )),
    }
}

fn stale(d: &Dependency, field: &'static str, declared: String, locked: String) -> DependencyError {
    DependencyError::Stale {
        name: d.name.clone(),
        field,
        declared,
        locked,
    }
}

/// The locked package in the cache: from the cache when its blobs are there and still hash
/// to their digests, else fetched by digest. Returns its path and the bytes downloaded.
pub fn fetch_locked(
    cache: &Cache,
    l: &LockedDependency,
    plain_http: bool,
) -> Result<(PathBuf, u64), DependencyError> {
    let registry = failed(&l.name);
    let cached = |d| cache.verified(d).map(|p| p.is_some()).map_err(registry);
    if cached(&l.config)? && cached(&l.weights)? {
        let (_, package) = assemble(cache, &l.config, &l.weights).map_err(registry)?;
        return Ok((package, 0));
    }
    let client = client(&l.name, &l.source, plain_http)?;
    let (artifact, manifest, bytes) = client
        .package_manifest(l.manifest.as_str())
        .map_err(registry)?;
    let changed = |what, locked: &anneal_registry::Digest, found: &anneal_registry::Digest| {
        DependencyError::Changed {
            name: l.name.clone(),
            manifest: manifest.to_string(),
            what,
            locked: locked.to_string(),
            found: found.to_string(),
        }
    };
    if artifact.config != l.config {
        return Err(changed("config", &l.config, &artifact.config));
    }
    if artifact.weights != l.weights {
        return Err(changed("weights", &l.weights, &artifact.weights));
    }
    let pulled = client
        .pull_artifact(cache, artifact, manifest, &bytes)
        .map_err(registry)?;
    Ok((pulled.package, pulled.downloaded))
}

/// What [`lock_dependency`] found.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The new lock entry.
    pub entry: LockedDependency,
    /// The package in the cache.
    pub package: PathBuf,
    /// Bytes downloaded.
    pub downloaded: u64,
}

/// Resolve `d` afresh: the highest version its requirement admits, fetched and checked. If
/// `previous` locked that same version, its tag must still name the same manifest.
pub fn lock_dependency(
    cache: &Cache,
    d: &Dependency,
    previous: Option<&LockedDependency>,
    plain_http: bool,
) -> Result<Locked, DependencyError> {
    let registry = failed(&d.name);
    let source = reference(d)?;
    let client = client(&d.name, &source, plain_http)?;
    let version = client.highest(&requirement(d)?).map_err(registry)?;
    let tag = version.to_string();
    let (artifact, manifest, bytes) = client.package_manifest(&tag).map_err(registry)?;
    if let Some(p) =
        previous.filter(|p| p.version == version && p.source == source && p.manifest != manifest)
    {
        return Err(DependencyError::TagMoved {
            name: d.name.clone(),
            reference: source.with_tag(&tag).to_string(),
            version: tag,
            old: p.manifest.to_string(),
            new: manifest.to_string(),
        });
    }
    let pulled = client
        .pull_artifact(cache, artifact, manifest, &bytes)
        .map_err(registry)?;
    let entry = LockedDependency {
        name: d.name.clone(),
        source,
        version,
        manifest: pulled.manifest,
        config: pulled.artifact.config,
        weights: pulled.artifact.weights,
    };
    Ok(Locked {
        entry,
        package: pulled.package,
        downloaded: pulled.downloaded,
    })
}

/// The user's cache; `name` is the dependency it is for, in errors.
pub fn user_cache(name: &str) -> Result<Cache, DependencyError> {
    Cache::user().map_err(failed(name))
}

/// A registry error, about dependency `name`.
fn failed(name: &str) -> impl Fn(RegistryError) -> DependencyError + Copy + '_ {
    move |source| DependencyError::Registry {
        name: name.to_string(),
        source: Box::new(source),
    }
}

fn client(name: &str, source: &Reference, plain_http: bool) -> Result<Client, DependencyError> {
    let registry = failed(name);
    let credentials = credentials::lookup(&source.registry).map_err(registry)?;
    Client::new(source, Access::Pull, credentials, plain_http).map_err(registry)
}

fn reference(d: &Dependency) -> Result<Reference, DependencyError> {
    Reference::parse(&d.oci).map_err(|message| DependencyError::Declared {
        name: d.name.clone(),
        message,
    })
}

fn requirement(d: &Dependency) -> Result<VersionReq, DependencyError> {
    VersionReq::parse(&d.version).map_err(|e| DependencyError::Declared {
        name: d.name.clone(),
        message: format!("version `{}`: {e}", d.version),
    })
}

/// `anneal.lock` in `dir`, for messages.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anneal_registry::Digest;

    const PROGRAM: &str = "[program]\nname = \"app\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 4, 4]\nclasses = 2\n[model]\nlayers = [\"flatten\", \"dense 2\"]\n[dependencies]\nfeatures = { oci = \"127.0.0.1:5000/team/digits\", version = \"^0.1\" }\n";

    fn locked(source: &str, version: &str) -> LockedDependency {
        LockedDependency {
            name: "features".into(),
            source: Reference::parse(source).unwrap(),
            version: semver::Version::parse(version).unwrap(),
            manifest: Digest::of(b"m"),
            config: Digest::of(b"c"),
            weights: Digest::of(b"w"),
        }
    }

    #[test]
    fn a_dependency_must_be_locked_for_what_the_manifest_declares() {
        let tmp = tempfile::tempdir().unwrap();
        let program = Program::parse("anneal.toml", PROGRAM).unwrap();
        let message = |lock: Option<LockedDependency>| {
            let lock = Lock {
                build: None,
                dependencies: lock.into_iter().collect(),
            };
            lock.write(tmp.path()).unwrap();
            resolve_dependencies(tmp.path(), &program)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message(None),
            "dependency `features` is declared in anneal.toml but not locked in anneal.lock"
        );
        assert_eq!(
            message(Some(locked("127.0.0.1:5000/team/digits", "0.2.0"))),
            "dependency `features`: anneal.toml asks for version `^0.1`, anneal.lock has `0.2.0`"
        );
        assert_eq!(
            message(Some(locked("127.0.0.1:5000/team/other", "0.1.3"))),
            "dependency `features`: anneal.toml asks for oci `oci://127.0.0.1:5000/team/digits`, anneal.lock has `oci://127.0.0.1:5000/team/other`"
        );
        let none = Program::parse(
            "anneal.toml",
            PROGRAM.split("[dependencies]").next().unwrap(),
        )
        .unwrap();
        assert_eq!(resolve_dependencies(tmp.path(), &none).unwrap(), Vec::new());
    }
}
