//! Pulling packages: the highest version a requirement admits, and a package by tag or
//! digest into the [`Cache`], every blob verified, the package assembled from its config and
//! weights blobs and checked as any package file is.

use std::path::PathBuf;

use anneal_pack::{Header, Package};
use semver::{Version, VersionReq};

use crate::artifact::{Artifact, MAX_CONFIG_BYTES};
use crate::cache::{Cache, Fetched};
use crate::client::Client;
use crate::digest::Digest;
use crate::error::RegistryError;

/// A package in the cache.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest's digest.
    pub manifest: Digest,
    /// What it points at.
    pub artifact: Artifact,
    /// The metadata (from the config blob).
    pub header: Header,
    /// The package file, assembled in the cache.
    pub package: PathBuf,
    /// Bytes downloaded (0 when all was cached).
    pub downloaded: u64,
}

impl Client {
    /// The highest tag that is a version `requirement` admits (tags that are no semver
    /// version are ignored).
    pub fn highest(&self, requirement: &VersionReq) -> Result<Version, RegistryError> {
        let tags = self.tags()?;
        let mut versions: Vec<Version> =
            tags.iter().filter_map(|t| Version::parse(t).ok()).collect();
        versions.sort();
        let best = versions
            .iter()
            .rev()
            .find(|v| requirement.matches(v))
            .cloned();
        best.ok_or_else(|| RegistryError::NoVersion {
            reference: self.reference.to_string(),
            requirement: requirement.to_string(),
            versions: versions.iter().map(Version::to_string).collect(),
        })
    }

    /// The package manifest at a tag or digest (by digest, verified), its digest and bytes.
    pub fn package_manifest(&self, at: &str) -> Result<(Artifact, Digest, Vec<u8>), RegistryError> {
        let reference = format!(
            "{}{}{at}",
            self.reference,
            if at.starts_with("sha256:") { "@" } else { ":" }
        );
        let (bytes, digest) = self
            .manifest(at)?
            .ok_or_else(|| RegistryError::NoManifest {
                reference: reference.clone(),
            })?;
        Ok((Artifact::parse(&reference, &bytes)?, digest, bytes))
    }

    /// The package at `at` (a tag, or a manifest digest) into `cache`.
    pub fn pull(&self, cache: &Cache, at: &str) -> Result<Pulled, RegistryError> {
        let (artifact, manifest, bytes) = self.package_manifest(at)?;
        self.pull_artifact(cache, artifact, manifest, &bytes)
    }

    /// The blobs of a manifest already read (`bytes`, hashing to `manifest`) into `cache`,
    /// and the package they make (see [`assemble`]).
    pub fn pull_artifact(
        &self,
        cache: &Cache,
        artifact: Artifact,
        manifest: Digest,
        bytes: &[u8],
    ) -> Result<Pulled, RegistryError> {
        cache.insert(&manifest, bytes)?;
        let mut downloaded = 0;
        if cache.verified(&artifact.config)?.is_none() {
            let config = self.blob_bytes(&artifact.config, MAX_CONFIG_BYTES)?;
            cache.insert(&artifact.config, &config)?;
            downloaded += config.len() as u64;
        }
        downloaded += fetched(cache.fetch(self, &artifact.weights)?.1);
        let (header, package) = assemble(cache, &artifact.config, &artifact.weights)?;
        Ok(Pulled {
            manifest,
            artifact,
            header,
            package,
            downloaded,
        })
    }
}

/// The package made of a config blob and a weights blob, both in `cache` and hashed again
/// here: the metadata checked as a package's, every tensor checked, written (atomically) to
/// [`Cache::package_path`] unless the file there already holds exactly these bytes.
pub fn assemble(
    cache: &Cache,
    config: &Digest,
    weights: &Digest,
) -> Result<(Header, PathBuf), RegistryError> {
    let blob = |d: &Digest| -> Result<(PathBuf, Vec<u8>), RegistryError> {
        let path = cache.verified(d)?.ok_or_else(|| {
            RegistryError::io(
                &cache.path(d),
                std::io::Error::other("missing from the cache"),
            )
        })?;
        let bytes = std::fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
        Ok((path, bytes))
    };
    let (config_path, config_bytes) = blob(config)?;
    let header = Header::from_config_json(&config_path, &config_bytes)?;
    let (weights_path, weights_bytes) = blob(weights)?;
    let package = Package::assemble(header.clone(), &weights_path, &weights_bytes)?;
    let bytes = package
        .to_bytes()
        .map_err(|e| RegistryError::io(&weights_path, std::io::Error::other(e)))?;
    let path = cache.put_package(config, weights, &bytes)?;
    Ok((header, path))
}

fn fetched(f: Fetched) -> u64 {
    match f {
        Fetched::Cached => 0,
        Fetched::Downloaded(n) => n,
    }
}
