//! `anneal tune`: the program built at several widths, each variant's accuracy against its
//! latency on this machine (batch 1 and 256), parameters and FLOPs, and the Pareto front: the
//! variants no other is both more accurate and faster than. A budget picks the most accurate
//! variant within it.
//!
//! Variants build into `target/tune/w{WIDTH}/` (cached by build key like any build) and leave
//! the program's own package and `anneal.lock` alone until one is picked.

use std::path::PathBuf;
use std::time::Instant;

use anneal_engine::{Model, Observer, SplitMix64};
use anneal_pack::Package;
use serde::Serialize;

use crate::{BuildError, Engine, Project, build_on};

/// The widths `anneal tune` tries unless told.
pub const DEFAULT_WIDTHS: [f64; 4] = [0.25, 0.5, 1.0, 2.0];

/// One variant: its width, where its package is and what it measured.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// `[model] width`.
    pub width: f64,
    /// Quantized to int8 (`[model] quantize = "int8"`).
    pub int8: bool,
    /// Its package.
    pub package: PathBuf,
    /// Its build key: building the program at this width again gives the same package.
    pub build_key: String,
    /// Test accuracy.
    pub accuracy: f64,
    /// Trained parameters.
    pub params: usize,
    /// Forward FLOPs per example.
    pub flops: u64,
    /// Median milliseconds to predict one example.
    pub latency_ms: f64,
    /// Microseconds per example in batches of 256.
    pub batch_us: f64,
    /// On the Pareto front of accuracy against batch-1 latency.
    pub pareto: bool,
}

/// A budget a picked variant must fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Batch-1 latency in milliseconds.
    Ms(f64),
    /// Forward FLOPs per example.
    Flops(u64),
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Ms(ms) => write!(f, "{ms} ms per example at batch 1"),
            Budget::Flops(n) => write!(f, "{n} FLOPs per example"),
        }
    }
}

impl Budget {
    fn admits(self, v: &Variant) -> bool {
        match self {
            Budget::Ms(ms) => v.latency_ms <= ms,
            Budget::Flops(f) => v.flops <= f,
        }
    }
}

/// Build `project` at each of `widths` on `engine`, each also quantized to int8 with `int8`,
/// and measure every variant, the Pareto front marked. `observer` and `log` follow each build
/// in turn.
pub fn tune(
    project: &Project,
    (widths, int8): (&[f64], bool),
    engine: &Engine,
    observer: &mut dyn Observer,
    log: &mut dyn FnMut(String),
) -> Result<Vec<Variant>, BuildError> {
    let mut variants = Vec::with_capacity(widths.len());
    let kinds: &[bool] = if int8 { &[false, true] } else { &[false] };
    for &width in widths {
        for &int8 in kinds {
            let variant = at_width(project, width, int8)?;
            log(format!("width {width}: {}", variant.target.display()));
            let built = build_on(&variant, engine, observer, log)?;
            variants.push(measure(&built.package, width, &built.build_key)?);
        }
    }
    mark_front(&mut variants);
    Ok(variants)
}

/// The project at `width` (quantized with `int8`), building into its own folder.
fn at_width(project: &Project, width: f64, int8: bool) -> Result<Project, BuildError> {
    let mut variant = Project::load_width(&project.dir, Some(width))?;
    let mut folder = format!("w{width}");
    if int8 {
        variant.program.quantize = Some(anneal_spec::Scheme::Int8);
        folder += "-int8";
    }
    variant.target = project.target.join("tune").join(folder);
    Ok(variant)
}

/// A built variant's figures.
fn measure(package: &std::path::Path, width: f64, key: &str) -> Result<Variant, BuildError> {
    let p = Package::read(package)?;
    let model = Model::new(&p.program, &p.weights)?.quantized(p.quantization.as_ref())?;
    let features = p.program.input.shape.elements();
    let (latency_ms, batch_us) = latency(&model, features)?;
    Ok(Variant {
        width,
        int8: p.quantization.is_some(),
        package: package.to_path_buf(),
        build_key: key.to_string(),
        accuracy: p.metrics.accuracy,
        params: p.cost.params,
        flops: p.cost.flops,
        latency_ms,
        batch_us,
        pareto: false,
    })
}

