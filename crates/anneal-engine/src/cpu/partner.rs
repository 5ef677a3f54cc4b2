//! A second thread for latency-bound inference: it takes panels of a small-batch dense layer
//! ([`super::gemv`]) while the calling thread takes the others.
//!
//! At batch 1 a dense layer is too short for the engine's thread pool: handing a job to rayon
//! and waking its sleeping workers took longer than the layer itself (batch-1 MLP inference
//! measured 51 us inside the pool against 34 us on the caller alone). The partner is one
//! thread that keeps checking for work for a short while after each job ([`SPIN`]) and only
//! then sleeps, so a stream of requests finds it awake, as onnxruntime's spinning pool does.
//! Between checks it yields its core to any other runnable thread: with a busy-wait instead,
//! `anneal serve` on two cores answered half as many requests at 8 clients (10.5k against
//! 20.4k per second), its HTTP threads starved; yielding, it answers as many as without a
//! partner at 8 and 64 clients and about 1.9x as many at one.
//!
//! Panels are claimed one at a time, the caller from the first panel up and the partner from
//! the last one down, until they meet. A partner that is asleep or slow to start costs
//! nothing but its share: the caller claims what is left and, if the partner never joined the
//! job, closes it and goes on alone. A partner descheduled in the middle of a panel makes the
//! caller wait for that panel (spinning for [`WAIT_SPIN`], then yielding to it). When both
//! run at the same pace each thread takes the same half of every layer call after call, so
//! that half stays in its core's cache (the MLP's 2.1 MB of weights do not fit one core's
//! 1 MiB L2; each half nearly does). Each panel is computed whole by one thread with the same
//! kernel, so values never depend on who computed what.
//!
//! Calls are serialised by the owner (f32 inference's workspace lock); a caller that unwinds
//! mid-job leaves the job to be closed or finished by the next one before it posts its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::gemv::Packed;

/// How long the partner keeps checking for work after its last job before it sleeps. While it
/// sleeps, calls run on the caller alone (and wake it for the next ones).
pub(crate) const SPIN: Duration = Duration::from_millis(1);

/// How long a caller spins for the partner's last panel before it yields its core. A panel of
/// the 784x512 layer takes about 2 us; a partner still busy after this was descheduled.
const WAIT_SPIN: Duration = Duration::from_micros(50);

// A job's phase, in the low two bits of `Shared::state` (the job number is above them).
const OPEN: u64 = 0;
const TAKEN: u64 = 1;
const CLOSED: u64 = 2;
const DONE: u64 = 3;

/// The partner thread; stopped and joined on drop.
#[derive(Debug)]
pub(crate) struct Partner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    /// The layers the partner may be asked to help with.
    layers: Arc<[Packed]>,
    /// `job << 2 | phase`.
    state: AtomicU64,
    /// The unclaimed panels of the current job, `lo..hi`, as `lo | hi << 32`.
    unclaimed: AtomicU64,
    /// Set by the partner just before it sleeps; whoever clears it wakes it.
    sleeping: AtomicBool,
    quit: AtomicBool,
    /// Held by the caller of the job in progress ([`Turn`]).
    busy: AtomicBool,
    /// Jobs the partner joined (for tests and profiles).
    joined: AtomicU64,
    job: Mutex<Job>,
    result: Mutex<Result>,
}

#[derive(Debug, Default)]
struct Job {
    layer: usize,
    rows: usize,
    input: Vec<f32>,
}

