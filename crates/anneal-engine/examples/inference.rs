//! Inference speed, f32 against int8, as `anneal predict` and `anneal serve` run it: the MLP
//! 784-512-256-10 and the CNN conv32 5x5-pool-conv64 5x5-pool-dense128-dense10 of
//! `throughput`, at batch 1 (latency, us) and batch 256 (samples/s), through
//! [`anneal_engine::Model`] with and without [`Model::quantized`]. The weights are random and
//! the int8 model is calibrated on 256 random inputs: speed does not depend on what was
//! learned. `bench/int8.sh` puts these beside onnxruntime (f32 and its own int8) and PyTorch.
//!
//! Every figure is the median of 3 blocks of at least SECONDS each, after a warm-up.
//!
//! Usage: inference [SECONDS_PER_BLOCK] [THREADS] [kernels]
//!
//! `kernels` measures the MLP's first product alone, f32 (GEMM) and int8.
//!
//! It also prints this machine's multiply-add peaks on THREADS threads, f32 (AVX-512 FMA) and
//! int8 (VNNI), from independent chains of the instruction in registers (no memory traffic):
//! the ceiling any engine's batch figures are measured against.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // bench code: panics are failures

use std::time::Instant;

use anneal_engine::{Model, calibrate, initial_weights};
use anneal_spec::{Program, Quantization, Scheme};

const MLP: &str = r#""flatten", "dense 512", "relu", "dense 256", "relu", "dense 10""#;
const CNN: &str = r#""conv 32 5x5", "relu", "maxpool 2", "conv 64 5x5", "relu", "maxpool 2", "flatten", "dense 128", "relu", "dense 10""#;

fn program(name: &str, layers: &str) -> Program {
    let text = format!(
        "[program]\nname = {name:?}\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\n\
         shape = [1, 28, 28]\nclasses = 10\n[model]\nlayers = [{layers}]\n"
    );
    Program::parse(name, &text).unwrap()
}

/// Uniform values in [0, 1) from a fixed seed.
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = anneal_engine::SplitMix64::new(seed);
    (0..n)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
        .collect()
}

/// The median over 3 blocks of at least `seconds` of the rate `work` reports per call.
fn median_rate(seconds: f64, mut work: impl FnMut() -> f64) -> f64 {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds / 4.0 {
        work();
    }
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let (start, mut done) = (Instant::now(), 0.0);
            while start.elapsed().as_secs_f64() < seconds {
                done += work();
            }
            done / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
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
    for (name, rate) in peaks(seconds, threads) {
        println!("{name} peak: {rate:.1} GMAC/s");
    }
    let x = random(256 * 784, 3);
    if args.get(3).map(String::as_str) == Some("kernels") {
        kernels(seconds);
        return Ok(());
    }
    for (name, layers) in [("mlp", MLP), ("cnn", CNN)] {
        let p = program(name, layers);
        let weights = initial_weights(&p);
        let c = calibrate(&p, &weights, &x)?;
        let q = Quantization {
            scheme: Scheme::Int8,
            calibration_examples: 256,
            f32_accuracy: 0.0,
            layers: c.layers,
        };
        for (kind, model) in [
            ("f32", Model::new(&p, &weights)?),
            ("int8", Model::new(&p, &c.weights)?.quantized(Some(&q))?),
        ] {
            let one = median_rate(seconds, || {
                std::hint::black_box(model.predict(&x[..784]).unwrap());
                1.0
            });
            let many = median_rate(seconds, || {
                std::hint::black_box(model.predict(&x).unwrap());
                256.0
            });
            println!("anneal {kind} {name} infer batch 1: {:.1} us", 1e6 / one);
            println!("anneal {kind} {name} infer batch 256: {many:.0} samples/s");
        }
    }
    Ok(())
}

/// The products alone: the MLP's first layer at batch 256, f32 through the GEMM and int8.
fn kernels(seconds: f64) {
    let (m, k, n): (usize, usize, usize) = (256, 784, 512);
    let kp = k.div_ceil(32) * 32;
    let (a, w) = (random(m * k, 1), random(k * n, 2));
    let mut c = vec![0f32; m * n];
    let f32_rate = median_rate(seconds, || {
        anneal_engine::matmul(m, k, n, &a, false, &w, false, &mut c);
        (m * k * n) as f64
    });
    let (qa, qw) = (vec![100u8; m * kp], vec![-50i8; n * kp]);
    let packed = anneal_engine::Int8Weights::new(&qw, n, kp);
    let mut acc = vec![0i32; m * n];
    let int8_rate = median_rate(seconds, || {
        packed.product(&qa, m, &mut acc);
        (m * k * n) as f64
    });
    println!("f32 product {m}x{k}x{n}: {:.1} GMAC/s", f32_rate / 1e9);
    println!(
        "int8 product {m}x{kp}x{n} ({}): {:.1} GMAC/s",
        packed.kernel(),
        int8_rate / 1e9
    );
}

