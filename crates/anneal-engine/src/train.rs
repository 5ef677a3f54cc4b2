//! The training loop.

use std::time::Instant;

use anneal_spec::{Optimizer, Program, Schedule, Shape};

use crate::cpu::{self, Mode, Plan, Workspace};
use crate::params::initial_weights;
use crate::rng::SplitMix64;
use crate::{Backend, EngineError, Examples, NamedTensor};

/// Figures for one finished epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// Mean training loss over the epoch.
    pub loss: f32,
    /// Fraction of training examples predicted correctly during the epoch (in training mode).
    pub accuracy: f32,
    /// Training throughput.
    pub samples_per_sec: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// Receives progress; may stop training.
pub trait Observer {
    /// An epoch of `steps` steps begins.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// A step finished: 1-based step, batch loss, examples seen so far in this epoch.
    fn step(&mut self, _step: usize, _loss: f32, _seen: usize) {}
    /// An epoch finished.
    fn epoch_end(&mut self, _stats: &EpochStats) {}
    /// Polled between steps: true stops training with [`EngineError::Interrupted`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// The result of training.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The weights, named (see [`NamedTensor`]).
    pub weights: Vec<NamedTensor>,
    /// Per-example training loss at each epoch: `losses[epoch][example]`, in the order of the
    /// examples given to [`train`]. Measured in the step that used the example.
    pub losses: Vec<Vec<f32>>,
    /// Per-epoch figures.
    pub epochs: Vec<EpochStats>,
}

/// Train `program` on `examples`. Deterministic for a given program (seed included), input and
/// thread count.
pub fn train(
    program: &Program,
    examples: &Examples<'_>,
    observer: &mut dyn Observer,
) -> Result<Trained, EngineError> {
    train_with(Backend::Compiled, program, examples, observer)
}

/// [`train`] on a chosen backend.
pub fn train_with(
    backend: Backend,
    program: &Program,
    examples: &Examples<'_>,
    observer: &mut dyn Observer,
) -> Result<Trained, EngineError> {
    let input = program.input.shape;
    let features = input.elements();
    let n = examples.y.len();
    if n == 0 {
        return Err(EngineError::Input("no training examples".into()));
    }
    if examples.x.len() != n * features {
        return Err(EngineError::Input(format!(
            "{} input values for {n} examples of {features} values",
            examples.x.len()
        )));
    }
    let classes = program.classes.len();
    if let Some(bad) = examples.y.iter().find(|&&y| y as usize >= classes) {
        return Err(EngineError::Input(format!(
            "label index {bad} is not below {classes} classes"
        )));
    }

    let t = &program.train;
    // Every random draw (initialisation, shuffling, augmentation, dropout) comes from this
    // seeded generator, never from a process-wide one, so a seed fixes the weights even when
    // other trainings run in the same process.
    let mut rng = SplitMix64::new(t.seed);
    let layers = program.logit_layers();
    let init = initial_weights(input, layers, &mut rng);
    let mut stepper: Box<dyn Stepper> = match backend {
        Backend::Compiled => Box::new(CompiledStepper::new(program, &init)?),
        Backend::Burn => reference_stepper(program, &init)?,
    };

    let mut order: Vec<usize> = (0..n).collect();
    let steps = n.div_ceil(t.batch);
    let total_steps = (steps * t.epochs) as f64;
    let mut losses = Vec::with_capacity(t.epochs);
    let mut epochs = Vec::with_capacity(t.epochs);
    let mut xb = Vec::with_capacity(t.batch * features);
    let fill = background(examples.x, features);
    let mut batching = 0f64;

    for epoch in 1..=t.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        observer.epoch_start(epoch, t.epochs, steps);
        let mut epoch_loss = vec![0f32; n];
        let (mut sum, mut correct) = (0f64, 0usize);
        for (step, idx) in order.chunks(t.batch).enumerate() {
            if observer.cancelled() {
                return Err(EngineError::Interrupted);
            }
            let b = idx.len();
            let started = Instant::now();
            xb.clear();
            for &i in idx {
                let row = &examples.x[i * features..(i + 1) * features];
                match (t.augment_shift, input) {
                    (s, Shape::Image(dims)) if s > 0 => {
                        let dy = rng.below(2 * s + 1) as isize - s as isize;
                        let dx = rng.below(2 * s + 1) as isize - s as isize;
                        shifted(row, dims, dy, dx, fill, &mut xb);
                    }
                    _ => xb.extend_from_slice(row),
                }
            }
            let yb: Vec<u32> = idx.iter().map(|&i| examples.y[i]).collect();
            batching += started.elapsed().as_secs_f64();
            let lr = match t.schedule {
                Schedule::Constant => t.optimizer.lr(),
                Schedule::Cosine => {
                    let done = ((epoch - 1) * steps + step) as f64 / total_steps;
                    0.5 * t.optimizer.lr() * (1.0 + (std::f64::consts::PI * done).cos())
                }
            };
            let (values, predicted) = stepper.step(&xb, &yb, lr, &mut rng)?;
            let batch_loss = values.iter().sum::<f32>() / b as f32;
            if !batch_loss.is_finite() {
                return Err(EngineError::Diverged {
                    epoch,
                    step: step + 1,
                    loss: batch_loss,
                });
            }
            for ((&i, &l), (&p, &y)) in idx.iter().zip(&values).zip(predicted.iter().zip(&yb)) {
                epoch_loss[i] = l;
                correct += usize::from(p == y);
            }
            sum += f64::from(batch_loss) * b as f64;
            observer.step(step + 1, batch_loss, (step * t.batch + b).min(n));
        }
        let seconds = start.elapsed().as_secs_f64();
        let stats = EpochStats {
            epoch,
            epochs: t.epochs,
            loss: (sum / n as f64) as f32,
            accuracy: correct as f32 / n as f32,
            samples_per_sec: n as f64 / seconds.max(1e-9),
            seconds,
        };
        observer.epoch_end(&stats);
        epochs.push(stats);
        losses.push(epoch_loss);
    }
    if let Some(profile) = stepper.profile() {
        eprintln!(
            "{profile}{:<28}{:>12.3}",
            "batching",
            1e3 * batching / total_steps
        );
    }
    let weights = stepper.export()?;
    Ok(Trained {
        weights,
        losses,
        epochs,
    })
}

