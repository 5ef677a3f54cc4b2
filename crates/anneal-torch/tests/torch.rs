//! The PyTorch handoff against a real PyTorch (skipped, saying so, where `python3` has none):
//! the generated module computes what the engine computes, one and two processes train, and a
//! failing or diverging job is an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::path::Path;
use std::process::Command;

use anneal_engine::{Examples, Model, NoObserver, train};
use anneal_spec::Program;
use anneal_torch::{Device, Options, TorchError};

fn torch() -> bool {
    match anneal_torch::probe("python3") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn program(layers: &str, train: &str) -> Program {
    let text = format!(
        "[program]\nname = \"t\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 6, 6]\nclasses = 3\n\
         [model]\nlayers = [{layers}]\n[train]\nbatch = 8\nseed = 5\n{train}"
    );
    Program::parse("anneal.toml", &text).unwrap()
}

/// 3 classes: a bright row at the top, middle or bottom.
fn data(n: usize) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::with_capacity(n * 36);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        for r in 0..6 {
            for c in 0..6 {
                let on = r / 2 == class;
                x.push(if on { 0.9 } else { 0.05 } + ((i * 7 + r * 5 + c) % 11) as f32 * 0.01);
            }
        }
        y.push(class as u32);
    }
    (x, y)
}

fn options(nproc: usize) -> Options {
    Options {
        python: "python3".into(),
        nproc,
        device: Device::Cpu,
        torchrun: Vec::new(),
    }
}

const EVERY_KIND: &str = r#""conv 4 3x3 pad 1", "batchnorm", "gelu", "avgpool 2", "conv 4 2x2 stride 1", "sigmoid", "maxpool 2", "flatten", "dropout 0.2", "dense 8", "tanh", "batchnorm", "layernorm", "relu", "dense 3", "softmax""#;

/// The module of `dir` with `weights` loaded, run on `x`: its softmax, as Python prints it.
fn torch_probs(dir: &Path, x: &[f32], n: usize) -> Vec<f32> {
    let xs: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
    let script = format!(
        "import sys, json, torch\nsys.path.insert(0, {dir:?})\nfrom model import Model, to_torch, INPUT\n\
         from safetensors.numpy import load_file\nm = Model().eval()\n\
         m.load_state_dict(to_torch(load_file({w:?})), strict=False)\n\
         x = torch.tensor([{xs}], dtype=torch.float32).reshape({n}, *INPUT)\n\
         print(json.dumps(torch.softmax(m(x), 1).flatten().tolist()))",
        dir = dir.display().to_string(),
        w = dir.join("weights.safetensors").display().to_string(),
        xs = xs.join(","),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_generated_module_computes_what_the_engine_computes_for_every_layer_kind() {
    if !torch() {
        return;
    }
    let p = program(EVERY_KIND, "epochs = 2\noptimizer = \"adam 0.01\"");
    let (x, y) = data(48);
    let trained = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let dir = tempfile::tempdir().unwrap();
    anneal_torch::job::write(dir.path(), &p, &Examples { x: &x, y: &y }, Device::Cpu).unwrap();
    let bytes = anneal_pack_free_safetensors(&trained.weights);
    std::fs::write(dir.path().join("weights.safetensors"), bytes).unwrap();
    let ours = Model::new(&p, &trained.weights)
        .unwrap()
        .predict(&x)
        .unwrap();
    let theirs = torch_probs(dir.path(), &x, 48);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "max difference {worst}");
}

/// `tensors` as a safetensors file, written the way the job writes its initial weights.
fn anneal_pack_free_safetensors(tensors: &[anneal_engine::NamedTensor]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|(t, b)| {
        let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b);
        (t.name.clone(), v.unwrap())
    });
    safetensors::serialize(views, None).unwrap()
}

fn accuracy(p: &Program, weights: &[anneal_engine::NamedTensor], x: &[f32], y: &[u32]) -> f64 {
    let probs = Model::new(p, weights).unwrap().predict(x).unwrap();
    let hits = probs.chunks(3).zip(y).filter(|(p, y)| {
        let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        best as u32 == **y
    });
    hits.count() as f64 / y.len() as f64
}

#[test]
fn one_and_two_processes_train_and_the_weights_come_back() {
    if !torch() {
        return;
    }
    let p = program(
        r#""conv 4 3x3 pad 1", "batchnorm", "relu", "flatten", "dense 3""#,
        "epochs = 4\noptimizer = \"adam 0.02\"\naugment = \"shift 1\"",
    );
    let (x, y) = data(60);
    let ex = Examples { x: &x, y: &y };
    for nproc in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (trained, ran) =
            anneal_torch::train(&p, &ex, dir.path(), &options(nproc), &mut NoObserver).unwrap();
        assert_eq!((ran.world, ran.device.as_str()), (nproc, "cpu"));
        assert_eq!(trained.epochs.len(), 4);
        assert_eq!(trained.losses.len(), 4);
        // Every example's loss was recorded in every epoch, whichever rank trained it.
        assert!(trained.losses.iter().flatten().all(|l| *l > 0.0));
        let acc = accuracy(&p, &trained.weights, &x, &y);
        assert!(acc > 0.9, "{nproc} processes: accuracy {acc}");
    }
}

#[test]
fn a_failing_or_diverging_job_is_an_error() {
    if !torch() {
        return;
    }
    let (x, y) = data(24);
    let ex = Examples { x: &x, y: &y };
    let p = program(r#""flatten", "dense 3""#, "epochs = 1");
    let dir = tempfile::tempdir().unwrap();
    let mut bad = options(2);
    bad.torchrun = vec!["--no-such-flag".into()];
    let e = anneal_torch::train(&p, &ex, dir.path(), &bad, &mut NoObserver).unwrap_err();
    assert!(matches!(e, TorchError::Failed { .. }), "{e}");
    assert!(e.to_string().contains("no-such-flag"), "{e}");
    assert!(!dir.path().join("weights.safetensors").exists());
    let p = program(
        r#""flatten", "dense 3""#,
        "epochs = 2\noptimizer = \"sgd 1e38\"",
    );
    let e = anneal_torch::train(&p, &ex, dir.path(), &options(1), &mut NoObserver).unwrap_err();
    assert!(matches!(e, TorchError::Diverged { .. }), "{e}");
    let e = anneal_torch::probe("/nonexistent/python3").unwrap_err();
    assert!(matches!(e, TorchError::NoPython { .. }), "{e}");
}

#[test]
fn two_nodes_train_together_and_rank_0_brings_the_weights_back() {
    if !torch() {
        return;
    }
    let p = program(
        r#""flatten", "dense 8", "relu", "dense 3""#,
        "epochs = 2\noptimizer = \"adam 0.02\"",
    );
    let (x, y) = data(48);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = |rank: usize| {
        let (p, x, y) = (p.clone(), x.clone(), y.clone());
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let mut o = options(1);
            o.torchrun = [
                "--nnodes",
                "2",
                "--node-rank",
                &rank.to_string(),
                "--master-addr",
                "127.0.0.1",
            ]
            .iter()
            .map(ToString::to_string)
            .chain([format!("--master-port={port}")])
            .collect();
            let ex = Examples { x: &x, y: &y };
            anneal_torch::train(&p, &ex, dir.path(), &o, &mut NoObserver).map(|(_, ran)| ran.world)
        })
    };
    let (zero, one) = (node(0), node(1));
    assert_eq!(zero.join().unwrap().unwrap(), 2);
    let e = one.join().unwrap().unwrap_err();
    assert!(
        matches!(e, TorchError::OtherNode { rank: 1, world: 2 }),
        "{e}"
    );
}
