//! Training throughput on random data, as `anneal build` trains: prints samples/s for the
//! MLP 784-512-256-10 (batch 128) and the CNN conv32 5x5-pool-conv64 5x5-pool-dense128-dense10
//! (batch 64). Run by `bench/train_throughput.sh`.
//!
//! Usage: throughput [SECONDS_PER_WORKLOAD] [THREADS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::time::Instant;

use anneal_engine::{Examples, NoObserver};

const MLP: &str = r#"[program]
name = "mlp"
version = "0.1.0"
[data]
input = "image"
shape = [1, 28, 28]
classes = 10
[model]
layers = ["flatten", "dense 512", "relu", "dense 256", "relu", "dense 10"]
[train]
epochs = 1
batch = 128
"#;

const CNN: &str = r#"[program]
name = "cnn"
version = "0.1.0"
[data]
input = "image"
shape = [1, 28, 28]
classes = 10
[model]
layers = ["conv 32 5x5", "relu", "maxpool 2", "conv 64 5x5", "relu", "maxpool 2", "flatten", "dense 128", "relu", "dense 10"]
[train]
epochs = 1
batch = 64
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).map_or(Ok(3.0), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    anneal_engine::set_threads(threads)?;
    for (name, manifest) in [("mlp", MLP), ("cnn", CNN)] {
        let program = anneal_spec::Program::parse(name, manifest)?;
        let batch = program.train.batch;
        // Random inputs in [0, 1) and labels, from a fixed LCG.
        let mut s = 1u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let n = batch * 20;
        let x: Vec<f32> = (0..n * 784).map(|_| next()).collect();
        let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
        let examples = Examples { x: &x, y: &y };
        // A warm-up run, then timed runs of 20 steps each until `seconds` pass.
        anneal_engine::train(&program, &examples, &mut NoObserver)?;
        let start = Instant::now();
        let mut rates = Vec::new();
        while start.elapsed().as_secs_f64() < seconds {
            let t = Instant::now();
            anneal_engine::train(&program, &examples, &mut NoObserver)?;
            rates.push(n as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!(
            "anneal {name} batch {batch}: {median:.0} samples/s ({:.1} steps/s, median of {} runs of 20 steps)",
            median / batch as f64,
            rates.len()
        );
    }
    Ok(())
}
