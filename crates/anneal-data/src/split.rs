//! Assigning splits by seed and fraction, stratified by label, or by a metadata field.

use std::collections::BTreeMap;

use crate::object::Row;
use crate::tables::Change;

/// The split changes that give each label's examples (of `rows`, those in split `from` when
/// given) the fractions `fractions` (e.g. `[("test", 0.2)]`; the rest go to `rest`). Each
/// label's examples are shuffled with `seed` (by id hash, so the result does not depend on the
/// order of the store), then cut.
pub fn stratified(
    rows: &[Row],
    from: Option<&str>,
    fractions: &[(String, f64)],
    rest: &str,
    seed: u64,
) -> Vec<Change> {
    let mut by_label: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| from.is_none_or(|f| r.split == f)) {
        by_label
            .entry(r.label.as_deref().unwrap_or(""))
            .or_default()
            .push(r);
    }
    let mut changes = Vec::new();
    for (_, mut group) in by_label {
        group.sort_by_cached_key(|r| shuffle_key(seed, r));
        for (name, a, b) in cuts(group.len(), fractions, rest) {
            let moved = group[a..b].iter().filter(|r| r.split != name);
            changes.extend(moved.map(|r| Change::Split {
                id: r.id.clone(),
                split: name.to_string(),
            }));
        }
    }
    changes
}

/// The split changes that move every example of `rows` whose metadata `field` is one of
/// `values` to split `to` (a held-out speaker, the takes a dataset's authors set aside).
pub fn matching(rows: &[Row], field: &str, values: &[&str], to: &str) -> Vec<Change> {
    let picked = rows.iter().filter(|r| r.split != to).filter(|r| {
        let fields = r.meta.fields().unwrap_or_default();
        fields
            .get(field)
            .is_some_and(|v| values.contains(&v.as_str()))
    });
    picked
        .map(|r| Change::Split {
            id: r.id.clone(),
            split: to.to_string(),
        })
        .collect()
}

/// Where `id` falls in the shuffle of `seed`.
fn shuffle_key(seed: u64, r: &Row) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(r.id.as_bytes());
    *h.finalize().as_bytes()
}

/// The ranges of `n` shuffled examples each split takes: the `fractions` in order (rounded at
/// their running total), then `rest`.
fn cuts<'a>(
    n: usize,
    fractions: &'a [(String, f64)],
    rest: &'a str,
) -> Vec<(&'a str, usize, usize)> {
    let mut start = 0;
    let mut bounds = Vec::new();
    let mut acc = 0.0;
    for (name, f) in fractions {
        acc += f;
        let end = ((acc * n as f64).round() as usize).min(n);
        bounds.push((name.as_str(), start, end));
        start = end;
    }
    bounds.push((rest, start, n));
    bounds
}
