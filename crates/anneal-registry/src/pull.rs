//! Pulling packages: the highest version a requirement admits, and a package by tag or
//! digest into the [`Cache`], every blob verified and the weights' own metadata checked
//! against the config blob.

use std::path::PathBuf;

use anneal_pack::Header;
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
    /// The metadata (from the config blob, and equal to the package file's own).
    pub header: Header,
    /// The package file in the cache.
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

    /// The blobs of a manifest already read (`bytes`, hashing to `manifest`) into `cache`:
    /// the config read as package metadata, the weights' own metadata required to equal it.
    pub fn pull_artifact(
        &self,
        cache: &Cache,
        artifact: Artifact,
        manifest: Digest,
        bytes: &[u8],
    ) -> Result<Pulled, RegistryError> {
        cache.insert(&manifest, bytes)?;
        let (header, mut downloaded) = self.config(cache, &artifact.config)?;
        let (package, got) = cache.fetch(self, &artifact.weights)?;
        downloaded += fetched(got);
        let own = Header::read(&package)?;
        if own != header {
            return Err(RegistryError::Artifact {
                reference: format!("{}@{manifest}", self.reference),
                message: "has weights whose own metadata differs from its config blob".into(),
            });
        }
        Ok(Pulled {
            manifest,
            artifact,
            header,
            package,
            downloaded,
        })
    }

    /// The config blob (cached, verified) read as a package's metadata.
    fn config(&self, cache: &Cache, digest: &Digest) -> Result<(Header, u64), RegistryError> {
        let (bytes, downloaded) = match cache.verified(digest)? {
            Some(path) => (
                std::fs::read(&path).map_err(|e| RegistryError::io(&path, e))?,
                0,
            ),
            None => {
                let bytes = self.blob_bytes(digest, MAX_CONFIG_BYTES)?;
                cache.insert(digest, &bytes)?;
                let n = bytes.len() as u64;
                (bytes, n)
            }
        };
        let name = PathBuf::from(format!("{}@{digest} (config)", self.reference));
        Ok((Header::from_config_json(&name, &bytes)?, downloaded))
    }
}

fn fetched(f: Fetched) -> u64 {
    match f {
        Fetched::Cached => 0,
        Fetched::Downloaded(n) => n,
    }
}
