//! The results of `anneal test` as JUnit XML, for CI systems that show test reports.

use super::CheckResult;

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
    let value = r.value;
    let message = match (&r.problem, r.at_most) {
        (Some(problem), _) => xml(problem),
        (None, Some(ceiling)) => format!("{name} = {value:.4}, above {ceiling:.4}"),
        (None, None) => format!(
            "{name} = {value:.4}, below {:.4}",
            r.at_least.unwrap_or(0.0)
        ),
    };
    open + &format!(">\n      <failure message=\"{message}\"/>\n    </testcase>\n")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
