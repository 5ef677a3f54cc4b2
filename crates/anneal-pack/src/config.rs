//! A package's metadata as one JSON document: what a registry stores as the package's
//! config blob (`application/vnd.anneal.package.config.v1+json`), readable without the
//! weights, and checked like the metadata of a package file.
//!
//! `{"format":1,"program":…,"signature":…,"lineage":…,"metrics":…,"cost":…,"audit":…}`
//! (`audit` when the build measured it, then `quantization` in an int8 package), written in
//! that order, compact.
//!
//! The weights travel apart, as a safetensors file of the tensors alone (empty
//! `__metadata__`), so that a new version whose weights did not change shares its weights
//! blob with the last one. [`Package::assemble`] puts the two back together; the package it
//! gives serializes to the very bytes the build wrote.

use std::path::Path;

use anneal_spec::{CostTable, Program, Quantization};
use serde::{Deserialize, Serialize};

use crate::{AuditSummary, FORMAT, Header, Lineage, Metrics, PackError, Package, Signature};

#[derive(Serialize)]
struct Out<'a> {
    format: u32,
    program: &'a Program,
    signature: &'a Signature,
    lineage: &'a Lineage,
    metrics: &'a Metrics,
    cost: &'a CostTable,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit: Option<&'a AuditSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantization: Option<&'a Quantization>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    format: u32,
    program: Program,
    signature: Signature,
    lineage: Lineage,
    metrics: Metrics,
    cost: CostTable,
    #[serde(default)]
    audit: Option<AuditSummary>,
    #[serde(default)]
    quantization: Option<Quantization>,
}

impl Header {
    /// The metadata as the config JSON.
    pub fn to_config_json(&self) -> Result<Vec<u8>, String> {
        let out = Out {
            format: FORMAT,
            program: &self.program,
            signature: &self.signature,
            lineage: &self.lineage,
            metrics: &self.metrics,
            cost: &self.cost,
            audit: self.audit.as_ref(),
            quantization: self.quantization.as_ref(),
        };
        serde_json::to_vec(&out).map_err(|e| e.to_string())
    }

    /// Read config JSON (`path` names it in errors), checked as a package's metadata is: the
    /// program valid, the signature and cost the ones it gives.
    pub fn from_config_json(path: &Path, bytes: &[u8]) -> Result<Header, PackError> {
        let bad = |message: String| PackError::Metadata {
            path: path.to_path_buf(),
            message,
        };
        let c: In = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not an anneal package config: {e}")))?;
        if c.format != FORMAT {
            return Err(bad(format!(
                "package format `{}`; this anneal reads format {FORMAT}",
                c.format
            )));
        }
        let header = Header {
            program: c.program,
            signature: c.signature,
            lineage: c.lineage,
            metrics: c.metrics,
            cost: c.cost,
            audit: c.audit,
            quantization: c.quantization,
        };
        header.check().map_err(bad)?;
        Ok(header)
    }
}

impl Package {
    /// The package's metadata, as [`Header::to_config_json`] writes it.
    pub fn header(&self) -> Header {
        Header {
            program: self.program.clone(),
            signature: self.signature.clone(),
            lineage: self.lineage.clone(),
            metrics: self.metrics.clone(),
            cost: self.cost.clone(),
            audit: self.audit.clone(),
            quantization: self.quantization.clone(),
        }
    }

    /// The weights alone as a safetensors file (tensors in name order, empty metadata).
    pub fn weights_file(&self) -> Result<Vec<u8>, String> {
        let mut tensors: Vec<&anneal_spec::NamedTensor> = self.weights.iter().collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let q = self.quantization.as_ref();
        crate::serialize(std::collections::BTreeMap::new(), &tensors, q)
    }

    /// A package from its metadata and a weights file (`path` names it in errors); every
    /// tensor is checked as a package file's are.
    pub fn assemble(header: Header, path: &Path, weights: &[u8]) -> Result<Package, PackError> {
        let weights = crate::tensors(path, weights, header.quantization.as_ref())?;
        Ok(Package {
            program: header.program,
            signature: header.signature,
            lineage: header.lineage,
            metrics: header.metrics,
            cost: header.cost,
            audit: header.audit,
            quantization: header.quantization,
            weights,
        })
    }
}
