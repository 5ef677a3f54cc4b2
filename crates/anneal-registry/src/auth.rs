//! Authentication: the `WWW-Authenticate` challenge, Basic credentials, and the Bearer token
//! fetched from the challenge's realm (the Docker token flow).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;

/// What a registry may be given: a username and password (or personal access token), or a
/// registry token sent as it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic`, or Basic to the token realm.
    Basic {
        /// The user.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// `ANNEAL_REGISTRY_TOKEN`: sent as `Authorization: Bearer` when the registry asks for one.
    Token(String),
}

impl Credentials {
    /// The `Authorization: Basic …` value, when these are a username and password.
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                let raw = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            Credentials::Token(_) => None,
        }
    }
}

impl fmt::Debug for Credentials {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service to ask a token for.
        service: Option<String>,
        /// The scopes the registry wants (space-separated in the header).
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parse `SCHEME k="v",k2=v2`; `None` for a scheme other than Basic or Bearer, or a Bearer
    /// challenge without a realm.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = parameters(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.remove("realm")?,
                service: params.remove("service"),
                scope: params.remove("scope"),
            }),
            _ => None,
        }
    }
}

/// `k="v", k2=v2` (quoted values may hold commas and `\"`) as a map with lowercase keys.
fn parameters(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let value = match chars.peek() {
            Some('"') => quoted(&mut chars),
            _ => chars.by_ref().take_while(|c| *c != ',').collect(),
        };
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// The quoted string at the front of `chars`, unescaped.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    chars.next();
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => value.extend(chars.next()),
            c => value.push(c),
        }
    }
    value
}

/// The token endpoint's answer: `token` or `access_token`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenAnswer {
    pub(crate) fn token(self) -> Option<String> {
        self.token.or(self.access_token).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="anneal-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("basic"), Some(Challenge::Basic));
        let c = Challenge::parse(r#"Bearer realm=http://t/token, error="insufficient_scope""#);
        assert!(
            matches!(c, Some(Challenge::Bearer { realm, service: None, .. }) if realm == "http://t/token")
        );
        assert_eq!(Challenge::parse(r#"Bearer service="x""#), None);
        assert_eq!(Challenge::parse("Negotiate abc"), None);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert_eq!(format!("{c:?}"), "Basic(u, ***)");
        assert_eq!(c.basic_header().unwrap(), "Basic dTpodW50ZXIy");
    }
}
