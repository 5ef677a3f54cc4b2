//! How `anneal audit` prints its findings: the groups' table and gaps, calibration, the
//! attributions' faithfulness and the accuracy-under-attack table.

use std::fmt;

use anneal_audit::attack::Point;
use anneal_audit::groups::shown;
use anneal_audit::{Calibration, FieldAudit, Opacity, Robustness};

use super::audit::Audited;

impl fmt::Display for Audited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.0;
        write!(
            f,
            "audit of build {} ({} test examples, accuracy {:.4})",
            &a.build_key[..12.min(a.build_key.len())],
            a.examples,
            a.accuracy
        )?;
        if a.fields.is_empty() {
            write!(
                f,
                "\nno metadata field of the test examples has 2 to 64 values: name one with --by"
            )?;
        }
        a.fields
            .iter()
            .try_for_each(|field| write!(f, "\n\n{}", Field(field)))?;
        write!(f, "\n\n{}", Calibrated(&a.calibration))?;
        if let Some(o) = &a.opacity {
            write!(f, "\n\n{}", Opaque(o))?;
        }
        match &a.robustness {
            Some(r) => write!(f, "\n\n{}", Robust(r)),
            None => Ok(()),
        }
    }
}

/// The attributions' settings, faithfulness, and the worst examples explained.
struct Opaque<'a>(&'a Opacity);

impl fmt::Display for Opaque<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        let fa = &o.faithfulness;
        let pct = |v: f64| format!("{:.1}%", 100.0 * v);
        writeln!(
            f,
            "opacity: integrated gradients from a {} baseline in {} steps (completeness gap {} of the output difference)",
            o.baseline,
            o.steps,
            pct(o.relative_gap)
        )?;
        write!(
            f,
            "  removing each of {} test examples' top {} inputs changes {} of predictions by integrated gradients, {} by saliency, {} at random",
            fa.examples,
            pct(fa.share),
            pct(fa.integrated_gradients),
            pct(fa.saliency),
            pct(fa.random)
        )?;
        for e in &o.examples {
            write!(
                f,
                "\n  {:<24} label {:<8} predicted {:<8} loss {:.3}",
                e.id, e.label, e.predicted, e.loss
            )?;
            let mut cols: Vec<_> = e.columns.iter().collect();
            cols.sort_by(|a, b| b.integrated.abs().total_cmp(&a.integrated.abs()));
            for c in cols.iter().take(3) {
                write!(f, "  {} {:+.3}", c.name, c.integrated)?;
            }
        }
        Ok(())
    }
}

/// ECE, MCE and the reliability diagram's non-empty bins.
struct Calibrated<'a>(&'a Calibration);

impl fmt::Display for Calibrated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(
            f,
            "calibration: ECE {:.4}, MCE {:.4}, NLL {:.4} ({} equal-width confidence bins)\n  {:<14} {:>8} {:>11} {:>9}",
            c.ece,
            c.mce,
            c.nll,
            c.bins.len(),
            "confidence",
            "examples",
            "confidence",
            "accuracy"
        )?;
        if let Some(s) = &c.temperature {
            write!(
                f,
                "\n  temperature {:.3} (fitted on the validation split); unscaled: ECE {:.4}, NLL {:.4}",
                s.temperature, s.unscaled_ece, s.unscaled_nll
            )?;
        }
        let width = 1.0 / c.bins.len().max(1) as f64;
        for b in c.bins.iter().filter(|b| b.examples > 0) {
            let range = format!("({:.3}, {:.3}]", b.low, b.low + width);
            let (n, conf, acc) = (b.examples, b.confidence, b.accuracy);
            write!(f, "\n  {range:<14} {n:>8} {conf:>11.4} {acc:>9.4}")?;
        }
        Ok(())
    }
}

/// The accuracy-under-attack table: one row per attack, one column per radius.
struct Robust<'a>(&'a Robustness);

impl fmt::Display for Robust<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(
            f,
            "robustness on {} test examples (clean accuracy {:.4}); epsilon in {}",
            r.examples, r.clean_accuracy, r.units
        )?;
        let rows = r.points.chunk_by(|a, b| a.attack.name() == b.attack.name());
        let first = rows.clone().next().unwrap_or_default();
        let head: Vec<String> = first
            .iter()
            .map(|p| format!("{:>8}", p.attack.epsilon))
            .collect();
        write!(f, "  {:<8} {}", "epsilon", head.join(" "))?;
        for row in rows {
            write!(f, "\n  {:<8} {}", row[0].attack.name(), accuracies(row))?;
        }
        Ok(())
    }
}

/// A row's accuracies, aligned under the radii.
fn accuracies(row: &[Point]) -> String {
    let cells: Vec<String> = row.iter().map(|p| format!("{:>8.4}", p.accuracy)).collect();
    cells.join(" ")
}

/// One field's table and gaps.
struct Field<'a>(&'a FieldAudit);

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        let positive =
            (a.positive.as_deref()).map_or(String::new(), |p| format!(", positive class {p}"));
        let (groups, resamples) = (a.groups.len(), a.resamples);
        writeln!(
            f,
            "{} ({groups} groups{positive}; 95% bootstrap intervals over {resamples} resamples)",
            a.field
        )?;
        self.table(f)?;
        if a.missing > 0 {
            writeln!(f, "  ({} test examples have no `{}`)", a.missing, a.field)?;
        }
        self.gaps(f)
    }
}

impl Field<'_> {
    /// One line per group.
    fn table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups = &self.0.groups;
        let w = groups
            .iter()
            .map(|g| g.value.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let head = [
            "accuracy",
            "selection rate",
            "true positive rate",
            "false positive rate",
        ];
        let [h0, h1, h2, h3] = head;
        writeln!(
            f,
            "  {:<w$} {:>8}  {h0:<24} {h1:<24} {h2:<24} {h3}",
            "value", "examples"
        )?;
        for g in groups {
            let small = if g.gated {
                ""
            } else {
                "  (small: not in the gaps)"
            };
            let figures = [
                g.accuracy,
                g.selection_rate,
                g.true_positive_rate,
                g.false_positive_rate,
            ];
            let [acc, sel, tpr, fpr] = figures.map(shown);
            let (value, n) = (&g.value, g.examples);
            writeln!(
                f,
                "  {value:<w$} {n:>8}  {acc:<24} {sel:<24} {tpr:<24} {fpr}{small}"
            )?;
        }
        Ok(())
    }

    /// The gaps between the groups.
    fn gaps(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        let rows = [
            ("accuracy difference", a.accuracy_difference),
            (
                "demographic parity difference",
                a.demographic_parity_difference,
            ),
            ("demographic parity ratio", a.demographic_parity_ratio),
            ("equalized odds difference", a.equalized_odds_difference),
        ];
        let lines: Vec<String> = rows
            .iter()
            .map(|(name, e)| format!("  {name:<30} {}", shown(*e)))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}
