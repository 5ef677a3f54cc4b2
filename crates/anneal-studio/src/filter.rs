//! [`Filter`]: the grid's filter state, carried in the URL query, and [`Selection`]: the
//! examples it selects, with per-class counts, in one pass over the index.
//!
//! Query keys: `split`, `label`, `pred` (predicted label), `correct` (`yes`/`no`), `meta`
//! (`field=value`), `top` (the N highest mean training losses), `pool` (`1`: unlabeled only),
//! `page` (1-based). Empty values mean "any".

use serde::{Deserialize, Serialize};

use crate::index::{Index, Item, NONE};

/// Examples per grid page.
pub const PER_PAGE: usize = 96;

/// The filter state as the URL holds it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub split: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pred: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correct: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub meta: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub top: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pool: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub page: String,
}

/// One condition on a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Any,
    Code(u32),
    /// A value no example has: nothing matches.
    Nothing,
}

impl Want {
    fn of(value: &str, code: impl FnOnce(&str) -> Option<u32>) -> Want {
        match value {
            "" => Want::Any,
            v => code(v).map_or(Want::Nothing, Want::Code),
        }
    }

    fn accepts(self, code: u32) -> bool {
        match self {
            Want::Any => true,
            Want::Code(c) => c == code,
            Want::Nothing => false,
        }
    }
}

/// A filter resolved against an index.
#[derive(Debug, Clone)]
struct Compiled {
    split: Want,
    label: Want,
    pred: Want,
    correct: Option<bool>,
    meta: Option<(Want, Want)>,
    top: Option<usize>,
    pool: bool,
}

/// What a filter selects.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Positions in the index, in order (by id, or by loss with `top`).
    pub positions: Vec<usize>,
    /// Examples per label code among those the filter selects before its label condition
    /// (so each count is what choosing that label would show); `NONE` counts the unlabeled.
    pub counts: Vec<(u32, usize)>,
}

impl Filter {
    /// The page asked for (1-based, at least 1).
    pub fn page(&self) -> usize {
        self.page.parse().unwrap_or(1).max(1)
    }

    /// This filter on another page (or the first, with 0).
    pub fn with_page(&self, page: usize) -> Filter {
        let page = if page <= 1 {
            String::new()
        } else {
            page.to_string()
        };
        Filter {
            page,
            ..self.clone()
        }
    }

    /// As a URL query (`?a=b&...`, or empty).
    pub fn query(&self) -> String {
        match serde_urlencoded::to_string(self).unwrap_or_default() {
            q if q.is_empty() => q,
            q => format!("?{q}"),
        }
    }

    fn compile(&self, index: &Index) -> Compiled {
        let labels = |v: &str| index.labels.get(v);
        let meta = self.meta.split_once('=').map(|(f, v)| {
            let field = Want::of(f.trim(), |f| index.fields.get(f));
            (field, Want::of(v.trim(), |v| index.values.get(v)))
        });
        Compiled {
            split: Want::of(&self.split, |s| index.splits.get(s)),
            label: Want::of(&self.label, labels),
            pred: Want::of(&self.pred, labels),
            correct: match self.correct.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            meta,
            top: self.top.trim().parse().ok(),
            pool: self.pool == "1",
        }
    }

    /// The examples of `index` this filter selects.
    pub fn select(&self, index: &Index) -> Selection {
        let c = self.compile(index);
        let mut base: Vec<usize> = (0..index.items.len())
            .filter(|&p| c.accepts_but_label(&index.items[p]))
            .collect();
        if let Some(n) = c.top {
            rank_by_loss(index, &mut base, n);
        }
        let mut counts = vec![0usize; index.labels.names().len() + 1];
        let unlabeled = counts.len() - 1;
        let slot = |code: u32| {
            if code == NONE {
                unlabeled
            } else {
                code as usize
            }
        };
        base.iter()
            .for_each(|&p| counts[slot(index.items[p].label)] += 1);
        let positions = base
            .into_iter()
            .filter(|&p| c.label.accepts(index.items[p].label))
            .collect();
        Selection {
            positions,
            counts: labelled_counts(&counts),
        }
    }
}

impl Compiled {
    fn accepts_but_label(&self, item: &Item) -> bool {
        self.split.accepts(item.split)
            && self.pred.accepts(item.pred)
            && (!self.pool || item.label == NONE)
            && self.correct.is_none_or(|want| {
                item.pred != NONE && item.label != NONE && (item.pred == item.label) == want
            })
            && self
                .meta
                .is_none_or(|(f, v)| item.meta.iter().any(|&(k, x)| f.accepts(k) && v.accepts(x)))
    }
}

/// Keep the `n` examples of `positions` with the highest mean loss, highest first.
fn rank_by_loss(index: &Index, positions: &mut Vec<usize>, n: usize) {
    positions.retain(|&p| !index.items[p].mean_loss.is_nan());
    let loss = |p: &usize| index.items[*p].mean_loss;
    let by_loss = |a: &usize, b: &usize| loss(b).total_cmp(&loss(a));
    if n < positions.len() {
        positions.select_nth_unstable_by(n, by_loss);
        positions.truncate(n);
    }
    positions.sort_unstable_by(by_loss);
}

fn labelled_counts(counts: &[usize]) -> Vec<(u32, usize)> {
    let last = counts.len() - 1;
    let code = |i: usize| if i == last { NONE } else { i as u32 };
    let nonzero = counts.iter().enumerate().filter(|(_, n)| **n > 0);
    nonzero.map(|(i, n)| (code(i), *n)).collect()
}
