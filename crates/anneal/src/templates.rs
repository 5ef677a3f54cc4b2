//! The program skeletons `anneal new` writes.

/// A template's name and manifest text.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// `digits` or `mlp`.
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
    /// The `anneal.toml`, with `{name}` for the program name.
    pub manifest: &'static str,
}

/// The templates.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "digits",
        about: "a small CNN for 28x28 grey images in 10 classes (MNIST-like)",
        manifest: r#"[program]
name = "{name}"
version = "0.1.0"
description = "Handwritten digits, 28x28 grey images"

[data]
input = "image"
shape = [1, 28, 28]
classes = 10
normalize = "unit"
# Sources `anneal build` imports into an empty store (IDX image/label pairs):
# [[data.source]]
# path = "data/train"     # finds data/train-images-idx3-ubyte[.gz] and its labels
# split = "train"

[model]
layers = [
  "conv 16 5x5", "batchnorm", "relu", "maxpool 2",
  "conv 32 5x5", "batchnorm", "relu", "maxpool 2",
  "flatten", "dense 128", "relu", "dense 10",
]

[train]
epochs = 12
batch = 64
optimizer = "adam 2e-3"
schedule = "cosine"
augment = "shift 2"
seed = 42

[[check]]
metric = "accuracy"
at_least = 0.98
"#,
    },
    Template {
        name: "mlp",
        about: "a two-layer perceptron for 28x28 grey images in 10 classes",
        manifest: r#"[program]
name = "{name}"
version = "0.1.0"
description = "A multi-layer perceptron"

[data]
input = "image"
shape = [1, 28, 28]
classes = 10

[model]
layers = ["flatten", "dense 128", "relu", "dense 10"]

[train]
epochs = 5
batch = 128
optimizer = "adam 1e-3"
seed = 42

[[check]]
metric = "accuracy"
at_least = 0.95
"#,
    },
];

/// Find a template by name.
pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_a_valid_program() {
        for t in TEMPLATES {
            let text = t.manifest.replace("{name}", "demo");
            let p = anneal_spec::Program::parse("anneal.toml", &text).unwrap();
            assert_eq!(p.name, "demo");
        }
    }
}
