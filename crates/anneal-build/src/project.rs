//! Locating and loading a program folder.

use std::io::{Error, ErrorKind, Read};
use std::path::{Path, PathBuf};

use anneal_spec::{MANIFEST, Program};

use crate::BuildError;

/// The largest manifest read: a program is a page of TOML, not megabytes.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// A program folder with its parsed manifest.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `anneal.toml`.
    pub dir: PathBuf,
    /// The validated program.
    pub program: Program,
    /// Where builds write the package and report: `dir/target`, or a variant's folder under
    /// it (`anneal tune`), which leaves `anneal.lock` alone.
    pub target: PathBuf,
}

impl Project {
    /// Load `dir/anneal.toml`.
    pub fn load(dir: &Path) -> Result<Project, BuildError> {
        Project::load_width(dir, None)
    }

    /// Load `dir/anneal.toml` with `[model] width` set to `width` when given.
    pub fn load_width(dir: &Path, width: Option<f64>) -> Result<Project, BuildError> {
        let path = dir.join(MANIFEST);
        let text = read_manifest(&path).map_err(|source| match source.kind() {
            ErrorKind::NotFound => BuildError::NoManifest {
                dir: dir.to_path_buf(),
            },
            _ => BuildError::Io {
                path: path.clone(),
                source,
            },
        })?;
        let program = Program::parse_width(&path.display().to_string(), &text, width)?;
        Ok(Project {
            dir: dir.to_path_buf(),
            target: dir.join("target"),
            program,
        })
    }

    /// The manifest path, for messages.
    pub fn manifest_display(&self) -> String {
        self.dir.join(MANIFEST).display().to_string()
    }

    /// The package path: `target/NAME-VERSION.anneal`.
    pub fn package_path(&self) -> PathBuf {
        let file = format!("{}-{}.anneal", self.program.name, self.program.version);
        self.target.join(file)
    }

    /// Whether builds write `anneal.lock` (not a variant's).
    pub fn writes_lock(&self) -> bool {
        self.target == self.dir.join("target")
    }

    /// The report beside the package: `target/NAME-VERSION.report.json`.
    pub fn report_path(&self) -> PathBuf {
        self.package_path().with_extension("report.json")
    }
}

/// Read a manifest: a regular file (never a FIFO) of at most [`MAX_MANIFEST_BYTES`], as UTF-8.
fn read_manifest(path: &Path) -> std::io::Result<String> {
    let file = anneal_data::fs::open_regular(path)?;
    let mut text = String::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        let message =
            format!("larger than {MAX_MANIFEST_BYTES} bytes; a manifest is a page of TOML");
        return Err(Error::new(ErrorKind::InvalidData, message));
    }
    Ok(text)
}

impl Project {
    /// The package of the dependency the program `use`s, fetched and verified, with its
    /// digest; `None` for a program without a `use` line.
    pub fn base_package(&self) -> Result<Option<(PathBuf, String)>, BuildError> {
        let Some(base) = self.program.needs_composing() else {
            return Ok(None);
        };
        if !self
            .program
            .dependencies()
            .iter()
            .any(|d| d.name == base.name)
        {
            let name = base.name.clone();
            return Err(BuildError::Dependency(
                crate::deps::DependencyError::Undeclared { name },
            ));
        }
        let resolved = crate::resolve_dependencies(&self.dir, &self.program)?;
        match resolved.into_iter().find(|r| r.name == base.name) {
            Some(r) => Ok(Some((
                r.package,
                parent(&r.source, &r.version, &r.manifest),
            ))),
            None => Err(unlocked(&base.name)),
        }
    }

    /// The digests of the packages the program builds on, for its build key: read from
    /// `anneal.lock` alone (nothing fetched or assembled, as a staleness check needs).
    pub fn parents(&self) -> Result<Vec<String>, BuildError> {
        let Some(base) = self.program.needs_composing() else {
            return Ok(Vec::new());
        };
        let lock = crate::lock::Lock::read(&self.dir)?;
        let l = lock
            .dependency(&base.name)
            .ok_or_else(|| unlocked(&base.name))?;
        let (source, version) = (l.source.source(), l.version.to_string());
        Ok(vec![parent(&source, &version, &l.manifest.to_string())])
    }
}

/// A dependency's lineage and build-key entry: `oci://HOST/REPO:VERSION@MANIFEST`.
fn parent(source: &str, version: &str, manifest: &str) -> String {
    format!("{source}:{version}@{manifest}")
}

fn unlocked(name: &str) -> BuildError {
    let name = name.to_string();
    BuildError::Dependency(crate::deps::DependencyError::Unlocked { name })
}
