//! The package as an OCI artifact (image-spec 1.1, "artifact with a config blob"):
//!
//! ```json
//! {
//!   "schemaVersion": 2,
//!   "mediaType": "application/vnd.oci.image.manifest.v1+json",
//!   "artifactType": "application/vnd.anneal.package.v1",
//!   "config": {"mediaType": "application/vnd.anneal.package.config.v1+json",
//!              "digest": "sha256:…", "size": 2210},
//!   "layers": [{"mediaType": "application/vnd.anneal.weights.v1.safetensors",
//!               "digest": "sha256:…", "size": 9036,
//!               "annotations": {"org.opencontainers.image.title": "digits-0.1.0.safetensors"}}],
//!   "annotations": {"org.opencontainers.image.title": "digits", "…version": "0.1.0",
//!                   "…created": "2026-…Z", "…source": "…" (when given)}
//! }
//! ```
//!
//! The config blob is the package's metadata as JSON (program, signature, lineage, metrics,
//! cost, audit); the one layer is the weights alone, a plain safetensors file, so a new
//! version whose weights did not change sends no weights. A puller assembles the two into
//! the package file, byte for byte what was built (the publisher checks that it does).
//! Readers take `config.mediaType` when `artifactType` is
//! absent (oras-py never writes it) and refuse anything else by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::MANIFEST_TYPE;
use crate::digest::Digest;
use crate::error::RegistryError;

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.anneal.package.v1";
/// The config blob's media type.
pub const CONFIG_TYPE: &str = "application/vnd.anneal.package.config.v1+json";
/// The weights layer's media type.
pub const WEIGHTS_TYPE: &str = "application/vnd.anneal.weights.v1.safetensors";
/// The largest config blob read.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Annotations (the layer's file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest, as far as packages use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// [`ARTIFACT_TYPE`] for packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The metadata blob.
    pub config: Descriptor,
    /// The weights.
    pub layers: Vec<Descriptor>,
    /// Title, version, created, source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a package manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The config blob.
    pub config: Digest,
    /// Its size.
    pub config_size: u64,
    /// The weights (the package file).
    pub weights: Digest,
    /// Its size.
    pub weights_size: u64,
}

/// The manifest annotation keys.
pub mod annotation {
    /// The package name (on the manifest) or file name (on the layer).
    pub const TITLE: &str = "org.opencontainers.image.title";
    /// The package version.
    pub const VERSION: &str = "org.opencontainers.image.version";
    /// When it was published, RFC 3339.
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// Where its source lives.
    pub const SOURCE: &str = "org.opencontainers.image.source";
}

impl Artifact {
    /// The manifest's bytes (compact JSON, fields in a fixed order): what is pushed and hashed.
    pub fn manifest(&self, file_name: &str, annotations: BTreeMap<String, String>) -> Vec<u8> {
        let layer_note = BTreeMap::from([(annotation::TITLE.to_string(), file_name.to_string())]);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_TYPE.into()),
            artifact_type: Some(ARTIFACT_TYPE.into()),
            config: descriptor(CONFIG_TYPE, &self.config, self.config_size, None),
            layers: vec![descriptor(
                WEIGHTS_TYPE,
                &self.weights,
                self.weights_size,
                Some(layer_note),
            )],
            annotations: Some(annotations),
        };
        serde_json::to_vec(&manifest).unwrap_or_default()
    }

    /// Read a package manifest; anything else is refused, naming what it is.
    pub fn parse(reference: &str, bytes: &[u8]) -> Result<Artifact, RegistryError> {
        let bad = |message: String| RegistryError::Artifact {
            reference: reference.into(),
            message,
        };
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("is not an OCI image manifest: {e}")))?;
        kind(&m).map_err(&bad)?;
        let [layer] = m.layers.as_slice() else {
            return Err(bad(format!(
                "has {} layers; a package has one, the weights",
                m.layers.len()
            )));
        };
        if layer.media_type != WEIGHTS_TYPE {
            return Err(bad(format!(
                "has a layer of type `{}`, expected `{WEIGHTS_TYPE}`",
                layer.media_type
            )));
        }
        let digest = |d: &Descriptor| Digest::parse(&d.digest).map_err(&bad);
        if m.config.size > MAX_CONFIG_BYTES as u64 {
            return Err(bad(format!(
                "has a config of {} bytes; at most {MAX_CONFIG_BYTES} are read",
                m.config.size
            )));
        }
        Ok(Artifact {
            config: digest(&m.config)?,
            config_size: m.config.size,
            weights: digest(layer)?,
            weights_size: layer.size,
        })
    }
}

