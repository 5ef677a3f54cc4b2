//! `layers = ["use NAME frozen", ...]`: a dependency as the model's first layers. Only the
//! first layer may be a `use` line, and only image and audio programs have one (a table
//! program's input width is fitted at build time, so it cannot be wired to a package's yet).

use toml::Spanned;

use super::Validator;
use crate::error::ManifestError;
use crate::layer::{Base, Layer, is_base, parse_base};
use crate::program::{Input, InputKind};
use crate::shape::CostTable;

impl Validator<'_> {
    /// The `use` line, if the model starts with one, and the program's own layers.
    pub(super) fn model(
        &self,
        ls: &[Spanned<String>],
        input: &Input,
    ) -> Result<(Option<Base>, Vec<Layer>), ManifestError> {
        let base = match ls.first() {
            Some(first) if is_base(first.get_ref()) => Some(self.base(first, input)?),
            _ => None,
        };
        let own = &ls[usize::from(base.is_some())..];
        if let Some(later) = own.iter().find(|l| is_base(l.get_ref())) {
            let message =
                "`use` must be the first layer: a dependency is reused on the program's input";
            return Err(self.fail(later.span(), message));
        }
        Ok((base, self.layers(own)?))
    }

    fn base(&self, line: &Spanned<String>, input: &Input) -> Result<Base, ManifestError> {
        let base = parse_base(line.get_ref()).map_err(|e| {
            // +1 skips the opening quote of the TOML string.
            let start = line.span().start + 1 + e.column;
            self.err(start..start + 1, e.message, e.hint)
        })?;
        if input.kind == InputKind::Table {
            let message = "a table program cannot `use` a package yet: its input width is fitted at build time";
            return Err(self.fail(line.span(), message));
        }
        Ok(base)
    }
}

/// The cost table of a program whose shapes wait for its dependency: no layers yet.
pub(super) fn unresolved(input: &Input) -> CostTable {
    CostTable {
        input: input.shape,
        layers: Vec::new(),
        params: 0,
        flops: 0,
        activation_bytes: 0,
        weight_bytes: 0,
    }
}
