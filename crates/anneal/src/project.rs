//! Locating and loading a program folder.

use std::path::{Path, PathBuf};

use anneal_spec::{MANIFEST, Program};

use crate::error::CliError;

/// A program folder with its parsed manifest.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `anneal.toml`.
    pub dir: PathBuf,
    /// The validated program.
    pub program: Program,
}

impl Project {
    /// Load `dir/anneal.toml`.
    pub fn load(dir: &Path) -> Result<Project, CliError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::new(format!("no {MANIFEST} in {}", display_dir(dir)))
                    .hint("run in a program folder, pass `-C DIR`, or create one with `anneal new DIR`"));
            }
            Err(e) => return Err(CliError::io(&path, e)),
        };
        let program = Program::parse(&path.display().to_string(), &text)?;
        Ok(Project {
            dir: dir.to_path_buf(),
            program,
        })
    }

    /// The manifest path, for messages.
    pub fn manifest_display(&self) -> String {
        self.dir.join(MANIFEST).display().to_string()
    }
}

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        "the current folder".into()
    } else {
        dir.display().to_string()
    }
}
