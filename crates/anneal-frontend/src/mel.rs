//! The log-mel spectrogram, as [`LogMel`] describes it.
//!
//! For a waveform `x` fixed to `samples` values (zero-padded at the end or trimmed), frame `t`
//! is `x[t * hop .. t * hop + n_fft]` times the periodic Hann window
//! `w[n] = 0.5 - 0.5 cos(2 pi n / n_fft)`, for `t < frames = 1 + (samples - n_fft) / hop` (no
//! centring). Its power spectrum `P[k] = |FFT(frame)[k]|^2`, `k = 0 ..= n_fft / 2`, goes
//! through `mels` triangular filters spaced evenly on the HTK mel scale
//! `m(f) = 2595 log10(1 + f / 700)` between `fmin` and `fmax` (peaks of height 1, not
//! area-normalised), and each band's energy becomes `ln(energy + floor)`. The output is
//! `[mels, frames]`, band-major: one row per band, time along the row, an image to a CNN.

use std::sync::Arc;

use anneal_spec::LogMel;
use realfft::{RealFftPlanner, RealToComplex};

/// A [`LogMel`] ready to run: the FFT plan, the window and the filterbank.
#[derive(Clone)]
pub struct LogMelPlan {
    params: LogMel,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    /// `filters[band]`: the first FFT bin it covers and its weights from there.
    filters: Vec<(usize, Vec<f64>)>,
}

impl std::fmt::Debug for LogMelPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMelPlan")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl LogMelPlan {
    /// Plan `params` (valid ones: see [`LogMel::check`]).
    pub fn new(params: &LogMel) -> LogMelPlan {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(params.n_fft);
        LogMelPlan {
            params: params.clone(),
            fft,
            window: hann(params.n_fft),
            filters: filterbank(params),
        }
    }

    /// The `[mels, frames]` log-mel features of `waveform` (any length; fixed here).
    pub fn features(&self, waveform: &[f32]) -> Vec<f32> {
        let p = &self.params;
        let mut x: Vec<f64> = waveform
            .iter()
            .take(p.samples)
            .map(|&s| f64::from(s))
            .collect();
        x.resize(p.samples, 0.0);
        let frames = p.frames();
        let mut out = vec![0f32; p.mels * frames];
        let mut power = vec![0f64; p.n_fft / 2 + 1];
        for t in 0..frames {
            self.power(&x[t * p.hop..t * p.hop + p.n_fft], &mut power);
            for (band, (start, weights)) in self.filters.iter().enumerate() {
                let energy: f64 = weights
                    .iter()
                    .zip(&power[*start..])
                    .map(|(w, e)| w * e)
                    .sum();
                out[band * frames + t] = (energy + p.floor).ln() as f32;
            }
        }
        if let Some(range) = p.range {
            relative_to_max(&mut out, range);
        }
        out
    }

    /// The power spectrum of one windowed frame into `power`.
    fn power(&self, frame: &[f64], power: &mut [f64]) {
        let mut input: Vec<f64> = frame.iter().zip(&self.window).map(|(x, w)| x * w).collect();
        let mut spectrum = self.fft.make_output_vec();
        // Lengths come from the plan itself, so processing cannot fail.
        if self.fft.process(&mut input, &mut spectrum).is_ok() {
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
        }
    }
}

/// The periodic Hann window of `n` points.
fn hann(n: usize) -> Vec<f64> {
    let step = 2.0 * std::f64::consts::PI / n as f64;
    (0..n)
        .map(|i| 0.5 - 0.5 * (step * i as f64).cos())
        .collect()
}

/// HTK mel of a frequency in Hz.
fn mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// Hz of an HTK mel.
fn hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// The triangular filters: each band's first bin and its weights from there.
fn filterbank(p: &LogMel) -> Vec<(usize, Vec<f64>)> {
    let (lo, hi) = (mel(f64::from(p.fmin)), mel(f64::from(p.fmax)));
    let edges: Vec<f64> = (0..p.mels + 2)
        .map(|i| hz(lo + (hi - lo) * i as f64 / (p.mels + 1) as f64))
        .collect();
    let bin_hz = f64::from(p.rate) / p.n_fft as f64;
    let bins: Vec<f64> = (0..=p.n_fft / 2).map(|k| k as f64 * bin_hz).collect();
    edges
        .windows(3)
        .map(|e| triangle(&bins, e[0], e[1], e[2]))
        .collect()
}

/// One filter rising from `left` to 1 at `centre` and falling to 0 at `right`, over `bins`.
fn triangle(bins: &[f64], left: f64, centre: f64, right: f64) -> (usize, Vec<f64>) {
    let weights: Vec<f64> = bins
        .iter()
        .map(|&f| {
            ((f - left) / (centre - left))
                .min((right - f) / (right - centre))
                .max(0.0)
        })
        .collect();
    let start = weights
        .iter()
        .position(|&w| w > 0.0)
        .unwrap_or(weights.len());
    let end = weights
        .iter()
        .rposition(|&w| w > 0.0)
        .map_or(start, |i| i + 1);
    (start, weights[start..end].to_vec())
}

/// Each value relative to the largest, clamped `range` below it.
fn relative_to_max(features: &mut [f32], range: f32) {
    let max = features.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in features {
        *v = (*v - max).max(-range);
    }
}
