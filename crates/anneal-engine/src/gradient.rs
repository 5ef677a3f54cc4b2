//! Gradients with respect to a model's inputs: what adversarial attacks ascend and what
//! saliency and integrated gradients attribute. The model runs as in inference (running
//! statistics, no dropout); only the backward pass is added.

use crate::cpu::{self, Mode};
use crate::{Compiled, EngineError, INFER_BATCH, Inner, Model};

/// What is differentiated, per example.
#[derive(Debug, Clone, Copy)]
pub enum Objective<'a> {
    /// The cross-entropy loss against these classes (one per example): its gradient points
    /// to where the model is wrong.
    Loss(&'a [u32]),
    /// The logit of these classes (one per example), before the softmax.
    Logit(&'a [u32]),
}

impl Objective<'_> {
    /// The class of each example.
    fn classes(&self) -> &[u32] {
        match self {
            Objective::Loss(c) | Objective::Logit(c) => c,
        }
    }

    /// The gradient of each example's objective with respect to its logits, `row` of the
    /// example's `logits`, into `grad`; returns the objective's value.
    fn seed(&self, logits: &[f32], class: usize, grad: &mut [f32]) -> f32 {
        match self {
            Objective::Loss(_) => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for (g, &v) in grad.iter_mut().zip(logits) {
                    *g = (v - max).exp();
                    sum += *g;
                }
                grad.iter_mut().for_each(|g| *g /= sum);
                grad[class] -= 1.0;
                sum.ln() - (logits[class] - max)
            }
            Objective::Logit(_) => {
                grad.fill(0.0);
                grad[class] = 1.0;
                logits[class]
            }
        }
    }
}

/// The gradient of an [`Objective`] for a batch of inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// The objective's value per example (the loss, or the logit).
    pub value: Vec<f32>,
    /// Class probabilities, `classes` per example, as [`Model::predict`] gives them (up to
    /// rounding: `predict` runs batch norms folded into the layer before them; for a quantized
    /// model, as its f32 model's `predict` gives them).
    pub probs: Vec<f32>,
    /// The gradient with respect to each input value, laid out as the inputs.
    pub input: Vec<f32>,
}

impl Model {
    /// The gradient of `objective` with respect to the (preprocessed) inputs `x`, example by
    /// example: each example's objective depends on its own input alone.
    pub fn gradient(&self, x: &[f32], objective: Objective<'_>) -> Result<Gradient, EngineError> {
        let n = self.examples(x)?;
        let classes = objective.classes();
        if classes.len() != n || classes.iter().any(|&c| c as usize >= self.classes) {
            return Err(EngineError::Input(format!(
                "{} target classes for {n} examples, each below {}",
                classes.len(),
                self.classes
            )));
        }
        // Without the `burn` feature the compiled engine is the only variant.
        #[allow(clippy::infallible_destructuring_match)]
        let model = match &self.inner {
            Inner::Compiled(model) => model,
            #[cfg(feature = "burn")]
            Inner::Burn(_) => return Err(EngineError::Unavailable("input gradients on burn")),
        };
        let features = self.input.elements();
        let mut out = Gradient {
            value: Vec::with_capacity(n),
            probs: Vec::with_capacity(n * self.classes),
            input: Vec::new(),
        };
        let mut input = vec![0.0; x.len()];
        let chunks = x
            .chunks(INFER_BATCH * features)
            .zip(input.chunks_mut(INFER_BATCH * features));
        for (i, (chunk, dx)) in chunks.enumerate() {
            let targets = &classes[i * INFER_BATCH..][..chunk.len() / features];
            model.gradient(chunk, &objective, targets, dx, &mut out);
        }
        out.input = input;
        Ok(out)
    }

    /// The number of examples in `x`, or the error when it is not a whole number of them.
    pub(crate) fn examples(&self, x: &[f32]) -> Result<usize, EngineError> {
        let features = self.input.elements();
        if x.len().is_multiple_of(features) {
            return Ok(x.len() / features);
        }
        Err(EngineError::Input(format!(
            "{} input values are not a whole number of {features}-value examples",
            x.len()
        )))
    }
}

impl Compiled {
    /// One batch of [`Model::gradient`]: the input gradient into `dx`, the values and
    /// probabilities appended to `out`.
    fn gradient(
        &self,
        x: &[f32],
        objective: &Objective<'_>,
        targets: &[u32],
        dx: &mut [f32],
        out: &mut Gradient,
    ) {
        let mut ws = self.ws.lock().unwrap_or_else(|e| e.into_inner());
        let ws: &mut cpu::Workspace = &mut ws;
        let (plan, params, b) = (&self.plan, &self.params, targets.len());
        let k = plan.classes();
        rayon::scope(|_| plan.forward(params, ws, x, b, Mode::Frozen(&self.stats)));
        let (logits, dlogits) = ws.logits_and_grad(b * k);
        let start = out.probs.len();
        out.probs.extend_from_slice(logits);
        let rows = logits.chunks_exact(k).zip(dlogits.chunks_exact_mut(k));
        for ((row, grad), &t) in rows.zip(targets) {
            out.value.push(objective.seed(row, t as usize, grad));
        }
        cpu::softmax_rows(&mut out.probs[start..], k);
        let mut grads = vec![0f32; plan.n_params()];
        rayon::scope(|_| plan.input_gradient(params, ws, b, &mut grads, dx));
    }
}
