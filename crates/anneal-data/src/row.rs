//! [`Row`]: one example as the store holds it.

use crate::hash::ContentHash;

/// One example, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Stable id, unique in the dataset.
    pub id: String,
    /// Hash of the payload blob.
    pub payload: ContentHash,
    /// Label, or `None` for the unlabeled pool.
    pub label: Option<String>,
    /// Split name (`train`, `test`, ...; empty for none).
    pub split: String,
    /// Metadata as a JSON object, or empty.
    pub meta: String,
}
