//! [`publish`]: a package file to `REGISTRY/REPOSITORY:VERSION`, blobs the registry lacks
//! first, the manifest last, a version tag never moved.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anneal_pack::{Header, Package};
use serde::Serialize;

use crate::artifact::{Artifact, annotation};
use crate::client::Client;
use crate::digest::Digest;
use crate::error::RegistryError;

/// What [`publish`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    /// `host/repository:version`.
    pub reference: String,
    /// The manifest's digest.
    pub manifest: String,
    /// The config and weights blobs, each sent or already there.
    pub blobs: Vec<BlobReport>,
    /// The tag already named this very package: nothing was sent.
    pub already: bool,
    /// Bytes uploaded (blobs and manifest).
    pub bytes_sent: u64,
    /// Wall time.
    pub seconds: f64,
}

/// One blob of a publish.
#[derive(Debug, Clone, Serialize)]
pub struct BlobReport {
    /// `config` or `weights`.
    pub what: &'static str,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Uploaded (else the registry had it).
    pub sent: bool,
}

/// Publish the package at `path` as its version's tag in `client`'s repository, with
/// `source` as the `org.opencontainers.image.source` annotation when given: the config blob
/// (the metadata) and the weights blob (the tensors alone) unless the registry has them,
/// then the manifest.
pub fn publish(
    client: &Client,
    path: &Path,
    source: Option<&str>,
) -> Result<Published, RegistryError> {
    let start = Instant::now();
    let parts = Parts::of(path)?;
    let tag = parts.header.program.version.clone();
    let reference = client.reference.with_tag(&tag).to_string();
    let artifact = parts.artifact();
    if let Some(existing) = existing(client, &tag, &reference, &artifact)? {
        let (manifest, seconds) = (existing.to_string(), start.elapsed().as_secs_f64());
        return Ok(Published {
            reference,
            manifest,
            blobs: Vec::new(),
            already: true,
            bytes_sent: 0,
            seconds,
        });
    }
    let p = &parts.header.program;
    let manifest = artifact.manifest(
        &format!("{}-{}.safetensors", p.name, p.version),
        annotations(&parts.header, source),
    );
    let blobs = vec![
        send_blob(client, "config", &artifact.config, &parts.config)?,
        send_blob(client, "weights", &artifact.weights, &parts.weights)?,
    ];
    let digest = client.put_manifest(&tag, &manifest)?;
    let blob_bytes: u64 = blobs.iter().filter(|b| b.sent).map(|b| b.size).sum();
    let bytes_sent = blob_bytes + manifest.len() as u64;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Published {
        reference,
        manifest: digest.to_string(),
        blobs,
        already: false,
        bytes_sent,
        seconds,
    })
}

/// A package file as its two blobs.
struct Parts {
    header: Header,
    config: Vec<u8>,
    weights: Vec<u8>,
}

impl Parts {
    /// Split the package at `path`, and require that the two blobs assemble into exactly its
    /// bytes, as every puller will assemble them.
    fn of(path: &Path) -> Result<Parts, RegistryError> {
        let bytes = std::fs::read(path).map_err(|e| RegistryError::io(path, e))?;
        let package = Package::from_bytes(path, &bytes)?;
        let header = package.header();
        let fail = |m: String| RegistryError::io(path, std::io::Error::other(m));
        let config = header.to_config_json().map_err(fail)?;
        let weights = package.weights_file().map_err(fail)?;
        let again = Package::assemble(Header::from_config_json(path, &config)?, path, &weights)?;
        if again.to_bytes().map_err(fail)? != bytes {
            return Err(fail("the package does not assemble again byte for byte from its metadata and weights; rebuild it with this anneal".into()));
        }
        Ok(Parts {
            header,
            config,
            weights,
        })
    }

    fn artifact(&self) -> Artifact {
        Artifact {
            config: Digest::of(&self.config),
            config_size: self.config.len() as u64,
            weights: Digest::of(&self.weights),
            weights_size: self.weights.len() as u64,
        }
    }
}

/// The manifest digest when `tag` already names this package; an error when it names another.
fn existing(
    client: &Client,
    tag: &str,
    reference: &str,
    ours: &Artifact,
) -> Result<Option<Digest>, RegistryError> {
    let Some((bytes, digest)) = client.manifest(tag)? else {
        return Ok(None);
    };
    let theirs = Artifact::parse(reference, &bytes);
    if let Ok(t) = &theirs
        && t.config == ours.config
        && t.weights == ours.weights
    {
        return Ok(Some(digest));
    }
    let theirs = match theirs {
        Ok(t) => format!("config {}, weights {}", t.config, t.weights),
        Err(_) => "not an anneal package".into(),
    };
    Err(RegistryError::TagExists {
        reference: reference.to_string(),
        existing: digest.to_string(),
        theirs,
        ours: format!("config {}, weights {}", ours.config, ours.weights),
    })
}

/// Upload a blob unless the registry has it.
fn send_blob(
    client: &Client,
    what: &'static str,
    digest: &Digest,
    bytes: &[u8],
) -> Result<BlobReport, RegistryError> {
    let sent = !client.has_blob(digest)?;
    if sent {
        client.push_bytes(bytes, digest)?;
    }
    Ok(BlobReport {
        what,
        digest: digest.to_string(),
        size: bytes.len() as u64,
        sent,
    })
}

/// Title, version, created (`SOURCE_DATE_EPOCH`, else now) and source.
fn annotations(header: &Header, source: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        (annotation::TITLE.to_string(), header.program.name.clone()),
        (
            annotation::VERSION.to_string(),
            header.program.version.clone(),
        ),
        (annotation::CREATED.to_string(), rfc3339(created_seconds())),
    ]);
    if let Some(s) = source {
        out.insert(annotation::SOURCE.to_string(), s.to_string());
    }
    out
}

fn created_seconds() -> u64 {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    epoch.unwrap_or_else(|| now.map(|d| d.as_secs()).unwrap_or(0))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (days to civil date: Howard Hinnant's).
pub(crate) fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_764_000_000), "2025-11-24T16:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
