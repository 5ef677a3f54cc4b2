//! # anneal-registry: packages as OCI artifacts
//!
//! Any OCI distribution registry (Docker Hub, GHCR, Harbor, zot, the cloud registries,
//! Distribution itself) holds anneal packages, as ORAS and ModelPack artifacts are held:
//!
//! - [`reference`]: `host[:port]/repository[:tag][@sha256:…]`, and plain HTTP for loopback
//!   hosts (and those in `ANNEAL_INSECURE_REGISTRIES`), HTTPS otherwise.
//! - [`client`]: [`Client`], the distribution API for one repository: ping, tags (following
//!   `Link`), manifests (always with the OCI `Accept`), blob HEAD, POST then PUT
//!   `&digest=` uploads; a 401 answered once with Basic credentials or a Bearer token from the
//!   challenge's realm; error bodies turned into [`RegistryError`]s naming registry,
//!   repository and code. Blocking, on a private current-thread runtime (reqwest, rustls).
//! - [`auth`] and [`credentials`]: challenges, and where credentials come from (environment,
//!   Docker config and credential helpers, anneal's own 0600 file).
//! - [`artifact`]: the manifest: `artifactType` [`ARTIFACT_TYPE`], the metadata as the config
//!   blob, the package file as the one weights layer.
//! - [`publish`](mod@publish): blobs the registry lacks, then the manifest; a version tag
//!   that names other content is refused, one that names the same is "already published".
//! - [`pull`]: the highest version a semver requirement admits; a package by tag or digest.
//! - [`cache`]: [`Cache`], blobs by digest, written by temp file and rename after the
//!   digest is checked, hashed again whenever read.
//! - [`digest`]: [`Digest`], `sha256:` plus 64 hex digits.

pub mod api;
pub mod artifact;
pub mod auth;
pub mod cache;
pub mod client;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod publish;
pub mod pull;
pub mod reference;

pub use artifact::{ARTIFACT_TYPE, Artifact, CONFIG_TYPE, WEIGHTS_TYPE};
pub use auth::Credentials;
pub use cache::{Cache, Fetched};
pub use client::{Access, Client};
pub use digest::Digest;
pub use error::RegistryError;
pub use publish::{Published, publish};
pub use pull::Pulled;
pub use reference::Reference;
pub use semver::{Version, VersionReq};
