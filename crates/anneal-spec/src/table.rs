//! `[data.table]`: which columns a table program reads and how each becomes model inputs.
//!
//! A numeric column is standardised, `(x - mean) / std`; a categorical column is one-hot over
//! its values, plus one last slot for a value the program has not seen (or a missing one). The
//! statistics and the values are the *fitted* part: a build fits whatever the manifest leaves
//! open on the training split, and the package records the fitted table, so `predict` and
//! `serve` encode raw rows exactly as training did.
//!
//! ```toml
//! [data.table]
//! numeric = ["age", "hours-per-week"]                    # the F32V payload's values, in order
//! categorical = ["workclass", { name = "sex", values = ["Female", "Male"] }]   # metadata fields
//! # or, for a long-tailed column: numeric = [{ name = "capital-gain", log = true }]
//! ```

use serde::{Deserialize, Serialize};

use crate::shape::Shape;

/// Most values one categorical column may have.
pub const MAX_CATEGORIES: usize = 10_000;

/// The columns of a table program, fitted or not.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Numeric columns: the example's `F32V` payload values, in this order.
    #[serde(default)]
    pub numeric: Vec<Numeric>,
    /// Categorical columns: metadata fields of the example.
    #[serde(default)]
    pub categorical: Vec<Categorical>,
}

/// A numeric column, standardised with `mean` and `std` once fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numeric {
    /// Column name.
    pub name: String,
    /// Take `sign(x) ln(1 + |x|)` first, for a long-tailed column (amounts, counts); the
    /// statistics are then those of the logs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log: bool,
    /// Subtracted first (the training mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f32>,
    /// Divided by next (the training deviation; 1 for a constant column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f32>,
}

/// A categorical column, one-hot over `values` and one slot for anything else once fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categorical {
    /// Metadata field name.
    pub name: String,
    /// The values with a slot of their own, in slot order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl Table {
    /// True when every column's statistics or values are known.
    pub fn is_fitted(&self) -> bool {
        let numeric = self
            .numeric
            .iter()
            .all(|c| c.mean.is_some() && c.std.is_some());
        numeric && self.categorical.iter().all(|c| c.values.is_some())
    }

    /// Model inputs per row: one per numeric column, and per categorical column one per value
    /// plus the slot for others (a column not yet fitted counts only that slot).
    pub fn width(&self) -> usize {
        let slots = |c: &Categorical| c.values.as_ref().map_or(0, Vec::len) + 1;
        self.numeric.len() + self.categorical.iter().map(slots).sum::<usize>()
    }

    /// The model's input shape, `[width]`.
    pub fn shape(&self) -> Shape {
        Shape::Flat([self.width()])
    }

    /// Every column name, numeric first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let numeric = self.numeric.iter().map(|c| c.name.as_str());
        numeric.chain(self.categorical.iter().map(|c| c.name.as_str()))
    }

    /// The first thing about the columns that cannot work, as (field, what is wrong).
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.numeric.is_empty() && self.categorical.is_empty() {
            return Err(("numeric".into(), "and `categorical` are both empty".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(name) = self
            .names()
            .find(|n| n.trim().is_empty() || !seen.insert(*n))
        {
            return Err(("name".into(), format!("`{name}` is empty or named twice")));
        }
        self.numeric.iter().try_for_each(Numeric::check)?;
        self.categorical.iter().try_for_each(Categorical::check)
    }
}

impl Numeric {
    /// The value standardisation applies to: `x`, or its signed log.
    pub fn transform(&self, x: f32) -> f32 {
        match self.log {
            true => x.signum() * x.abs().ln_1p(),
            false => x,
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        let finite = self.mean.is_none_or(f32::is_finite);
        let positive = self.std.is_none_or(|s| s.is_finite() && s > 0.0);
        match (
            finite && positive,
            self.mean.is_some() == self.std.is_some(),
        ) {
            (true, true) => Ok(()),
            (false, _) => Err((
                self.name.clone(),
                "needs a finite `mean` and `std` > 0".into(),
            )),
            (true, false) => Err((self.name.clone(), "gives one of `mean` and `std`".into())),
        }
    }
}

impl Categorical {
    fn check(&self) -> Result<(), (String, String)> {
        let Some(values) = &self.values else {
            return Ok(());
        };
        let mut seen = std::collections::BTreeSet::new();
        if values.len() > MAX_CATEGORIES {
            let why = format!("has {} values; at most {MAX_CATEGORIES}", values.len());
            return Err((self.name.clone(), why));
        }
        match values.iter().find(|v| !seen.insert(v.as_str())) {
            Some(v) => Err((self.name.clone(), format!("lists `{v}` twice"))),
            None => Ok(()),
        }
    }
}
