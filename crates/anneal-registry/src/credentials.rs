//! Where credentials come from, in order:
//!
//! 1. the environment: `ANNEAL_REGISTRY_TOKEN`, or `ANNEAL_REGISTRY_USER` and
//!    `ANNEAL_REGISTRY_PASSWORD`;
//! 2. Docker's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    `credHelpers[host]`, else `credsStore`, through `docker-credential-NAME get` (its
//!    "credentials not found" means none), else `auths[host]`;
//! 3. anneal's own file, `$XDG_CONFIG_HOME/anneal/credentials.json` (else
//!    `~/.config/anneal/…`), mode 0600, written by `anneal login` when no helper is
//!    configured; the same `auths` shape as Docker's.
//!
//! Nothing is ever written into a project.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::auth::Credentials;
use crate::error::RegistryError;

/// Docker's `config.json`, the parts read here.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creds_store: Option<String>,
}

/// One `auths` entry.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identitytoken: Option<String>,
}

/// Where `anneal login` put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// In a Docker credential helper (`docker-credential-NAME`).
    Helper(String),
    /// In anneal's own 0600 file.
    File(PathBuf),
}

/// The credentials for `registry` (`host[:port]`), if any source has them.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    if let Some(c) = from_env() {
        return Ok(Some(c));
    }
    let docker = read_config(registry, &docker_config_path())?;
    if let Some(helper) = helper_for(&docker, registry) {
        if let Some(c) = helper_get(registry, helper)? {
            return Ok(Some(c));
        }
    } else if let Some(c) = entry_for(&docker, registry)? {
        return Ok(Some(c));
    }
    match anneal_file() {
        Some(path) => entry_for(&read_config(registry, &path)?, registry),
        None => Ok(None),
    }
}

/// `ANNEAL_REGISTRY_TOKEN`, or `ANNEAL_REGISTRY_USER` with `ANNEAL_REGISTRY_PASSWORD`.
pub fn from_env() -> Option<Credentials> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("ANNEAL_REGISTRY_TOKEN") {
        return Some(Credentials::Token(token));
    }
    let (username, password) = (
        var("ANNEAL_REGISTRY_USER")?,
        var("ANNEAL_REGISTRY_PASSWORD")?,
    );
    Some(Credentials::Basic { username, password })
}

/// Keep `username` and `password` for `registry`: in the configured Docker credential helper
/// when there is one, else in anneal's own 0600 file.
pub fn store(registry: &str, username: &str, password: &str) -> Result<Stored, RegistryError> {
    let docker = read_config(registry, &docker_config_path())?;
    if let Some(helper) = helper_for(&docker, registry) {
        let input =
            serde_json::json!({"ServerURL": registry, "Username": username, "Secret": password});
        run_helper(registry, helper, "store", &input.to_string())?;
        return Ok(Stored::Helper(helper.to_string()));
    }
    let path = anneal_file().ok_or_else(|| {
        fail(
            registry,
            "no config folder: set XDG_CONFIG_HOME or HOME".into(),
        )
    })?;
    let mut config = read_config(registry, &path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    config.auths.insert(
        registry.to_string(),
        Entry {
            auth: Some(auth),
            ..Entry::default()
        },
    );
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| fail(registry, e.to_string()))?;
    write_private(&path, &bytes)?;
    Ok(Stored::File(path))
}

fn docker_config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => home().join(".docker").join("config.json"),
    }
}

/// `$XDG_CONFIG_HOME/anneal/credentials.json`, else `~/.config/anneal/credentials.json`.
pub fn anneal_file() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty());
    let dir = xdg.or_else(|| home.map(|h| PathBuf::from(h).join(".config")))?;
    Some(dir.join("anneal").join("credentials.json"))
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A config file; an absent one is empty.
fn read_config(registry: &str, path: &Path) -> Result<Config, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            fail(
                registry,
                format!("{} is not a valid config: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(RegistryError::io(path, e)),
    }
}

