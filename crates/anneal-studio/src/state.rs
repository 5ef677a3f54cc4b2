//! [`Studio`]: the shared state of one studio: the program, its store, the index of HEAD and
//! the guard. Every request first calls [`Studio::refresh`], which re-reads HEAD and the
//! report's modification time (two small reads and a stat) and brings the index up to date,
//! so edits made from the CLI while the studio is open show on the next page.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use anneal_build::{Project, Report};
use anneal_data::{ExampleId, Store};

use crate::build::BuildState;
use crate::error::StudioError;
use crate::index::Index;
use crate::security::Guard;

/// One studio's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Studio {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub store: Store,
    pub project: Option<Project>,
    pub guard: Arc<Guard>,
    pub index: RwLock<Index>,
    /// The report's modification time when it was joined.
    report_stamp: Mutex<Option<SystemTime>>,
    /// Held while the index is brought up to date, so only one request does it.
    refreshing: Mutex<()>,
    pub build: Mutex<BuildState>,
}

impl Studio {
    /// The studio of the program (or bare store) in `dir`, guarded by `guard`.
    pub fn open(dir: &Path, guard: Guard) -> Result<Studio, StudioError> {
        let store = Store::open(dir)?;
        let project = match Project::load(dir) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("{e}: showing the store without a program");
                None
            }
        };
        let inner = Inner {
            dir: dir.to_path_buf(),
            store,
            project,
            guard: Arc::new(guard),
            index: RwLock::new(Index::default()),
            report_stamp: Mutex::new(None),
            refreshing: Mutex::new(()),
            build: Mutex::new(BuildState::default()),
        };
        let studio = Studio {
            inner: Arc::new(inner),
        };
        studio.inner.refresh_now(true)?;
        Ok(studio)
    }

    /// Bring the index up to date with HEAD and the report (off the async threads).
    pub async fn refresh(&self) -> Result<(), StudioError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.refresh_now(false)).await?
    }

    /// The index, for reading.
    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The program folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The staged label edits, by id (the later of two edits of one id wins).
    pub fn staged_labels(&self) -> HashMap<ExampleId, Option<String>> {
        let staged = self.inner.store.staged().ok().flatten();
        let changes = staged.map(|s| s.changes).unwrap_or_default();
        let labels = changes.into_iter().filter_map(|c| match c {
            anneal_data::tables::Change::Label { id, label } => Some((id, label)),
            _ => None,
        });
        labels.collect()
    }

    /// The split the program tests on (`test` without a program).
    pub fn test_split(&self) -> String {
        let program = self.inner.project.as_ref().map(|p| &p.program);
        program.map_or_else(|| "test".to_string(), |p| p.test_split.clone())
    }
}

impl Inner {
    fn report_path(&self) -> Option<PathBuf> {
        let project = self.project.as_ref()?;
        Some(project.report_path())
    }

    fn report_stamp(&self) -> Option<SystemTime> {
        let meta = std::fs::metadata(self.report_path()?).ok()?;
        meta.modified().ok()
    }

    fn classes(&self) -> Vec<String> {
        let program = self.project.as_ref().map(|p| &p.program);
        program.map(|p| p.classes.clone()).unwrap_or_default()
    }

    /// Bring the index up to date (`force`: read everything again).
    pub fn refresh_now(&self, force: bool) -> Result<(), StudioError> {
        let _one = self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let head = self.store.head()?;
        let stamp = self.report_stamp();
        let mut known = self
            .report_stamp
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (moved, rebuilt) = (self.read_index().commit != head, *known != stamp);
        if !force && !moved && !rebuilt {
            return Ok(());
        }
        if force || (moved && !self.fast_forward(head)?) {
            let mut fresh = Index::load(&self.store, head, &self.classes())?;
            fresh.join(self.read_report());
            *self.index.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        } else if rebuilt {
            let report = self.read_report();
            self.index
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .join(report);
        }
        *known = stamp;
        Ok(())
    }

    fn read_index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn fast_forward(&self, head: Option<anneal_data::CommitId>) -> Result<bool, StudioError> {
        let Some(head) = head else {
            return Ok(false);
        };
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        Ok(index.fast_forward(&self.store, head)?)
    }

    fn read_report(&self) -> Option<Report> {
        let path = self.report_path()?;
        if !path.is_file() {
            return None;
        }
        Report::read(&path)
            .inspect_err(|e| tracing::warn!("{e}: showing the dataset without the report"))
            .ok()
    }
}
