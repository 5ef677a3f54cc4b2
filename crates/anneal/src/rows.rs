//! Raw table rows for `anneal predict`: a CSV file with a header line, or a JSONL file of
//! records, each row encoded by the package's fitted table (numeric columns standardised,
//! categorical ones one-hot; an unseen or missing category in the last slot, a missing number
//! as the training mean). Columns the program does not read (the label) are ignored.

use std::collections::HashMap;
use std::path::Path;

use anneal_frontend::TablePlan;
use anneal_spec::Table;

use crate::error::CliError;
use crate::inputs::Input;

/// Every row of the CSV or JSONL file at `path` through `plan`, named `FILE:LINE`.
pub fn read(path: &Path, plan: &TablePlan) -> Result<Vec<Input>, CliError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => read_csv(path, plan),
        "jsonl" | "json" | "ndjson" => read_jsonl(path, plan),
        _ => Err(CliError::new(format!(
            "{}: a table program predicts on .csv (with a header line) or .jsonl files",
            path.display()
        ))),
    }
}

/// The error for row `line` of `path`.
fn at(path: &Path, line: u64, message: impl std::fmt::Display) -> CliError {
    CliError::new(format!("{}:{line}: {message}", path.display()))
}

fn read_csv(path: &Path, plan: &TablePlan) -> Result<Vec<Input>, CliError> {
    let file = anneal_data::fs::open_regular(path).map_err(|e| CliError::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, csv::Position::line);
        at(path, line, e)
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(String::from)
        .collect();
    let columns = header_columns(path, &header, plan.table())?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != header.len() {
            let (want, found) = (header.len(), record.len());
            return Err(at(
                path,
                line,
                format!("{found} fields; the header has {want}"),
            ));
        }
        let get = |name: &str| columns.get(name).map(|&i| &record[i]);
        out.push(encoded(path, line, plan, get)?);
    }
    Ok(out)
}

/// Where each column the table reads is in `header`; a column missing is an error naming it.
fn header_columns<'h>(
    path: &Path,
    header: &'h [String],
    table: &Table,
) -> Result<HashMap<&'h str, usize>, CliError> {
    let columns: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    match table.names().find(|n| !columns.contains_key(n)) {
        Some(missing) => Err(at(
            path,
            1,
            format!(
                "no column `{missing}` in the header; the program reads {}",
                names(table)
            ),
        )),
        None => Ok(columns),
    }
}

fn names(table: &Table) -> String {
    table
        .names()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row through `plan`, named `FILE:LINE`.
fn encoded<'a>(
    path: &Path,
    line: u64,
    plan: &TablePlan,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<Input, CliError> {
    let mut features = Vec::with_capacity(plan.width());
    plan.encode_record(get, &mut features)
        .map_err(|e| at(path, line, e))?;
    Ok(Input {
        name: format!("{}:{line}", path.display()),
        features,
    })
}

fn read_jsonl(path: &Path, plan: &TablePlan) -> Result<Vec<Input>, CliError> {
    let mut text = String::new();
    anneal_data::fs::open_regular(path)
        .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut text))
        .map_err(|e| CliError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let n = i as u64 + 1;
        let record = record(line).map_err(|m| at(path, n, m))?;
        out.push(encoded(path, n, plan, |c| {
            record.get(c).map(String::as_str)
        })?);
    }
    Ok(out)
}

/// A JSON object's values as text (`null` is missing); anything but an object of scalars is
/// refused.
pub fn record(line: &str) -> Result<HashMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("expected a JSON object of column values".into());
    };
    let mut out = HashMap::new();
    for (k, v) in map {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => drop(out.insert(k, s)),
            serde_json::Value::Number(n) => drop(out.insert(k, n.to_string())),
            serde_json::Value::Bool(b) => drop(out.insert(k, b.to_string())),
            _ => return Err(format!("column `{k}` holds an array or object")),
        }
    }
    Ok(out)
}
