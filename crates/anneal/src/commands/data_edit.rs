//! The store verbs beyond import and log: status, show, diff, label, remove, branch, checkout,
//! tag, stats and fsck.

use std::collections::BTreeMap;
use std::path::Path;

use anneal::error::{CliError, EXIT_FAILED};
use anneal_data::diff::Diff;
use anneal_data::tables::Change;
use anneal_data::{ContentHash, Store};
use serde_json::json;

fn rows_at(store: &Store, h: &ContentHash) -> Result<Vec<anneal_data::object::Row>, CliError> {
    Ok(store.rows(&store.table(&store.commit_object(h)?, h)?)?)
}

pub fn status(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let branch = store.branch()?;
    let Some(head) = store.head()? else {
        if json {
            println!(
                "{}",
                json!({"branch": branch, "commit": null, "examples": 0})
            );
        } else {
            println!("on branch {branch}, no commits yet");
        }
        return Ok(0);
    };
    let top = store.table_hash(&store.commit_object(&head)?, &head)?;
    let chain = anneal_data::tables::chain(&store, top)?;
    let table = &chain[0].1;
    let patches = chain.len() - 1;
    if json {
        println!(
            "{}",
            json!({"branch": branch, "commit": head.to_hex(), "examples": table.rows(), "patches": patches, "packs": table.packs().len()})
        );
    } else {
        println!("on branch {branch} at {}", head.short());
        println!(
            "{} examples ({} patch{} on a full table), payloads in {} packs",
            table.rows(),
            patches,
            if patches == 1 { "" } else { "es" },
            table.packs().len()
        );
    }
    Ok(0)
}

fn diff_json(d: &Diff) -> serde_json::Value {
    let row =
        |r: &anneal_data::object::Row| json!({"id": r.id, "label": r.label, "split": r.split});
    json!({
        "added": d.added.iter().map(row).collect::<Vec<_>>(),
        "removed": d.removed.iter().map(row).collect::<Vec<_>>(),
        "relabeled": d.relabeled.iter().map(|(a, b)| json!({"id": a.id, "before": a.label, "after": b.label})).collect::<Vec<_>>(),
        "changed": d.changed.iter().map(|(_, b)| row(b)).collect::<Vec<_>>(),
        "class_counts": d.class_counts,
    })
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
        for (_, b) in &d.changed {
            println!("* {} payload, split or metadata changed", b.id);
        }
    }
    println!(
        "{} added, {} removed, {} relabeled, {} changed",
        d.added.len(),
        d.removed.len(),
        d.relabeled.len(),
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
    let d = match c
        .parents
        .first()
        .and_then(|p| p.parse::<ContentHash>().ok())
    {
        Some(p) => anneal_data::diff::diff(&store, &p, &h)?,
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
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
        if record.len() != 2 {
            return Err(CliError::new(format!(
                "{}: line {}: expected 2 fields (id,label), found {}",
                path.display(),
                i + 1,
                record.len()
            )));
        }
        if i == 0 && &record[1] == "label" {
            continue;
        }
        out.push((record[0].trim().to_string(), record[1].trim().to_string()));
    }
    Ok(out)
}

pub fn label(
    dir: &Path,
    args: &[String],
    from: Option<&Path>,
    message: Option<&str>,
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
    let message = message.map_or_else(
        || format!("label {n} example{}", if n == 1 { "" } else { "s" }),
        str::to_string,
    );
    let changes: Vec<Change> = edits
        .into_iter()
        .map(|(id, label)| Change::Label {
            id,
            label: Some(label),
        })
        .collect();
    let result = store.apply(&message, &changes)?;
    match result {
        Some(h) => println!("committed {} ({message})", h.short()),
        None => println!("nothing to commit: the labels were already set"),
    }
    Ok(0)
}

pub fn remove(dir: &Path, ids: &[String]) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let message = format!(
        "remove {} example{}",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" }
    );
    let changes: Vec<Change> = ids
        .iter()
        .map(|id| Change::Remove { id: id.clone() })
        .collect();
    let h = store.apply(&message, &changes)?;
    if let Some(h) = h {
        println!("committed {} ({message})", h.short());
    }
    Ok(0)
}