#[derive(Debug, Default)]
struct Result {
    /// `rows x out` of the job's layer; only the claimed panels are meaningful.
    values: Vec<f32>,
    claimed: Vec<usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Neither side panics while holding a lock (the kernels check their shapes before
    // anything is locked), and every buffer is overwritten before it is read.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Partner {
    /// Start a partner for these layers. `None` when the thread cannot be started: inference
    /// then runs on the caller alone.
    pub fn start(layers: Arc<[Packed]>) -> Option<Partner> {
        let shared = Arc::new(Shared {
            layers,
            state: AtomicU64::new(CLOSED),
            unclaimed: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            quit: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            joined: AtomicU64::new(0),
            job: Mutex::new(Job::default()),
            result: Mutex::new(Result::default()),
        });
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("anneal-partner".into())
            .spawn(move || theirs.serve())
            .ok()?;
        Some(Partner {
            shared,
            thread: Some(thread),
        })
    }

    /// `y = x · W` for layer `layer` (`rows x inp` in, `rows x out` out), its panels shared
    /// with the partner thread.
    pub fn product(&self, layer: usize, x: &[f32], rows: usize, y: &mut [f32]) {
        self.run(layer, x, rows, y, true);
    }

    /// [`Partner::product`]; without `claim` (for tests) the caller claims no panel and waits
    /// for the partner to take them all.
    fn run(&self, layer: usize, x: &[f32], rows: usize, y: &mut [f32], claim: bool) {
        let s = &*self.shared;
        let w = &s.layers[layer];
        // The owner serialises calls (f32 inference's workspace lock); should a second caller come
        // anyway, it computes alone rather than share the one job slot.
        let Some(_turn) = Turn::take(&s.busy) else {
            w.product(x, rows, 0..w.panels(), y);
            return;
        };
        self.settle_previous();
        let number = self.open_job(layer, x, rows);
        let open = number << 2 | OPEN;
        if claim {
            while let Some(p) = s.claim(true) {
                w.product(x, rows, p..p + 1, y);
            }
        } else {
            while s.state.load(Ordering::Acquire) == open {
                thread::yield_now();
            }
        }
        if s.close(open, number) {
            return; // The partner never joined: every panel was ours.
        }
        // It joined: it finishes its last panel about when we finished ours.
        if !self.wait_done(number) {
            // It died mid-job (a bug: its kernels check their shapes before they lock
            // anything): do the whole layer here. Later jobs find nobody to join them.
            w.product(x, rows, 0..w.panels(), y);
            return;
        }
        s.copy_results(w, rows, y);
    }

    /// A caller that unwound mid-job (a panic in its kernel) left that job open or taken:
    /// close it or let the partner finish it before the slot is reused.
    fn settle_previous(&self) {
        let s = &*self.shared;
        let previous = s.state.load(Ordering::Acquire);
        if previous & 3 == OPEN || previous & 3 == TAKEN {
            let n = previous >> 2;
            let closed = previous & 3 == OPEN && s.close(previous, n);
            if !closed {
                self.wait_done(n);
            }
        }
    }

    /// Post the product of `layer` on `x` as the next job, open to the partner (woken if it
    /// sleeps); the job's number.
    fn open_job(&self, layer: usize, x: &[f32], rows: usize) -> u64 {
        let s = &*self.shared;
        let w = &s.layers[layer];
        {
            let mut job = lock(&s.job);
            job.layer = layer;
            job.rows = rows;
            job.input.clear();
            job.input.extend_from_slice(&x[..rows * w.inp()]);
        }
        s.unclaimed
            .store((w.panels() as u64) << 32, Ordering::Relaxed);
        let number = (s.state.load(Ordering::Relaxed) >> 2) + 1;
        s.state.store(number << 2 | OPEN, Ordering::SeqCst);
        if s.sleeping.swap(false, Ordering::SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        number
    }

    /// Wait for the partner to finish job `number`: spin for [`WAIT_SPIN`], then yield (it
    /// was descheduled: let it run). `false` when its thread has died instead.
    fn wait_done(&self, number: u64) -> bool {
        let s = &*self.shared;
        let started = Instant::now();
        let mut spins = 0u32;
        while s.state.load(Ordering::Acquire) != number << 2 | DONE {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || started.elapsed() < WAIT_SPIN {
                std::hint::spin_loop();
            } else if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                return false;
            } else {
                thread::yield_now();
            }
        }
        true
    }
}

/// Holds the partner's one job slot for a caller; released on drop, unwinding included.
struct Turn<'a>(&'a AtomicBool);

