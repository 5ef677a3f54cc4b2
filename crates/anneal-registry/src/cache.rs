//! [`Cache`]: blobs by digest, `ROOT/oci/blobs/sha256/HEX` (the OCI image-layout naming), so
//! identical blobs are stored once whatever repository or project they came from.
//!
//! A blob is streamed into a temporary file beside its place while it is hashed, checked
//! against the digest asked for, synced and renamed into place: a partial or wrong file never
//! has a blob's name. Reading trusts nothing: [`Cache::verified`] hashes the file again (about
//! a second per GB) and removes it when it does not match, so it is fetched again.
//!
//! A package is assembled from its config and weights blobs into `ROOT/oci/packages/`
//! (see [`crate::pull::assemble`]), from blobs hashed again each time.
//!
//! ROOT is `$ANNEAL_CACHE_DIR`, else `$XDG_CACHE_HOME/anneal`, else `~/.cache/anneal`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::client::Client;
use crate::digest::Digest;
use crate::error::RegistryError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The content-addressed blob cache.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// How [`Cache::fetch`] got a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// It was in the cache and still hashes to its digest.
    Cached,
    /// Downloaded, this many bytes.
    Downloaded(u64),
}

impl Cache {
    /// The cache at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// The user's cache (see the module documentation).
    pub fn user() -> Result<Cache, RegistryError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let root = env("ANNEAL_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|x| x.join("anneal")))
            .or_else(|| env("HOME").map(|h| h.join(".cache").join("anneal")));
        root.map(Cache::at).ok_or_else(|| RegistryError::Io {
            path: PathBuf::from("~/.cache/anneal"),
            source: std::io::Error::other("no cache folder: set ANNEAL_CACHE_DIR or HOME"),
        })
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.hex())
    }

    /// Where the package made of `config` and `weights` is assembled:
    /// `ROOT/oci/packages/CONFIGHEX-WEIGHTSHEX.anneal`.
    pub fn package_path(&self, config: &Digest, weights: &Digest) -> PathBuf {
        let name = format!("{}-{}.anneal", config.hex(), weights.hex());
        self.root.join("oci").join("packages").join(name)
    }

    /// Write an assembled package, unless the file there holds exactly `bytes`.
    pub(crate) fn put_package(
        &self,
        config: &Digest,
        weights: &Digest,
        bytes: &[u8],
    ) -> Result<PathBuf, RegistryError> {
        let path = self.package_path(config, weights);
        if std::fs::read(&path).is_ok_and(|b| b == bytes) {
            return Ok(path);
        }
        let dir = self.root.join("oci").join("packages");
        anneal_data::fs::create_dir_durable(&dir).map_err(|e| RegistryError::io(&dir, e))?;
        anneal_data::fs::write_atomic(&path, bytes).map_err(|e| RegistryError::io(&path, e))?;
        Ok(path)
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("oci").join("blobs").join("sha256")
    }

    /// The blob's path when it is cached and hashes to its digest; a file that does not is
    /// removed (it is not the blob).
    pub fn verified(&self, digest: &Digest) -> Result<Option<PathBuf>, RegistryError> {
        let path = self.path(digest);
        match Digest::of_file(&path) {
            Ok(d) if &d == digest => Ok(Some(path)),
            Ok(_) => std::fs::remove_file(&path)
                .map(|()| None)
                .map_err(|e| RegistryError::io(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io(&path, e)),
        }
    }

    /// Store `bytes` as the blob `digest` (they must hash to it).
    pub fn insert(&self, digest: &Digest, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
        let actual = Digest::of(bytes);
        if &actual != digest {
            let message = format!("bytes hash to {actual}, not {digest}");
            return Err(RegistryError::io(
                &self.path(digest),
                std::io::Error::other(message),
            ));
        }
        let path = self.path(digest);
        let blobs = self.blobs();
        anneal_data::fs::create_dir_durable(&blobs).map_err(|e| RegistryError::io(&blobs, e))?;
        anneal_data::fs::write_atomic(&path, bytes).map_err(|e| RegistryError::io(&path, e))?;
        Ok(path)
    }

    /// The blob from the cache, or downloaded from `client`'s repository and verified.
    pub fn fetch(
        &self,
        client: &Client,
        digest: &Digest,
    ) -> Result<(PathBuf, Fetched), RegistryError> {
        if let Some(path) = self.verified(digest)? {
            return Ok((path, Fetched::Cached));
        }
        let blobs = self.blobs();
        anneal_data::fs::create_dir_durable(&blobs).map_err(|e| RegistryError::io(&blobs, e))?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = Partial(blobs.join(format!(".{}.tmp-{}-{n}", digest.hex(), std::process::id())));
        let bytes = client.block(download(client, digest, &tmp.0))?;
        let path = self.path(digest);
        std::fs::rename(&tmp.0, &path).map_err(|e| RegistryError::io(&path, e))?;
        anneal_data::fs::sync_dir(&blobs).map_err(|e| RegistryError::io(&blobs, e))?;
        Ok((path, Fetched::Downloaded(bytes)))
    }
}

/// A temporary file, removed when dropped (after a rename it is gone already).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Stream the blob into `tmp`, hashing it; synced, and checked against `digest`.
async fn download(client: &Client, digest: &Digest, tmp: &Path) -> Result<u64, RegistryError> {
    let io = |e| RegistryError::io(tmp, e);
    let mut response = client.blob_response(digest).await?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io)?;
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    let cut = |e: reqwest::Error| client.http_error(format!("blob {digest}: {e}"));
    while let Some(chunk) = response.chunk().await.map_err(cut)? {
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(io)?;
        bytes += chunk.len() as u64;
    }
    let actual = Digest::from_hasher(hasher);
    if &actual != digest {
        return Err(client.mismatch("blob", digest, &actual));
    }
    file.sync_all().map_err(io)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_by_digest_and_checked_when_read() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::at(tmp.path());
        let d = Digest::of(b"weights");
        assert_eq!(cache.verified(&d).unwrap(), None);
        assert!(cache.insert(&d, b"other").is_err());
        assert!(!cache.path(&d).exists(), "a wrong blob was stored");
        let path = cache.insert(&d, b"weights").unwrap();
        assert!(path.ends_with(format!("oci/blobs/sha256/{}", d.hex())));
        assert_eq!(cache.verified(&d).unwrap(), Some(path.clone()));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"!").unwrap(); // a corrupted blob
        assert_eq!(cache.verified(&d).unwrap(), None);
        assert!(!path.exists(), "a corrupt blob was kept");
    }
}