/// The most common input value (the background, e.g. black pixels), used to fill shifted images.
fn background(x: &[f32], features: usize) -> f32 {
    let sample = &x[..x.len().min(features * 64)];
    sample.iter().copied().fold(f32::INFINITY, f32::min)
}

/// Append `row` (an image `[c, h, w]`) translated by `(dy, dx)`, filling with `fill`.
fn shifted(
    row: &[f32],
    [c, h, w]: [usize; 3],
    dy: isize,
    dx: isize,
    fill: f32,
    out: &mut Vec<f32>,
) {
    for ch in 0..c {
        let plane = &row[ch * h * w..(ch + 1) * h * w];
        for y in 0..h as isize {
            let sy = y - dy;
            for x in 0..w as isize {
                let sx = x - dx;
                let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                out.push(if inside {
                    plane[(sy * w as isize + sx) as usize]
                } else {
                    fill
                });
            }
        }
    }
}

#[cfg(feature = "burn")]
fn reference_stepper(
    program: &Program,
    init: &[NamedTensor],
) -> Result<Box<dyn Stepper>, EngineError> {
    crate::reference::stepper(program, init)
}

#[cfg(not(feature = "burn"))]
fn reference_stepper(_: &Program, _: &[NamedTensor]) -> Result<Box<dyn Stepper>, EngineError> {
    Err(EngineError::Unavailable("the burn reference backend"))
}

/// One training step on one backend: per-example losses and predicted classes of the batch.
pub(crate) trait Stepper {
    fn step(
        &mut self,
        x: &[f32],
        y: &[u32],
        lr: f64,
        rng: &mut SplitMix64,
    ) -> Result<(Vec<f32>, Vec<u32>), EngineError>;
    fn export(&self) -> Result<Vec<NamedTensor>, EngineError>;
    /// With `ANNEAL_PROFILE` set: where the steps' time went, as text.
    fn profile(&self) -> Option<String> {
        None
    }
}

