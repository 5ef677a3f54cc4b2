//! The job folder PyTorch reads: `job.json`, `data.safetensors`, `init.safetensors`,
//! `model.py` and `train.py`, each a plain file a person can read or run by hand.

use std::path::Path;

use anneal_engine::{Examples, NamedTensor};
use anneal_spec::{Optimizer, Program, Schedule};
use safetensors::{Dtype, tensor::TensorView};
use serde::Serialize;

use crate::{Device, TorchError, module};

/// The train script, the same for every program.
pub const TRAIN_PY: &str = include_str!("train.py");

/// `job.json`: the program's training settings, as `train.py` reads them.
#[derive(Debug, Serialize)]
struct Settings<'a> {
    program: &'a str,
    input: Vec<usize>,
    classes: usize,
    epochs: usize,
    batch: usize,
    optimizer: &'static str,
    lr: f64,
    momentum: f64,
    schedule: &'static str,
    seed: u64,
    shift: usize,
    time_only: bool,
    device: &'static str,
}

/// Write the job for `program` on `examples` (normalised inputs) into `dir`.
pub fn write(
    dir: &Path,
    program: &Program,
    examples: &Examples<'_>,
    device: Device,
) -> Result<(), TorchError> {
    std::fs::create_dir_all(dir).map_err(TorchError::io(dir))?;
    let settings = settings(program, device);
    let json =
        serde_json::to_string_pretty(&settings).map_err(|e| TorchError::io(dir)(e.into()))?;
    put(&dir.join("job.json"), json.as_bytes())?;
    put(&dir.join("model.py"), module::module(program).as_bytes())?;
    put(&dir.join("train.py"), TRAIN_PY.as_bytes())?;
    let n = examples.y.len();
    let x = f32_bytes(examples.x);
    let y: Vec<u8> = examples
        .y
        .iter()
        .flat_map(|&v| i64::from(v).to_le_bytes())
        .collect();
    let data = [
        (
            "x",
            view(Dtype::F32, vec![n, examples.x.len() / n.max(1)], &x)?,
        ),
        ("y", view(Dtype::I64, vec![n], &y)?),
    ];
    save(&dir.join("data.safetensors"), data)?;
    let init = anneal_engine::initial_weights(program);
    save_tensors(&dir.join("init.safetensors"), &init)
}

fn settings(program: &Program, device: Device) -> Settings<'_> {
    let t = &program.train;
    let (optimizer, momentum) = match t.optimizer {
        Optimizer::Adam { .. } => ("adam", 0.0),
        Optimizer::Sgd { momentum, .. } => ("sgd", momentum),
    };
    Settings {
        program: &program.name,
        input: program.input.shape.dims(),
        classes: program.classes.len(),
        epochs: t.epochs,
        batch: t.batch,
        optimizer,
        lr: t.optimizer.lr(),
        momentum,
        schedule: match t.schedule {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        },
        seed: t.seed,
        shift: t.augment_shift,
        time_only: t.augment_time_only,
        device: device.name(),
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn view(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<TensorView<'_>, TorchError> {
    TensorView::new(dtype, shape, data).map_err(|e| TorchError::Output {
        what: "the job's tensors".into(),
        message: e.to_string(),
    })
}

/// `tensors` as a safetensors file.
fn save_tensors(path: &Path, tensors: &[NamedTensor]) -> Result<(), TorchError> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| f32_bytes(&t.data)).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| Ok((t.name.as_str(), view(Dtype::F32, t.shape.clone(), b)?)))
        .collect::<Result<Vec<_>, TorchError>>()?;
    save(path, views)
}

fn save<'a>(
    path: &Path,
    views: impl IntoIterator<Item = (&'a str, TensorView<'a>)>,
) -> Result<(), TorchError> {
    let bytes = safetensors::serialize(views, None).map_err(|e| TorchError::Output {
        what: path.display().to_string(),
        message: e.to_string(),
    })?;
    put(path, &bytes)
}

fn put(path: &Path, bytes: &[u8]) -> Result<(), TorchError> {
    anneal_data::fs::write_atomic(path, bytes).map_err(TorchError::io(path))
}