fn helper_for<'a>(config: &'a Config, registry: &str) -> Option<&'a str> {
    let own = config.cred_helpers.get(registry).map(String::as_str);
    own.or(config.creds_store.as_deref())
        .filter(|h| !h.is_empty())
}

/// The `auths` entry whose key (scheme and path stripped) is `registry`.
fn entry_for(config: &Config, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let host = |k: &str| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next().unwrap_or("").to_string()
    };
    let Some((_, e)) = config.auths.iter().find(|(k, _)| host(k) == registry) else {
        return Ok(None);
    };
    if let Some(token) = &e.identitytoken {
        return Ok(Some(Credentials::Token(token.clone())));
    }
    if let (Some(u), Some(p)) = (&e.username, &e.password) {
        return Ok(Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    e.auth
        .as_deref()
        .map(|a| decode_auth(registry, a))
        .transpose()
}

/// `base64(user:password)`.
fn decode_auth(registry: &str, auth: &str) -> Result<Credentials, RegistryError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(auth.trim());
    let text = bytes.ok().and_then(|b| String::from_utf8(b).ok());
    let pair = text.as_deref().and_then(|t| t.split_once(':'));
    let (username, password) =
        pair.ok_or_else(|| fail(registry, "`auth` is not base64 of `user:password`".into()))?;
    Ok(Credentials::Basic {
        username: username.into(),
        password: password.into(),
    })
}

/// `docker-credential-NAME get`.
fn helper_get(registry: &str, helper: &str) -> Result<Option<Credentials>, RegistryError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        username: String,
        secret: String,
    }
    let Some(out) = run_helper(registry, helper, "get", registry)? else {
        return Ok(None);
    };
    let a: Answer = serde_json::from_slice(&out).map_err(|e| {
        fail(
            registry,
            format!("docker-credential-{helper} answered malformed JSON: {e}"),
        )
    })?;
    Ok(Some(match a.username.as_str() {
        "<token>" => Credentials::Token(a.secret),
        _ => Credentials::Basic {
            username: a.username,
            password: a.secret,
        },
    }))
}

/// Run a helper verb with `input` on stdin: its stdout, or `None` for "credentials not found".
fn run_helper(
    registry: &str,
    helper: &str,
    verb: &str,
    input: &str,
) -> Result<Option<Vec<u8>>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let spawn = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawn.map_err(|e| fail(registry, format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(registry, format!("`{program} {verb}`: {e}")))?;
    if out.status.success() {
        return Ok(Some(out.stdout));
    }
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match said.contains("credentials not found") {
        true => Ok(None),
        false => Err(fail(registry, format!("`{program} {verb}` failed: {said}"))),
    }
}

/// Write a file readable by its owner only: temp file (0600), sync, rename, sync the folder.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e| RegistryError::io(path, e);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".credentials.json.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    anneal_data::fs::sync_dir(dir).map_err(io)
}

fn fail(registry: &str, message: String) -> RegistryError {
    RegistryError::Credentials {
        registry: registry.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_entries_match_by_host() {
        let config: Config = serde_json::from_str(
            r#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwOmFzcw=="},"ghcr.io":{"identitytoken":"t"}}}"#,
        )
        .unwrap();
        let basic = Credentials::Basic {
            username: "user".into(),
            password: "p:ass".into(),
        };
        assert_eq!(entry_for(&config, "127.0.0.1:5000").unwrap(), Some(basic));
        assert_eq!(
            entry_for(&config, "ghcr.io").unwrap(),
            Some(Credentials::Token("t".into()))
        );
        assert_eq!(entry_for(&config, "quay.io").unwrap(), None);
        let bad: Config = serde_json::from_str(r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        assert!(
            entry_for(&bad, "h")
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );
    }

    #[test]
    fn the_private_file_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a").join("credentials.json");
        write_private(&path, b"{}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
