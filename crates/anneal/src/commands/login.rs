//! `anneal login REGISTRY`: check credentials against the registry (`GET /v2/`), then keep
//! them in the configured Docker credential helper, else in anneal's own 0600 file outside
//! any project.

use std::fmt;
use std::io::Read;

use anneal::error::CliError;
use anneal_registry::credentials::{self, Stored};
use anneal_registry::{Access, Client, Credentials, Reference, RegistryError};
use serde::Serialize;

/// `anneal login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// `host[:port]`.
    registry: String,
    /// The user (default: ANNEAL_REGISTRY_USER).
    #[arg(short, long)]
    username: Option<String>,
    /// Read the password (or access token) from stdin (default: ANNEAL_REGISTRY_PASSWORD).
    #[arg(long)]
    password_stdin: bool,
    /// Speak plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    plain_http: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `anneal login` did.
#[derive(Debug, Serialize)]
struct LoggedIn {
    registry: String,
    username: String,
    stored_in: String,
}

pub fn run(args: &LoginArgs) -> Result<u8, CliError> {
    let (username, password) = secret(args)?;
    let probe =
        Reference::parse(&format!("{}/anneal-login", args.registry)).map_err(CliError::new)?;
    let creds = Credentials::Basic {
        username: username.clone(),
        password: password.clone(),
    };
    let client = Client::new(&probe, Access::Pull, Some(creds), args.plain_http)?;
    client.ping().map_err(|e| match e {
        RegistryError::Unauthorized { .. } => CliError::new(format!(
            "registry `{}` rejected the credentials of `{username}`; nothing was stored",
            probe.registry
        )),
        other => other.into(),
    })?;
    let stored_in = match credentials::store(&probe.registry, &username, &password)? {
        Stored::Helper(h) => format!("docker-credential-{h}"),
        Stored::File(path) => path.display().to_string(),
    };
    let registry = probe.registry;
    super::print(
        &LoggedIn {
            registry,
            username,
            stored_in,
        },
        args.json,
    );
    Ok(0)
}

/// The username and password from the flags, stdin and the environment.
fn secret(args: &LoginArgs) -> Result<(String, String), CliError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let username = args
        .username
        .clone()
        .or_else(|| var("ANNEAL_REGISTRY_USER"));
    let username = username.ok_or_else(|| {
        CliError::new("no username").hint("pass --username USER, or set ANNEAL_REGISTRY_USER")
    })?;
    let password = match args.password_stdin {
        true => read_stdin()?,
        false => var("ANNEAL_REGISTRY_PASSWORD").ok_or_else(|| {
            CliError::new("no password").hint("pipe it to --password-stdin, or set ANNEAL_REGISTRY_PASSWORD (never pass it as an argument)")
        })?,
    };
    Ok((username, password))
}

fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 10)
        .read_to_string(&mut text)
        .map_err(|e| CliError::new(format!("reading the password from stdin: {e}")))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    match password.is_empty() {
        true => Err(CliError::new("the password on stdin is empty")),
        false => Ok(password),
    }
}

impl fmt::Display for LoggedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "logged in to {} as {}; credentials kept in {}",
            self.registry, self.username, self.stored_in
        )
    }
}
