//! Example counts of a dataset: per split and label, and per value of each metadata field.

use std::collections::BTreeMap;

use crate::object::Row;

/// Counts over a dataset's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Examples in all.
    pub examples: u64,
    /// Split (`(none)` for none), then label (`(unlabeled)` for none), to count.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Metadata field, then value, to count (examples without the field are not counted).
    pub meta: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// Count `rows`.
    pub fn of(rows: &[Row]) -> Stats {
        let mut s = Stats::default();
        for r in rows {
            s.examples += 1;
            let split = if r.split.is_empty() {
                "(none)"
            } else {
                r.split.as_str()
            };
            let label = r.label.as_deref().unwrap_or("(unlabeled)");
            *s.counts
                .entry(split.to_string())
                .or_default()
                .entry(label.to_string())
                .or_default() += 1;
            for (k, v) in r.meta.fields().unwrap_or_default() {
                *s.meta.entry(k).or_default().entry(v).or_default() += 1;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ContentHash;

    #[test]
    fn counts_splits_labels_and_metadata() {
        let row = |id: &str, label: Option<&str>, meta: &str| Row {
            id: id.into(),
            payload: ContentHash::of(id.as_bytes()),
            label: label.map(str::to_string),
            split: "train".into(),
            meta: meta.into(),
        };
        let s = Stats::of(&[
            row("a", Some("1"), r#"{"speaker":"jo","take":"1"}"#),
            row("b", Some("1"), r#"{"speaker":"jo"}"#),
            row("c", None, r#"{"speaker":"al"}"#),
            row("d", Some("2"), ""),
        ]);
        assert_eq!(s.examples, 4);
        assert_eq!(s.counts["train"]["1"], 2);
        assert_eq!(s.counts["train"]["(unlabeled)"], 1);
        assert_eq!(s.meta["speaker"]["jo"], 2);
        assert_eq!(s.meta["speaker"]["al"], 1);
        assert_eq!(s.meta["take"].len(), 1);
    }
}
