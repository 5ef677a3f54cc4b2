//! The store verbs that read or edit one branch: status, show, diff, label, remove, commit,
//! reset, stats, fsck, split and gc.

use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::diff::Diff;
use anneal_data::row::Meta;
use anneal_data::tables::Change;
use anneal_data::{ContentHash, Store};
use serde_json::json;

fn rows_at(store: &Store, h: &ContentHash) -> Result<Vec<anneal_data::object::Row>, CliError> {
    Ok(store.rows(&store.table(&store.commit_object(h)?)?)?)
}

fn change_json(c: &Change) -> serde_json::Value {
    serde_json::to_value(c).unwrap_or_default()
}

fn change_text(c: &Change) -> String {
    match c {
        Change::Label { id, label } => format!(
            "label  {id} -> {}",
            label.as_deref().unwrap_or("(unlabeled)")
        ),
        Change::Split { id, split } => format!("split  {id} -> {split}"),
        Change::Remove { id } => format!("remove {id}"),
    }
}

pub fn status(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = store.branch()?;
    let staged = store.staged()?.map(|s| s.changes).unwrap_or_default();
    let staged_json: Vec<_> = staged.iter().map(change_json).collect();
    let Some(head) = store.head()? else {
        if json {
            println!(
                "{}",
                json!({"branch": branch, "commit": null, "examples": 0, "staged": staged_json})
            );
        } else {
            println!("on branch {branch}, no commits yet");
        }
        return Ok(0);
    };
    let top = store.commit_object(&head)?.table;
    let chain = anneal_data::tables::chain(&store, top)?;
    let table = &chain[0].1;
    let patches = chain.len() - 1;
    if json {
        println!(
            "{}",
            json!({"branch": branch, "commit": head.to_hex(), "examples": table.rows(), "patches": patches,
                   "packs": table.packs().len(), "staged": staged_json})
        );
        return Ok(0);
    }
    println!("on branch {branch} at {}", head.short());
    println!(
        "{} examples ({} patch{} on a full table), payloads in {} packs",
        table.rows(),
        patches,
        if patches == 1 { "" } else { "es" },
        table.packs().len()
    );
    if !staged.is_empty() {
        println!(
            "{} staged change{} (commit with `anneal data commit -m MSG`, drop with `anneal data reset`):",
            staged.len(),
            plural(staged.len())
        );
        for c in &staged {
            println!("  {}", change_text(c));
        }
    }
    Ok(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn diff_json(d: &Diff) -> serde_json::Value {
    let row =
        |r: &anneal_data::object::Row| json!({"id": r.id, "label": r.label, "split": r.split});
    json!({
        "added": d.added.iter().map(row).collect::<Vec<_>>(),
        "removed": d.removed.iter().map(row).collect::<Vec<_>>(),
        "relabeled": d.relabeled.iter().map(|(a, b)| json!({"id": a.id, "before": a.label, "after": b.label})).collect::<Vec<_>>(),
        "meta_changed": d.meta_changed.iter().map(|(a, b)| json!({"id": a.id, "before": a.meta.value(), "after": b.meta.value()})).collect::<Vec<_>>(),
        "changed": d.changed.iter().map(|(_, b)| row(b)).collect::<Vec<_>>(),
        "class_counts": d.class_counts,
    })
}

/// The metadata fields that differ, as `field: before -> after` (`(none)` where absent).
fn meta_changes(before: &Meta, after: &Meta) -> String {
    let (a, b) = (before.value(), after.value());
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return format!("{before} -> {after}");
    };
    let show = |v: Option<&serde_json::Value>| match v {
        None => "(none)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} -> {}", show(a.get(k)), show(b.get(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_diff(d: &Diff, stat: bool) {
    let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "(unlabeled)".into());
    if !stat {
        for r in &d.added {
            println!("+ {} {} [{}]", r.id, show(&r.label), r.split);
        }
        for r in &d.removed {
            println!("- {} {} [{}]", r.id, show(&r.label), r.split);
        }
        for (a, b) in &d.relabeled {
            println!("~ {} {} -> {}", a.id, show(&a.label), show(&b.label));
        }
        for (a, b) in &d.meta_changed {
            println!("m {} {}", a.id, meta_changes(&a.meta, &b.meta));
        }
        for (_, b) in &d.changed {
            println!("* {} payload or split changed", b.id);
        }
    }
    println!(
        "{} added, {} removed, {} relabeled, {} metadata changed, {} changed",
        d.added.len(),
        d.removed.len(),
        d.relabeled.len(),
        d.meta_changed.len(),
        d.changed.len()
    );
    if !d.class_counts.is_empty() {
        let parts: Vec<String> = d
            .class_counts
            .iter()
            .map(|(k, v)| format!("{}: {v:+}", if k.is_empty() { "(unlabeled)" } else { k }))
            .collect();
        println!("per class: {}", parts.join(", "));
    }
}

pub fn show(dir: &Path, rev: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let h = store.resolve(rev)?;
    let c = store.commit_object(&h)?;
    let d = match c.parents.first() {
        Some(p) => anneal_data::diff::diff(&store, p, &h)?,
        None => Diff {
            added: rows_at(&store, &h)?,
            ..Diff::default()
        },
    };
    if json {
        println!(
            "{}",
            json!({"commit": h.to_hex(), "parents": c.parents, "author": c.author, "time": c.time,
                   "message": c.message, "diff": diff_json(&d)})
        );
    } else {
        println!(
            "commit {h}\nauthor {}\ntime   {}\n\n    {}\n",
            c.author, c.time, c.message
        );
        print_diff(&d, d.added.len() > 20);
    }
    Ok(0)
}

pub fn diff(dir: &Path, a: &str, b: &str, stat: bool, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let (ha, hb) = (store.resolve(a)?, store.resolve(b)?);
    let d = anneal_data::diff::diff(&store, &ha, &hb)?;
    if json {
        println!("{}", diff_json(&d));
    } else {
        print_diff(&d, stat);
    }
    Ok(0)
}

/// Read `id,label` rows; a first row whose second field is `label` is a header.
fn read_edits(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    Ok(anneal_data::import::read_pairs(path)?
        .into_iter()
        .map(|(id, label, _)| (id, label))
        .collect())
}

/// How `label` and `remove` record their changes.
#[derive(Debug, Clone, Copy)]
pub struct EditMode {
    /// Stage in the index instead of committing.
    pub no_commit: bool,
    /// Print JSON.
    pub json: bool,
}

/// Commit `changes` (or stage them) and report it.
fn commit_or_stage(
    store: &Store,
    message: &str,
    changes: Vec<Change>,
    mode: EditMode,
) -> Result<u8, CliError> {
    let n = changes.len();
    if mode.no_commit {
        let staged = store.stage(changes)?;
        let total = staged.changes.len();
        if mode.json {
            println!(
                "{}",
                json!({"staged": n, "staged_total": total, "commit": null})
            );
        } else {
            println!(
                "staged {n} change{} ({total} in the index; `anneal data commit -m MSG` commits them)",
                plural(n)
            );
        }
        return Ok(0);
    }
    let commit = store.apply(message, &changes)?;
    if mode.json {
        println!(
            "{}",
            json!({"commit": commit.map(|h| h.to_hex()), "message": message, "changes": n})
        );
        return Ok(0);
    }
    match commit {
        Some(h) => println!("committed {} ({message})", h.short()),
        None => println!("nothing to commit: the dataset already matches"),
    }
    Ok(0)
}

pub fn label(
    dir: &Path,
    args: &[String],
    from: Option<&Path>,
    message: Option<&str>,
    mode: EditMode,
) -> Result<u8, CliError> {
    let edits: Vec<(String, String)> = match (from, args) {
        (Some(f), []) => read_edits(f)?,
        (None, [id, label]) => vec![(id.clone(), label.clone())],
        _ => {
            return Err(CliError::new(
                "expected `label ID LABEL` or `label --from FILE.csv`",
            ));
        }
    };
    if let Some((id, _)) = edits.iter().find(|(id, l)| id.is_empty() || l.is_empty()) {
        return Err(CliError::new(format!(
            "empty id or label in the edit for `{id}`"
        )));
    }
    let store = Store::open(dir)?;
    let n = edits.len();
    let message = message.map_or_else(|| format!("label {n} example{}", plural(n)), str::to_string);
    let changes: Vec<Change> = edits
        .into_iter()
        .map(|(id, label)| Change::Label {
            id,
            label: Some(label),
        })
        .collect();
    commit_or_stage(&store, &message, changes, mode)
}

pub fn remove(dir: &Path, ids: &[String], mode: EditMode) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let message = format!("remove {} example{}", ids.len(), plural(ids.len()));
    let changes: Vec<Change> = ids
        .iter()
        .map(|id| Change::Remove { id: id.clone() })
        .collect();
    commit_or_stage(&store, &message, changes, mode)
}

/// Commit the staged changes.
pub fn commit(dir: &Path, message: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let n = store.staged()?.map_or(0, |s| s.changes.len());
    let commit = store.commit_staged(message).map_err(|e| {
        let stale = matches!(e, anneal_data::StoreError::StaleIndex { .. });
        let err = CliError::from(e);
        if stale {
            err.hint("see them with `anneal data status`; drop them with `anneal data reset` and stage them again")
        } else {
            err
        }
    })?;
    if json {
        println!(
            "{}",
            json!({"commit": commit.map(|h| h.to_hex()), "message": message, "changes": n})
        );
    } else {
        match commit {
            Some(h) => println!(
                "committed {} ({message}): {n} staged change{}",
                h.short(),
                plural(n)
            ),
            None => {
                println!("nothing to commit: the staged changes match the dataset (index cleared)")
            }
        }
    }
    Ok(0)
}

pub fn stats(dir: &Path, rev: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let h = store.resolve(rev)?;
    let stats = anneal_data::stats::Stats::of(&rows_at(&store, &h)?);
    if json {
        println!(
            "{}",
            json!({"commit": h.to_hex(), "examples": stats.examples, "counts": stats.counts, "meta": stats.meta})
        );
        return Ok(0);
    }
    for (split, labels) in &stats.counts {
        let total: u64 = labels.values().sum();
        println!("{split}: {total} examples");
        for (label, n) in labels {
            println!("  {label:<16} {n:>8}");
        }
    }
    for (field, values) in &stats.meta {
        println!("{field}: {} values", values.len());
        for (value, n) in values.iter().take(50) {
            println!("  {value:<16} {n:>8}");
        }
        if values.len() > 50 {
            println!("  ... {} more (see --json)", values.len() - 50);
        }
    }
    Ok(0)
}

pub fn fsck(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let report = anneal_data::fsck::fsck(&store)?;
    if json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({"path": p.path, "problem": p.message}))
            .collect();
        println!(
            "{}",
            json!({"objects": report.objects, "commits": report.commits, "problems": problems})
        );
    } else {
        for p in &report.problems {
            println!("{}: {}", p.path.display(), p.message);
        }
        println!(
            "checked {} objects and {} commits: {} problem{}",
            report.objects,
            report.commits,
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        );
    }
    Ok(if report.problems.is_empty() {
        0
    } else {
        EXIT_FAILED as u8
    })
}

pub fn split(
    dir: &Path,
    test: f64,
    validation: f64,
    from: Option<&str>,
    seed: u64,
    json: bool,
) -> Result<u8, CliError> {
    if !(0.0..=1.0).contains(&test) || !(0.0..=1.0).contains(&validation) || test + validation > 1.0
    {
        return Err(CliError::new(format!(
            "--test {test} and --validation {validation} must be fractions adding up to at most 1"
        )));
    }
    let store = Store::open(dir)?;
    let head = store
        .head()?
        .ok_or_else(|| CliError::new("the dataset has no commits yet"))?;
    let rows = rows_at(&store, &head)?;
    let mut fractions = vec![("test".to_string(), test)];
    if validation > 0.0 {
        fractions.push(("validation".to_string(), validation));
    }
    let changes = anneal_data::split::stratified(&rows, from, &fractions, "train", seed);
    let message = format!("split test {test} validation {validation} seed {seed}");
    let commit = store.apply(&message, &changes)?;
    if json {
        println!(
            "{}",
            json!({"commit": commit.map(|h| h.to_hex()), "moved": changes.len(), "message": message})
        );
        return Ok(0);
    }
    match commit {
        Some(h) => println!(
            "moved {} examples between splits: commit {}",
            changes.len(),
            h.short()
        ),
        None => println!("nothing to commit: the splits already match"),
    }
    Ok(0)
}

pub fn gc(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let r = anneal_data::gc::gc(&store)?;
    if json {
        println!(
            "{}",
            json!({"removed": r.removed, "bytes": r.bytes, "kept": r.kept, "strays": r.strays})
        );
        return Ok(0);
    }
    println!(
        "removed {} unreachable objects ({} bytes), kept {}",
        r.removed, r.bytes, r.kept
    );
    if r.strays > 0 {
        println!(
            "left {} entries that are not objects (links or stray files); `anneal data fsck` lists them",
            r.strays
        );
    }
    Ok(0)
}
