//! The last build's report joined to the index by example id: each example's predicted class,
//! its mean training loss and where its probabilities and losses are.

use anneal_build::Report;

use crate::index::{At, Index, Item, NONE};

impl Index {
    /// Join `report` (None: no build yet), replacing what an older report said.
    pub fn join(&mut self, report: Option<Report>) {
        for item in &mut self.items {
            (item.pred, item.mean_loss, item.at) = (NONE, f32::NAN, None);
        }
        let Some(report) = report else {
            self.report = None;
            return;
        };
        let codes: Vec<u32> = report.classes.iter().map(|c| self.labels.code(c)).collect();
        if self.classes.is_empty() {
            self.classes = report.classes.clone();
        }
        let pred = |probs: &[Vec<f32>], i: usize| {
            let best = probs.get(i).and_then(|p| argmax(p));
            best.and_then(|c| codes.get(c).copied()).unwrap_or(NONE)
        };
        let parts = [
            (
                &report.train.ids,
                &report.train.probs,
                At::Train as fn(u32) -> At,
            ),
            (&report.test.ids, &report.test.probs, At::Test),
            (&report.pool.ids, &report.pool.probs, At::Pool),
        ];
        for (ids, probs, at) in parts {
            for (i, id) in ids.iter().enumerate() {
                if let Some(p) = self.position(id) {
                    let item = &mut self.items[p];
                    (item.at, item.pred) = (Some(at(i as u32)), pred(probs, i));
                }
            }
        }
        for (i, id) in report.train.ids.iter().enumerate() {
            if let Some(p) = self.position(id) {
                self.items[p].mean_loss = mean_loss(&report.train.loss, i);
            }
        }
        self.report = Some(report);
    }

    /// The model's probabilities for `item`, per report class.
    pub fn probs(&self, item: &Item) -> Option<&[f32]> {
        let r = self.report.as_ref()?;
        let (probs, i) = match item.at? {
            At::Train(i) => (&r.train.probs, i),
            At::Test(i) => (&r.test.probs, i),
            At::Pool(i) => (&r.pool.probs, i),
        };
        probs.get(i as usize).map(Vec::as_slice)
    }

    /// `item`'s training loss at each epoch (empty when it was not trained on).
    pub fn losses(&self, item: &Item) -> Vec<f32> {
        let (Some(At::Train(i)), Some(r)) = (item.at, self.report.as_ref()) else {
            return Vec::new();
        };
        let epochs = r.train.loss.iter();
        epochs.filter_map(|e| e.get(i as usize).copied()).collect()
    }

    /// The model's three likeliest classes for `item`, with their probabilities.
    pub fn top3(&self, item: &Item) -> Vec<(String, f32)> {
        let (Some(probs), Some(r)) = (self.probs(item), self.report.as_ref()) else {
            return Vec::new();
        };
        let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let named = ranked.into_iter().take(3);
        named
            .filter_map(|(c, p)| Some((r.classes.get(c)?.clone(), p)))
            .collect()
    }
}

/// The mean over epochs of example `i`'s loss (NaN with no epoch).
pub fn mean_loss(loss: &[Vec<f32>], i: usize) -> f32 {
    let values: Vec<f32> = loss.iter().filter_map(|e| e.get(i).copied()).collect();
    match values.len() {
        0 => f32::NAN,
        n => values.iter().sum::<f32>() / n as f32,
    }
}

/// The index of the largest value.
pub fn argmax(values: &[f32]) -> Option<usize> {
    let best = values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
    best.map(|(i, _)| i)
}
