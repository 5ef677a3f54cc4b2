//! # anneal-engine: training, evaluation and inference
//!
//! Compiles a validated [`anneal_spec::Program`] into weights. The program is known whole before
//! training starts, so the default backend ([`Backend::Compiled`]) compiles its layer stack into
//! a plan: every activation, gradient and optimizer buffer is allocated once for the batch size,
//! layers run as channels-last kernels around one GEMM each (the `gemm` crate), and the backward
//! pass is the plan run in reverse, with no autodiff graph. burn (0.22, its `flex` CPU backend
//! with autodiff) is kept as [`Backend::Burn`], the reference the compiled plan is tested
//! against. Neither backend's types leave this crate: callers hand in plain f32 buffers and get
//! back [`NamedTensor`]s and probabilities.
//!
//! - [`train`]: the training loop (seeded shuffling, augmentation, Adam/SGD, schedules),
//!   reporting progress and per-example losses through an [`Observer`].
//! - [`Model`]: a loaded set of weights for batched inference (softmax probabilities), and
//!   [`Model::gradient`], the gradient of a loss or a logit with respect to the inputs.
//! - [`preprocess`]: bytes to model inputs, the one normalisation used by build, predict,
//!   eval and serve alike.
//!
//! ```
//! use anneal_engine::{Examples, NoObserver, Model, train};
//! let program = anneal_spec::Program::parse("anneal.toml", r#"
//! [program]
//! name = "xor"
//! version = "0.1.0"
//! [data]
//! input = "image"
//! shape = [1, 1, 2]
//! classes = 2
//! [model]
//! layers = ["flatten", "dense 16", "tanh", "dense 2"]
//! [train]
//! epochs = 200
//! batch = 4
//! optimizer = "adam 0.05"
//! "#).unwrap();
//! let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let y = [0, 1, 1, 0];
//! let trained = train(&program, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
//! let model = Model::new(&program, &trained.weights).unwrap();
//! let probs = model.predict(&x).unwrap();
//! let predicted: Vec<usize> = probs.chunks(2).map(|p| usize::from(p[1] > p[0])).collect();
//! assert_eq!(predicted, [0, 1, 1, 0]);
//! ```

mod augment;
mod base;
mod cpu;
mod gradient;
#[cfg(feature = "burn")]
mod net;
mod params;
mod preprocess;
mod quantize;
#[cfg(feature = "burn")]
mod reference;
mod rng;
mod threat;
mod train;

pub use anneal_spec::NamedTensor;
use anneal_spec::{Layer, Program, Quantization, Shape};
pub use gradient::{Gradient, Objective};

pub use anneal_spec::Normalization;
pub use preprocess::preprocess;
pub use quantize::{Calibrated, calibrate};
pub use rng::SplitMix64;
pub use threat::{ATTACK_CHUNK, Threat};
pub use train::{
    EpochStats, NoObserver, Observer, Trained, initial_weights, train, train_normalised, train_with,
};

/// The engine's name and version, recorded in every package's lineage and in the build key.
pub const ENGINE: &str = "anneal-cpu";
/// The version of the compiled engine's kernels: it changes whenever their results may.
pub const ENGINE_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+gemm0.19");

/// Which implementation trains and runs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The compiled CPU engine: the program is compiled once into a fixed plan of `gemm`
    /// products and fused loops over preallocated buffers. What `anneal` uses.
    #[default]
    Compiled,
    /// burn's `flex` CPU backend with autodiff and burn's optimizers, layer by layer. Slower;
    /// kept as the reference the compiled engine is tested against. Only in builds with the
    /// `burn` feature (the tests'); elsewhere [`EngineError::Unavailable`].
    Burn,
}

/// Labelled examples for training: `x` holds `y.len()` preprocessed inputs back to back.
#[derive(Debug, Clone, Copy)]
pub struct Examples<'a> {
    /// Inputs, `n * features` values.
    pub x: &'a [f32],
    /// Class indices.
    pub y: &'a [u32],
}

