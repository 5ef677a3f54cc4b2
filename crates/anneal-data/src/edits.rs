//! Edits between sorted row lists: applying a patch's edits, and finding the edits between two
//! versions. Pure functions of rows; patches and merges are built on them.

use crate::object::{Edit, Row};

/// Apply sorted `edits` to sorted `base` rows.
pub fn apply_edits(base: Vec<Row>, edits: &[Edit]) -> Vec<Row> {
    let mut out = Vec::with_capacity(base.len() + edits.len());
    let mut edits = edits.iter().peekable();
    for row in base {
        while let Some(Edit::Add(r)) = edits.peek().filter(|e| e.id() < row.id.as_str()) {
            out.push(r.clone());
            edits.next();
        }
        match edits.peek() {
            Some(e) if e.id() == row.id.as_str() => {
                match e {
                    Edit::Change(_, after) | Edit::Add(after) => out.push(after.clone()),
                    Edit::Remove(_) => {}
                }
                edits.next();
            }
            _ => out.push(row),
        }
    }
    for e in edits {
        if let Edit::Add(r) | Edit::Change(_, r) = e {
            out.push(r.clone());
        }
    }
    out
}

/// The edits that turn sorted `before` into sorted `after`.
pub fn edits_between(before: &[Row], after: &[Row]) -> Vec<Edit> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) if a.id == b.id => {
                if a != b {
                    out.push(Edit::Change(a.clone(), b.clone()));
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.id < b.id => {
                out.push(Edit::Remove(a.clone()));
                i += 1;
            }
            (Some(_), Some(b)) => {
                out.push(Edit::Add(b.clone()));
                j += 1;
            }
            (Some(a), None) => {
                out.push(Edit::Remove(a.clone()));
                i += 1;
            }
            (None, Some(b)) => {
                out.push(Edit::Add(b.clone()));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}
