//! `anneal publish [PACKAGE] REF`: a package to an OCI registry as `REF`'s repository at the
//! package's version; blobs the registry has are not sent again, a version is never moved.

use std::fmt;
use std::path::PathBuf;

use anneal::error::CliError;
use anneal_build::Project;
use anneal_registry::{Access, Client, Published, Reference, credentials, publish};

/// `anneal publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// `[PACKAGE] REF`: the package (default: the program's last build) and
    /// `host[:port]/repository[:VERSION]`.
    #[arg(num_args = 1..=2, required = true, value_name = "[PACKAGE] REF")]
    args: Vec<String>,
    /// The program folder whose package is published when PACKAGE is not given.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The `org.opencontainers.image.source` annotation (where the program's source lives).
    #[arg(long, value_name = "URL")]
    source: Option<String>,
    /// Speak plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    plain_http: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &PublishArgs) -> Result<u8, CliError> {
    let (package, reference) = match args.args.as_slice() {
        [r] => (last_build(args)?, r),
        [p, r] => (PathBuf::from(p), r),
        _ => return Err(CliError::new("expected `[PACKAGE] REF`")),
    };
    let reference = Reference::parse(reference).map_err(CliError::new)?;
    let header = anneal_pack::Header::read(&package)?;
    check_tag(&reference, &header.program.version)?;
    let creds = credentials::lookup(&reference.registry)?;
    let client = Client::new(&reference, Access::Push, creds, args.plain_http)?;
    let published = Shown(publish(&client, &package, args.source.as_deref())?);
    super::print(&published, args.json);
    Ok(0)
}

/// The program's `target/NAME-VERSION.anneal`, which must exist.
fn last_build(args: &PublishArgs) -> Result<PathBuf, CliError> {
    let path = Project::load(&args.dir)?.package_path();
    match path.is_file() {
        true => Ok(path),
        false => Err(CliError::new(format!("no package at {}", path.display()))
            .hint("run `anneal build` first, or name the package: `anneal publish PACKAGE REF`")),
    }
}

/// A tag, when given, is the package's version; a digest is never given.
fn check_tag(reference: &Reference, version: &str) -> Result<(), CliError> {
    if reference.digest.is_some() {
        return Err(CliError::new(format!(
            "`{reference}`: publish to a tag, not a digest"
        )));
    }
    match reference.tag.as_deref() {
        Some(tag) if tag != version => Err(CliError::new(format!(
            "`{reference}`: the tag must be the package's version `{version}`"
        ))
        .hint(format!(
            "publish to `{}` (or leave the tag out)",
            reference.with_tag(version)
        ))),
        _ => Ok(()),
    }
}

/// The result, printed.
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
struct Shown(Published);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        if p.already {
            return write!(
                f,
                "already published: {} is manifest {}; nothing sent",
                p.reference, p.manifest
            );
        }
        writeln!(f, "published {} (manifest {})", p.reference, p.manifest)?;
        for b in &p.blobs {
            let how = if b.sent {
                "sent"
            } else {
                "skipped, the registry has it"
            };
            writeln!(f, "  {:<7} {} {} bytes: {how}", b.what, b.digest, b.size)?;
        }
        write!(f, "{} bytes sent in {:.2} s", p.bytes_sent, p.seconds)
    }
}
