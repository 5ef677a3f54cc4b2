//! A program composed with a dependency (`use NAME frozen|finetune`) trains from the
//! dependency's weights: frozen, they stay bit for bit; fine-tuned, they move, with batch norm's
//! running statistics kept unless `train-bn`, and the gradients are right.

use anneal_engine::{Examples, Model, NoObserver, train, train_normalised};
use anneal_spec::{NamedTensor, Normalization, Program};

use super::{data, program};

fn dep() -> (Program, Vec<NamedTensor>) {
    let p = program(
        r#""conv 4 3x3 pad 1", "batchnorm", "relu", "flatten", "dropout 0.2", "dense 8", "relu", "dense 3""#,
        "optimizer = \"adam 0.01\"",
    );
    let (x, y) = data(48);
    let weights = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver)
        .unwrap()
        .weights;
    (p, weights)
}

fn composed(line: &str, train: &str, dep: &Program) -> Program {
    let text = format!(
        "[program]\nname = \"c\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 6, 6]\nclasses = 3\n\
         [model]\nlayers = [\"{line}\", \"dense 3\"]\n\
         [dependencies]\nt = {{ oci = \"127.0.0.1:5000/x/t\", version = \"^0.1\" }}\n[train]\nseed = 9\n{train}"
    );
    Program::parse("anneal.toml", &text)
        .unwrap()
        .compose(dep)
        .unwrap()
}

fn unit() -> Normalization {
    Normalization {
        scale: 1.0,
        mean: 0.0,
        std: 1.0,
    }
}

fn run(p: &Program, base: &[NamedTensor], n: usize) -> Vec<NamedTensor> {
    let (x, y) = data(n);
    let ex = Examples { x: &x, y: &y };
    train_normalised(p, &ex, &unit(), base, &mut NoObserver)
        .unwrap()
        .weights
}

fn tensor<'a>(ts: &'a [NamedTensor], name: &str) -> &'a [f32] {
    &ts.iter().find(|t| t.name == name).unwrap().data
}

fn accuracy(p: &Program, weights: &[NamedTensor]) -> f64 {
    let (x, y) = data(60);
    let probs = Model::new(p, weights).unwrap().predict(&x).unwrap();
    let hits = probs.chunks(3).zip(&y).filter(|(p, y)| {
        let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        best as u32 == **y
    });
    hits.count() as f64 / y.len() as f64
}

#[test]
fn a_frozen_base_keeps_its_weights_bit_for_bit() {
    let (d, dw) = dep();
    let p = composed(
        "use t frozen upto 7",
        "epochs = 30\noptimizer = \"adam 0.02\"",
        &d,
    );
    let w = run(&p, &dw, 48);
    for t in dw.iter().filter(|t| !t.name.starts_with("layers.7.")) {
        let ours = tensor(&w, &t.name);
        assert!(
            ours.iter()
                .zip(&t.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}",
            t.name
        );
    }
    assert_ne!(
        tensor(&w, "layers.7.weight"),
        tensor(&dw, "layers.7.weight")
    );
    assert!(accuracy(&p, &w) > 0.9, "{}", accuracy(&p, &w));
    // Without the dependency's weights, or before composing, training is refused.
    let (x, y) = data(8);
    let ex = Examples { x: &x, y: &y };
    assert!(train_normalised(&p, &ex, &unit(), &[], &mut NoObserver).is_err());
    let mut raw = p.clone();
    raw.base.as_mut().unwrap().layers = 0;
    let e = train_normalised(&raw, &ex, &unit(), &dw, &mut NoObserver).unwrap_err();
    assert!(e.to_string().contains("not composed"), "{e}");
}

#[test]
fn finetuning_moves_the_base_and_keeps_batchnorm_statistics_unless_asked() {
    let (d, dw) = dep();
    let stats = ["layers.1.running_mean", "layers.1.running_var"];
    let p = composed("use t finetune lr 0.5 upto 7", "epochs = 2", &d);
    let w = run(&p, &dw, 48);
    assert_ne!(
        tensor(&w, "layers.0.weight"),
        tensor(&dw, "layers.0.weight")
    );
    assert_ne!(tensor(&w, "layers.1.gamma"), tensor(&dw, "layers.1.gamma"));
    for s in stats {
        assert_eq!(tensor(&w, s), tensor(&dw, s), "{s}");
    }
    let p = composed("use t finetune upto 7 train-bn", "epochs = 2", &d);
    let w = run(&p, &dw, 48);
    for s in stats {
        assert_ne!(tensor(&w, s), tensor(&dw, s), "{s}");
    }
}

/// The mean cross-entropy of `p` with `weights` on `data(n)`.
fn loss(p: &Program, weights: &[NamedTensor], n: usize) -> f64 {
    let (x, y) = data(n);
    let probs = Model::new(p, weights).unwrap().predict(&x).unwrap();
    let nll = probs
        .chunks(3)
        .zip(&y)
        .map(|(p, &y)| -f64::from(p[y as usize]).ln());
    nll.sum::<f64>() / n as f64
}

#[test]
fn a_finetuned_batchnorm_in_inference_mode_has_the_right_gradients() {
    // One step of plain SGD over the whole batch: the change in each parameter is the learning
    // rate times its gradient, which finite differences of the loss must match.
    let (d, dw) = dep();
    let sgd = |lr: &str| format!("epochs = 1\nbatch = 8\noptimizer = \"sgd {lr}\"");
    let start = run(
        &composed("use t finetune upto 7", &sgd("1e-30"), &d),
        &dw,
        8,
    );
    let p = composed("use t finetune upto 7", &sgd("0.1"), &d);
    let stepped = run(&p, &dw, 8);
    for name in ["layers.1.gamma", "layers.1.beta"] {
        for ch in 0..4 {
            let g = (tensor(&start, name)[ch] - tensor(&stepped, name)[ch]) / 0.1;
            let h = 1e-2;
            let nudged = |by: f32| {
                let mut w = start.clone();
                w.iter_mut().find(|t| t.name == name).unwrap().data[ch] += by;
                loss(&p, &w, 8)
            };
            let fd = (nudged(h) - nudged(-h)) / (2.0 * f64::from(h));
            let tol = 2e-3 + 0.02 * fd.abs();
            assert!((f64::from(g) - fd).abs() < tol, "{name}[{ch}]: {g} vs {fd}");
        }
    }
}
