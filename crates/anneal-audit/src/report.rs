//! The audit of a program's last build: the report's test predictions joined with the test
//! examples' metadata at the build's dataset commit (not HEAD: the data the build saw).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anneal_build::{BuildError, Project, Report};
use anneal_data::{CommitId, Store};
use serde::Serialize;

use crate::calibration::{Calibration, calibration};
use crate::error::AuditError;
use crate::groups::{FieldAudit, Options, Outcomes, audit_field};
use crate::opacity::Opacity;
use crate::robust::Robustness;

/// Fields with more values than this are left out unless named (an id-like field says nothing
/// per value).
pub const MAX_GROUPS: usize = 64;

/// What `anneal audit` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The audited build.
    pub build_key: String,
    /// Its dataset commit.
    pub dataset_commit: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Test examples.
    pub examples: usize,
    /// Test accuracy.
    pub accuracy: f64,
    /// One audit per metadata field.
    pub fields: Vec<FieldAudit>,
    /// How well the test predictions' confidence matches their accuracy.
    pub calibration: Calibration,
    /// Attributions and their faithfulness, when measured ([`crate::opacity`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opacity: Option<Opacity>,
    /// Accuracy under attack, when measured ([`crate::robustness`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub robustness: Option<Robustness>,
}

/// The last build of `project` audited by the metadata fields `by`, or, when none are named,
/// by every field of the test examples with 2 to [`MAX_GROUPS`] values.
pub fn audit(project: &Project, by: &[String], opts: &Options) -> Result<Audit, AuditError> {
    let report = last_report(project)?;
    let meta = test_metadata(project, &report)?;
    let predicted: Vec<u32> = (report.test.probs.iter())
        .map(|p| anneal_pack::argmax(p) as u32)
        .collect();
    let outcomes = Outcomes {
        labels: &report.test.labels,
        predicted: &predicted,
        classes: &report.classes,
    };
    let fields = chosen_fields(&meta, by, &project.program.test_split)?;
    let audited = fields.iter().map(|f| {
        let values: Vec<Option<String>> = meta.iter().map(|m| m.get(f).cloned()).collect();
        audit_field(f, &outcomes, &values, opts)
    });
    let correct = predicted
        .iter()
        .zip(outcomes.labels)
        .filter(|(p, l)| p == l);
    Ok(Audit {
        build_key: report.build_key.clone(),
        dataset_commit: report.dataset_commit.clone(),
        classes: report.classes.clone(),
        examples: predicted.len(),
        accuracy: correct.count() as f64 / predicted.len().max(1) as f64,
        fields: audited.collect(),
        calibration: calibrated(project, &report),
        opacity: None,
        robustness: None,
    })
}

/// The calibration of the test predictions, with the package's temperature scaling undone
/// for comparison when it has one.
fn calibrated(project: &Project, report: &Report) -> Calibration {
    let (probs, labels) = (&report.test.probs, &report.test.labels);
    let c = calibration(probs, labels);
    let header = anneal_pack::Header::read(&project.package_path()).ok();
    let current = header.filter(|h| h.lineage.build_key == report.build_key);
    match current.and_then(|h| h.signature.temperature) {
        Some(t) => c.with_temperature(t, probs, labels),
        None => c,
    }
}

/// The report of the last build, or the error saying to build first.
fn last_report(project: &Project) -> Result<Report, AuditError> {
    let path = project.report_path();
    if !path.is_file() {
        return Err(BuildError::NoReport { path }.into());
    }
    Ok(Report::read(&path)?)
}

/// Each test example's metadata at the build's dataset commit.
fn test_metadata(
    project: &Project,
    report: &Report,
) -> Result<Vec<BTreeMap<String, String>>, AuditError> {
    let commit: CommitId = report.dataset_commit.parse().map_err(|e| BuildError::Io {
        path: project.report_path(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e}")),
    })?;
    let rows = Store::open(&project.dir)?.commit_rows(&commit)?;
    let by_id: HashMap<_, _> = rows.iter().map(|r| (&r.id, r)).collect();
    let meta = |id| {
        by_id
            .get(id)
            .and_then(|r| r.meta.fields())
            .unwrap_or_default()
    };
    Ok(report.test.ids.iter().map(meta).collect())
}

/// The fields named (each must be on some test example), or every field with 2 to
/// [`MAX_GROUPS`] values.
fn chosen_fields(
    meta: &[BTreeMap<String, String>],
    by: &[String],
    split: &str,
) -> Result<Vec<String>, AuditError> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in meta.iter().flatten() {
        values.entry(k).or_default().insert(v);
    }
    if let Some(missing) = by.iter().find(|f| !values.contains_key(f.as_str())) {
        return Err(AuditError::from(BuildError::NoField {
            field: missing.clone(),
            split: split.to_string(),
            fields: values.keys().map(|k| k.to_string()).collect(),
        }));
    }
    if !by.is_empty() {
        return Ok(by.to_vec());
    }
    let useful = |(_, v): &(&&str, &BTreeSet<&str>)| (2..=MAX_GROUPS).contains(&v.len());
    Ok(values
        .iter()
        .filter(useful)
        .map(|(k, _)| k.to_string())
        .collect())
}
