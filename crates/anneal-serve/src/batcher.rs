//! Dynamic batching: concurrent requests for one model are gathered into one forward pass.
//!
//! Each model has a worker thread that owns its [`Model`]. Requests go through a bounded queue
//! (`try_send`: a full queue is a fast 503, never unbounded memory). The worker takes the first
//! waiting job, then keeps gathering until the batch holds `max_batch` examples or `max_delay`
//! has passed since that first job, runs one forward pass and answers each job with its rows.
//! With `max_delay` zero (the default) it takes whatever queued while the previous pass ran:
//! no added latency when idle, and batches that grow with the load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use anneal_engine::Model;
use anneal_spec::{NamedTensor, Program, Quantization};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most examples in one forward pass.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    pub max_delay: Duration,
    /// Requests that may wait in the queue.
    pub queue: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_batch: 64,
            max_delay: Duration::from_micros(500),
            queue: 256,
        }
    }
}

/// One request's work.
struct Job {
    x: Vec<f32>,
    n: usize,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// The handle requests use to reach a model's worker.
#[derive(Debug, Clone)]
pub struct Batcher {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full.
    Full,
    /// The worker is gone.
    Closed,
}

/// A package's model as a worker loads it: program, weights, temperature, quantization.
pub type Loaded = (Program, Vec<NamedTensor>, Option<f32>, Option<Quantization>);

impl Batcher {
    /// Start a worker for `program` with `weights` (and the package's `temperature` and
    /// quantization). The model is built on the worker thread.
    pub fn start(
        name: String,
        (program, weights, temperature, quantization): Loaded,
        config: BatchConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Batcher, String> {
        let (tx, rx) = sync_channel::<Job>(config.queue.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let worker_depth = depth.clone();
        std::thread::Builder::new()
            .name(format!("batch-{name}"))
            .spawn(move || {
                match Model::new(&program, &weights)
                    .and_then(|m| m.quantized(quantization.as_ref()))
                {
                    Ok(model) => {
                        let model = model.with_temperature(temperature);
                        let _ = ready_tx.send(Ok(()));
                        run(&model, &rx, config, &worker_depth, &metrics);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            })
            .map_err(|e| format!("could not start a worker thread: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| "the worker thread died while loading".to_string())??;
        Ok(Batcher {
            tx,
            depth,
            capacity: config.queue.max(1),
        })
    }

    /// Queue `n` examples; the receiver gets their probabilities.
    pub fn submit(
        &self,
        x: Vec<f32>,
        n: usize,
    ) -> Result<oneshot::Receiver<Result<Vec<f32>, String>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(Job { x, n, reply }) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::Closed,
                })
            }
        }
    }

    /// Requests waiting or being served.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    /// Queue capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

fn run(
    model: &Model,
    rx: &Receiver<Job>,
    config: BatchConfig,
    depth: &AtomicUsize,
    metrics: &Metrics,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = gather(first, rx, config);
        let total: usize = jobs.iter().map(|j| j.n).sum();
        metrics.batch_size.observe(total as f64);
        let x: Vec<f32> = if jobs.len() == 1 {
            std::mem::take(&mut jobs[0].x)
        } else {
            jobs.iter().flat_map(|j| j.x.iter().copied()).collect()
        };
        let result = model.predict(&x).map_err(|e| e.to_string());
        reply(jobs, &result, model.classes(), depth);
    }
}

/// `first` and the jobs that arrive within `max_delay` of it, up to `max_batch` examples.
fn gather(first: Job, rx: &Receiver<Job>, config: BatchConfig) -> Vec<Job> {
    let deadline = Instant::now() + config.max_delay;
    let mut total = first.n;
    let mut jobs = vec![first];
    while total < config.max_batch {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(job) => {
                total += job.n;
                jobs.push(job);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    jobs
}

/// Send each job its rows of the batch's probabilities (or the batch's error).
fn reply(jobs: Vec<Job>, result: &Result<Vec<f32>, String>, classes: usize, depth: &AtomicUsize) {
    let mut offset = 0;
    for job in jobs {
        let rows = job.n * classes;
        let part = match result {
            Ok(probs) => Ok(probs[offset..offset + rows].to_vec()),
            Err(e) => Err(e.clone()),
        };
        offset += rows;
        depth.fetch_sub(1, Ordering::SeqCst);
        let _ = job.reply.send(part);
    }
}
