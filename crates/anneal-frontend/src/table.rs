//! Table rows to model inputs, as a program's [`Table`] says: numeric columns standardised,
//! categorical columns one-hot with a last slot for unseen or missing values.
//!
//! [`fit`] fills in what the manifest left open from the training split; a [`TablePlan`]
//! encodes rows with a fitted table, the same in build, `predict` and `serve`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anneal_spec::Table;
use anneal_spec::table::{Categorical, Numeric};

/// Why a row cannot be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// The table has a column without its statistics or values.
    #[error("column `{0}` of the table is not fitted")]
    NotFitted(String),
    /// A numeric column holds something else.
    #[error("column `{column}`: expected a number, found `{value}`")]
    NotNumber {
        /// The column.
        column: String,
        /// What it held.
        value: String,
    },
}

/// A fitted table, ready to encode rows.
#[derive(Debug, Clone)]
pub struct TablePlan {
    table: Table,
    /// Mean and deviation per numeric column.
    stats: Vec<(f32, f32)>,
    /// Slot of each value, per categorical column.
    slots: Vec<HashMap<String, usize>>,
}

impl TablePlan {
    /// The plan for `table`, which must be fitted.
    pub fn new(table: &Table) -> Result<TablePlan, TableError> {
        let stats = table.numeric.iter().map(|c| match (c.mean, c.std) {
            (Some(m), Some(s)) => Ok((m, s)),
            _ => Err(TableError::NotFitted(c.name.clone())),
        });
        let slots = table.categorical.iter().map(|c| match &c.values {
            Some(v) => Ok(v.iter().enumerate().map(|(i, v)| (v.clone(), i)).collect()),
            None => Err(TableError::NotFitted(c.name.clone())),
        });
        Ok(TablePlan {
            table: table.clone(),
            stats: stats.collect::<Result<_, _>>()?,
            slots: slots.collect::<Result<_, _>>()?,
        })
    }

    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.table.width()
    }

    /// The table this plan encodes.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Append the encoding of one row: `numbers` holds the numeric columns in order (`None`:
    /// missing, encoded as the mean), `category` gives a categorical field's value (`None`:
    /// missing, encoded in the last slot like an unseen value).
    pub fn encode<'a>(
        &self,
        numbers: &[Option<f32>],
        category: impl Fn(&str) -> Option<&'a str>,
        out: &mut Vec<f32>,
    ) {
        let columns = self.table.numeric.iter().zip(&self.stats);
        let standard = |(x, (c, (mean, std))): (&Option<f32>, (&Numeric, &(f32, f32)))| match x {
            Some(x) => (c.transform(*x) - mean) / std,
            None => 0.0,
        };
        out.extend(numbers.iter().zip(columns).map(standard));
        for (column, slots) in self.table.categorical.iter().zip(&self.slots) {
            let hot = category(&column.name).and_then(|v| slots.get(v).copied());
            let start = out.len();
            out.resize(start + slots.len() + 1, 0.0);
            out[start + hot.unwrap_or(slots.len())] = 1.0;
        }
    }

    /// Append the encoding of a raw record whose values are text (a CSV row, a JSON record):
    /// `get` gives a column's value, `None` or empty when missing.
    pub fn encode_record<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        out: &mut Vec<f32>,
    ) -> Result<(), TableError> {
        let present = |name: &str| get(name).filter(|v| !v.is_empty());
        let numbers = self
            .table
            .numeric
            .iter()
            .map(|c| present(&c.name).map(|v| number(&c.name, v)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        self.encode(&numbers, present, out);
        Ok(())
    }
}

/// A finite number, or the error naming `column`.
fn number(column: &str, value: &str) -> Result<f32, TableError> {
    match value.trim().parse::<f32>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(TableError::NotNumber {
            column: column.to_string(),
            value: value.chars().take(64).collect(),
        }),
    }
}

/// `declared` with whatever it left open fitted on the training rows: `numbers` holds each
/// row's numeric columns back to back, `meta` each row's fields. A numeric column gets its
/// mean and deviation (1 where it is constant); a categorical column the values it takes, in
/// sorted order.
pub fn fit(declared: &Table, numbers: &[f32], meta: &[BTreeMap<String, String>]) -> Table {
    let k = declared.numeric.len().max(1);
    let numeric = declared.numeric.iter().enumerate().map(|(i, c)| {
        let column = numbers.iter().skip(i).step_by(k).copied();
        fit_numeric(c, column)
    });
    let categorical = declared
        .categorical
        .iter()
        .map(|c| fit_categorical(c, meta));
    Table {
        numeric: numeric.collect(),
        categorical: categorical.collect(),
    }
}

fn fit_numeric(c: &Numeric, values: impl Iterator<Item = f32>) -> Numeric {
    if c.mean.is_some() && c.std.is_some() {
        return c.clone();
    }
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for v in values.map(|x| f64::from(c.transform(x))) {
        (n, sum, sq) = (n + 1.0, sum + v, sq + v * v);
    }
    let mean = sum / n.max(1.0);
    let std = (sq / n.max(1.0) - mean * mean).max(0.0).sqrt();
    Numeric {
        name: c.name.clone(),
        log: c.log,
        mean: Some(mean as f32),
        std: Some(if std > 1e-6 * mean.abs().max(1.0) {
            std as f32
        } else {
            1.0
        }),
    }
}

fn fit_categorical(c: &Categorical, meta: &[BTreeMap<String, String>]) -> Categorical {
    if c.values.is_some() {
        return c.clone();
    }
    let seen: BTreeSet<&String> = meta.iter().filter_map(|m| m.get(&c.name)).collect();
    Categorical {
        name: c.name.clone(),
        values: Some(seen.into_iter().cloned().collect()),
    }
}