/// What can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The inputs do not match the program.
    #[error("{0}")]
    Input(String),
    /// The layers do not fit the input (shape inference refused them).
    #[error("the layers do not fit the input: {0}")]
    Shape(#[from] anneal_spec::shape::ShapeError),
    /// Stored weights do not match the program's layers.
    #[error("weights do not match the program: {0}")]
    Weights(String),
    /// The observer asked to stop (Ctrl-C).
    #[error("training interrupted")]
    Interrupted,
    /// The loss became NaN or infinite.
    #[error("training diverged at epoch {epoch}, step {step}: the loss is {loss}")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// A part this build does not carry (built without its feature).
    #[error("{0} is not in this build (enable the `burn` feature of anneal-engine)")]
    Unavailable(&'static str),
    /// The thread pool could not be configured.
    #[error("could not configure {threads} threads: {reason}")]
    Threads {
        /// Requested threads.
        threads: usize,
        /// Why not.
        reason: String,
    },
}

/// Use `threads` worker threads for all engine work. Call once, before any other engine call;
/// later calls fail (the pool is global).
pub fn set_threads(threads: usize) -> Result<(), EngineError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| EngineError::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// `c = op(a) * op(b)` with `c` row-major `m x n`, `op(a)` `m x k` and `op(b)` `k x n`, where
/// `op` transposes a row-major operand when its flag is set (`a` is then stored `k x m`),
/// through the same GEMM the compiled engine runs, on the engine's threads: for measuring this
/// machine's GEMM peak and the shapes the engine runs.
///
/// # Panics
/// When a slice is shorter than its shape says.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    transpose_a: bool,
    b: &[f32],
    transpose_b: bool,
    c: &mut [f32],
) {
    use cpu::gemm::View;
    let a = if transpose_a {
        View::rows(a, k, m).t()
    } else {
        View::rows(a, m, k)
    };
    let b = if transpose_b {
        View::rows(b, n, k).t()
    } else {
        View::rows(b, k, n)
    };
    cpu::gemm::matmul(c, false, a, b);
}

/// int8 weights (`n x kp`, `kp` a multiple of 32) packed for the product quantized layers run
/// on this CPU, for measuring it.
#[doc(hidden)]
#[derive(Debug)]
pub struct Int8Weights(cpu::QPacked);

impl Int8Weights {
    /// `w` packed.
    ///
    /// # Panics
    /// When `w` is shorter than `n x kp`.
    pub fn new(w: &[i8], n: usize, kp: usize) -> Int8Weights {
        Int8Weights(cpu::QPacked::new(w, n, kp))
    }

    /// The instruction the product runs on (`vpdpbusd`, `vpmaddwd` or `portable`).
    pub fn kernel(&self) -> &'static str {
        self.0.isa().name()
    }

    /// `acc = a * wᵀ` for uint8 `a` (`m x kp`), on the engine's threads.
    ///
    /// # Panics
    /// When a slice is shorter than its shape says.
    pub fn product(&self, a: &[u8], m: usize, acc: &mut [i32]) {
        rayon::scope(|_| cpu::qproduct(a, m, &self.0, acc));
    }
}

/// The number of worker threads the engine uses.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// A program's weights, loaded for inference.
#[derive(Debug)]
pub struct Model {
    inner: Inner,
    input: Shape,
    classes: usize,
    /// Logits are divided by this before the softmax (temperature scaling; 1: none).
    temperature: f32,
}

#[derive(Debug)]
enum Inner {
    Compiled(Compiled),
    #[cfg(feature = "burn")]
    Burn(reference::Reference),
}

/// A model on the compiled engine.
#[derive(Debug)]
struct Compiled {
    plan: Box<cpu::Plan>,
    params: Vec<f32>,
    stats: Vec<f32>,
    /// Gradients' buffers, reused between calls, which are serialised per model.
    ws: std::sync::Mutex<cpu::Workspace>,
    /// What inference runs, built at its first call (or when the model is quantized).
    inference: std::sync::OnceLock<Box<Inference>>,
}