/// The compiled engine: one plan, one workspace, flat parameter and optimizer buffers.
struct CompiledStepper {
    plan: Plan,
    ws: Workspace,
    params: Vec<f32>,
    stats: Vec<f32>,
    grads: Vec<f32>,
    /// Adam's first moment or SGD's velocity.
    m: Vec<f32>,
    /// Adam's second moment.
    v: Vec<f32>,
    optimizer: Optimizer,
    steps: i32,
    /// Seconds in the loss and in the optimizer update, when profiling.
    loss_seconds: f64,
    optimizer_seconds: f64,
}

impl CompiledStepper {
    fn new(program: &Program, init: &[NamedTensor]) -> Result<Self, EngineError> {
        let plan = Plan::compile(
            program.input.shape,
            program.logit_layers(),
            program.classes.len(),
        )?;
        let (params, stats) = plan.load(init)?;
        let n = plan.n_params();
        let mut ws = plan.workspace(program.train.batch);
        if std::env::var_os("ANNEAL_PROFILE").is_some() {
            ws.profile = Some(vec![[0.0; 2]; plan.len()]);
        }
        Ok(CompiledStepper {
            ws,
            plan,
            params,
            stats,
            grads: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
            optimizer: program.train.optimizer,
            steps: 0,
            loss_seconds: 0.0,
            optimizer_seconds: 0.0,
        })
    }
}

impl Stepper for CompiledStepper {
    fn step(
        &mut self,
        x: &[f32],
        y: &[u32],
        lr: f64,
        rng: &mut SplitMix64,
    ) -> Result<(Vec<f32>, Vec<u32>), EngineError> {
        // The step runs on one of the engine's worker threads, so the parallel loops inside it
        // split work between threads already awake instead of waking them each time. (Only
        // this backend: burn keeps batch-norm running statistics per thread and averages them
        // when read, so its steps must all run on one thread.)
        rayon::scope(|_| self.step_here(x, y, lr, rng))
    }

    fn export(&self) -> Result<Vec<NamedTensor>, EngineError> {
        Ok(self.plan.export(&self.params, &self.stats))
    }

    fn profile(&self) -> Option<String> {
        self.profile_text()
    }
}

impl CompiledStepper {
    fn step_here(
        &mut self,
        x: &[f32],
        y: &[u32],
        lr: f64,
        rng: &mut SplitMix64,
    ) -> Result<(Vec<f32>, Vec<u32>), EngineError> {
        let b = y.len();
        let classes = self.plan.classes();
        self.plan.forward(
            &self.params,
            &mut self.ws,
            x,
            b,
            Mode::Train(rng, &mut self.stats),
        );
        let started = Instant::now();
        let mut losses = vec![0f32; b];
        let mut predicted = vec![0u32; b];
        let (logits, dlogits) = self.ws.logits_and_grad(b * classes);
        cpu::softmax_cross_entropy(logits, y, classes, &mut losses, &mut predicted, dlogits);
        self.loss_seconds += started.elapsed().as_secs_f64();
        self.plan
            .backward(&self.params, &mut self.ws, b, &mut self.grads);
        self.steps += 1;
        let started = Instant::now();
        match self.optimizer {
            Optimizer::Adam { .. } => cpu::adam(
                &mut self.params,
                &self.grads,
                &mut self.m,
                &mut self.v,
                lr as f32,
                self.steps,
                (0.9, 0.999, 1e-8),
            ),
            Optimizer::Sgd { momentum, .. } => cpu::sgd(
                &mut self.params,
                &self.grads,
                &mut self.m,
                lr as f32,
                momentum as f32,
            ),
        }
        self.optimizer_seconds += started.elapsed().as_secs_f64();
        Ok((losses, predicted))
    }

    fn profile_text(&self) -> Option<String> {
        let nodes = self.ws.profile.as_ref()?;
        let per_step = |s: f64| 1e3 * s / f64::from(self.steps.max(1));
        let mut out = format!(
            "{:<28}{:>12}{:>12}\n",
            "per step (ms)", "forward", "backward"
        );
        for (i, [f, b]) in nodes.iter().enumerate() {
            out += &format!(
                "{:<28}{:>12.3}{:>12.3}\n",
                self.plan.label(i),
                per_step(*f),
                per_step(*b)
            );
        }
        out += &format!("{:<28}{:>12.3}\n", "loss", per_step(self.loss_seconds));
        out += &format!(
            "{:<28}{:>12.3}\n",
            "optimizer",
            per_step(self.optimizer_seconds)
        );
        Some(out)
    }
}
