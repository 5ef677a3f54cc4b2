//! anneal-audit's tests: group metrics against tables computed by hand, and attacks against
//! their closed forms and their constraints.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

mod attack;
mod calibration;
mod explain;
mod groups;
mod html;
