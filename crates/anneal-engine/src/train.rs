//! The training loop.

use std::f64::consts::PI;
use std::time::Instant;

use anneal_spec::{Optimizer, Program, Schedule, Shape};

use crate::augment::{background, shifted};
use crate::cpu::{self, Mode, Plan, Workspace};
use crate::rng::SplitMix64;
use crate::{Backend, EngineError, Examples, NamedTensor, Normalization, Threat};

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

/// [`train`] of inputs normalised by `norm` (as [`crate::preprocess`] does): a program's
/// adversarial radius (`[train] adversarial`), in input units before normalisation, is
/// converted with it. ([`train`] takes the inputs as they are: 8-bit images scaled to
/// `[0, 1]`, other features unscaled.) A program composed with a dependency
/// ([`Program::compose`]) starts from `base`, the dependency's weights, for its first layers;
/// other programs take `&[]`.
pub fn train_normalised(
    program: &Program,
    examples: &Examples<'_>,
    norm: &Normalization,
    base: &[NamedTensor],
    observer: &mut dyn Observer,
) -> Result<Trained, EngineError> {
    let threat = threat(program, norm);
    let start = Start { threat, base };
    run(Backend::Compiled, program, examples, start, observer)
}

/// The weights a training run of `program` starts from: its seed's initialisation (the first
/// draws of the run's generator), a composed program's base left as initialised. For handing a
/// run to another engine (PyTorch) that should start where this one would.
pub fn initial_weights(program: &Program) -> Vec<NamedTensor> {
    let mut rng = SplitMix64::new(program.train.seed);
    crate::params::initial_weights(program.input.shape, program.logit_layers(), &mut rng)
}

/// What a training run starts from besides the program and its examples.
struct Start<'a> {
    /// Train on adversarial examples within it.
    threat: Option<Threat>,
    /// The dependency's weights, for a composed program's first layers.
    base: &'a [NamedTensor],
}

/// [`train`] on a chosen backend.
pub fn train_with(
    backend: Backend,
    program: &Program,
    examples: &Examples<'_>,
    observer: &mut dyn Observer,
) -> Result<Trained, EngineError> {
    let unit = Normalization {
        scale: 1.0 / program.input.full_scale(),
        mean: 0.0,
        std: 1.0,
    };
    let start = Start {
        threat: threat(program, &unit),
        base: &[],
    };
    run(backend, program, examples, start, observer)
}

/// The program's adversarial threat in model units, if it trains adversarially.
fn threat(program: &Program, norm: &Normalization) -> Option<Threat> {
    let a = program.train.adversarial.as_ref()?;
    Some(Threat::new(&program.input, norm, a))
}

/// Train from `start`.
fn run(
    backend: Backend,
    program: &Program,
    examples: &Examples<'_>,
    start: Start<'_>,
    observer: &mut dyn Observer,
) -> Result<Trained, EngineError> {
    check_examples(program, examples)?;
    // Every random draw (initialisation, shuffling, augmentation, dropout) comes from this
    // seeded generator, never from a process-wide one, so a seed fixes the weights even when
    // other trainings run in the same process.
    let mut rng = SplitMix64::new(program.train.seed);
    let mut init =
        crate::params::initial_weights(program.input.shape, program.logit_layers(), &mut rng);
    crate::base::start_from(program, &mut init, start.base)?;
    let stepper: Box<dyn Stepper> = match backend {
        Backend::Compiled => Box::new(CompiledStepper::new(program, &init)?),
        Backend::Burn if program.base.is_some() => {
            return Err(EngineError::Input(
                "a program that `use`s a dependency trains on the compiled engine only".into(),
            ));
        }
        Backend::Burn => reference_stepper(program, &init)?,
    };
    let mut run = Run::new(program, examples, stepper, rng);
    run.threat = start.threat;
    let epochs = program.train.epochs;
    let (mut losses, mut stats) = (Vec::with_capacity(epochs), Vec::with_capacity(epochs));
    for epoch in 1..=epochs {
        let (s, l) = run.epoch(epoch, observer)?;
        observer.epoch_end(&s);
        stats.push(s);
        losses.push(l);
    }
    run.print_profile();
    Ok(Trained {
        weights: run.stepper.export()?,
        losses,
        epochs: stats,
    })
}

/// Examples that fit the program: some, of the input's size, labels below the class count.
fn check_examples(program: &Program, examples: &Examples<'_>) -> Result<(), EngineError> {
    let features = program.input.shape.elements();
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
    match examples.y.iter().find(|&&y| y as usize >= classes) {
        Some(bad) => Err(EngineError::Input(format!(
            "label index {bad} is not below {classes} classes"
        ))),
        None => Ok(()),
    }
}

