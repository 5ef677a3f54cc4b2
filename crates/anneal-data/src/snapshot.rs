//! [`Snapshot`]: a commit's rows with its payloads, read once, ready to decode.

use std::collections::HashMap;

use crate::hash::{CommitId, ContentHash};
use crate::object::{Kind, Row, decode_pack};
use crate::store::{Store, StoreError};

/// A dataset snapshot with its payloads, ready to decode.
#[derive(Debug)]
pub struct Snapshot {
    /// Examples sorted by id.
    pub rows: Vec<Row>,
    packs: Vec<Vec<u8>>,
    index: HashMap<ContentHash, (usize, std::ops::Range<usize>)>,
}

impl Snapshot {
    /// The payload bytes of `row` (already verified against its hash).
    pub fn payload(&self, row: &Row) -> Result<&[u8], StoreError> {
        let dangling = || StoreError::DanglingPayload {
            id: row.id.clone(),
            payload: row.payload,
        };
        let (pack, range) = self.index.get(&row.payload).ok_or_else(dangling)?;
        Ok(&self.packs[*pack][range.clone()])
    }
}

impl Store {
    /// The rows and payloads of a commit.
    pub fn snapshot(&self, commit_hash: &CommitId) -> Result<Snapshot, StoreError> {
        let commit = self.commit_object(commit_hash)?;
        let table = self.table(&commit)?;
        let rows = self.rows(&table)?;
        let mut packs = Vec::with_capacity(table.packs().len());
        let mut index = HashMap::new();
        for (i, ph) in table.packs().iter().enumerate() {
            let body = self.get(Kind::Pack, ph)?;
            for (bh, range) in
                decode_pack(&body).map_err(|source| StoreError::Decode { hash: *ph, source })?
            {
                index.insert(bh, (i, range));
            }
            packs.push(body);
        }
        Ok(Snapshot { rows, packs, index })
    }
}
