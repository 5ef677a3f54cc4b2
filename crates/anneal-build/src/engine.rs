//! Which engine trains a build: anneal's own compiled CPU engine, or PyTorch ([`anneal_torch`])
//! for GPUs and many processes. The build key and the lineage say which.

use std::path::Path;

use anneal_engine::{Examples, NamedTensor, Normalization, Observer, Trained};
use anneal_pack::Lineage;
use anneal_spec::Program;

use crate::BuildError;

/// How a build trains.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// anneal's compiled CPU engine.
    #[default]
    Native,
    /// PyTorch, run as these options say.
    Torch(anneal_torch::Options),
}

/// An engine ready to train (PyTorch found and its version known).
#[derive(Debug)]
pub struct Trainer {
    torch: Option<(anneal_torch::Options, String)>,
}

/// Who trained a package, for its lineage.
#[derive(Debug, Default)]
pub struct TrainedBy {
    torch: Option<(anneal_torch::Ran, Option<String>)>,
}

impl Engine {
    /// The engine ready to train: for PyTorch, its version read from the user's Python (an
    /// error names what to install).
    pub fn trainer(&self, log: &mut dyn FnMut(String)) -> Result<Trainer, BuildError> {
        let Engine::Torch(options) = self else {
            return Ok(Trainer { torch: None });
        };
        let version = anneal_torch::probe(&options.python)?;
        log(format!(
            "training with PyTorch {version} ({}), {} process{} on {}",
            options.python,
            options.nproc,
            if options.nproc == 1 { "" } else { "es" },
            options.device.name()
        ));
        Ok(Trainer {
            torch: Some((options.clone(), version)),
        })
    }
}

impl Trainer {
    /// The build key's line for the engine, when it is not anneal's own (whose name and
    /// version the key always has).
    pub fn key_line(&self) -> Option<String> {
        let (o, version) = self.torch.as_ref()?;
        let (device, n) = (o.device.name(), o.nproc);
        Some(format!(
            "engine pytorch {version} {device} x{n}{}",
            nodes(&o.torchrun)
        ))
    }

    /// The build key's lines for this engine after `parents` (the dependency's digests).
    pub fn key_lines(&self, parents: &[String]) -> Vec<String> {
        parents.iter().cloned().chain(self.key_line()).collect()
    }

    /// Train `program` on `examples` (normalised by `norm`), from `base` for a composed
    /// program; PyTorch's job goes in `job`.
    pub fn train(
        &self,
        program: &Program,
        examples: &Examples<'_>,
        norm: &Normalization,
        base: &[NamedTensor],
        job: &Path,
        observer: &mut dyn Observer,
    ) -> Result<(Trained, TrainedBy), BuildError> {
        let Some((options, _)) = &self.torch else {
            let trained = anneal_engine::train_normalised(program, examples, norm, base, observer)?;
            return Ok((trained, TrainedBy::default()));
        };
        let (trained, ran) = anneal_torch::train(program, examples, job, options, observer)?;
        let torch = Some((ran, self.key_line()));
        Ok((trained, TrainedBy { torch }))
    }
}

/// ` nodes N` when torchrun's flags say `--nnodes N` (what changes the training; a node's rank
/// and the rendezvous address do not).
fn nodes(flags: &[String]) -> String {
    let value = flags
        .iter()
        .enumerate()
        .find_map(|(i, f)| match f.strip_prefix("--nnodes") {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
            Some("") => flags.get(i + 1).cloned(),
            _ => None,
        });
    value.map_or_else(String::new, |n| format!(" nodes {n}"))
}

impl TrainedBy {
    /// `lineage` saying which engine, version, device and world size trained the package.
    pub fn lineage(&self, lineage: Lineage) -> Lineage {
        let Some((ran, key)) = &self.torch else {
            return lineage;
        };
        Lineage {
            engine_key: key.clone(),
            engine: "pytorch".into(),
            engine_version: ran.torch.clone(),
            threads: ran.threads,
            device: Some(ran.device.clone()),
            world_size: Some(ran.world),
            ..lineage
        }
    }
}
