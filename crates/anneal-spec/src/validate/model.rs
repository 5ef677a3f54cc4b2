//! `[model]` beyond the layer grammar: `layers = ["use NAME frozen", ...]`, a dependency as the
//! model's first layers (only the first layer may be a `use` line, and only image and audio
//! programs have one: a table program's input width is fitted at build time, so it cannot be
//! wired to a package's yet), and `width`, the factor hidden layers are scaled by.

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

impl Validator<'_> {
    /// `[model] width`: above 0 and at most [`MAX_WIDTH`]; 1 when not given.
    pub(super) fn width(&self, w: Option<&Spanned<f64>>) -> Result<f64, ManifestError> {
        let Some(w) = w else { return Ok(1.0) };
        let v = *w.get_ref();
        if v > 0.0 && v <= MAX_WIDTH {
            return Ok(v);
        }
        let message = format!("`width` must be above 0 and at most {MAX_WIDTH}, found {v}");
        Err(self
            .fail(w.span(), message)
            .with_hint("e.g. `width = 0.5` halves every hidden layer"))
    }

    /// `[model] quantize`: `"int8"`, or absent (f32).
    pub(super) fn quantize(
        &self,
        q: Option<&Spanned<String>>,
    ) -> Result<Option<crate::quant::Scheme>, ManifestError> {
        let Some(q) = q else { return Ok(None) };
        match q.get_ref().as_str() {
            "int8" => Ok(Some(crate::quant::Scheme::Int8)),
            other => Err(self
                .fail(q.span(), format!("unknown quantization `{other}`"))
                .with_hint("the one scheme is `quantize = \"int8\"`; leave it out for f32")),
        }
    }
}

/// The largest `[model] width`.
pub const MAX_WIDTH: f64 = 16.0;

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

#[cfg(test)]
mod tests {
    use crate::{Layer, Program};

    fn program(model: &str) -> Result<Program, crate::ManifestError> {
        let text = format!(
            "[program]\nname = \"w\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 8, 8]\nclasses = 3\n[model]\n{model}\n"
        );
        Program::parse("anneal.toml", &text)
    }

    #[test]
    fn width_scales_every_hidden_layer_but_not_the_classes() {
        let layers = r#"layers = ["conv 8 3x3", "relu", "flatten", "dense 64", "relu", "dense 3"]"#;
        let full = program(layers).unwrap();
        let half = program(&format!("{layers}\nwidth = 0.5")).unwrap();
        assert_eq!(half.width, 0.5);
        assert_eq!(half.layers[0].to_string(), "conv 4 3x3");
        assert_eq!(half.layers[3], Layer::Dense { units: 32 });
        assert_eq!(half.layers[5], Layer::Dense { units: 3 });
        assert!(half.cost.flops < full.cost.flops / 3);
        assert_ne!(half.canonical_json(), full.canonical_json());
        // The flag gives what the manifest gives; the package's program revalidates.
        let text = "[program]\nname = \"w\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 8, 8]\nclasses = 3\n[model]\n";
        let flagged = Program::parse_width("anneal.toml", &format!("{text}{layers}"), Some(0.5));
        assert_eq!(flagged.unwrap(), half);
        half.revalidate().unwrap();
        // Tiny widths keep at least one unit.
        let tiny = program(&format!("{layers}\nwidth = 0.01")).unwrap();
        assert_eq!(tiny.layers[3], Layer::Dense { units: 1 });
    }

    #[test]
    fn a_width_out_of_range_is_refused_at_its_line() {
        for w in ["0", "-1", "17"] {
            let e =
                program(&format!("layers = [\"flatten\", \"dense 3\"]\nwidth = {w}")).unwrap_err();
            assert!(
                e.message.contains("`width` must be above 0 and at most 16"),
                "{}",
                e.message
            );
            assert_eq!(e.line, 10, "{w}");
        }
    }
}
