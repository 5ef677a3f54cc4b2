//! [`Reference`]: `host[:port]/repository[:tag][@sha256:…]`, parsed and checked once, and
//! whether the registry is spoken to over plain HTTP.

use std::fmt;

use crate::digest::Digest;

/// A registry, a repository in it, and optionally a tag and a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `team/digits`: lowercase path components.
    pub repository: String,
    /// `0.1.0`.
    pub tag: Option<String>,
    /// `sha256:…`.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse a reference; `oci://` in front is allowed (as the lock writes sources).
    pub fn parse(input: &str) -> Result<Reference, String> {
        let bad = |why: String| format!("`{input}` is not a registry reference: {why}");
        let text = input.strip_prefix("oci://").unwrap_or(input);
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(bad)?)),
            None => (text, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(bad(
                "expected `host[:port]/repository[:tag]`, e.g. `127.0.0.1:5000/team/digits:0.1.0`"
                    .into(),
            ));
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) => (r, Some(t.to_string())),
            None => (path, None),
        };
        check_registry(registry).map_err(bad)?;
        check_repository(repository).map_err(bad)?;
        if let Some(t) = &tag {
            check_tag(t).map_err(bad)?;
        }
        let (registry, repository) = (registry.to_string(), repository.to_string());
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The same repository without tag or digest: what the lock calls the source.
    pub fn repository_only(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository at `tag`.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// `oci://host/repository`.
    pub fn source(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }

    /// `http://` for loopback hosts and for those in `ANNEAL_INSECURE_REGISTRIES`
    /// (comma-separated `host[:port]`), or when `plain_http` is asked; `https://` otherwise.
    pub fn scheme(&self, plain_http: bool) -> &'static str {
        let listed = std::env::var("ANNEAL_INSECURE_REGISTRIES").unwrap_or_default();
        let insecure = listed.split(',').any(|h| h.trim() == self.registry);
        match plain_http || insecure || is_loopback(&self.registry) {
            true => "http",
            false => "https",
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, Some(p)),
        _ => (registry, None),
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    match host_ok && port_ok {
        true => Ok(()),
        false => Err(format!("registry `{registry}` is not `host[:port]`")),
    }
}

/// Path components of lowercase letters and digits, joined by `.`, `_`, `__` or dashes.
fn check_repository(repository: &str) -> Result<(), String> {
    let ok = repository.split('/').all(component_ok);
    match ok && repository.len() <= 255 {
        true => Ok(()),
        false => Err(format!(
            "repository `{repository}` must be lowercase letters and digits, components separated by `/` and joined within by `.`, `_`, `__` or `-`"
        )),
    }
}

fn component_ok(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let separators = c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit());
    separators
        .filter(|s| !s.is_empty())
        .all(|s| s == "." || s == "_" || s == "__" || s.bytes().all(|b| b == b'-'))
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`: no `+`, so a version with build metadata is no tag.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "tag `{tag}` must be letters, digits, `_`, `.` or `-` (at most 128, not starting with `.` or `-`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_into_their_parts() {
        let r = Reference::parse("127.0.0.1:5000/team/digits:0.1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/digits", Some("0.1.0"))
        );
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/digits:0.1.0");
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("oci://ghcr.io/a/b-c__d.e@{d}")).unwrap();
        assert_eq!((r.tag, r.digest), (None, Some(d)));
        assert_eq!(r.registry, "ghcr.io");
        let r = Reference::parse("[::1]:5000/x").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn bad_references_say_what_was_expected() {
        for bad in [
            "digits",
            "host/Team/x",
            "host/a//b",
            "host/-a",
            "host/a._b",
            "host:99999/a",
            "host/a:1.0+build",
            "host/a:.x",
            "host/a@sha256:00",
            "/a",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("`{bad}` is not a registry reference")),
                "{e}"
            );
        }
    }

    #[test]
    fn loopback_registries_use_plain_http() {
        let scheme = |r: &str| Reference::parse(&format!("{r}/a")).unwrap().scheme(false);
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("127.3.2.1"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("[::1]:5000"), "http");
        assert_eq!(scheme("ghcr.io"), "https");
        assert_eq!(scheme("128.0.0.1:5000"), "https");
        let r = Reference::parse("ghcr.io/a").unwrap();
        assert_eq!(r.scheme(true), "http");
    }
}
