//! WAV bytes to samples: 16-bit (or 8/24/32-bit integer, or 32-bit float) PCM, one channel,
//! at the program's rate. Anything else is refused with what was expected.

use std::io::Cursor;

/// Why a WAV cannot be a program's input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WavError {
    /// Not a WAV file hound can read.
    #[error("not a readable WAV file: {0}")]
    Unreadable(String),
    /// More than one channel.
    #[error("{channels} channels; the program takes mono audio (mix it down first)")]
    Channels {
        /// Channels in the file.
        channels: u16,
    },
    /// Another sample rate.
    #[error("sampled at {rate} Hz; the program takes {expected} Hz (resample it first)")]
    Rate {
        /// The file's rate.
        rate: u32,
        /// The program's.
        expected: u32,
    },
    /// No samples.
    #[error("no samples")]
    Empty,
    /// Longer than the program accepts.
    #[error("{samples} samples; the program accepts at most {limit} ({seconds} s)")]
    TooLong {
        /// Samples in the file.
        samples: u32,
        /// The most accepted.
        limit: u32,
        /// The limit in seconds.
        seconds: u32,
    },
}

/// The most seconds of audio one example may hold: more is not an utterance but a recording,
/// and would be trimmed away anyway.
pub const MAX_SECONDS: u32 = 60;

/// Mono samples scaled to [-1, 1) (integers divided by 2^(bits-1)), checked against `rate`.
pub fn decode_wav(bytes: &[u8], rate: u32) -> Result<Vec<f32>, WavError> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| WavError::Unreadable(e.to_string()))?;
    let spec = reader.spec();
    check(&spec, reader.duration(), rate)?;
    let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample.clamp(1, 32);
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            let ints = reader.into_samples::<i32>();
            ints.map(|s| s.map(|v| v as f32 * scale)).collect()
        }
    };
    samples.map_err(|e| WavError::Unreadable(e.to_string()))
}

/// One channel, the program's rate, some samples and not too many.
fn check(spec: &hound::WavSpec, samples: u32, rate: u32) -> Result<(), WavError> {
    if spec.channels != 1 {
        return Err(WavError::Channels {
            channels: spec.channels,
        });
    }
    if spec.sample_rate != rate {
        let expected = rate;
        return Err(WavError::Rate {
            rate: spec.sample_rate,
            expected,
        });
    }
    let limit = MAX_SECONDS.saturating_mul(rate);
    match samples {
        0 => Err(WavError::Empty),
        n if n > limit => Err(WavError::TooLong {
            samples: n,
            limit,
            seconds: MAX_SECONDS,
        }),
        _ => Ok(()),
    }
}
