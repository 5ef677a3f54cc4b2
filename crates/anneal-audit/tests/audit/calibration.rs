//! ECE, MCE and the bins against a small case computed by hand.

use anneal_audit::calibration::{BINS, calibration};

#[test]
fn ece_weighs_each_bins_gap_by_its_share() {
    // Confidences 0.95 (right), 0.95 (wrong), 0.58 (right), 0.55 (wrong), 0.58 (right).
    let probs = vec![
        vec![0.95, 0.05],
        vec![0.05, 0.95],
        vec![0.42, 0.58],
        vec![0.55, 0.45],
        vec![0.58, 0.42],
    ];
    let labels = [0, 0, 1, 1, 0];
    let c = calibration(&probs, &labels);
    assert_eq!(c.bins.len(), BINS);
    let top = &c.bins[14];
    assert_eq!((top.examples, top.accuracy), (2, 0.5));
    assert!((top.confidence - 0.95).abs() < 1e-6);
    // (8/15, 9/15]: 0.55 wrong, 0.58 right, 0.58 right.
    let mid = &c.bins[8];
    assert_eq!(mid.examples, 3);
    assert!((mid.accuracy - 2.0 / 3.0).abs() < 1e-9);
    assert!((mid.confidence - (0.55 + 0.58 + 0.58) / 3.0).abs() < 1e-6);
    let ece = 2.0 / 5.0 * (0.95f64 - 0.5).abs() + 3.0 / 5.0 * (1.71f64 / 3.0 - 2.0 / 3.0).abs();
    assert!((c.ece - ece).abs() < 1e-6, "{} vs {ece}", c.ece);
    assert!((c.mce - 0.45).abs() < 1e-6);
    let nll = -(0.95f64.ln() + 0.05f64.ln() + 0.58f64.ln() + 0.45f64.ln() + 0.58f64.ln()) / 5.0;
    assert!((c.nll - nll).abs() < 1e-6);
}
