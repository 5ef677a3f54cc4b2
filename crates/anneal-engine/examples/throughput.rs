//! Engine speed on random data, as `anneal build` and `anneal serve` run it. Prints, for
//! `bench/train_throughput.sh` to put beside PyTorch's and onnxruntime's figures:
//!
//! - the GEMM peak of the `gemm` crate on this machine (f32, 1024³, the given threads);
//! - training throughput of the MLP 784-512-256-10 (batch 128) and of the CNN conv32 5x5-pool-
//!   conv64 5x5-pool-dense128-dense10 (batch 64), Adam, through [`anneal_engine::train`] (so
//!   shuffling, batching and the optimizer step are all counted), with the achieved GFLOP/s
//!   (3 × the forward FLOPs per example: forward, input gradient, weight gradient);
//! - MLP inference: batch-1 latency and batch-256 samples/s through [`anneal_engine::Model`].
//!
//! Every figure is the median of 3 blocks of at least SECONDS each, after a warm-up.
//!
//! Usage: throughput [SECONDS_PER_BLOCK] [THREADS] [ONLY: gemm, mlp, cnn or digits]
//!
//! `digits` (only when named) trains the embedded digits program's layers (two conv +
//! batch-norm blocks, batch 64), the shapes `anneal build` runs by default; with
//! `ANNEAL_PROFILE=1` it prints where each step's time goes.
//!
//! With `ANNEAL_BACKEND=burn` the training and inference figures are burn's (the reference
//! backend, the engine before the compiled plan), labelled `burn` instead of `anneal`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // bench code: panics are failures

use std::time::Instant;

use anneal_engine::{Backend, Examples, Model, NoObserver};

/// A program on 28x28 grey images with 10 classes, trained with Adam.
fn manifest(name: &str, layers: &[&str], batch: usize, lr: &str) -> String {
    let layers: Vec<String> = layers.iter().map(|l| format!("{l:?}")).collect();
    format!(
        "[program]\nname = {name:?}\nversion = \"0.1.0\"\n\
         [data]\ninput = \"image\"\nshape = [1, 28, 28]\nclasses = 10\n\
         [model]\nlayers = [{}]\n\
         [train]\nepochs = 5\nbatch = {batch}\noptimizer = \"adam {lr}\"\n",
        layers.join(", ")
    )
}

const MLP: &[&str] = &[
    "flatten",
    "dense 512",
    "relu",
    "dense 256",
    "relu",
    "dense 10",
];

const CNN: &[&str] = &[
    "conv 32 5x5",
    "relu",
    "maxpool 2",
    "conv 64 5x5",
    "relu",
    "maxpool 2",
    "flatten",
    "dense 128",
    "relu",
    "dense 10",
];

/// The embedded digits program's layers.
const DIGITS: &[&str] = &[
    "conv 16 5x5",
    "batchnorm",
    "relu",
    "maxpool 2",
    "conv 32 5x5",
    "batchnorm",
    "relu",
    "maxpool 2",
    "flatten",
    "dense 128",
    "relu",
    "dense 10",
];

/// Median over 3 blocks of `seconds` each of `work` (which reports how many units it did) per
/// second.
fn median_rate(seconds: f64, mut work: impl FnMut() -> f64) -> f64 {
    work();
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            let mut done = 0.0;
            while start.elapsed().as_secs_f64() < seconds {
                done += work();
            }
            done / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
}