/// What inference runs: the plan with its batch norms folded into the layers before them
/// ([`cpu::Plan::without_batchnorm`]; the model's own when there is none to fold), its
/// buffers (inference is serialised per model: the server runs one worker per model), the
/// quantized layers' integer form for a quantized package, else the convolutions' weights in
/// their routes' forms and, built at the first small batch, the packed dense weights and the
/// partner thread.
#[derive(Debug)]
struct Inference {
    folded: Option<cpu::Folded>,
    ws: std::sync::Mutex<cpu::Workspace>,
    kept: cpu::Transformed,
    latency: std::sync::OnceLock<cpu::Latency>,
    int8: Option<cpu::Int8>,
}

impl Inference {
    /// `model`'s inference in f32.
    fn f32(model: &Compiled) -> Inference {
        let folded = model.plan.without_batchnorm(&model.params, &model.stats);
        let (plan, params) = Inference::plan_of(&folded, model);
        let kept = plan.transformed(params);
        Inference::with(folded, kept, None, model)
    }

    /// `model`'s inference with the layers `q` quantizes in int8 (the rest in f32).
    fn int8(model: &Compiled, q: &Quantization) -> Result<Inference, EngineError> {
        let folded = model.plan.without_batchnorm(&model.params, &model.stats);
        let int8 = match &folded {
            Some(f) => cpu::Int8::folded(&model.plan, &model.params, f, q)?,
            None => cpu::Int8::new(&model.plan, &model.params, q)?,
        };
        let kept = cpu::Transformed::default();
        Ok(Inference::with(folded, kept, Some(int8), model))
    }

    fn with(
        folded: Option<cpu::Folded>,
        kept: cpu::Transformed,
        int8: Option<cpu::Int8>,
        model: &Compiled,
    ) -> Inference {
        let ws = Inference::plan_of(&folded, model).0.workspace(1);
        Inference {
            folded,
            ws: std::sync::Mutex::new(ws),
            kept,
            latency: std::sync::OnceLock::new(),
            int8,
        }
    }

    /// The plan and parameters inference runs: the folded ones, else the model's.
    fn plan_of<'a>(
        folded: &'a Option<cpu::Folded>,
        model: &'a Compiled,
    ) -> (&'a cpu::Plan, &'a [f32]) {
        match folded {
            Some(f) => (&f.plan, &f.params),
            None => (&model.plan, &model.params),
        }
    }

    /// The logits of the `b` examples in `x`, appended to `out`.
    fn logits(&self, model: &Compiled, x: &[f32], b: usize, out: &mut Vec<f32>) {
        // A poisoned lock only means another call panicked mid-batch; the buffers are
        // overwritten before use, so they are still fine to use.
        let mut ws = self.ws.lock().unwrap_or_else(|e| e.into_inner());
        let ws: &mut cpu::Workspace = &mut ws;
        let (plan, params) = Inference::plan_of(&self.folded, model);
        let kernels = match (&self.int8, b > cpu::MAX_SMALL_BATCH) {
            (Some(q), _) => cpu::Kernels::Int8(q),
            (None, true) => cpu::Kernels::Kept(&self.kept, None),
            // A handful of rows: its dense layers stream packed weights, shared with one
            // partner thread.
            (None, false) => {
                let latency = self
                    .latency
                    .get_or_init(|| plan.latency(params, partner_wanted()));
                cpu::Kernels::Kept(&self.kept, Some(latency))
            }
        };
        let mode = cpu::Mode::Eval(&model.stats, kernels);
        let run = || plan.forward(params, ws, x, b, mode);
        // Larger batches run on the engine's threads (as training steps do), so the parallel
        // loops find them awake; a handful of rows is quicker on this thread than any handoff
        // to the pool (batch 1 measured 51 us inside it, 34 us here).
        let logits = match b > cpu::MAX_SMALL_BATCH {
            true => rayon::scope(|_| run()),
            false => run(),
        };
        out.extend_from_slice(logits);
    }
}

