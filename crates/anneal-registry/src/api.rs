//! The distribution API's calls on a [`Client`]: tags, manifests and blobs.

use std::path::Path;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode, Url};

use crate::client::{Client, MANIFEST_TYPE, MAX_MANIFEST_BYTES};
use crate::digest::Digest;
use crate::error::RegistryError;

impl Client {
    /// Every tag of the repository (`GET …/tags/list`, following `Link`); none for a
    /// repository the registry does not know.
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        self.block(async {
            let mut url = Some(self.url("tags/list?n=1000")?);
            let mut tags = Vec::new();
            while let Some(u) = url.take() {
                let answer = self
                    .send(&|| Ok(self.request(Method::GET, u.clone())))
                    .await?;
                if answer.status() == StatusCode::NOT_FOUND {
                    return Ok(tags);
                }
                let answer = self.expect(answer, "GET tags", &[StatusCode::OK]).await?;
                url = next_link(&answer, &u);
                let body = self.read_limited(answer, 16 << 20, "tags list").await?;
                tags.extend(self.tag_page(&body)?);
            }
            Ok(tags)
        })
    }

    fn tag_page(&self, body: &[u8]) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let page: Page = serde_json::from_slice(body)
            .map_err(|e| self.http_error(format!("malformed tags list: {e}")))?;
        Ok(page.tags.unwrap_or_default())
    }

    /// The manifest at a tag or digest, with the digest of its bytes; `None` when the registry
    /// has no such manifest. Fetched by digest, the bytes must hash to it.
    pub fn manifest(&self, at: &str) -> Result<Option<(Vec<u8>, Digest)>, RegistryError> {
        let url = self.url(&format!("manifests/{at}"))?;
        let bytes = self.block(async {
            let answer = self
                .send(&|| Ok(self.manifest_request(Method::GET, url.clone())))
                .await?;
            if answer.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let what = format!("GET manifest {at}");
            let answer = self.expect(answer, &what, &[StatusCode::OK]).await?;
            self.read_limited(answer, MAX_MANIFEST_BYTES, "the manifest")
                .await
                .map(Some)
        })?;
        let Some(bytes) = bytes else { return Ok(None) };
        let digest = Digest::of(&bytes);
        match Digest::parse(at) {
            Ok(expected) if expected != digest => {
                Err(self.mismatch("manifest", &expected, &digest))
            }
            _ => Ok(Some((bytes, digest))),
        }
    }

    /// `PUT …/manifests/TAG` with the manifest's media type; its digest.
    pub fn put_manifest(&self, tag: &str, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let url = self.url(&format!("manifests/{tag}"))?;
        let make = || {
            let r = self
                .request(Method::PUT, url.clone())
                .header(CONTENT_TYPE, MANIFEST_TYPE);
            Ok(r.body(bytes.to_vec()))
        };
        let what = format!("PUT manifest {tag}");
        self.block(async {
            let answer = self.send(&make).await?;
            self.expect(answer, &what, &[StatusCode::CREATED])
                .await
                .map(drop)
        })?;
        Ok(Digest::of(bytes))
    }

    /// Whether the repository holds the blob (`HEAD …/blobs/DIGEST`).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"))?;
        self.block(async {
            let answer = self
                .send(&|| Ok(self.request(Method::HEAD, url.clone())))
                .await?;
            if answer.status() == StatusCode::NOT_FOUND {
                return Ok(false);
            }
            let what = format!("HEAD blob {digest}");
            self.expect(answer, &what, &[StatusCode::OK])
                .await
                .map(|_| true)
        })
    }

    /// Upload a file as the blob `digest` of `size` bytes, streamed.
    pub fn push_file(&self, path: &Path, digest: &Digest, size: u64) -> Result<(), RegistryError> {
        self.block(self.upload(digest, size, &|| self.file_body(path)))
    }

    /// Upload bytes as a blob.
    pub fn push_bytes(&self, bytes: &[u8], digest: &Digest) -> Result<(), RegistryError> {
        let size = bytes.len() as u64;
        self.block(self.upload(digest, size, &|| Ok(reqwest::Body::from(bytes.to_vec()))))
    }

    /// A small blob (a config) in memory, verified against its digest.
    pub fn blob_bytes(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>, RegistryError> {
        let bytes = self.block(async {
            let answer = self.blob_response(digest).await?;
            self.read_limited(answer, limit, "the config blob").await
        })?;
        let actual = Digest::of(&bytes);
        match &actual == digest {
            true => Ok(bytes),
            false => Err(self.mismatch("blob", digest, &actual)),
        }
    }

    /// `GET …/blobs/DIGEST`, redirects followed (without `Authorization` to another host).
    pub(crate) async fn blob_response(&self, digest: &Digest) -> Result<Response, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let answer = self
            .send(&|| Ok(self.request(Method::GET, url.clone())))
            .await?;
        self.expect(answer, &format!("GET blob {digest}"), &[StatusCode::OK])
            .await
    }

    pub(crate) fn mismatch(&self, what: &str, expected: &Digest, actual: &Digest) -> RegistryError {
        RegistryError::DigestMismatch {
            registry: self.reference.registry.clone(),
            repository: self.reference.repository.clone(),
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
    }
}

/// The `rel="next"` target of a `Link` header, resolved against the request's URL.
fn next_link(answer: &Response, request: &Url) -> Option<Url> {
    let link = answer.headers().get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = link.split_once('>')?;
    let next = params.contains("rel=\"next\"") || params.contains("rel=next");
    next.then(|| request.join(target.trim().trim_start_matches('<')).ok())?
}