/// Uniform values in [0, 1) from a fixed LCG.
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn gemm_peak(seconds: f64) -> f64 {
    let n = 1024;
    let a = random(n * n, 1);
    let b = random(n * n, 2);
    let mut c = vec![0f32; n * n];
    let flops = 2.0 * (n * n * n) as f64;
    median_rate(seconds, || {
        anneal_engine::matmul(n, n, n, &a, false, &b, false, &mut c);
        flops
    }) / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).map_or(Ok(2.0), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    anneal_engine::set_threads(threads)?;
    println!(
        "engine {} {}, {threads} threads",
        anneal_engine::ENGINE,
        anneal_engine::ENGINE_VERSION
    );
    let only = args.get(3).map(String::as_str);
    let (backend, who) = match std::env::var("ANNEAL_BACKEND").as_deref() {
        Ok("burn") => (Backend::Burn, "burn"),
        _ => (Backend::Compiled, "anneal"),
    };
    if only == Some("shapes") {
        // The MLP's GEMMs, each as the engine runs it and in the other layouts it could use,
        // then its three batch-256 inference products.
        for (label, m, k, n, ta, tb) in [
            ("fwd1 x.W [128x784]x[784x512]", 128, 784, 512, false, false),
            ("fwd1 x.Wt (W stored out x in)", 128, 784, 512, false, true),
            ("dW1 xt.dy -> [784x512]", 784, 128, 512, true, false),
            ("dW1t dyt.x -> [512x784]", 512, 128, 784, true, false),
            ("fwd2 [128x512]x[512x256]", 128, 512, 256, false, false),
            ("dX2 dy.Wt [128x256]x[256x512]", 128, 256, 512, false, true),
            ("dW2 xt.dy -> [512x256]", 512, 128, 256, true, false),
            ("infer1 [256x784]x[784x512]", 256, 784, 512, false, false),
            ("infer2 [256x512]x[512x256]", 256, 512, 256, false, false),
            ("infer3 [256x256]x[256x10]", 256, 256, 10, false, false),
        ] {
            let a = random(m * k, 4);
            let b = random(k * n, 5);
            let mut c = vec![0f32; m * n];
            let flops = 2.0 * (m * k * n) as f64;
            let rate = median_rate(seconds, || {
                anneal_engine::matmul(m, k, n, &a, ta, &b, tb, &mut c);
                flops
            });
            println!(
                "{label:<34} {:>7.1} GFLOP/s {:>8.1} us",
                rate / 1e9,
                1e6 * flops / rate
            );
        }
        return Ok(());
    }
    let peak = if only.is_none_or(|o| o == "gemm") {
        gemm_peak(seconds)
    } else {
        f64::NAN
    };
    println!("gemm peak (gemm crate, f32 1024^3): {peak:.1} GFLOP/s");
    for (name, layers, batch, lr) in [
        ("mlp", MLP, 128, "0.001"),
        ("cnn", CNN, 64, "0.001"),
        ("digits", DIGITS, 64, "0.002"),
    ] {
        if only.is_some_and(|o| o != name) || (name == "digits" && only != Some("digits")) {
            continue;
        }
        let program = anneal_spec::Program::parse(name, &manifest(name, layers, batch, lr))?;
        let batch = program.train.batch;
        let cost = anneal_spec::shape::infer(
            program.input.shape,
            program.logit_layers(),
            program.classes.len(),
        )?;
        let n = batch * 20;
        let x = random(n * 784, 3);
        let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
        let examples = Examples { x: &x, y: &y };
        let steps_per_call = (20 * program.train.epochs) as f64;
        let steps = median_rate(seconds, || {
            anneal_engine::train_with(backend, &program, &examples, &mut NoObserver).unwrap();
            steps_per_call
        });
        let gflops = steps * batch as f64 * 3.0 * cost.flops as f64 / 1e9;
        println!(
            "{who} {name} train batch {batch}: {steps:.1} steps/s, {:.0} samples/s, {gflops:.1} GFLOP/s = {:.0}% of peak",
            steps * batch as f64,
            100.0 * gflops / peak
        );
        if name == "mlp" {
            let trained = anneal_engine::train(&program, &examples, &mut NoObserver)?;
            let model = Model::with_backend(backend, &program, &trained.weights)?;
            let one = median_rate(seconds, || {
                std::hint::black_box(model.predict(&x[..784]).unwrap());
                1.0
            });
            println!("{who} mlp infer batch 1: {:.1} us", 1e6 / one);
            let many = median_rate(seconds, || {
                std::hint::black_box(model.predict(&x[..256 * 784]).unwrap());
                256.0
            });
            println!("{who} mlp infer batch 256: {many:.0} samples/s");
        }
    }
    Ok(())
}