impl Compiled {
    fn load(
        input: Shape,
        layers: &[Layer],
        classes: usize,
        weights: &[NamedTensor],
    ) -> Result<Compiled, EngineError> {
        let plan = Box::new(cpu::Plan::compile(input, layers, classes)?);
        let (params, stats) = plan.load(weights)?;
        let ws = std::sync::Mutex::new(plan.workspace(1));
        Ok(Compiled {
            plan,
            params,
            stats,
            ws,
            inference: std::sync::OnceLock::new(),
        })
    }

    /// This model's inference with the layers `q` quantizes in int8.
    fn quantize(&mut self, q: &Quantization) -> Result<(), EngineError> {
        let int8 = Inference::int8(self, q)?;
        self.inference = std::sync::OnceLock::from(Box::new(int8));
        Ok(())
    }

    /// The logits of the `b` examples in `x`, appended to `out`.
    fn logits(&self, x: &[f32], b: usize, out: &mut Vec<f32>) {
        let inference = self
            .inference
            .get_or_init(|| Box::new(Inference::f32(self)));
        inference.logits(self, x, b, out);
    }
}

#[cfg(feature = "burn")]
fn reference_model(program: &Program, weights: &[NamedTensor]) -> Result<Inner, EngineError> {
    Ok(Inner::Burn(reference::Reference::load(program, weights)?))
}

#[cfg(not(feature = "burn"))]
fn reference_model(_: &Program, _: &[NamedTensor]) -> Result<Inner, EngineError> {
    Err(EngineError::Unavailable("the burn reference backend"))
}

/// Whether small-batch inference may use a partner thread: with more than one engine thread,
/// unless `ANNEAL_PARTNER=off` (for machines where no thread should wait for work, and for
/// measuring what the partner buys).
fn partner_wanted() -> bool {
    threads() > 1 && std::env::var("ANNEAL_PARTNER").map_or(true, |v| v != "off")
}

/// Inference batch size: bounds memory for large inputs.
const INFER_BATCH: usize = 512;

impl Model {
    /// Load `weights` (as produced by [`train`] or read from a package) for `program`.
    pub fn new(program: &Program, weights: &[NamedTensor]) -> Result<Model, EngineError> {
        Model::with_backend(Backend::Compiled, program, weights)
    }

    /// [`Model::new`] on a chosen backend.
    pub fn with_backend(
        backend: Backend,
        program: &Program,
        weights: &[NamedTensor],
    ) -> Result<Model, EngineError> {
        let layers = program.logit_layers();
        let input = program.input.shape;
        let classes = program.classes.len();
        let inner = match backend {
            Backend::Compiled => Inner::Compiled(Compiled::load(input, layers, classes, weights)?),
            Backend::Burn => reference_model(program, weights)?,
        };
        Ok(Model {
            inner,
            input,
            classes,
            temperature: 1.0,
        })
    }

    /// Divide the logits by `t` before the softmax (temperature scaling, Guo et al. 2017):
    /// the predicted classes stay, the probabilities soften (`t > 1`) or sharpen. `None` or a
    /// value that is not a positive finite number leaves them as trained.
    pub fn with_temperature(mut self, t: Option<f32>) -> Model {
        self.temperature = t.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(1.0);
        self
    }

    /// Class probabilities for `x.len() / features` inputs, `classes` values each.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<f32>, EngineError> {
        let features = self.input.elements();
        let mut out = Vec::with_capacity(self.examples(x)? * self.classes);
        for chunk in x.chunks(INFER_BATCH * features) {
            let b = chunk.len() / features;
            match &self.inner {
                Inner::Compiled(model) => {
                    let start = out.len();
                    model.logits(chunk, b, &mut out);
                    if self.temperature != 1.0 {
                        out[start..].iter_mut().for_each(|v| *v /= self.temperature);
                    }
                    cpu::softmax_rows(&mut out[start..], self.classes);
                }
                #[cfg(feature = "burn")]
                Inner::Burn(reference) => out.extend(reference.predict(chunk)?),
            }
        }
        Ok(out)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
}
