//! `anneal.lock`: what the last build used, and the packages the program depends on, pinned
//! by digest.
//!
//! ```toml
//! # Written by `anneal build`: what the last build used.
//! dataset-commit = "…"
//! engine = "cpu 1"
//! build-key = "…"
//! package = "blake3:…"
//!
//! # Written by `anneal add` and `anneal fetch`: every fetch is by these digests, verified.
//! [[dependency]]
//! name = "features"
//! source = "oci://127.0.0.1:5000/team/digits"
//! version = "0.1.0"
//! manifest = "sha256:…"
//! config = "sha256:…"
//! weights = "sha256:…"
//! ```
//!
//! A lock edited into something else is refused, naming the line and field; a lock is always
//! written whole, atomically.

use std::path::{Path, PathBuf};

use anneal_registry::{Digest, Reference};
use serde::Deserialize;
use toml::Spanned;

use crate::deps::DependencyError;

/// The lock's file name.
pub const LOCK: &str = "anneal.lock";

const BUILD_NOTE: &str = "# Written by `anneal build`: what the last build used.\n";
const DEPENDENCY_NOTE: &str =
    "# Written by `anneal add` and `anneal fetch`: every fetch is by these digests, verified.\n";

/// The whole lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    /// The last build, once there was one.
    pub build: Option<BuildLock>,
    /// The locked dependencies, in name order.
    pub dependencies: Vec<LockedDependency>,
}

/// What the last build used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildLock {
    /// The dataset commit.
    pub dataset_commit: String,
    /// `ENGINE VERSION`.
    pub engine: String,
    /// The build key.
    pub build_key: String,
    /// The package's BLAKE3 digest.
    pub package: String,
}

/// One `[[dependency]]`: every field checked when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDependency {
    /// The name in `[dependencies]`.
    pub name: String,
    /// `oci://host/repository`.
    pub source: Reference,
    /// The exact version (the tag it was resolved from).
    pub version: semver::Version,
    /// The manifest digest.
    pub manifest: Digest,
    /// The config blob digest.
    pub config: Digest,
    /// The weights (package file) digest.
    pub weights: Digest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LockFile {
    dataset_commit: Option<String>,
    engine: Option<String>,
    build_key: Option<String>,
    package: Option<String>,
    #[serde(default)]
    dependency: Vec<DependencyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DependencyEntry {
    name: Spanned<String>,
    source: Spanned<String>,
    version: Spanned<String>,
    manifest: Spanned<String>,
    config: Spanned<String>,
    weights: Spanned<String>,
}

impl Lock {
    /// `DIR/anneal.lock`; an absent lock is empty.
    pub fn read(dir: &Path) -> Result<Lock, DependencyError> {
        let path = dir.join(LOCK);
        match std::fs::read_to_string(&path) {
            Ok(text) => Lock::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(DependencyError::Io {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// Parse lock text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Lock, DependencyError> {
        let at = |span: std::ops::Range<usize>, message: String| DependencyError::Lock {
            path: path.to_path_buf(),
            line: text[..span.start.min(text.len())].matches('\n').count() + 1,
            message,
        };
        let file: LockFile = toml::from_str(text)
            .map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
        let mut dependencies = Vec::new();
        for entry in &file.dependency {
            let d = entry.check().map_err(|(span, m)| at(span, m))?;
            if dependencies
                .iter()
                .any(|o: &LockedDependency| o.name == d.name)
            {
                return Err(at(
                    entry.name.span(),
                    format!("`{}` is locked twice", d.name),
                ));
            }
            dependencies.push(d);
        }
        dependencies.sort_by(|a, b| a.name.cmp(&b.name));
        let build = build_lock(file);
        Ok(Lock {
            build,
            dependencies,
        })
    }

    /// The dependency locked as `name`.
    pub fn dependency(&self, name: &str) -> Option<&LockedDependency> {
        self.dependencies.iter().find(|d| d.name == name)
    }

    /// Lock `dep`, replacing an entry of its name.
    pub fn set(&mut self, dep: LockedDependency) {
        self.dependencies.retain(|d| d.name != dep.name);
        self.dependencies.push(dep);
        self.dependencies.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The lock's text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(b) = &self.build {
            out.push_str(BUILD_NOTE);
            let keys = [
                ("dataset-commit", &b.dataset_commit),
                ("engine", &b.engine),
                ("build-key", &b.build_key),
                ("package", &b.package),
            ];
            for (k, v) in keys {
                out.push_str(&format!("{k} = {}\n", quoted(v)));
            }
        }
        if !self.dependencies.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(DEPENDENCY_NOTE);
            let tables: Vec<String> = self
                .dependencies
                .iter()
                .map(LockedDependency::to_text)
                .collect();
            out.push_str(&tables.join("\n"));
        }
        out
    }

    /// Write `DIR/anneal.lock` atomically, unless it already says exactly this.
    pub fn write(&self, dir: &Path) -> Result<(), DependencyError> {
        let path = dir.join(LOCK);
        let text = self.to_text();
        if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
            return Ok(());
        }
        anneal_data::fs::write_atomic(&path, text.as_bytes()).map_err(|e| DependencyError::Io {
            path,
            message: e.to_string(),
        })
    }
}

impl LockedDependency {
    fn to_text(&self) -> String {
        let fields = [
            ("name", self.name.clone()),
            ("source", self.source.source()),
            ("version", self.version.to_string()),
            ("manifest", self.manifest.to_string()),
            ("config", self.config.to_string()),
            ("weights", self.weights.to_string()),
        ];
        let lines: String = fields
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", quoted(v)))
            .collect();
        format!("[[dependency]]\n{lines}")
    }
}

impl DependencyEntry {
    /// Every field checked; an error carries the span of the field at fault.
    fn check(&self) -> Result<LockedDependency, (std::ops::Range<usize>, String)> {
        let field = |f: &Spanned<String>, name: &str, why: String| {
            (f.span(), format!("`{name} = \"{}\"`: {why}", f.get_ref()))
        };
        let name = self.name.get_ref();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(field(
                &self.name,
                "name",
                "expected lowercase letters, digits, `-` or `_`".into(),
            ));
        }
        let source = self.source.get_ref();
        let reference = Reference::parse(source).map_err(|e| field(&self.source, "source", e))?;
        if !source.starts_with("oci://") || reference.tag.is_some() || reference.digest.is_some() {
            return Err(field(
                &self.source,
                "source",
                "expected `oci://HOST/REPOSITORY`".into(),
            ));
        }
        let version = semver::Version::parse(self.version.get_ref())
            .map_err(|e| field(&self.version, "version", format!("not a version: {e}")))?;
        let digest = |f: &Spanned<String>, n: &str| {
            Digest::parse(f.get_ref()).map_err(|e| (f.span(), format!("`{n}`: {e}")))
        };
        Ok(LockedDependency {
            name: name.clone(),
            source: reference,
            version,
            manifest: digest(&self.manifest, "manifest")?,
            config: digest(&self.config, "config")?,
            weights: digest(&self.weights, "weights")?,
        })
    }
}

