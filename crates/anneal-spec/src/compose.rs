//! A program that starts with `use NAME ...`, composed with the dependency's own program: the
//! dependency's first layers in front of the program's, once the wiring fits.

use crate::budget;
use crate::layer::Base;
use crate::program::{Input, Program};
use crate::shape::infer;

impl Program {
    /// Whether the program names a dependency whose layers it does not have yet.
    pub fn needs_composing(&self) -> Option<&Base> {
        self.base.as_ref().filter(|b| b.layers == 0)
    }

    /// This program with `dep`'s layers (the dependency its `use` line names; its own program,
    /// from its package) in front of its own: the input must be the same kind, shape and
    /// normalisation, and the layers must fit together. A program without a `use` line, or one
    /// composed already, is returned as it is. The error says what does not fit.
    pub fn compose(&self, dep: &Program) -> Result<Program, String> {
        let Some(base) = self.needs_composing() else {
            return Ok(self.clone());
        };
        wiring(&self.input, &dep.input, &base.name)?;
        let theirs = dep.logit_layers();
        let upto = base.upto.unwrap_or(theirs.len());
        if upto > theirs.len() {
            let n = theirs.len();
            return Err(format!(
                "`use {} ... upto {upto}`: `{}` has {n} layers",
                base.name, base.name
            ));
        }
        let layers: Vec<_> = theirs[..upto].iter().chain(&self.layers).copied().collect();
        let cost = infer(self.input.shape, &layers, self.classes.len()).map_err(|e| {
            let n = e.index + 1;
            let whose = match e.index < upto {
                true => format!("layer {n} of `{}`", base.name),
                false => format!("the program's layer {}", n - upto),
            };
            format!("{whose}: {}", e.message)
        })?;
        budget::params(cost.params)?;
        budget::batch_activations(cost.activation_bytes, self.train.batch)?;
        let mut program = self.clone();
        program.layers = layers;
        program.cost = cost;
        if let Some(b) = program.base.as_mut() {
            b.layers = upto;
        }
        Ok(program)
    }
}

/// `dep` reads the same inputs as `input`, normalised the same way.
fn wiring(input: &Input, dep: &Input, name: &str) -> Result<(), String> {
    let describe = |i: &Input| {
        let kind = serde_json::to_string(&i.kind).unwrap_or_default();
        let normalize = serde_json::to_string(&i.normalize).unwrap_or_default();
        format!("{kind} input of shape {} normalised {normalize}", i.shape)
    };
    let same = input.kind == dep.kind
        && input.shape == dep.shape
        && input.normalize == dep.normalize
        && input.audio == dep.audio;
    if same {
        return Ok(());
    }
    let audio = if input.audio == dep.audio {
        ""
    } else {
        " (with a different audio front end)"
    };
    Err(format!(
        "`{name}` takes {}{audio}; this program's is {}",
        describe(dep),
        describe(input)
    ))
}

#[cfg(test)]
mod tests {
    use crate::layer::Reuse;
    use crate::{Layer, Program};

    fn program(name: &str, shape: &str, layers: &str) -> Program {
        let text = format!(
            "[program]\nname = \"{name}\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = {shape}\nclasses = 10\n[model]\nlayers = [{layers}]\n[dependencies]\ndigits = {{ oci = \"127.0.0.1:5000/anneal/digits\", version = \"^0.1\" }}\n"
        );
        Program::parse("anneal.toml", &text).unwrap()
    }

    fn digits() -> Program {
        program(
            "digits",
            "[1, 28, 28]",
            r#""conv 8 5x5", "batchnorm", "relu", "maxpool 2", "flatten", "dense 32", "relu", "dense 10", "softmax""#,
        )
    }

    #[test]
    fn the_dependency_layers_go_first() {
        let p = program(
            "fashion",
            "[1, 28, 28]",
            r#""use digits frozen upto 7", "dense 10""#,
        );
        let base = p.needs_composing().unwrap();
        assert_eq!((base.upto, base.reuse), (Some(7), Reuse::Frozen));
        assert_eq!(p.layers, [Layer::Dense { units: 10 }]);
        let c = p.compose(&digits()).unwrap();
        assert_eq!(c.layers.len(), 8);
        assert_eq!(c.layers[..7], digits().layers[..7]);
        assert_eq!(c.base.as_ref().map(|b| b.layers), Some(7));
        assert!(c.needs_composing().is_none());
        assert_eq!(c.cost.layers.len(), 8);
        assert_ne!(c.canonical_json(), p.canonical_json());
        // The whole network without its softmax, by default.
        let whole = program("fashion", "[1, 28, 28]", r#""use digits finetune lr 0.1""#);
        assert_eq!(whole.compose(&digits()).unwrap().layers.len(), 8);
    }

    #[test]
    fn a_wiring_that_does_not_fit_is_refused() {
        let p = program(
            "f",
            "[1, 32, 32]",
            r#""use digits frozen upto 7", "dense 10""#,
        );
        let e = p.compose(&digits()).unwrap_err();
        assert!(
            e.contains("`digits` takes \"image\" input of shape [B, 1, 28, 28]"),
            "{e}"
        );
        let p = program(
            "f",
            "[1, 28, 28]",
            r#""use digits frozen upto 12", "dense 10""#,
        );
        assert!(p.compose(&digits()).unwrap_err().contains("has 8 layers"));
        let p = program(
            "f",
            "[1, 28, 28]",
            r#""use digits frozen upto 4", "dense 10""#,
        );
        let e = p.compose(&digits()).unwrap_err();
        assert!(e.starts_with("the program's layer 1: "), "{e}");
    }

    #[test]
    fn use_is_first_and_only_in_image_and_audio_programs() {
        let text = |layers: &str, input: &str| {
            format!(
                "[program]\nname = \"f\"\nversion = \"0.1.0\"\n[data]\n{input}\nclasses = 2\n[model]\nlayers = [{layers}]\n"
            )
        };
        let image = "input = \"image\"\nshape = [1, 4, 4]";
        let e = Program::parse("anneal.toml", &text(r#""flatten", "use d frozen""#, image));
        assert!(e.unwrap_err().message.contains("must be the first layer"));
        let e = Program::parse("anneal.toml", &text(r#""use d frozn""#, image)).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `frozen`?"));
        let table = text(r#""use d frozen""#, "input = \"table\"")
            .replace("[model]", "[data.table]\nnumeric = [\"age\"]\n[model]");
        let e = Program::parse("anneal.toml", &table).unwrap_err();
        assert!(e.message.contains("table program"), "{}", e.message);
    }
}
