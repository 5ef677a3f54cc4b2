//! The audio front end against numpy (`tests/peer/logmel.py` wrote the golden features), and
//! the WAVs it refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use anneal_frontend::{LogMelPlan, WavError, decode_wav};
use anneal_spec::LogMel;

const CHIRP: &[u8] = include_bytes!("golden/chirp.wav");
const CHIRP_NUMPY: &str = include_str!("golden/chirp.logmel.json");

/// A WAV of `n` samples of 16-bit PCM.
fn wav(channels: u16, rate: u32, n: usize) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for i in 0..n * channels as usize {
        w.write_sample((i % 200) as i16 * 100).unwrap();
    }
    w.finalize().unwrap();
    bytes.into_inner()
}

#[test]
fn log_mel_features_match_numpy_within_1e_4() {
    let numpy: Vec<Vec<f64>> = serde_json::from_str(CHIRP_NUMPY).unwrap();
    let params = LogMel::default();
    let x = decode_wav(CHIRP, params.rate).unwrap();
    assert_eq!(x.len(), 6000);
    let ours = LogMelPlan::new(&params).features(&x);
    assert_eq!((numpy.len(), numpy[0].len()), (40, 61));
    let worst = numpy
        .iter()
        .flatten()
        .zip(&ours)
        .map(|(n, o)| (n - f64::from(*o)).abs())
        .fold(0f64, f64::max);
    assert!(worst < 1e-4, "largest difference from numpy {worst}");
}

#[test]
fn longer_waveforms_are_trimmed_and_shorter_padded() {
    let params = LogMel::default();
    let plan = LogMelPlan::new(&params);
    let x: Vec<f32> = (0..12000).map(|i| ((i % 50) as f32 / 50.0) - 0.5).collect();
    assert_eq!(plan.features(&x), plan.features(&x[..8000]));
    let silent = plan.features(&[]);
    assert!(silent.iter().all(|&v| (v - 1e-6f32.ln()).abs() < 1e-4));
}

#[test]
fn wavs_the_program_cannot_take_are_refused_with_what_was_expected() {
    let e = decode_wav(&wav(2, 8000, 100), 8000).unwrap_err();
    assert_eq!(e, WavError::Channels { channels: 2 });
    assert!(e.to_string().contains("mono"), "{e}");
    let e = decode_wav(&wav(1, 16000, 100), 8000).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sampled at 16000 Hz; the program takes 8000 Hz (resample it first)"
    );
    assert_eq!(
        decode_wav(&wav(1, 8000, 0), 8000).unwrap_err(),
        WavError::Empty
    );
    let long = decode_wav(&wav(1, 100, 6001), 100).unwrap_err();
    assert!(
        matches!(
            long,
            WavError::TooLong {
                samples: 6001,
                limit: 6000,
                ..
            }
        ),
        "{long}"
    );
    let e = decode_wav(b"RIFF\0\0\0\0WAVEfmt garbage", 8000).unwrap_err();
    assert!(matches!(e, WavError::Unreadable(_)), "{e}");
    let x = decode_wav(&wav(1, 8000, 3), 8000).unwrap();
    assert_eq!(x, vec![0.0, 100.0 / 32768.0, 200.0 / 32768.0]);
}