pub fn branch(dir: &Path, name: Option<&str>) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match name {
        Some(n) => {
            let at = store.create_branch(n, None)?;
            println!("created branch {n} at {}", at.short());
        }
        None => {
            let current = store.branch()?;
            for (n, h) in store.branches()? {
                let mark = if n == current { "*" } else { " " };
                println!("{mark} {n} {}", h.short());
            }
        }
    }
    Ok(0)
}

pub fn checkout(dir: &Path, name: &str) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let at = store.checkout(name)?;
    println!("on branch {name} at {}", at.short());
    Ok(0)
}

pub fn tag(dir: &Path, name: Option<&str>, rev: Option<&str>) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    match name {
        Some(n) => {
            let at = rev.map(|r| store.resolve(r)).transpose()?;
            let at = store.create_tag(n, at)?;
            println!("tagged {} as {n}", at.short());
        }
        None => {
            for (n, h) in store.tags()? {
                println!("{n} {}", h.short());
            }
        }
    }
    Ok(0)
}

pub fn stats(dir: &Path, rev: &str, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let h = store.resolve(rev)?;
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in rows_at(&store, &h)? {
        let split = if r.split.is_empty() {
            "(none)".to_string()
        } else {
            r.split
        };
        *counts
            .entry(split)
            .or_default()
            .entry(r.label.unwrap_or_else(|| "(unlabeled)".into()))
            .or_default() += 1;
    }
    if json {
        println!("{}", json!({"commit": h.to_hex(), "counts": counts}));
        return Ok(0);
    }
    for (split, labels) in &counts {
        let total: u64 = labels.values().sum();
        println!("{split}: {total} examples");
        for (label, n) in labels {
            println!("  {label:<16} {n:>8}");
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

pub fn merge(dir: &Path, branch: &str, ours: bool, theirs: bool) -> Result<u8, CliError> {
    use anneal_data::merge::{Outcome, Side};
    let store = Store::open(dir)?;
    let other = store.resolve(branch)?;
    let prefer = match (ours, theirs) {
        (true, _) => Some(Side::Ours),
        (_, true) => Some(Side::Theirs),
        _ => None,
    };
    match anneal_data::merge::merge(&store, other, branch, prefer)? {
        Outcome::UpToDate => println!("already up to date"),
        Outcome::FastForward(h) => println!("fast-forward to {}", h.short()),
        Outcome::Merged { commit, resolved } => {
            println!("merged {branch} as {}", commit.short());
            if resolved > 0 {
                println!(
                    "{resolved} conflict{} resolved by --{}",
                    if resolved == 1 { "" } else { "s" },
                    if ours { "ours" } else { "theirs" }
                );
            }
        }
        Outcome::Conflicts(conflicts) => {
            let show = |r: &Option<anneal_data::object::Row>| match r {
                None => "(removed)".to_string(),
                Some(r) => r.label.clone().unwrap_or_else(|| "(unlabeled)".into()),
            };
            for c in &conflicts {
                println!(
                    "conflict {}: base {}, ours {}, theirs {}",
                    c.id,
                    show(&c.base),
                    show(&c.ours),
                    show(&c.theirs)
                );
            }
            println!(
                "{} conflict{}; nothing committed",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" }
            );
            println!(
                "resolve by relabeling on either branch and merging again, or pass --ours or --theirs"
            );
            return Ok(EXIT_FAILED as u8);
        }
    }
    Ok(0)
}

pub fn split(
    dir: &Path,
    test: f64,
    validation: f64,
    from: Option<&str>,
    seed: u64,
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
    match store.apply(&message, &changes)? {
        Some(h) => println!(
            "moved {} examples between splits: commit {}",
            changes.len(),
            h.short()
        ),
        None => println!("nothing to commit: the splits already match"),
    }
    Ok(0)
}

pub fn gc(dir: &Path) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let r = anneal_data::gc::gc(&store)?;
    println!(
        "removed {} unreachable objects ({} bytes), kept {}",
        r.removed, r.bytes, r.kept
    );
    Ok(0)
}
