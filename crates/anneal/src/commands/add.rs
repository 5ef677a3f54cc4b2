//! `anneal add HOST/REPOSITORY[@REQ] [--name NAME]`: depend on a published package. The
//! highest version `REQ` admits (default: the highest there is, then required as `^VERSION`)
//! is fetched and checked, locked by digest in anneal.lock, and declared in `[dependencies]`
//! of anneal.toml (the rest of the file kept as written).

use std::fmt;
use std::path::{Path, PathBuf};

use anneal::error::CliError;
use anneal_build::Project;
use anneal_build::deps::{lock_dependency, user_cache};
use anneal_build::lock::Lock;
use anneal_data::fs::write_atomic;
use anneal_registry::Reference;
use anneal_spec::{Dependency, MANIFEST, Program};
use serde::Serialize;

/// `anneal add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// `host[:port]/repository[@REQ]`, e.g. `127.0.0.1:5000/team/digits@^0.1`.
    package: String,
    /// The name the program uses it by (default: the repository's last component).
    #[arg(long)]
    name: Option<String>,
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

/// What `anneal add` did.
#[derive(Debug, Serialize)]
struct Added {
    name: String,
    source: String,
    requirement: String,
    version: String,
    manifest: String,
    weights: String,
    package: PathBuf,
    downloaded: u64,
}

pub fn run(args: &AddArgs) -> Result<u8, CliError> {
    let project = Project::load(&args.dir)?;
    let (source, requirement) = parse_spec(&args.package)?;
    let name = name(args, &source)?;
    let mut lock = Lock::read(&args.dir)?;
    let declared = Dependency {
        name: name.clone(),
        oci: format!("{}/{}", source.registry, source.repository),
        version: requirement.clone().unwrap_or_else(|| "*".into()),
    };
    let locked = lock_dependency(
        &user_cache(&name)?,
        &declared,
        lock.dependency(&name),
        args.plain_http,
    )?;
    let version = requirement.unwrap_or_else(|| format!("^{}", locked.entry.version));
    let dependency = Dependency {
        version,
        ..declared
    };
    let text = edited_manifest(&project, &dependency)?;
    lock.set(locked.entry.clone());
    lock.write(&args.dir)?;
    let path = args.dir.join(MANIFEST);
    write_atomic(&path, text.as_bytes()).map_err(|e| CliError::io(&path, e))?;
    let e = locked.entry;
    let added = Added {
        name,
        source: e.source.source(),
        requirement: dependency.version,
        version: e.version.to_string(),
        manifest: e.manifest.to_string(),
        weights: e.weights.to_string(),
        package: locked.package,
        downloaded: locked.downloaded,
    };
    super::print(&added, args.json);
    Ok(0)
}

/// `host/repo[@REQ]`: the repository and the requirement, if given.
fn parse_spec(spec: &str) -> Result<(Reference, Option<String>), CliError> {
    let (repo, req) = match spec.rsplit_once('@') {
        Some((_, r)) if r.starts_with("sha256:") => {
            return Err(CliError::new(format!(
                "`{spec}`: add takes a version requirement, not a digest"
            ))
            .hint("e.g. `anneal add HOST/REPOSITORY@^0.1`; anneal.lock pins the digest"));
        }
        Some((repo, req)) => (repo, Some(req.to_string())),
        None => (spec, None),
    };
    let reference = Reference::parse(repo).map_err(CliError::new)?;
    if let Some(tag) = &reference.tag {
        return Err(CliError::new(format!(
            "`{spec}`: give the version as a requirement, not a tag"
        ))
        .hint(format!(
            "`anneal add {}@={tag}`",
            reference.repository_only()
        )));
    }
    if let Some(r) = &req {
        anneal_registry::VersionReq::parse(r).map_err(|e| {
            CliError::new(format!("`{r}` is not a semver requirement: {e}"))
                .hint("e.g. `^0.1`, `=0.1.2` or `>=1.0, <2`")
        })?;
    }
    Ok((reference, req))
}

/// `--name`, else the repository's last component.
fn name(args: &AddArgs, source: &Reference) -> Result<String, CliError> {
    let last = source.repository.rsplit('/').next().unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| last.to_string());
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    match ok {
        true => Ok(name),
        false => Err(CliError::new(format!("`{name}` is not a dependency name: expected lowercase letters, digits, `-` or `_`, starting with a letter")).hint("choose one with --name NAME")),
    }
}

/// anneal.toml with `dependency` declared, validated before anything is written.
fn edited_manifest(project: &Project, dependency: &Dependency) -> Result<String, CliError> {
    let path = project.dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::io(&path, e))?;
    let edited = with_dependency(&text, dependency);
    Program::parse(&path.display().to_string(), &edited).map_err(|e| {
        CliError::new(format!(
            "{}: declaring `{}` would make it invalid: {}",
            path.display(),
            dependency.name,
            e.message
        ))
        .hint("add it to [dependencies] by hand")
    })?;
    Ok(edited)
}

/// `text` with `NAME = { oci = …, version = … }` in `[dependencies]`: replacing the line of
/// that name, or appended to the table, or in a new table at the end.
fn with_dependency(text: &str, d: &Dependency) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default(); // a JSON string is a TOML basic string
    let line = format!(
        "{} = {{ oci = {}, version = {} }}",
        d.name,
        quote(&d.oci),
        quote(&d.version)
    );
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let Some(start) = lines.iter().position(|l| l.trim() == "[dependencies]") else {
        let gap = if text.is_empty() || text.ends_with("\n\n") {
            ""
        } else if text.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        return format!("{text}{gap}[dependencies]\n{line}\n");
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let key = |l: &String| {
        l.split('=')
            .next()
            .map(|k| k.trim().trim_matches('"').to_string())
    };
    match (start + 1..end).find(|&i| key(&lines[i]).as_deref() == Some(d.name.as_str())) {
        Some(i) => lines[i] = line,
        None => {
            let last = (start..end)
                .rev()
                .find(|&i| !lines[i].trim().is_empty())
                .unwrap_or(start);
            lines.insert(last + 1, line);
        }
    }
    lines.join("\n") + "\n"
}

impl fmt::Display for Added {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "added `{}` = {} {} (version {})",
            self.name, self.source, self.requirement, self.version
        )?;
        writeln!(
            f,
            "  manifest {}\n  weights  {}",
            self.manifest, self.weights
        )?;
        write!(
            f,
            "  {} ({} bytes downloaded)",
            shown(&self.package),
            self.downloaded
        )
    }
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_goes_into_its_table_and_nothing_else_moves() {
        let d = Dependency {
            name: "f".into(),
            oci: "h/r".into(),
            version: "^0.1".into(),
        };
        let line = "f = { oci = \"h/r\", version = \"^0.1\" }";
        assert_eq!(
            with_dependency("a = 1\n", &d),
            format!("a = 1\n\n[dependencies]\n{line}\n")
        );
        let with = "[x]\na = 1 # kept\n\n[dependencies]\ng = 2\n\n[y]\nb = 2\n";
        assert_eq!(
            with_dependency(with, &d),
            format!("[x]\na = 1 # kept\n\n[dependencies]\ng = 2\n{line}\n\n[y]\nb = 2\n")
        );
        let again = with_dependency(
            &with_dependency(with, &d),
            &Dependency {
                version: "^0.2".into(),
                ..d.clone()
            },
        );
        assert!(
            again.contains("version = \"^0.2\"") && !again.contains("^0.1"),
            "{again}"
        );
    }
}
