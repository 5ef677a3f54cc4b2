//! The dataset commit a build trains on: HEAD, or the declared sources imported as one commit
//! into an empty store.

use std::path::{Path, PathBuf};

use anneal_data::import::{Format, ImportOptions, NoProgress, import_all};
use anneal_data::{CommitId, Store, StoreError};
use anneal_spec::SourceFormat;

use crate::{BuildError, Project};

/// HEAD's commit, importing the program's `[[data.source]]`s first into an empty store.
pub fn resolve_commit(
    project: &Project,
    log: &mut dyn FnMut(String),
) -> Result<CommitId, BuildError> {
    match Store::open(&project.dir) {
        Ok(store) => {
            if let Some(h) = store.head()? {
                return Ok(h);
            }
        }
        Err(StoreError::NoStore { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if project.program.sources.is_empty() {
        let dir = project.dir.clone();
        return Err(BuildError::NoDataset { dir });
    }
    import_sources(project, log)
}

/// Import every declared source as one commit: a source that fails leaves no other imported,
/// so the next build does not train on part of the program's data.
fn import_sources(project: &Project, log: &mut dyn FnMut(String)) -> Result<CommitId, BuildError> {
    let sources = &project.program.sources;
    let paths: Vec<PathBuf> = sources.iter().map(|s| project.dir.join(&s.path)).collect();
    let opts: Vec<ImportOptions> = sources
        .iter()
        .map(|s| ImportOptions {
            split: s.split.clone(),
            ..ImportOptions::new(format(s.format))
        })
        .collect();
    for (path, s) in paths.iter().zip(sources) {
        log(format!("importing {} (split {})", path.display(), s.split));
    }
    let pairs: Vec<(&Path, &ImportOptions)> =
        paths.iter().map(PathBuf::as_path).zip(&opts).collect();
    let summary = import_all(&project.dir, &pairs, &mut NoProgress).map_err(|source| {
        let manifest = project.manifest_display();
        BuildError::Import { manifest, source }
    })?;
    Ok(summary.commit)
}

fn format(format: SourceFormat) -> Format {
    match format {
        SourceFormat::Idx => Format::Idx,
        SourceFormat::Images => Format::Images,
    }
}