/// Instructions per thread per call of the chains below: 24 chains of [`CHAIN`] (a few
/// hundred microseconds, so starting the threads costs nothing to speak of).
const CHAIN_STEPS: usize = 24 * CHAIN;
const CHAIN: usize = 1 << 16;

/// The multiply-add peaks on `threads` threads, for the instructions the engine's kernels use
/// on this CPU: with AVX-512, f32 FMA (16 multiply-adds per instruction) and, with VNNI, int8
/// `vpdpbusd` (64); with AVX2 only, f32 FMA on 8 lanes and int8's `vpmaddwd` plus `vpaddd`
/// (16 per pair).
fn peaks(seconds: f64, threads: usize) -> Vec<(&'static str, f64)> {
    let all = |macs: f64, work: &(dyn Fn() + Sync)| {
        median_rate(seconds / 2.0, || {
            rayon::broadcast(|_| work());
            macs * (threads * CHAIN_STEPS) as f64
        }) / 1e9
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V4::try_new() {
        let mut out = vec![("f32 fma", all(16.0, &|| fma_chains(simd)))];
        if std::arch::is_x86_feature_detected!("avx512vnni") {
            out.push(("int8 vnni", all(64.0, &|| vnni_chains(simd))));
        }
        return out;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return vec![
            ("f32 fma", all(8.0, &|| fma256_chains(simd))),
            ("int8 vpmaddwd", all(16.0, &|| madd_chains(simd))),
        ];
    }
    Vec::new()
}

/// 12 independent chains of [`CHAIN`] f32 FMAs on 8 lanes each, in registers (AVX2 has 16).
/// Counted as 24 chains of half the length, so [`peaks`] can count every call alike.
#[cfg(target_arch = "x86_64")]
fn fma256_chains(simd: pulp::x86::V3) {
    simd.vectorize(
        #[inline(always)]
        || {
            let f = simd.fma;
            let avx = simd.avx;
            let (a, b) = (avx._mm256_set1_ps(0.999), avx._mm256_set1_ps(1e-3));
            let mut acc = [avx._mm256_set1_ps(1.0); 12];
            for _ in 0..CHAIN / 16 {
                for _ in 0..32 {
                    for v in &mut acc {
                        *v = f._mm256_fmadd_ps(*v, a, b);
                    }
                }
                std::hint::black_box(&mut acc);
            }
        },
    )
}

/// 7 independent chains of `vpmaddwd` each added into its own sum (`vpaddd`), as the AVX2
/// int8 kernel does; counted as 24 chains of [`CHAIN`] pairs.
#[cfg(target_arch = "x86_64")]
fn madd_chains(simd: pulp::x86::V3) {
    simd.vectorize(
        #[inline(always)]
        || {
            let i = simd.avx2;
            let b = simd.avx._mm256_set1_epi16(3);
            let mut v = [simd.avx._mm256_set1_epi16(1); 7];
            let mut acc = [simd.avx._mm256_setzero_si256(); 7];
            for _ in 0..CHAIN * 24 / (7 * 28) {
                for _ in 0..28 {
                    for (v, acc) in v.iter_mut().zip(&mut acc) {
                        *v = i._mm256_madd_epi16(*v, b);
                        *acc = i._mm256_add_epi32(*acc, *v);
                    }
                }
                std::hint::black_box((&mut v, &mut acc));
            }
        },
    )
}

/// 24 independent chains of [`CHAIN`] f32 FMAs each, in registers.
#[cfg(target_arch = "x86_64")]
fn fma_chains(simd: pulp::x86::V4) {
    simd.vectorize(
        #[inline(always)]
        || {
            let f = simd.avx512f;
            let (a, b) = (f._mm512_set1_ps(0.999), f._mm512_set1_ps(1e-3));
            let mut acc = [f._mm512_set1_ps(1.0); 24];
            for _ in 0..CHAIN / 32 {
                for _ in 0..32 {
                    for v in &mut acc {
                        *v = f._mm512_fmadd_ps(*v, a, b);
                    }
                }
                std::hint::black_box(&mut acc);
            }
        },
    )
}

/// 24 independent chains of [`CHAIN`] `vpdpbusd` each, in registers.
#[cfg(target_arch = "x86_64")]
fn vnni_chains(_: pulp::x86::V4) {
    #[allow(unsafe_code)]
    // SAFETY: `peaks` calls this only on a CPU with AVX-512F (a V4 token) and VNNI (checked).
    unsafe {
        dpbusd_chains()
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn dpbusd_chains() {
    use std::arch::x86_64::{_mm512_dpbusd_epi32, _mm512_set1_epi32, _mm512_setzero_si512};
    let (a, b) = (
        _mm512_set1_epi32(0x0101_0101),
        _mm512_set1_epi32(0x0102_0304),
    );
    let mut acc = [_mm512_setzero_si512(); 24];
    for _ in 0..CHAIN / 32 {
        for _ in 0..32 {
            for v in &mut acc {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        std::hint::black_box(&mut acc);
    }
}
