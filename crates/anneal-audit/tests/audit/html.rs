//! The HTML report: self-contained, every section present, text from the data escaped.

use anneal_audit::calibration::calibration;
use anneal_audit::{Audit, Options, Outcomes, audit_field, html};

#[test]
fn the_report_is_self_contained_and_escapes_the_data() {
    let classes = vec!["no".to_string(), "<b>yes</b>".to_string()];
    let labels = [1, 0, 1, 0, 1, 0];
    let predicted = [1, 0, 0, 0, 1, 1];
    let outcomes = Outcomes {
        labels: &labels,
        predicted: &predicted,
        classes: &classes,
    };
    let hostile = Some("<script>alert(1)</script>".to_string());
    let values = [
        hostile.clone(),
        hostile.clone(),
        hostile,
        None,
        Some("b".into()),
        Some("b".into()),
    ];
    let opts = Options {
        min_group: 1,
        resamples: 50,
        ..Options::default()
    };
    let field = audit_field("group \"&\"", &outcomes, &values, &opts);
    let probs = vec![
        vec![0.2, 0.8],
        vec![0.9, 0.1],
        vec![0.6, 0.4],
        vec![0.7, 0.3],
        vec![0.1, 0.9],
        vec![0.4, 0.6],
    ];
    let audit = Audit {
        build_key: "k".repeat(64),
        dataset_commit: "c".repeat(64),
        classes,
        examples: 6,
        accuracy: 4.0 / 6.0,
        fields: vec![field],
        calibration: calibration(&probs, &labels),
        opacity: None,
        robustness: None,
    };
    let p = super::attack::program("\"dense 2\"");
    let page = html::report("t <0.1>", &p.input, &audit).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("<script"), "a data value became markup");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.contains("t <0.1>") && page.contains("0.1&#62;"),
        "the title is escaped"
    );
    for section in [
        "<h2>Groups</h2>",
        "<h2>Calibration</h2>",
        "demographic parity difference",
    ] {
        assert!(page.contains(section), "{section}");
    }
    assert!(!page.contains("src=\"http"), "nothing is fetched");
    assert!(
        page.matches("<svg").count() >= 2,
        "group bars and the reliability diagram"
    );
}