/// An image manifest whose `artifactType` (or, without one, config type) is a package's.
fn kind(m: &Manifest) -> Result<(), String> {
    if m.schema_version != 2 || m.media_type.as_deref().is_some_and(|t| t != MANIFEST_TYPE) {
        let t = m.media_type.as_deref().unwrap_or("no media type");
        return Err(format!(
            "is `{t}` (schema {}), not an OCI image manifest",
            m.schema_version
        ));
    }
    let config = m.config.media_type.as_str();
    match m.artifact_type.as_deref() {
        Some(ARTIFACT_TYPE) | None if config == CONFIG_TYPE => Ok(()),
        Some(ARTIFACT_TYPE) => Err(format!(
            "has config type `{config}`, expected `{CONFIG_TYPE}`"
        )),
        Some(other) => Err(format!(
            "is not an anneal package: its artifact type is `{other}`, expected `{ARTIFACT_TYPE}`"
        )),
        None => Err(format!(
            "is not an anneal package: it has no artifact type and its config type is `{config}`, expected `{CONFIG_TYPE}`"
        )),
    }
}

fn descriptor(
    media_type: &str,
    digest: &Digest,
    size: u64,
    annotations: Option<BTreeMap<String, String>>,
) -> Descriptor {
    let (media_type, digest) = (media_type.to_string(), digest.to_string());
    Descriptor {
        media_type,
        digest,
        size,
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        let (config, weights) = (Digest::of(b"{}"), Digest::of(b"w"));
        Artifact {
            config,
            config_size: 2,
            weights,
            weights_size: 1,
        }
    }

    #[test]
    fn a_manifest_round_trips() {
        let notes = BTreeMap::from([(annotation::VERSION.to_string(), "0.1.0".to_string())]);
        let bytes = artifact().manifest("p-0.1.0.anneal", notes);
        assert_eq!(Artifact::parse("r", &bytes).unwrap(), artifact());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.anneal.package.v1","config":{"mediaType":"application/vnd.anneal.package.config.v1+json""#), "{text}");
    }

    #[test]
    fn without_artifact_type_the_config_type_decides() {
        let mut m: Manifest =
            serde_json::from_slice(&artifact().manifest("f", BTreeMap::new())).unwrap();
        m.artifact_type = None;
        m.media_type = None;
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(Artifact::parse("r", &bytes).unwrap(), artifact());
        m.config.media_type = "application/vnd.unknown.config.v1+json".into();
        let e = Artifact::parse("r:1", &serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`r:1` is not an anneal package: it has no artifact type and its config type is `application/vnd.unknown.config.v1+json`, expected `application/vnd.anneal.package.config.v1+json`"
        );
    }

    #[test]
    fn foreign_manifests_are_refused_by_name() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        let e = Artifact::parse("r", index).unwrap_err().to_string();
        assert!(e.contains("is not an OCI image manifest"), "{e}");
        let mut m: Manifest =
            serde_json::from_slice(&artifact().manifest("f", BTreeMap::new())).unwrap();
        m.layers.push(m.layers[0].clone());
        let e = Artifact::parse("r", &serde_json::to_vec(&m).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has 2 layers"), "{e}");
        m.layers.truncate(1);
        m.layers[0].digest = "md5:00".into();
        let e = Artifact::parse("r", &serde_json::to_vec(&m).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a digest"), "{e}");
    }
}