/// The median time of one example's prediction (ms) and the per-example time in batches of
/// 256 (us), on inputs drawn at random.
pub fn latency(model: &Model, features: usize) -> Result<(f64, f64), BuildError> {
    let mut rng = SplitMix64::new(1);
    let x: Vec<f32> = (0..256 * features).map(|_| rng.symmetric()).collect();
    let one = &x[..features];
    for _ in 0..20 {
        model.predict(one)?;
    }
    let single = median_seconds(201, || model.predict(one).map(drop))?;
    model.predict(&x)?;
    let batch = median_seconds(9, || model.predict(&x).map(drop))?;
    Ok((single * 1e3, batch * 1e6 / 256.0))
}

fn median_seconds<E>(runs: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<f64, BuildError>
where
    BuildError: From<E>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

/// Mark the variants no other is at least as accurate and as fast as, and better in one.
pub fn mark_front(variants: &mut [Variant]) {
    let dominated = |v: &Variant, all: &[Variant]| {
        all.iter().any(|o| {
            let no_worse = o.accuracy >= v.accuracy && o.latency_ms <= v.latency_ms;
            no_worse && (o.accuracy > v.accuracy || o.latency_ms < v.latency_ms)
        })
    };
    let marks: Vec<bool> = variants.iter().map(|v| !dominated(v, variants)).collect();
    for (v, m) in variants.iter_mut().zip(marks) {
        v.pareto = m;
    }
}

/// The most accurate variant within `budget`; none fitting is an error naming the smallest.
pub fn pick(variants: &[Variant], budget: Budget) -> Result<&Variant, BuildError> {
    let fits = variants.iter().filter(|v| budget.admits(v));
    if let Some(best) = fits.max_by(|a, b| a.accuracy.total_cmp(&b.accuracy)) {
        return Ok(best);
    }
    // Smallest by the budget's own measure (latencies of tiny models are mostly noise).
    let size = |v: &Variant| match budget {
        Budget::Ms(_) => v.latency_ms,
        Budget::Flops(_) => v.flops as f64,
    };
    let smallest = variants.iter().min_by(|a, b| size(a).total_cmp(&size(b)));
    let smallest = smallest.map_or_else(String::new, |v| {
        format!(
            "; the smallest is width {} at {:.1} us and {} FLOPs per example",
            v.width,
            v.latency_ms * 1e3,
            v.flops
        )
    });
    Err(BuildError::NoVariant(format!(
        "no variant fits the budget of {budget}{smallest}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(width: f64, accuracy: f64, latency_ms: f64) -> Variant {
        Variant {
            width,
            int8: false,
            package: PathBuf::new(),
            build_key: String::new(),
            accuracy,
            params: 0,
            flops: (width * 100.0) as u64,
            latency_ms,
            batch_us: 0.0,
            pareto: false,
        }
    }

    #[test]
    fn the_front_holds_exactly_the_undominated_variants() {
        let mut vs = vec![
            v(0.25, 0.95, 1.0),
            v(0.5, 0.94, 2.0),
            v(1.0, 0.97, 3.0),
            v(2.0, 0.97, 5.0),
        ];
        mark_front(&mut vs);
        let front: Vec<f64> = vs.iter().filter(|v| v.pareto).map(|v| v.width).collect();
        assert_eq!(front, [0.25, 1.0]);
        // Along the front, more latency buys more accuracy.
        let on: Vec<&Variant> = vs.iter().filter(|v| v.pareto).collect();
        assert!(
            on.windows(2)
                .all(|w| w[1].latency_ms > w[0].latency_ms && w[1].accuracy > w[0].accuracy)
        );
        assert_eq!(pick(&vs, Budget::Ms(2.5)).unwrap().width, 0.25);
        assert_eq!(pick(&vs, Budget::Flops(100)).unwrap().width, 1.0);
        let e = pick(&vs, Budget::Ms(0.5)).unwrap_err().to_string();
        assert!(e.contains("the smallest is width 0.25 at 1000.0 us"), "{e}");
    }
}
