//! An example's label history: the commits (first parents from HEAD, the newest
//! [`MAX_COMMITS`]) where its label changed, or where it appeared.

use anneal_data::{Store, StoreError};

/// The most commits walked back.
pub const MAX_COMMITS: usize = 200;

/// One change of an example's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The commit (short hash).
    pub commit: String,
    /// Its time, seconds since the Unix epoch.
    pub time: u64,
    /// Its message.
    pub message: String,
    /// The label from that commit on (`(none)` for unlabeled, `(removed)`).
    pub label: String,
}

/// Where example `id`'s label changed, newest first.
pub fn label_history(store: &Store, id: &str) -> Result<Vec<Event>, StoreError> {
    let mut log = store.log()?;
    log.truncate(MAX_COMMITS);
    let mut events = Vec::new();
    let mut before: Option<String> = None;
    for (hash, commit) in log.into_iter().rev() {
        let table = store.table_object(&commit.table)?;
        let row = store.lookup(&table, &[id])?.remove(id);
        let label = match row {
            Some(r) => r.label.unwrap_or_else(|| "(none)".into()),
            None if before.is_none() => continue,
            None => "(removed)".into(),
        };
        if before.as_ref() != Some(&label) {
            let message = commit.message.lines().next().unwrap_or("").to_string();
            let (commit, time) = (hash.short(), commit.time);
            events.push(Event {
                commit,
                time,
                message,
                label: label.clone(),
            });
        }
        before = Some(label);
    }
    events.reverse();
    Ok(events)
}
