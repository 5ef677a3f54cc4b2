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
        for (i, id) in report.train.ids.iter().enumerate() {
            if let Some(p) = self.position(id) {
                let item = &mut self.items[p];
                item.at = Some(At::Train(i as u32));
                item.mean_loss = mean_loss(&report.train.loss, i);
            }
        }
        for (i, id) in report.test.ids.iter().enumerate() {
            if let Some(p) = self.position(id) {
                let item = &mut self.items[p];
                item.at = Some(At::Test(i as u32));
                item.pred = argmax(&report.test.probs[i]).map_or(NONE, |c| codes[c]);
            }
        }
        self.report = Some(report);
    }

    /// The model's probabilities for `item`, per report class.
    pub fn probs(&self, item: &Item) -> Option<&[f32]> {
        match (item.at?, self.report.as_ref()?) {
            (At::Test(i), r) => r.test.probs.get(i as usize).map(Vec::as_slice),
            (At::Train(_), _) => None,
        }
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
