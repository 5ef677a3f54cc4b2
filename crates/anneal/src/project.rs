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
        let text = match read_manifest(&path) {
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

/// The largest manifest read: a program is a page of TOML, not megabytes.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Read a manifest: a regular file (never a FIFO) of at most [`MAX_MANIFEST_BYTES`], as UTF-8.
fn read_manifest(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
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

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        "the current folder".into()
    } else {
        dir.display().to_string()
    }
}
