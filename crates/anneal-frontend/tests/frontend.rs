//! The audio front end against numpy (`tests/peer/logmel.py` wrote the golden features), and
//! the WAVs it refuses; the table encoding: fitting, unseen and missing values, constant and
//! long-tailed columns.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use std::collections::BTreeMap;

use anneal_frontend::TablePlan;
use anneal_frontend::table::fit;
use anneal_frontend::{LogMelPlan, WavError, decode_wav};
use anneal_spec::LogMel;
use anneal_spec::Table;
use anneal_spec::table::{Categorical, Numeric};

const CHIRP: &[u8] = include_bytes!("golden/chirp.wav");
const CHIRP_NUMPY: &str = include_str!("golden/chirp.logmel.json");
/// `logmel.py chirp.wav` with `{"range": 8.0}`.
const CHIRP_RANGE8_NUMPY: &str = include_str!("golden/chirp.logmel-range8.json");

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
    worst_difference_from_numpy(CHIRP_NUMPY, LogMel::default());
}

#[test]
fn per_utterance_range_matches_numpy_and_tops_out_at_zero() {
    let params = LogMel {
        range: Some(8.0),
        ..LogMel::default()
    };
    worst_difference_from_numpy(CHIRP_RANGE8_NUMPY, params.clone());
    let x = decode_wav(CHIRP, params.rate).unwrap();
    let ours = LogMelPlan::new(&params).features(&x);
    let max = ours.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert_eq!(max, 0.0);
    assert!(ours.iter().all(|&v| v >= -8.0) && ours.contains(&-8.0));
}

/// The features of the chirp under `params` against numpy's `golden` (within 1e-4).
fn worst_difference_from_numpy(golden: &str, params: LogMel) {
    let numpy: Vec<Vec<f64>> = serde_json::from_str(golden).unwrap();
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

/// A table of one numeric column `x` (`log` as given) and one categorical column `c`.
fn two_columns(log: bool) -> Table {
    Table {
        numeric: vec![Numeric {
            name: "x".into(),
            log,
            mean: None,
            std: None,
        }],
        categorical: vec![Categorical {
            name: "c".into(),
            values: None,
        }],
    }
}

fn meta(c: Option<&str>) -> BTreeMap<String, String> {
    c.map(|c| BTreeMap::from([("c".to_string(), c.to_string())]))
        .unwrap_or_default()
}

#[test]
fn a_table_is_fitted_on_training_rows_and_encodes_unseen_and_missing_values() {
    let rows = [
        meta(Some("b")),
        meta(Some("a")),
        meta(None),
        meta(Some("b")),
    ];
    let table = fit(&two_columns(false), &[1.0, 2.0, 3.0, 6.0], &rows);
    assert_eq!(table.numeric[0].mean, Some(3.0));
    assert_eq!(table.numeric[0].std, Some(3.5f32.sqrt()));
    assert_eq!(
        table.categorical[0].values,
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(table.width(), 1 + 3);
    let plan = TablePlan::new(&table).unwrap();
    let row = |x: Option<&str>, c: Option<&str>| {
        let mut out = Vec::new();
        let get = |k: &str| if k == "x" { x } else { c };
        plan.encode_record(get, &mut out).map(|()| out)
    };
    let z = 3.0 / 3.5f32.sqrt();
    assert_eq!(row(Some("6"), Some("b")), Ok(vec![z, 0.0, 1.0, 0.0]));
    assert_eq!(
        row(Some("3"), Some("never seen")),
        Ok(vec![0.0, 0.0, 0.0, 1.0])
    );
    assert_eq!(
        row(None, None),
        Ok(vec![0.0, 0.0, 0.0, 1.0]),
        "missing: mean and other"
    );
    assert_eq!(
        row(Some(""), Some("")),
        Ok(vec![0.0, 0.0, 0.0, 1.0]),
        "empty is missing"
    );
    let e = row(Some("n/a"), None).unwrap_err();
    assert_eq!(e.to_string(), "column `x`: expected a number, found `n/a`");
    assert!(row(Some("inf"), None).is_err(), "a number must be finite");
}

#[test]
fn a_constant_column_encodes_as_zero_and_a_log_column_standardises_its_logs() {
    let rows = vec![meta(Some("a")); 3];
    let constant = fit(&two_columns(false), &[1e6, 1e6, 1e6], &rows);
    assert_eq!(constant.numeric[0].std, Some(1.0));
    let plan = TablePlan::new(&constant).unwrap();
    let mut out = Vec::new();
    plan.encode(&[Some(1e6)], |_| Some("a"), &mut out);
    assert_eq!(out, vec![0.0, 1.0, 0.0]);

    let logged = fit(&two_columns(true), &[0.0, (1f32).exp_m1()], &rows[..2]);
    assert_eq!(logged.numeric[0].mean, Some(0.5));
    assert!((logged.numeric[0].std.unwrap() - 0.5).abs() < 1e-6);
    let x = logged.numeric[0].transform(-(1f32).exp_m1());
    assert!(
        (x + 1.0).abs() < 1e-6,
        "the signed log of a negative value: {x}"
    );
}

#[test]
fn a_table_not_fitted_cannot_encode() {
    let e = TablePlan::new(&two_columns(false)).unwrap_err();
    assert_eq!(e.to_string(), "column `x` of the table is not fitted");
}