/// A training run in progress.
struct Run<'a> {
    train: &'a anneal_spec::program::Train,
    input: Shape,
    examples: &'a Examples<'a>,
    stepper: Box<dyn Stepper>,
    rng: SplitMix64,
    /// The examples in this epoch's order.
    order: Vec<usize>,
    /// Steps per epoch.
    steps: usize,
    /// The batch's inputs, augmented.
    xb: Vec<f32>,
    /// The value shifted images are filled with.
    fill: f32,
    /// Seconds spent assembling batches.
    batching: f64,
    /// Train on adversarial examples within this threat.
    threat: Option<Threat>,
}

/// One epoch's figures as its steps add them up.
struct Tally {
    losses: Vec<f32>,
    sum: f64,
    correct: usize,
}

impl<'a> Run<'a> {
    fn new(
        program: &'a Program,
        examples: &'a Examples<'a>,
        stepper: Box<dyn Stepper>,
        rng: SplitMix64,
    ) -> Run<'a> {
        let (n, train, input) = (examples.y.len(), &program.train, program.input.shape);
        Run {
            train,
            input,
            examples,
            stepper,
            rng,
            order: (0..n).collect(),
            steps: n.div_ceil(train.batch),
            xb: Vec::with_capacity(train.batch * input.elements()),
            fill: background(examples.x, input.elements()),
            batching: 0.0,
            threat: None,
        }
    }

    /// Train one epoch (1-based); its figures and per-example losses.
    fn epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn Observer,
    ) -> Result<(EpochStats, Vec<f32>), EngineError> {
        let start = Instant::now();
        self.rng.shuffle(&mut self.order);
        observer.epoch_start(epoch, self.train.epochs, self.steps);
        let n = self.order.len();
        let mut tally = Tally {
            losses: vec![0f32; n],
            sum: 0.0,
            correct: 0,
        };
        let order = std::mem::take(&mut self.order);
        for (step, idx) in order.chunks(self.train.batch).enumerate() {
            if observer.cancelled() {
                return Err(EngineError::Interrupted);
            }
            let loss = self.step(epoch, step, idx, &mut tally)?;
            observer.step(step + 1, loss, (step * self.train.batch + idx.len()).min(n));
        }
        self.order = order;
        let stats = tally.stats(epoch, self.train.epochs, start.elapsed().as_secs_f64());
        Ok((stats, tally.losses))
    }

    /// One step (0-based) on the examples `idx`; the batch's mean loss.
    fn step(
        &mut self,
        epoch: usize,
        step: usize,
        idx: &[usize],
        tally: &mut Tally,
    ) -> Result<f32, EngineError> {
        let started = Instant::now();
        self.fill_batch(idx);
        let yb: Vec<u32> = idx.iter().map(|&i| self.examples.y[i]).collect();
        if let Some(threat) = &self.threat {
            self.stepper
                .perturb(&mut self.xb, &yb, threat, &mut self.rng)?;
        }
        self.batching += started.elapsed().as_secs_f64();
        let lr = self.learning_rate(epoch, step);
        let (values, predicted) = self.stepper.step(&self.xb, &yb, lr, &mut self.rng)?;
        let loss = values.iter().sum::<f32>() / idx.len() as f32;
        if !loss.is_finite() {
            let step = step + 1;
            return Err(EngineError::Diverged { epoch, step, loss });
        }
        for ((&i, &l), (&p, &y)) in idx.iter().zip(&values).zip(predicted.iter().zip(&yb)) {
            tally.losses[i] = l;
            tally.correct += usize::from(p == y);
        }
        tally.sum += f64::from(loss) * idx.len() as f64;
        Ok(loss)
    }

    /// The inputs of examples `idx` into `xb`, shifted at random when the program augments.
    fn fill_batch(&mut self, idx: &[usize]) {
        let features = self.input.elements();
        self.xb.clear();
        for &i in idx {
            let row = &self.examples.x[i * features..(i + 1) * features];
            match (self.train.augment_shift, self.input) {
                (s, Shape::Image(dims)) if s > 0 => {
                    let time_only = self.train.augment_time_only;
                    let dy = if time_only {
                        0
                    } else {
                        self.rng.below(2 * s + 1) as isize - s as isize
                    };
                    let dx = self.rng.below(2 * s + 1) as isize - s as isize;
                    shifted(row, dims, dy, dx, self.fill, &mut self.xb);
                }
                _ => self.xb.extend_from_slice(row),
            }
        }
    }

    /// The schedule's learning rate at a step (0-based) of an epoch (1-based).
    fn learning_rate(&self, epoch: usize, step: usize) -> f64 {
        let (t, total) = (self.train, (self.steps * self.train.epochs) as f64);
        let done = ((epoch - 1) * self.steps + step) as f64 / total;
        match t.schedule {
            Schedule::Constant => t.optimizer.lr(),
            Schedule::Cosine => 0.5 * t.optimizer.lr() * (1.0 + (PI * done).cos()),
        }
    }

    /// The per-layer profile (`ANNEAL_PROFILE`), with the batching time per step.
    fn print_profile(&self) {
        if let Some(profile) = self.stepper.profile() {
            let total = (self.steps * self.train.epochs) as f64;
            let ms = 1e3 * self.batching / total;
            eprintln!("{profile}{:<28}{ms:>12.3}", "batching");
        }
    }
}