/// The build part, when the lock has all of it.
fn build_lock(f: LockFile) -> Option<BuildLock> {
    Some(BuildLock {
        dataset_commit: f.dataset_commit?,
        engine: f.engine?,
        build_key: f.build_key?,
        package: f.package?,
    })
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The lock's path in `dir`, for messages.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(LOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn dep() -> LockedDependency {
        LockedDependency {
            name: "features".into(),
            source: Reference::parse("127.0.0.1:5000/team/digits").unwrap(),
            version: semver::Version::new(0, 1, 0),
            manifest: Digest::of(b"m"),
            config: Digest::of(b"c"),
            weights: Digest::of(b"w"),
        }
    }

    #[test]
    fn a_lock_round_trips() {
        let build = BuildLock {
            dataset_commit: "abc".into(),
            engine: "cpu 1".into(),
            build_key: "k".into(),
            package: "blake3:00".into(),
        };
        let lock = Lock {
            build: Some(build),
            dependencies: vec![dep()],
        };
        let text = lock.to_text();
        assert!(text.starts_with(BUILD_NOTE), "{text}");
        assert!(text.contains("\n\n# Written by `anneal add`"), "{text}");
        assert_eq!(Lock::parse(Path::new("anneal.lock"), &text).unwrap(), lock);
        let only = Lock {
            build: None,
            dependencies: vec![dep()],
        };
        assert_eq!(Lock::parse(Path::new("l"), &only.to_text()).unwrap(), only);
    }

    #[test]
    fn a_lock_edited_by_hand_names_the_line_and_field() {
        let text = Lock {
            build: None,
            dependencies: vec![dep()],
        }
        .to_text();
        let cases = [
            (
                "version = \"0.1.0\"",
                "version = \"0.1\"",
                5,
                "`version = \"0.1\"`: not a version",
            ),
            (
                "weights = \"sha256:",
                "weights = \"sha256:zz",
                8,
                "`weights`: `sha256:zz",
            ),
            (
                "source = \"oci://",
                "source = \"",
                4,
                "expected `oci://HOST/REPOSITORY`",
            ),
            (
                "name = \"features\"",
                "name = \"features\"\nextra = 1",
                4,
                "unknown field `extra`",
            ),
            ("[[dependency]]", "[[dependency]", 2, "unclosed array table"),
        ];
        for (from, to, line, expected) in cases {
            let e = Lock::parse(Path::new("p/anneal.lock"), &text.replace(from, to)).unwrap_err();
            let DependencyError::Lock {
                line: l, message, ..
            } = &e
            else {
                panic!("{e}")
            };
            assert!(message.contains(expected), "{to}: {message}");
            assert_eq!(*l, line, "{to}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("p/anneal.lock:{line}: ")),
                "{e}"
            );
        }
        let twice = format!("{text}\n{text}");
        let e = Lock::parse(Path::new("l"), &twice.replacen(DEPENDENCY_NOTE, "", 2)).unwrap_err();
        assert!(e.to_string().contains("`features` is locked twice"), "{e}");
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(anneal_fuzz::config())]

        /// Lock files edited by anyone: a lock, or an error naming a line; what reads writes
        /// back to the same lock.
        #[test]
        fn fuzz_lock(input in anneal_fuzz::text(vec![
            Lock { build: None, dependencies: vec![tests::dep()] }.to_text(),
        ])) {
            if let Ok(lock) = Lock::parse(Path::new("anneal.lock"), &input) {
                prop_assert_eq!(Lock::parse(Path::new("again"), &lock.to_text()).unwrap(), lock);
            }
        }
    }
}
