//! The audio front end's parameters: how a waveform becomes a log-mel spectrogram (computed by
//! `anneal-frontend`, the same in build, predict and serve, and recorded in the package).

use serde::{Deserialize, Serialize};

use crate::shape::Shape;

/// The most seconds of audio a program may take per example.
pub const MAX_SECONDS: usize = 60;

/// `[data.audio]`: a log-mel spectrogram of `mels` bands by [`LogMel::frames`] frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogMel {
    /// Sample rate in Hz; WAVs at another rate are refused.
    pub rate: u32,
    /// Samples per example: shorter waveforms are zero-padded at the end, longer trimmed.
    pub samples: usize,
    /// FFT size (and frame length) in samples.
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// Mel bands.
    pub mels: usize,
    /// Lowest frequency of the filterbank, Hz.
    pub fmin: f32,
    /// Highest frequency of the filterbank, Hz (at most half the rate).
    pub fmax: f32,
    /// Added to each band's energy before the natural log.
    pub floor: f64,
    /// Per utterance: each spectrogram taken relative to its own largest value and clamped
    /// this far below it (in natural-log units; 8 is about 35 dB), so loudness and background
    /// level do not tell speakers apart. `None`: the log energies as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<f32>,
}

impl Default for LogMel {
    /// One second at 8 kHz, 256-point frames every 128 samples, 40 bands over 0-4 kHz.
    fn default() -> Self {
        LogMel {
            rate: 8000,
            samples: 8000,
            n_fft: 256,
            hop: 128,
            mels: 40,
            fmin: 0.0,
            fmax: 4000.0,
            floor: 1e-6,
            range: None,
        }
    }
}

impl LogMel {
    /// Frames per example: `1 + (samples - n_fft) / hop` (no centring).
    pub fn frames(&self) -> usize {
        1 + self.samples.saturating_sub(self.n_fft) / self.hop.max(1)
    }

    /// The model's input shape: `[1, mels, frames]`.
    pub fn shape(&self) -> Shape {
        Shape::Image([1, self.mels, self.frames()])
    }

    /// The first parameter that cannot work, as (field, what is wrong).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let nyquist = self.rate as f32 / 2.0;
        let rules: [(&'static str, bool, String); 8] = [
            (
                "rate",
                (1..=384_000).contains(&self.rate),
                "must be 1 to 384000 Hz".into(),
            ),
            (
                "samples",
                self.samples <= MAX_SECONDS * self.rate as usize,
                format!("must be at most {MAX_SECONDS} s of audio"),
            ),
            (
                "n-fft",
                (2..=self.samples).contains(&self.n_fft) && self.n_fft <= 65_536,
                "must be 2 to 65536 and at most `samples`".into(),
            ),
            ("hop", self.hop >= 1, "must be at least 1".into()),
            (
                "mels",
                (1..=self.n_fft / 2).contains(&self.mels),
                format!("must be 1 to n-fft / 2 ({})", self.n_fft / 2),
            ),
            (
                "fmax",
                0.0 <= self.fmin && self.fmin < self.fmax && self.fmax <= nyquist,
                format!("need 0 <= fmin < fmax <= rate / 2 ({nyquist})"),
            ),
            (
                "floor",
                self.floor > 0.0 && self.floor.is_finite(),
                "must be a positive number".into(),
            ),
            (
                "range",
                self.range.is_none_or(|r| r > 0.0 && r.is_finite()),
                "must be a positive number".into(),
            ),
        ];
        match rules.into_iter().find(|(_, ok, _)| !ok) {
            Some((field, _, why)) => Err((field, why)),
            None => Ok(()),
        }
    }
}
