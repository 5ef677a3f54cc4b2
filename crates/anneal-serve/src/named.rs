//! Loading packages into a shared state: under their programs' names, or one program under
//! another model name (a KServe runtime is given the InferenceService's name, `{{.Name}}`, and
//! clients address the model by it).

use std::path::PathBuf;
use std::sync::Arc;

use crate::{Config, LoadError, Shared, State};

impl State {
    /// This state with its one program served under `name` instead of the program's own (a
    /// KServe runtime is given the InferenceService's name); packages of more than one program,
    /// or a name that cannot be a path segment, are an error.
    pub fn named(mut self, name: &str) -> Result<State, LoadError> {
        let programs: Vec<String> = self.models.keys().cloned().collect();
        let bad_name = name.is_empty() || name.contains(['/', '?', '#', '%']);
        let (Some(program), false, 1) = (programs.first(), bad_name, programs.len()) else {
            let name = name.to_string();
            return Err(LoadError::Named { name, programs });
        };
        if let Some(versions) = self.models.remove(program) {
            self.models.insert(name.to_string(), versions);
        }
        Ok(self)
    }
}

/// Load the packages at `paths` into a shared state (see [`State::load`]).
pub fn load(paths: &[PathBuf], config: Config) -> Result<Shared, LoadError> {
    State::load(paths, config).map(Arc::new)
}

/// [`load`], the one program served under `name` when given ([`State::named`]).
pub fn load_named(
    paths: &[PathBuf],
    config: Config,
    name: Option<&str>,
) -> Result<Shared, LoadError> {
    let state = State::load(paths, config)?;
    match name {
        Some(n) => state.named(n).map(Arc::new),
        None => Ok(Arc::new(state)),
    }
}
