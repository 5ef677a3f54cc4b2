//! [`Client`]: the OCI distribution API for one repository, blocking, on a private
//! current-thread runtime. Every request goes through [`Client::send`], which answers a 401
//! once: Basic credentials, or a Bearer token fetched from the challenge's realm.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::auth::{Challenge, Credentials, TokenAnswer};
use crate::digest::Digest;
use crate::error::{Refusal, RegistryError};
use crate::reference::Reference;

/// The manifest media type, sent as `Accept` on every manifest GET and HEAD (Distribution
/// 2.8 answers 404 for an OCI manifest to a request that does not accept it).
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The largest manifest read (Distribution's own limit is 4 MiB).
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Read only, or read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `repository:NAME:pull`.
    Pull,
    /// `repository:NAME:pull,push`.
    Push,
}

/// A connection to one repository of one registry.
#[derive(Debug)]
pub struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    pub(crate) reference: Reference,
    base: Url,
    access: Access,
    credentials: Option<Credentials>,
    authorization: RefCell<Option<String>>,
}

impl Client {
    /// A client for `reference`'s repository (its tag and digest are ignored).
    pub fn new(
        reference: &Reference,
        access: Access,
        credentials: Option<Credentials>,
        plain_http: bool,
    ) -> Result<Client, RegistryError> {
        let http_err = |e: &dyn std::fmt::Display| RegistryError::Http {
            registry: reference.registry.clone(),
            message: e.to_string(),
        };
        let base = format!("{}://{}/", reference.scheme(plain_http), reference.registry);
        let base = Url::parse(&base).map_err(|e| http_err(&e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let http = reqwest::Client::builder()
            .user_agent(concat!("anneal/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| http_err(&e))?;
        Ok(Client {
            rt: rt.map_err(|e| http_err(&e))?,
            http,
            reference: reference.repository_only(),
            base,
            access,
            credentials,
            authorization: RefCell::new(None),
        })
    }

    /// Run a request future to completion.
    pub(crate) fn block<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// `/v2/NAME/SUFFIX` on this registry.
    pub(crate) fn url(&self, suffix: &str) -> Result<Url, RegistryError> {
        let path = format!("v2/{}/{suffix}", self.reference.repository);
        self.base
            .join(&path)
            .map_err(|e| self.http_error(e.to_string()))
    }

    /// `GET /v2/`: reachable, and the credentials (if asked for) accepted.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = self
            .base
            .join("v2/")
            .map_err(|e| self.http_error(e.to_string()))?;
        self.block(async {
            let r = self.send(&|| Ok(self.http.get(url.clone()))).await?;
            self.expect(r, "GET /v2/", &[StatusCode::OK])
                .await
                .map(drop)
        })
    }

    /// Send a request, answering a 401 challenge once. `make` builds the request again for the
    /// retry (a file body is opened again).
    pub(crate) async fn send(
        &self,
        make: &dyn Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let first = self.attempt(make()?).await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.authenticate(first.headers()).await?;
        let second = self.attempt(make()?).await?;
        match second.status() {
            StatusCode::UNAUTHORIZED => Err(self.unauthorized()),
            _ => Ok(second),
        }
    }

    async fn attempt(&self, request: RequestBuilder) -> Result<Response, RegistryError> {
        let auth = self.authorization.borrow().clone();
        let request = match auth {
            Some(a) => request.header(AUTHORIZATION, a),
            None => request,
        };
        request.send().await.map_err(|e| self.transport(&e))
    }

    /// Set the `Authorization` the challenge in `headers` asks for.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<(), RegistryError> {
        let header = headers.get(reqwest::header::WWW_AUTHENTICATE);
        let challenge = header
            .and_then(|h| h.to_str().ok())
            .and_then(Challenge::parse);
        let value = match (challenge, &self.credentials) {
            (Some(Challenge::Basic), Some(c)) => c.basic_header(),
            (Some(Challenge::Bearer { .. }), Some(Credentials::Token(t))) => {
                Some(format!("Bearer {t}"))
            }
            (
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }),
                _,
            ) => Some(self.token(&realm, service, scope).await?),
            _ => None,
        };
        let value = value.ok_or_else(|| self.unauthorized())?;
        *self.authorization.borrow_mut() = Some(value);
        Ok(())
    }

