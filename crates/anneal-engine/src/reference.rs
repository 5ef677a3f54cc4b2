//! burn, the reference the compiled engine is tested against (feature `burn`, off by default:
//! the shipped binary does not carry it). Training runs burn's `flex` CPU backend with autodiff
//! and burn's optimizers, layer by layer; inference runs the same module.

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

use anneal_spec::{Layer, Optimizer, Program, Shape};

use crate::net::{self, Net};
use crate::rng::SplitMix64;
use crate::train::Stepper;
use crate::{EngineError, NamedTensor};

/// A trainer on burn, for [`crate::Backend::Burn`].
pub(crate) fn stepper(
    program: &Program,
    init: &[NamedTensor],
) -> Result<Box<dyn Stepper>, EngineError> {
    Ok(Box::new(BurnStepper::new(program, init)?))
}

/// A program's weights loaded into burn, for inference.
#[derive(Debug)]
pub(crate) struct Reference {
    net: Net,
    device: Device,
    input: Shape,
}

impl Reference {
    pub(crate) fn load(program: &Program, weights: &[NamedTensor]) -> Result<Self, EngineError> {
        let (input, layers) = (program.input.shape, program.logit_layers());
        let device = Device::flex();
        let net = Net::init(input, layers, &device).load(input, layers, weights)?;
        Ok(Reference { net, device, input })
    }

    /// Class probabilities of the inputs in `x`.
    pub(crate) fn predict(&self, x: &[f32]) -> Result<Vec<f32>, EngineError> {
        let logits = self
            .net
            .forward(batch_tensor(x, self.input, &self.device), None);
        to_f32(activation::softmax(logits, 1).into_data())
    }
}

fn batch_tensor(x: &[f32], input: Shape, device: &Device) -> net::Act {
    let n = x.len() / input.elements();
    match input {
        Shape::Flat([f]) => net::Act::Flat(Tensor::from_data(
            TensorData::new(x.to_vec(), [n, f]),
            device,
        )),
        Shape::Image([c, h, w]) => net::Act::Image(Tensor::from_data(
            TensorData::new(x.to_vec(), [n, c, h, w]),
            device,
        )),
    }
}

fn to_f32(data: TensorData) -> Result<Vec<f32>, EngineError> {
    data.convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| EngineError::Input(format!("unexpected tensor data: {e:?}")))
}

/// burn's autodiff and optimizers: the reference the compiled engine is tested against.
struct BurnStepper {
    net: Option<Net>,
    optim: ModuleOptimizer,
    device: Device,
    input: Shape,
    layers: Vec<Layer>,
}

impl BurnStepper {
    fn new(program: &Program, init: &[NamedTensor]) -> Result<Self, EngineError> {
        let device = Device::flex().autodiff();
        let input = program.input.shape;
        let layers = program.logit_layers();
        let net = Net::init(input, layers, &device).load(input, layers, init)?;
        let optim: ModuleOptimizer = match program.train.optimizer {
            Optimizer::Adam { .. } => AdamConfig::new().with_epsilon(1e-8).init(),
            Optimizer::Sgd { momentum, .. } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                }))
                .init(),
        };
        Ok(BurnStepper {
            net: Some(net),
            optim,
            device,
            input,
            layers: layers.to_vec(),
        })
    }
}

impl Stepper for BurnStepper {
    fn step(
        &mut self,
        x: &[f32],
        y: &[u32],
        lr: f64,
        rng: &mut SplitMix64,
    ) -> Result<(Vec<f32>, Vec<u32>), EngineError> {
        let Some(net) = self.net.take() else {
            return Err(EngineError::Weights(
                "the model was lost in a failed step".into(),
            ));
        };
        let b = y.len();
        let yb: Vec<i32> = y.iter().map(|&v| v as i32).collect();
        let x = batch_tensor(x, self.input, &self.device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(yb, [b]), &self.device);
        let logits = net.forward(x, Some(rng));
        let logp = activation::log_softmax(logits, 1);
        let per_example = logp
            .clone()
            .gather(1, targets.reshape([b, 1]))
            .reshape([b])
            .neg();
        let loss = per_example.clone().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        self.net = Some(self.optim.step(lr, net, grads));
        let values = to_f32(per_example.into_data())?;
        let predicted = to_f32(logp.argmax(1).reshape([b]).into_data().convert::<f32>())?;
        Ok((values, predicted.iter().map(|&p| p as u32).collect()))
    }

    fn export(&self) -> Result<Vec<NamedTensor>, EngineError> {
        match &self.net {
            Some(net) => net.valid().export(self.input, &self.layers),
            None => Err(EngineError::Weights(
                "the model was lost in a failed step".into(),
            )),
        }
    }
}