impl Tally {
    fn stats(&self, epoch: usize, epochs: usize, seconds: f64) -> EpochStats {
        let n = self.losses.len();
        EpochStats {
            epoch,
            epochs,
            loss: (self.sum / n as f64) as f32,
            accuracy: self.correct as f32 / n as f32,
            samples_per_sec: n as f64 / seconds.max(1e-9),
            seconds,
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
    /// Replace the batch `x` by its adversarial examples against the current weights.
    fn perturb(
        &mut self,
        _x: &mut Vec<f32>,
        _y: &[u32],
        _threat: &Threat,
        _rng: &mut SplitMix64,
    ) -> Result<(), EngineError> {
        Err(EngineError::Unavailable("adversarial training on burn"))
    }
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
        let mut plan = Plan::compile(
            program.input.shape,
            program.logit_layers(),
            program.classes.len(),
        )?;
        if let Some(base) = &program.base {
            plan = plan.with_base(base);
        }
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

    fn perturb(
        &mut self,
        x: &mut Vec<f32>,
        y: &[u32],
        threat: &Threat,
        rng: &mut SplitMix64,
    ) -> Result<(), EngineError> {
        let mut gradient = |v: &[f32]| Ok(rayon::scope(|_| self.input_gradient(v, y)));
        *x = threat.perturb(x, rng, &mut gradient, &mut || {})?;
        Ok(())
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
        self.update(lr as f32);
        Ok((losses, predicted))
    }

    /// The loss gradient with respect to the inputs `x` of classes `y`, the model running as
    /// in inference (the running statistics as they are now).
    fn input_gradient(&mut self, x: &[f32], y: &[u32]) -> Vec<f32> {
        let (b, classes) = (y.len(), self.plan.classes());
        let mode = Mode::Frozen(&self.stats);
        self.plan.forward(&self.params, &mut self.ws, x, b, mode);
        let (mut losses, mut predicted) = (vec![0f32; b], vec![0u32; b]);
        let (logits, dlogits) = self.ws.logits_and_grad(b * classes);
        cpu::softmax_cross_entropy(logits, y, classes, &mut losses, &mut predicted, dlogits);
        let mut dx = vec![0f32; x.len()];
        let (params, ws) = (&self.params, &mut self.ws);
        self.plan
            .input_gradient(params, ws, b, &mut self.grads, &mut dx);
        dx
    }

    /// One optimiser step on the gradients of the last backward pass: a dependency's
    /// parameters (the first `split`) at their own rate, none when frozen.
    fn update(&mut self, lr: f32) {
        let started = Instant::now();
        let (split, factor) = self.plan.base().map_or((0, 1.0), |b| (b.split, b.lr));
        if factor > 0.0 {
            self.update_range(..split, lr * factor);
        }
        self.update_range(split.., lr);
        self.optimizer_seconds += started.elapsed().as_secs_f64();
    }

    /// The optimiser step on the parameters in `range`.
    fn update_range<R>(&mut self, range: R, lr: f32)
    where
        R: std::slice::SliceIndex<[f32], Output = [f32]> + Clone,
    {
        let params = &mut self.params[range.clone()];
        let (grads, m) = (&self.grads[range.clone()], &mut self.m[range.clone()]);
        match self.optimizer {
            Optimizer::Adam { .. } => {
                let betas = (0.9, 0.999, 1e-8);
                let v = &mut self.v[range];
                cpu::adam(params, grads, m, v, lr, self.steps, betas);
            }
            Optimizer::Sgd { momentum, .. } => {
                cpu::sgd(params, grads, m, lr, momentum as f32);
            }
        }
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
