//! `anneal fetch`: every `[dependencies]` package into the cache, by the digests in
//! anneal.lock (verified); an entry not locked yet, or locked for another repository or a
//! version the requirement now excludes, is resolved and locked first, and entries for
//! dependencies no longer declared are dropped from the lock.

use std::fmt;
use std::path::PathBuf;

use anneal::error::CliError;
use anneal_build::Project;
use anneal_build::deps::{check_declared, fetch_locked, lock_dependency, user_cache};
use anneal_build::lock::Lock;
use anneal_registry::Cache;
use anneal_spec::Dependency;
use serde::Serialize;

/// `anneal fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The program folder.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Speak plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    plain_http: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One dependency fetched.
#[derive(Debug, Serialize)]
struct Fetched {
    name: String,
    version: String,
    manifest: String,
    package: PathBuf,
    downloaded: u64,
    newly_locked: bool,
}

/// What `anneal fetch` did.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Report(Vec<Fetched>);

pub fn run(args: &FetchArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir)?;
    let mut lock = Lock::read(&args.dir)?;
    let cache = user_cache("")?;
    let mut out = Vec::new();
    for d in project.program.dependencies() {
        out.push(one(&cache, &mut lock, d, args.plain_http)?);
    }
    let declared = |name: &str| {
        project
            .program
            .dependencies()
            .iter()
            .any(|d| d.name == name)
    };
    let stale = lock.dependencies.iter().any(|l| !declared(&l.name));
    lock.dependencies.retain(|l| declared(&l.name));
    if stale || out.iter().any(|f| f.newly_locked) {
        lock.write(&args.dir)?;
    }
    super::print(&Report(out), args.json);
    Ok(0)
}

fn one(
    cache: &Cache,
    lock: &mut Lock,
    d: &Dependency,
    plain_http: bool,
) -> Result<Fetched, CliError> {
    if let Some(l) = lock
        .dependency(&d.name)
        .filter(|l| check_declared(d, l).is_ok())
    {
        let (package, downloaded) = fetch_locked(cache, l, plain_http)?;
        let (name, version, manifest) = (
            l.name.clone(),
            l.version.to_string(),
            l.manifest.to_string(),
        );
        return Ok(Fetched {
            name,
            version,
            manifest,
            package,
            downloaded,
            newly_locked: false,
        });
    }
    let locked = lock_dependency(cache, d, lock.dependency(&d.name), plain_http)?;
    let e = &locked.entry;
    let fetched = Fetched {
        name: e.name.clone(),
        version: e.version.to_string(),
        manifest: e.manifest.to_string(),
        package: locked.package.clone(),
        downloaded: locked.downloaded,
        newly_locked: true,
    };
    lock.set(locked.entry);
    Ok(fetched)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "no dependencies");
        }
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|d| {
                let how = match (d.newly_locked, d.downloaded) {
                    (true, n) => format!("locked, {n} bytes downloaded"),
                    (false, 0) => "cached, verified".to_string(),
                    (false, n) => format!("{n} bytes downloaded, verified"),
                };
                format!("{} {} {}: {how}", d.name, d.version, d.manifest)
            })
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}
