//! The training loop.

use std::time::Instant;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

use anneal_spec::{Optimizer, Program, Schedule, Shape};

use crate::net::{Net, initial_weights};
use crate::rng::SplitMix64;
use crate::{EngineError, Examples, NamedTensor, batch_tensor, to_f32};

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
    let device = Device::flex().autodiff();
    let layers = program.logit_layers();
    // Every random draw (initialisation, shuffling, augmentation, dropout) comes from this
    // seeded generator, never from burn's process-wide RNG, so a seed fixes the weights even
    // when other trainings run in the same process.
    let mut rng = SplitMix64::new(t.seed);
    let init = initial_weights(input, layers, &mut rng);
    let mut net = Net::init(input, layers, &device).load(input, layers, &init)?;
    let mut optim: ModuleOptimizer = match t.optimizer {
        Optimizer::Adam { .. } => AdamConfig::new().with_epsilon(1e-8).init(),
        Optimizer::Sgd { momentum, .. } => SgdConfig::new()
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
            }))
            .init(),
    };

    let mut order: Vec<usize> = (0..n).collect();
    let steps = n.div_ceil(t.batch);
    let total_steps = (steps * t.epochs) as f64;
    let mut losses = Vec::with_capacity(t.epochs);
    let mut epochs = Vec::with_capacity(t.epochs);
    let mut xb = Vec::with_capacity(t.batch * features);
    let fill = background(examples.x, features);

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
            let yb: Vec<i32> = idx.iter().map(|&i| examples.y[i] as i32).collect();
            let x = batch_tensor(&xb, input, &device);
            let targets = Tensor::<1, Int>::from_data(TensorData::new(yb.clone(), [b]), &device);
            let logits = net.forward(x, Some(&mut rng));
            let logp = activation::log_softmax(logits, 1);
            let per_example = logp
                .clone()
                .gather(1, targets.reshape([b, 1]))
                .reshape([b])
                .neg();
            let loss = per_example.clone().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let lr = match t.schedule {
                Schedule::Constant => t.optimizer.lr(),
                Schedule::Cosine => {
                    let done = ((epoch - 1) * steps + step) as f64 / total_steps;
                    0.5 * t.optimizer.lr() * (1.0 + (std::f64::consts::PI * done).cos())
                }
            };
            net = optim.step(lr, net, grads);

            let values = to_f32(per_example.into_data())?;
            let predicted = to_f32(logp.argmax(1).reshape([b]).into_data().convert::<f32>())?;
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
                correct += usize::from(p as i32 == y);
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
    let weights = net.valid().export(input, layers)?;
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
