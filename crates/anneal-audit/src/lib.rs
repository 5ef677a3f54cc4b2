//! # anneal-audit: the risks of a build, measured
//!
//! `anneal audit` reads the last build's report (the test split's probabilities) and the
//! metadata of those examples at the build's dataset commit, and measures what accuracy
//! alone hides:
//!
//! - [`groups`]: for a metadata field (`sex`, `race`, `speaker`), each group's size, accuracy
//!   and, for a binary task, selection rate, true and false positive rates, each with a
//!   bootstrap interval; the gaps between groups: demographic parity difference and ratio,
//!   equalized-odds difference (Fairlearn's definitions), over the groups large enough to
//!   judge.
//! - [`calibration`]: expected and maximum calibration error over 15 confidence bins, and the
//!   reliability diagram's data.
//! - [`explain`], [`opacity`]: saliency and integrated gradients of the worst test
//!   predictions, and how faithful each is (predictions changed when its top inputs go).
//! - [`attack`], [`robust`]: accuracy under FGSM and PGD attacks of growing radius, with
//!   the examples each attack turns wrong.
//!
//! ```
//! use anneal_audit::groups::{Options, Outcomes, audit_field};
//! let classes = ["no".to_string(), "yes".to_string()];
//! let outcomes = Outcomes { labels: &[1, 0, 1, 0], predicted: &[1, 0, 0, 0], classes: &classes };
//! let group = |g: &str| Some(g.to_string());
//! let values = [group("a"), group("a"), group("b"), group("b")];
//! let opts = Options { min_group: 1, resamples: 200, ..Options::default() };
//! let audit = audit_field("g", &outcomes, &values, &opts);
//! let dpd = audit.demographic_parity_difference.unwrap();
//! assert_eq!(dpd.value, 0.5); // group a selects half its examples, group b none
//! ```

pub mod attack;
pub use anneal_pack::calibration;
pub mod charts;
mod error;
pub mod explain;
pub mod groups;
pub mod html;
pub mod opacity;
pub mod picture;
pub mod report;
pub mod robust;
mod testset;

pub use attack::AttackOptions;
pub use calibration::{Calibration, calibration};
pub use error::AuditError;
pub use groups::{Estimate, FieldAudit, GroupAudit, Options, Outcomes, audit_field};
pub use opacity::{ExplainOptions, Opacity, opacity};
pub use report::{Audit, audit};
pub use robust::{Progress, Robustness, robustness};
