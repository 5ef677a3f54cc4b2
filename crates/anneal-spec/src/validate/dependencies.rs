//! `[dependencies]`: `NAME = { oci = "host[:port]/repository", version = "^0.1" }`. The
//! repository is checked for its form here (the registry client parses it again before use);
//! the version is a semver requirement.

use std::collections::BTreeMap;

use toml::Spanned;

use super::Validator;
use crate::error::ManifestError;
use crate::manifest::DependencyTable;
use crate::program::Dependency;

impl Validator<'_> {
    pub(super) fn dependencies(
        &self,
        deps: &BTreeMap<String, Spanned<DependencyTable>>,
    ) -> Result<Vec<Dependency>, ManifestError> {
        let one =
            |(name, table): (&String, &Spanned<DependencyTable>)| self.dependency(name, table);
        deps.iter().map(one).collect()
    }

    fn dependency(
        &self,
        name: &str,
        table: &Spanned<DependencyTable>,
    ) -> Result<Dependency, ManifestError> {
        if !name_ok(name) {
            let message = format!(
                "dependency name `{name}`: expected lowercase letters, digits, `-` or `_`, starting with a letter"
            );
            return Err(self.fail(table.span(), message));
        }
        let t = table.get_ref();
        let oci = t.oci.get_ref();
        if let Err(why) = repository(oci) {
            let message = format!("dependency `{name}`: `oci = \"{oci}\"` {why}");
            let hint = "write `oci = \"HOST[:PORT]/REPOSITORY\"`, e.g. `oci = \"127.0.0.1:5000/team/digits\"`, and the version apart";
            return Err(self.fail(t.oci.span(), message).with_hint(hint));
        }
        let version = t.version.get_ref();
        if let Err(e) = semver::VersionReq::parse(version) {
            let message = format!(
                "dependency `{name}`: `version = \"{version}\"` is not a semver requirement: {e}"
            );
            let hint = "e.g. `version = \"^0.1\"` (0.1.x), `\"=0.1.2\"` or `\">=1.0, <2\"`";
            return Err(self.fail(t.version.span(), message).with_hint(hint));
        }
        Ok(Dependency {
            name: name.to_string(),
            oci: oci.clone(),
            version: version.clone(),
        })
    }
}

fn name_ok(s: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    s.len() <= 64 && s.starts_with(|c: char| c.is_ascii_lowercase()) && s.chars().all(allowed)
}

/// `host[:port]/path`, the path lowercase; no scheme, tag or digest.
fn repository(s: &str) -> Result<(), &'static str> {
    if s.contains("://") {
        return Err("has a scheme; give the registry host without one");
    }
    if s.contains('@') {
        return Err("pins a digest; the lock pins digests, the manifest a version");
    }
    let Some((host, path)) = s.split_once('/') else {
        return Err("has no repository path after the registry host");
    };
    let host_ok = |b: u8| b.is_ascii_alphanumeric() || b".-:[]".contains(&b);
    if host.is_empty() || !host.bytes().all(host_ok) {
        return Err("does not start with a registry `host[:port]`");
    }
    if path.contains(':') {
        return Err("has a tag; give the version as `version`");
    }
    let path_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b);
    let components_ok = path.split('/').all(|c| !c.is_empty());
    match path.bytes().all(path_ok) && components_ok {
        true => Ok(()),
        false => Err(
            "has a repository path that is not lowercase letters, digits, `.`, `_`, `-` and `/`",
        ),
    }
}