impl<'a> Turn<'a> {
    fn take(busy: &'a AtomicBool) -> Option<Turn<'a>> {
        (!busy.swap(true, Ordering::Acquire)).then_some(Turn(busy))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // A partner that panicked has nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Shared {
    /// Close job `number` if it is still `from` (open, nobody joined); whether it closed.
    fn close(&self, from: u64, number: u64) -> bool {
        let to = number << 2 | CLOSED;
        let swap = self
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
        swap.is_ok()
    }

    /// The partner's panels of the last job, into `y` (`rows x out`).
    fn copy_results(&self, w: &Packed, rows: usize, y: &mut [f32]) {
        let result = lock(&self.result);
        for &p in &result.claimed {
            let cols = w.columns(p);
            for r in 0..rows {
                y[r * w.out()..][cols.clone()]
                    .copy_from_slice(&result.values[r * w.out()..][cols.clone()]);
            }
        }
    }

    /// The lowest unclaimed panel (`front`) or the highest, now claimed; `None` when none is
    /// left.
    fn claim(&self, front: bool) -> Option<usize> {
        let mut v = self.unclaimed.load(Ordering::Relaxed);
        loop {
            let (lo, hi) = (v & u64::from(u32::MAX), v >> 32);
            if lo >= hi {
                return None;
            }
            let (next, p) = if front {
                (v + 1, lo)
            } else {
                (v - (1 << 32), hi - 1)
            };
            match self.unclaimed.compare_exchange_weak(
                v,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(p as usize),
                Err(now) => v = now,
            }
        }
    }

    /// The partner's loop: join each open job, claim panels until none are left, hand back
    /// what it computed; between jobs, check for [`SPIN`] (yielding the core between checks),
    /// then sleep until woken.
    fn serve(&self) {
        let mut seen = 0u64;
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        let mut values = Vec::new();
        let mut claimed = Vec::new();
        while !self.quit.load(Ordering::Relaxed) {
            let state = self.state.load(Ordering::Acquire);
            let number = state >> 2;
            if number != seen {
                seen = number;
                if state & 3 == OPEN
                    && self
                        .state
                        .compare_exchange(
                            state,
                            number << 2 | TAKEN,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                {
                    self.joined.fetch_add(1, Ordering::Relaxed);
                    self.work(&mut values, &mut claimed);
                    // Only this thread moves a taken job on, and callers wait for it.
                    let _ = self.state.compare_exchange(
                        number << 2 | TAKEN,
                        number << 2 | DONE,
                        Ordering::Release,
                        Ordering::Relaxed,
                    );
                }
                idle_since = Instant::now();
                continue;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(16) || idle_since.elapsed() < SPIN {
                thread::yield_now();
                continue;
            }
            // Sleep, unless a job was posted after the check above (the caller swaps
            // `sleeping` after posting, so one of the two sees the other).
            self.sleeping.store(true, Ordering::SeqCst);
            if self.state.load(Ordering::SeqCst) >> 2 == seen && !self.quit.load(Ordering::SeqCst) {
                thread::park();
            }
            self.sleeping.store(false, Ordering::SeqCst);
            idle_since = Instant::now();
        }
    }

    fn work(&self, values: &mut Vec<f32>, claimed: &mut Vec<usize>) {
        let job = lock(&self.job);
        let w = &self.layers[job.layer];
        values.resize(job.rows * w.out(), 0.0);
        claimed.clear();
        while let Some(p) = self.claim(false) {
            w.product(&job.input, job.rows, p..p + 1, values);
            claimed.push(p);
        }
        let mut result = lock(&self.result);
        result.values.clone_from(values);
        result.claimed.clone_from(claimed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(inp: usize, out: usize, seed: usize) -> Packed {
        let w: Vec<f32> = (0..inp * out)
            .map(|i| (((i + seed) * 7919 % 1013) as f32 - 506.0) * 1e-3)
            .collect();
        Packed::new(&w, inp, out)
    }

    fn alone(w: &Packed, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = vec![0.0; rows * w.out()];
        w.product(x, rows, 0..w.panels(), &mut y);
        y
    }

    #[test]
    fn shared_panels_give_the_values_of_one_thread() {
        let layers: Arc<[Packed]> =
            vec![layer(784, 512, 1), layer(300, 130, 2), layer(5, 700, 3)].into();
        let partner = Partner::start(Arc::clone(&layers)).unwrap();
        for call in 0..300 {
            let k = call % layers.len();
            let rows = call % 4 + 1;
            let w = &layers[k];
            let x: Vec<f32> = (0..rows * w.inp())
                .map(|i| ((i * 31 + call) % 97) as f32 * 1e-2 - 0.5)
                .collect();
            let mut y = vec![f32::NAN; rows * w.out()];
            partner.product(k, &x, rows, &mut y);
            assert_eq!(y, alone(w, &x, rows), "call {call}: layer {k}, {rows} rows");
        }
        // Whether it joined those calls depends on the scheduler (on a busy machine it yields
        // and the caller does the work); these calls leave every panel to it.
        let before = partner.shared.joined.load(Ordering::Relaxed);
        for (k, w) in layers.iter().enumerate() {
            for rows in 1..=4 {
                let x: Vec<f32> = (0..rows * w.inp()).map(|i| (i % 13) as f32 - 6.0).collect();
                let mut y = vec![f32::NAN; rows * w.out()];
                partner.run(k, &x, rows, &mut y, false);
                assert_eq!(
                    y,
                    alone(w, &x, rows),
                    "partner alone: layer {k}, {rows} rows"
                );
            }
        }
        let joined = partner.shared.joined.load(Ordering::Relaxed) - before;
        assert_eq!(joined, 4 * layers.len() as u64);
    }

    #[test]
    fn a_caller_that_unwinds_mid_job_leaves_the_next_call_correct() {
        // A too-short output panics in the caller's kernel after the job was posted; the next
        // call must close or await that job, not hang on it or lose panels to it.
        let layers: Arc<[Packed]> = vec![layer(784, 512, 5), layer(64, 300, 6)].into();
        let partner = Arc::new(Partner::start(Arc::clone(&layers)).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let theirs = Arc::clone(&partner);
        let checks = Arc::clone(&layers);
        // The default panic hook prints, which takes long enough for the partner to finish
        // the abandoned job first; this thread's panics are silent so the next call races it.
        const NAME: &str = "anneal-partner-unwinder";
        let others = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() != Some(NAME) {
                others(info);
            }
        }));
        let caller = thread::Builder::new().name(NAME.into());
        caller
            .spawn(move || {
                for call in 0..2000 {
                    let k = call % 2;
                    let w = &checks[k];
                    let x: Vec<f32> = (0..w.inp())
                        .map(|i| ((i + call) % 7) as f32 - 3.0)
                        .collect();
                    let mut short = vec![0.0; w.out() - 1];
                    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        theirs.product(k, &x, 1, &mut short);
                    }));
                    assert!(
                        unwound.is_err(),
                        "call {call}: the short output was accepted"
                    );
                    let mut y = vec![f32::NAN; w.out()];
                    theirs.product(k, &x, 1, &mut y);
                    assert_eq!(
                        y,
                        alone(w, &x, 1),
                        "call {call}: layer {k} after an unwound call"
                    );
                }
                let _ = tx.send(());
            })
            .unwrap();
        assert!(
            rx.recv_timeout(Duration::from_secs(60)).is_ok(),
            "a call after an unwound one hung or failed"
        );
    }

    #[test]
    fn a_sleeping_partner_is_woken_and_a_dropped_one_stops() {
        let layers: Arc<[Packed]> = vec![layer(400, 256, 4)].into();
        for round in 0..3 {
            let partner = Partner::start(Arc::clone(&layers)).unwrap();
            let x: Vec<f32> = (0..400).map(|i| i as f32 * 1e-3).collect();
            let want = alone(&layers[0], &x, 1);
            for _ in 0..3 {
                // Long enough idle that it parks.
                let deadline = Instant::now() + Duration::from_secs(5);
                while !partner.shared.sleeping.load(Ordering::SeqCst) {
                    assert!(
                        Instant::now() < deadline,
                        "round {round}: the partner never slept"
                    );
                    thread::sleep(SPIN);
                }
                let mut y = vec![0.0; 256];
                partner.product(0, &x, 1, &mut y);
                assert_eq!(y, want);
            }
            // Dropping joins the thread whether it spins or sleeps: this returns.
            drop(partner);
        }
    }
}