    /// `GET REALM?service=…&scope=…` (Basic credentials when there are some): `Bearer TOKEN`.
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<String, RegistryError> {
        let mut url = Url::parse(realm)
            .map_err(|e| self.http_error(format!("token realm `{realm}`: {e}")))?;
        for s in self.scopes(scope) {
            url.query_pairs_mut().append_pair("scope", &s);
        }
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", &s);
        }
        let mut request = self.http.get(url);
        if let Some(basic) = self
            .credentials
            .as_ref()
            .and_then(Credentials::basic_header)
        {
            request = request.header(AUTHORIZATION, basic);
        }
        let answer = request.send().await.map_err(|e| self.transport(&e))?;
        if answer.status() == StatusCode::UNAUTHORIZED || answer.status() == StatusCode::FORBIDDEN {
            return Err(self.unauthorized());
        }
        let answer = self.expect(answer, "GET token", &[StatusCode::OK]).await?;
        let bytes = self.read_limited(answer, 1 << 20, "token").await?;
        let parsed: Result<TokenAnswer, _> = serde_json::from_slice(&bytes);
        let token = parsed.ok().and_then(TokenAnswer::token);
        let token =
            token.ok_or_else(|| self.http_error("the token endpoint sent no token".into()))?;
        Ok(format!("Bearer {token}"))
    }

    /// Ours (`pull`, or `pull,push`) and those the challenge named.
    fn scopes(&self, challenged: Option<String>) -> Vec<String> {
        let actions = match self.access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        let mut scopes = vec![format!(
            "repository:{}:{actions}",
            self.reference.repository
        )];
        let more = challenged.unwrap_or_default();
        scopes.extend(more.split(' ').filter(|s| !s.is_empty()).map(String::from));
        scopes.dedup();
        scopes
    }

    /// `response` when its status is one of `ok`, else the registry's error, typed.
    pub(crate) async fn expect(
        &self,
        response: Response,
        what: &str,
        ok: &[StatusCode],
    ) -> Result<Response, RegistryError> {
        let status = response.status();
        if ok.contains(&status) {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        let body = self
            .read_limited(response, 64 << 10, what)
            .await
            .unwrap_or_default();
        let (code, message) = error_body(&body);
        Err(RegistryError::Status(Box::new(Refusal {
            registry: self.reference.registry.clone(),
            repository: self.reference.repository.clone(),
            what: what.to_string(),
            status: status.as_u16(),
            code,
            message,
        })))
    }

    /// The whole body, refused past `limit` bytes.
    pub(crate) async fn read_limited(
        &self,
        mut response: Response,
        limit: usize,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(&e))? {
            if out.len() + chunk.len() > limit {
                return Err(self.http_error(format!("{what} is larger than {limit} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// An upload: `POST …/blobs/uploads/`, then `PUT LOCATION&digest=…` with the body `make`
    /// builds (again on a retry).
    pub(crate) async fn upload(
        &self,
        digest: &Digest,
        size: u64,
        body: &dyn Fn() -> Result<reqwest::Body, RegistryError>,
    ) -> Result<(), RegistryError> {
        let start = self.url("blobs/uploads/")?;
        let post = || {
            Ok(self
                .request(Method::POST, start.clone())
                .header(CONTENT_LENGTH, "0"))
        };
        let answer = self.send(&post).await?;
        let answer = self
            .expect(answer, "POST blob upload", &[StatusCode::ACCEPTED])
            .await?;
        let location = answer.headers().get(LOCATION).and_then(|l| l.to_str().ok());
        let location =
            location.ok_or_else(|| self.http_error("upload answer has no Location".into()))?;
        let mut put_url = start
            .join(location)
            .map_err(|e| self.http_error(e.to_string()))?;
        put_url
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let put = || {
            Ok(self
                .request(Method::PUT, put_url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(body()?))
        };
        let answer = self.send(&put).await?;
        let what = format!("PUT blob {digest}");
        self.expect(answer, &what, &[StatusCode::CREATED])
            .await
            .map(drop)
    }

    /// A body that streams the file at `path`.
    pub(crate) fn file_body(&self, path: &Path) -> Result<reqwest::Body, RegistryError> {
        let file = std::fs::File::open(path).map_err(|e| RegistryError::io(path, e))?;
        Ok(reqwest::Body::from(tokio::fs::File::from_std(file)))
    }

    /// `Accept` for manifests.
    pub(crate) fn manifest_request(&self, method: Method, url: Url) -> RequestBuilder {
        self.request(method, url).header(ACCEPT, MANIFEST_TYPE)
    }

    pub(crate) fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.reference.registry.clone(),
            repository: self.reference.repository.clone(),
            had_credentials: self.credentials.is_some(),
        }
    }

    pub(crate) fn http_error(&self, message: String) -> RegistryError {
        RegistryError::Http {
            registry: self.reference.registry.clone(),
            message,
        }
    }

    fn transport(&self, e: &reqwest::Error) -> RegistryError {
        if !e.is_connect() && !e.is_timeout() {
            return self.http_error(chain(e));
        }
        RegistryError::Unreachable {
            registry: self.reference.registry.clone(),
            url: e
                .url()
                .map_or_else(|| self.base.to_string(), Url::to_string),
            message: root_cause(e),
        }
    }
}

/// An error and its sources, `: `-joined (reqwest's own message is only the outermost).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// The innermost source: "Connection refused (os error 111)".
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// The first error of a registry's JSON error body: `(code, message)`.
fn error_body(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let first = serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.errors.into_iter().next());
    match first {
        Some(e) => (
            e.code.unwrap_or_else(|| "UNKNOWN".into()),
            e.message.unwrap_or_default(),
        ),
        None => (
            "UNKNOWN".into(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_their_code() {
        let body = br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:00"}]}"#;
        assert_eq!(
            error_body(body),
            (
                "MANIFEST_BLOB_UNKNOWN".into(),
                "blob unknown to registry".into()
            )
        );
        assert_eq!(error_body(b"<html>"), ("UNKNOWN".into(), "<html>".into()));
    }
}
