//! Security of a local web server (RELIABILITY promise 13, after Jupyter's model).
//!
//! - A random [`Token`] of 256 bits per start, printed in the URL. `/?token=T` sets an
//!   `HttpOnly; SameSite=Strict` cookie (named after the port, so two studios do not log each
//!   other out) and redirects to the same URL without the token; every other request needs
//!   the cookie. Both are compared in constant time.
//! - The `Host` header must name the served address (`127.0.0.1:PORT`, `localhost:PORT` or
//!   the bound host): a page on another site whose name resolves to 127.0.0.1 (DNS rebinding)
//!   is refused.
//! - Every request other than GET and HEAD needs an `Origin` equal to the served origin.
//! - No CORS headers; every response carries a strict Content-Security-Policy (no inline
//!   script or style: the studio's own are served files), `nosniff`, `no-referrer` and
//!   `frame-ancestors 'none'`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::StudioError;

/// The policy every response carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A per-start secret: 32 random bytes as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the operating system's random source.
    pub fn random() -> Result<Token, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Its text, as printed in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does `given` equal it? (Constant time in the token's content.)
    fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// Never printed by `Debug`: logs must not leak it.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Who may talk to the studio: its token and the `Host` values that name it.
#[derive(Debug, Clone)]
pub struct Guard {
    token: Token,
    port: u16,
    hosts: Vec<String>,
}

/// What the guard decided for a request.
enum Verdict {
    Pass,
    /// A valid token in the URL: set the cookie, go to this URL without it.
    Login(String),
}

impl Guard {
    /// The guard of a studio bound to `host:port`.
    pub fn new(token: Token, host: &str, port: u16) -> Guard {
        let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        let bound = match host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => format!("[{v6}]:{port}"),
            Err(_) => format!("{}:{port}", host.to_ascii_lowercase()),
        };
        if !hosts.contains(&bound) {
            hosts.push(bound);
        }
        Guard { token, port, hosts }
    }

    /// The cookie's name: per port, since browsers share cookies across a host's ports.
    fn cookie_name(&self) -> String {
        format!("anneal_studio_{}", self.port)
    }

    fn check(&self, req: &Request) -> Result<Verdict, StudioError> {
        let host = header_str(req.headers(), header::HOST).to_ascii_lowercase();
        if !self.hosts.contains(&host) {
            return Err(StudioError::Forbidden("foreign Host header"));
        }
        if let Some(given) = query_token(req.uri().query()) {
            if !self.token.matches(&given) {
                return Err(StudioError::Forbidden("wrong token"));
            }
            return Ok(Verdict::Login(without_token(req.uri())));
        }
        if !self.has_cookie(req.headers()) {
            return Err(StudioError::Forbidden(
                "no valid token: open the URL `anneal studio` printed",
            ));
        }
        let safe = req.method() == Method::GET || req.method() == Method::HEAD;
        if !safe && header_str(req.headers(), header::ORIGIN) != format!("http://{host}") {
            return Err(StudioError::Forbidden("foreign or missing Origin"));
        }
        Ok(Verdict::Pass)
    }

    fn has_cookie(&self, headers: &HeaderMap) -> bool {
        let name = self.cookie_name();
        let values = headers.get_all(header::COOKIE).iter();
        let pairs = values
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'));
        pairs
            .filter_map(|p| p.trim().split_once('='))
            .any(|(k, v)| k == name && self.token.matches(v))
    }

    fn login(&self, location: &str) -> Response {
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name(),
            self.token.as_str()
        );
        let headers = [
            (header::LOCATION, location.to_string()),
            (header::SET_COOKIE, cookie),
        ];
        (StatusCode::SEE_OTHER, headers).into_response()
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default()
}

fn query_token(query: Option<&str>) -> Option<String> {
    let pairs = query_pairs(query);
    pairs
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

/// The request's path and query, less the token.
fn without_token(uri: &axum::http::Uri) -> String {
    let rest: Vec<(String, String)> = query_pairs(uri.query())
        .into_iter()
        .filter(|(k, _)| k != "token")
        .collect();
    let query = serde_urlencoded::to_string(&rest).unwrap_or_default();
    match query.is_empty() {
        true => uri.path().to_string(),
        false => format!("{}?{query}", uri.path()),
    }
}

/// The middleware: refuse what the guard refuses, and harden every response.
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mut response = match guard.check(&req) {
        Ok(Verdict::Pass) => next.run(req).await,
        Ok(Verdict::Login(location)) => guard.login(&location),
        Err(e) => e.into_response(),
    };
    harden(response.headers_mut());
    response
}

fn harden(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
}
