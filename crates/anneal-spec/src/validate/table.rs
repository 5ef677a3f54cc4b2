//! `input = "table"`: the `[data.table]` columns, each a name or a name with its fitted part.

use super::Validator;
use crate::error::ManifestError;
use crate::manifest::{Column, DataTable, TableTable};
use crate::program::{Input, InputKind, Normalize};
use crate::table::{Categorical, Numeric, Table};

impl Validator<'_> {
    /// A table program: its columns, checked; the width is provisional until a build fits the
    /// categories it was not given.
    pub(super) fn table_input(&self, d: &DataTable) -> Result<Input, ManifestError> {
        let Some(spanned) = &d.table else {
            let hint =
                "write e.g. `[data.table]` with `numeric = [\"age\"]`, `categorical = [\"sex\"]`";
            let message = "a table program needs `[data.table]`";
            return Err(self.fail(d.input.span(), message).with_hint(hint));
        };
        self.not_for_tables(d)?;
        let table = columns(spanned.get_ref());
        if let Err((field, why)) = table.check() {
            let message = format!("[data.table] `{field}` {why}");
            return Err(self.fail(spanned.span(), message));
        }
        Ok(Input {
            kind: InputKind::Table,
            shape: table.shape(),
            normalize: Normalize::None,
            audio: None,
            table: Some(table),
        })
    }

    /// `shape`, `normalize` and `[data.audio]` do not apply to a table program.
    fn not_for_tables(&self, d: &DataTable) -> Result<(), ManifestError> {
        let fail = |span, what: &str, why: &str| {
            let message = format!("`{what}` does not apply to a table program: {why}");
            Err(self
                .fail(span, message)
                .with_hint(format!("remove `{what}`")))
        };
        if let Some(s) = &d.shape {
            return fail(s.span(), "shape", "its width follows from `[data.table]`");
        }
        if let Some(n) = &d.normalize {
            return fail(n.span(), "normalize", "each numeric column is standardised");
        }
        match &d.audio {
            Some(a) => fail(a.span(), "[data.audio]", "it is for audio programs"),
            None => Ok(()),
        }
    }

    /// `[data.table]` in a program of another kind is an error pointing at it.
    pub(super) fn no_table(&self, d: &DataTable) -> Result<(), ManifestError> {
        match &d.table {
            Some(t) => Err(self
                .fail(t.span(), "`[data.table]` is for table programs")
                .with_hint("remove it, or set `input = \"table\"`")),
            None => Ok(()),
        }
    }
}

/// The columns as written, bare names meaning "fit this at build".
fn columns(t: &TableTable) -> Table {
    let numeric = t.numeric.iter().map(|c| match c {
        Column::Name(name) => Numeric {
            name: name.clone(),
            log: false,
            mean: None,
            std: None,
        },
        Column::Full(n) => n.clone(),
    });
    let categorical = t.categorical.iter().map(|c| match c {
        Column::Name(name) => Categorical {
            name: name.clone(),
            values: None,
        },
        Column::Full(c) => c.clone(),
    });
    Table {
        numeric: numeric.collect(),
        categorical: categorical.collect(),
    }
}
