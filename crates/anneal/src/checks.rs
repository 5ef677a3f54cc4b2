//! `anneal test`: a program's checks against a package's metrics.

use anneal_pack::Metrics;
use anneal_spec::{Check, Metric, Slice};
use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    // Fields in name order, the order `anneal test --json` has always printed them in.
    /// The floor.
    pub at_least: f64,
    /// The check's name.
    pub name: String,
    /// `value >= at_least`.
    pub passed: bool,
    /// The measured value.
    pub value: f64,
}

/// Evaluate one check.
pub fn run(check: &Check, metrics: &Metrics) -> CheckResult {
    let value = match (&check.slice, check.metric) {
        (None, Metric::Accuracy) => metrics.accuracy,
        (None, Metric::Precision) => metrics.macro_avg(|c| c.precision),
        (None, Metric::Recall) => metrics.macro_avg(|c| c.recall),
        (None, Metric::F1) => metrics.macro_avg(|c| c.f1),
        (Some(Slice::Label { class, .. }), m) => match metrics.per_class.get(*class) {
            // On the slice of one true label, accuracy is that class's recall.
            Some(c) => match m {
                Metric::Accuracy | Metric::Recall => c.recall,
                Metric::Precision => c.precision,
                Metric::F1 => c.f1,
            },
            None => 0.0,
        },
    };
    CheckResult {
        name: check.name.clone(),
        value,
        at_least: check.at_least,
        passed: value >= check.at_least,
    }
}

/// JUnit XML for a set of results.
pub fn junit(suite: &str, results: &[CheckResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        xml(suite),
        results.len()
    );
    for r in results {
        out.push_str(&testcase(suite, r));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// One `<testcase>`, with its `<failure>` when it failed.
fn testcase(suite: &str, r: &CheckResult) -> String {
    let (suite, name) = (xml(suite), xml(&r.name));
    let open = format!("    <testcase classname=\"{suite}\" name=\"{name}\"");
    if r.passed {
        return open + "/>\n";
    }
    let (value, floor) = (r.value, r.at_least);
    open + &format!(
        ">\n      <failure message=\"{name} = {value:.4}, below {floor:.4}\"/>\n    </testcase>\n"
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
