//! The binary's error: a message, optional context and hint, and an exit code. Library errors
//! convert into it; `main` renders it.

use std::path::Path;

/// Exit code for errors in input, files or the program (2) — `anneal test` uses 1 for failed
/// checks, and an interrupted build exits 130.
pub const EXIT_ERROR: i32 = 2;
/// Exit code when a check failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

/// An error ready to show to a person.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    /// The main message (may be multi-line, e.g. a rendered manifest snippet).
    pub message: String,
    /// Where it happened, outermost first.
    pub context: Vec<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// Process exit code.
    pub code: i32,
    /// The message is already fully rendered (starts with `error:`).
    pub rendered: bool,
}

impl CliError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            context: Vec::new(),
            hint: None,
            code: EXIT_ERROR,
            rendered: false,
        }
    }

    /// An I/O error on a path.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Self::new(format!("{}: {e}", path.display()))
    }

    /// Add a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Add `hint` when there is one (otherwise keep the hint it has, if any).
    pub fn hint_if(self, hint: Option<impl Into<String>>) -> Self {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    /// Add context (what was being done).
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context.insert(0, context.into());
        self
    }

    /// The text printed on stderr.
    pub fn render(&self) -> String {
        let mut out = if self.rendered {
            self.message.clone()
        } else {
            format!("error: {}\n", self.message)
        };
        for c in &self.context {
            out.push_str(&format!("  while reading {c}\n"));
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
        out
    }
}

impl From<anneal_spec::ManifestError> for CliError {
    fn from(e: anneal_spec::ManifestError) -> Self {
        Self {
            rendered: true,
            ..Self::new(e.render())
        }
    }
}

impl From<anneal_data::StoreError> for CliError {
    fn from(e: anneal_data::StoreError) -> Self {
        let hint = match &e {
            anneal_data::StoreError::NoStore { .. } => {
                Some("import data with `anneal data import SOURCE --split train`")
            }
            anneal_data::StoreError::Corrupt { .. } | anneal_data::StoreError::Missing { .. } => {
                Some("the store is damaged; restore `.anneal/` from a backup or a remote")
            }
            _ => None,
        };
        Self::new(e.to_string()).hint_if(hint)
    }
}

impl From<anneal_data::import::ImportError> for CliError {
    fn from(e: anneal_data::import::ImportError) -> Self {
        match e {
            anneal_data::import::ImportError::Store(s) => s.into(),
            other => Self::new(other.to_string()),
        }
    }
}

impl From<anneal_data::import::PatternError> for CliError {
    fn from(e: anneal_data::import::PatternError) -> Self {
        Self::new(e.to_string()).hint("e.g. --pattern '{label}_{speaker}_{take}.wav'")
    }
}

impl From<anneal_data::idx::IdxError> for CliError {
    fn from(e: anneal_data::idx::IdxError) -> Self {
        Self::new(e.to_string())
    }
}

impl From<anneal_engine::EngineError> for CliError {
    fn from(e: anneal_engine::EngineError) -> Self {
        if !matches!(e, anneal_engine::EngineError::Interrupted) {
            return Self::new(e.to_string());
        }
        Self {
            code: EXIT_INTERRUPTED,
            ..Self::new("interrupted: no package was written")
        }
    }
}

impl From<anneal_pack::PackError> for CliError {
    fn from(e: anneal_pack::PackError) -> Self {
        Self::new(e.to_string())
    }
}

impl From<anneal_data::remote::RemoteError> for CliError {
    fn from(e: anneal_data::remote::RemoteError) -> Self {
        match e {
            anneal_data::remote::RemoteError::Store(s) => s.into(),
            other => Self::new(other.to_string()),
        }
    }
}

impl From<anneal_audit::AuditError> for CliError {
    fn from(e: anneal_audit::AuditError) -> Self {
        use anneal_audit::AuditError;
        match e {
            AuditError::Build(b) => (*b).into(),
            AuditError::Package(p) => p.into(),
            AuditError::Engine(x) => x.into(),
            no_package @ AuditError::NoPackage { .. } => {
                Self::new(no_package.to_string()).hint("run `anneal build` first")
            }
            unknown @ AuditError::UnknownExample { .. } => Self::new(unknown.to_string())
                .hint("test example ids look like `t10k:00042`: see `anneal data log` or the audit's worst examples"),
        }
    }
}

impl From<anneal_build::BuildError> for CliError {
    fn from(e: anneal_build::BuildError) -> Self {
        use anneal_build::BuildError;
        let hint = e.hint();
        let err = match e {
            BuildError::Manifest(m) => return m.into(),
            BuildError::Store(s) => return s.into(),
            BuildError::Engine(x) => return x.into(),
            BuildError::Dependency(d) => return d.into(),
            BuildError::Import { manifest, source } => {
                Self::from(source).context(format!("the declared sources in {manifest}"))
            }
            other => Self::new(other.to_string()),
        };
        err.hint_if(hint)
    }
}

impl From<anneal_registry::RegistryError> for CliError {
    fn from(e: anneal_registry::RegistryError) -> Self {
        let hint = e.hint();
        Self::new(e.to_string()).hint_if(hint)
    }
}

impl From<anneal_build::DependencyError> for CliError {
    fn from(e: anneal_build::DependencyError) -> Self {
        let hint = e.hint();
        Self::new(e.to_string()).hint_if(hint)
    }
}
