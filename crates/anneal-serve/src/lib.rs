//! # anneal-serve: packages behind the Open Inference Protocol
//!
//! Serves anneal packages over HTTP as Triton, KServe and MLServer do (the KServe v2 REST
//! protocol), including Triton's binary tensor extension, so the stock `tritonclient.http`
//! works with its defaults.
//!
//! - [`app`] builds the axum [`Router`] from a [`State`]; tests drive it without sockets
//!   (`tower::ServiceExt::oneshot`).
//! - [`server`]: [`serve`] runs it on a listener, with header, idle and body timeouts, a
//!   connection cap that keeps room for health checks, and a deadline on graceful shutdown.
//! - [`body`]: reading request bodies under size, time and memory limits.
//! - [`protocol`]: parsing and validating requests; the one list of served outputs
//!   ([`protocol::Output::ALL`]); `response`: encoding the outputs (JSON and binary); `dtype`:
//!   the tensor datatypes.
//! - [`frontend`]: per package, the request's inputs to the model's input: the normalised
//!   tensor (images), a waveform through the log-mel front end (audio), one input per column
//!   (tables); the one list of served inputs ([`frontend::Frontend::inputs`]).
//! - [`batcher`]: dynamic batching on a worker thread per model, with a bounded queue.
//! - [`metrics`]: Prometheus counters and histograms for `/metrics`.
//! - [`error`]: [`ServeError`], mapped to status codes and `{"error": "..."}` bodies.
//!
//! | route | |
//! |---|---|
//! | `GET /v2/health/live`, `GET /v2/health/ready` | liveness; readiness (503 once shutdown starts) |
//! | `GET /v2` | server metadata |
//! | `GET /v2/models/{m}[/versions/{v}]` | model metadata: the served inputs and outputs, the front end's parameters |
//! | `GET /v2/models/{m}[/versions/{v}]/ready` | model readiness |
//! | `POST /v2/models/{m}[/versions/{v}]/infer` | inference |
//! | `GET /metrics` | Prometheus text format |

pub mod batcher;
pub mod body;
mod dtype;
pub mod error;
pub mod frontend;
pub mod metrics;
pub mod named;
pub mod protocol;
mod response;
pub mod server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use anneal_pack::{Header as PackageHeader, Package};

pub use batcher::BatchConfig;
pub use error::ServeError;
pub use named::{load, load_named};
pub use server::serve;

use crate::batcher::{Batcher, SubmitError};
use crate::body::Budget;
use crate::error::bad;
use crate::frontend::{Frontend, FrontendError};
use crate::metrics::{Metrics, ModelLabel, StatusLabel};
use crate::protocol::{Limits, Output};
use crate::server::Slot;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Batching.
    pub batch: BatchConfig,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Most examples in one request.
    pub max_examples: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
    /// Longest a request may wait for its result.
    pub timeout: Duration,
    /// Longest a client may take to send a request's head, from accept or from the first byte
    /// after an idle spell; past it the connection is closed.
    pub header_timeout: Duration,
    /// Longest a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Longest a request's body may take to arrive in full (408 past it).
    pub body_timeout: Duration,
    /// Most open connections; past it new ones are closed at once.
    pub max_connections: usize,
    /// How many of `max_connections` serve only health and metrics.
    pub reserved_connections: usize,
    /// Most bytes of request bodies being read at once, over all connections (503 past it).
    pub body_memory: usize,
    /// Longest shutdown waits for in-flight requests before closing their connections.
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch: BatchConfig::default(),
            max_body: 16 << 20,
            max_examples: 4096,
            max_json_depth: 32,
            timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            reserved_connections: 64,
            body_memory: 256 << 20,
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// One served package.
#[derive(Debug)]
pub struct Served {
    /// Metadata.
    pub header: PackageHeader,
    /// Its worker.
    pub batcher: Batcher,
    /// How its requests become model inputs.
    pub frontend: Frontend,
}

impl Served {
    /// Start the batcher of the package read from `path`.
    fn start(
        package: Package,
        path: &Path,
        config: Config,
        metrics: &Arc<Metrics>,
    ) -> Result<Served, LoadError> {
        let frontend =
            Frontend::for_package(&package.program, &package.signature).map_err(|source| {
                LoadError::Frontend {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        let name = package.program.name.clone();
        let model = (
            package.program.clone(),
            package.weights,
            package.signature.temperature,
            package.quantization.clone(),
        );
        let batcher =
            Batcher::start(name, model, config.batch, metrics.clone()).map_err(|message| {
                LoadError::Model {
                    path: path.to_path_buf(),
                    message,
                }
            })?;
        let header = PackageHeader {
            program: package.program,
            signature: package.signature,
            lineage: package.lineage,
            metrics: package.metrics,
            cost: package.cost,
            audit: package.audit,
            quantization: package.quantization,
        };
        Ok(Served {
            header,
            batcher,
            frontend,
        })
    }
}

/// Shared server state.
#[derive(Debug)]
pub struct State {
    /// Models by name, then version.
    pub models: BTreeMap<String, BTreeMap<String, Arc<Served>>>,
    /// False once shutdown has begun.
    pub ready: AtomicBool,
    /// Settings.
    pub config: Config,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The memory budget for request bodies being read.
    pub budget: Budget,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A package could not be read.
    #[error(transparent)]
    Package(#[from] anneal_pack::PackError),
    /// A package's model could not be loaded.
    #[error("{path}: {message}")]
    Model {
        /// The package.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A package's front end cannot be set up.
    #[error("{path}: {source}")]
    Frontend {
        /// The package.
        path: PathBuf,
        /// Why.
        #[source]
        source: FrontendError,
    },
    /// Two packages with one name and version.
    #[error("{path}: model `{name}` version `{version}` is already served from another package")]
    Duplicate {
        /// The second package.
        path: PathBuf,
        /// Name.
        name: String,
        /// Version.
        version: String,
    },
    /// Nothing to serve.
    #[error("no packages to serve (expected .anneal files or folders holding them)")]
    Empty,
    /// `--model-name` given for packages of several programs, or a name unfit for a route.
    #[error("--model-name `{name}` needs the packages of one program (these are of: {}) and a name without `/`, `?`, `#` or `%`", programs.join(", "))]
    Named {
        /// The name asked for.
        name: String,
        /// The programs loaded.
        programs: Vec<String>,
    },
    /// A folder could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl State {
    /// Load packages (files, or folders whose `*.anneal` files are all served).
    pub fn load(paths: &[PathBuf], config: Config) -> Result<State, LoadError> {
        let metrics = Arc::new(Metrics::default());
        let mut models: BTreeMap<String, BTreeMap<String, Arc<Served>>> = BTreeMap::new();
        for path in expand(paths)? {
            let package = Package::read(&path)?;
            let (name, version) = (
                package.program.name.clone(),
                package.program.version.clone(),
            );
            if models.get(&name).is_some_and(|v| v.contains_key(&version)) {
                return Err(LoadError::Duplicate {
                    path,
                    name,
                    version,
                });
            }
            let served = Served::start(package, &path, config, &metrics)?;
            models
                .entry(name)
                .or_default()
                .insert(version, Arc::new(served));
        }
        if models.is_empty() {
            return Err(LoadError::Empty);
        }
        let (ready, budget) = (AtomicBool::new(true), Budget::new(config.body_memory));
        Ok(State {
            models,
            ready,
            config,
            metrics,
            budget,
        })
    }

    fn model(&self, name: &str, version: Option<&str>) -> Result<(&str, &Arc<Served>), ServeError> {
        let versions = self
            .models
            .get(name)
            .ok_or_else(|| ServeError::NotFound(format!("unknown model `{}`", cut(name))))?;
        match version {
            Some(v) => versions
                .get_key_value(v)
                .map(|(k, s)| (k.as_str(), s))
                .ok_or_else(|| {
                    ServeError::NotFound(format!("model `{name}` has no version `{}`", cut(v)))
                }),
            None => versions
                .iter()
                .max_by(|a, b| semver(a.0).cmp(&semver(b.0)))
                .map(|(k, s)| (k.as_str(), s))
                .ok_or_else(|| ServeError::NotFound(format!("unknown model `{}`", cut(name)))),
        }
    }
}

fn semver(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|source| LoadError::Io {
                path: p.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|e| e == "anneal"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The loaded models and settings, shared by every connection.
pub type Shared = Arc<State>;

/// The router.
pub fn app(state: Shared) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{model}", get(model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(model_metadata_v),
        )
        .route("/v2/models/{model}/ready", get(model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(model_ready_v),
        )
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer_v))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { ServeError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ServeError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            reserved_slots,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Count every response by status and log one line per request.
async fn observe(AxumState(state): AxumState<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    let code = resp.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&StatusLabel { code })
        .inc();
    let micros = start.elapsed().as_micros();
    if resp.status().is_server_error() {
        tracing::warn!(%method, path, code, micros, "request failed");
    } else {
        tracing::debug!(%method, path, code, micros, "request");
    }
    resp
}

/// On a reserved connection (see [`server`]), serve health and metrics only.
async fn reserved_slots(AxumState(state): AxumState<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let health = path.starts_with("/v2/health/") || path == "/metrics";
    if req.extensions().get::<Slot>() == Some(&Slot::Reserved) && !health {
        let c = &state.config;
        let limit = c.max_connections.saturating_sub(c.reserved_connections);
        return ServeError::TooManyConnections { limit }.into_response();
    }
    next.run(req).await
}

async fn server_metadata() -> Response {
    axum::Json(json!({"name": "anneal", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"]}))
        .into_response()
}

async fn live() -> Response {
    axum::Json(json!({"live": true})).into_response()
}

async fn ready(AxumState(state): AxumState<Shared>) -> Response {
    let ready = state.ready.load(Ordering::SeqCst);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(json!({"ready": ready}))).into_response()
}

async fn model_metadata(
    s: AxumState<Shared>,
    UrlPath(model): UrlPath<String>,
) -> Result<Response, ServeError> {
    metadata(&s.0, &model, None)
}

async fn model_metadata_v(
    s: AxumState<Shared>,
    UrlPath((model, version)): UrlPath<(String, String)>,
) -> Result<Response, ServeError> {
    metadata(&s.0, &model, Some(&version))
}

fn metadata(state: &State, model: &str, version: Option<&str>) -> Result<Response, ServeError> {
    let (_, served) = state.model(model, version)?;
    let versions: Vec<&String> = state
        .models
        .get(model)
        .map(|v| v.keys().collect())
        .unwrap_or_default();
    let sig = &served.header.signature;
    let inputs: Vec<_> = (served.frontend.inputs().iter())
        .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
        .collect();
    let k = sig.classes.len();
    let outputs: Vec<_> = Output::ALL.iter().map(|o| o.describe(-1, k)).collect();
    let mut parameters = json!({
        "classes": sig.classes,
        "normalization": sig.normalization,
        "image": sig.image,
        "build_key": served.header.lineage.build_key,
    });
    if let Some((key, value)) = served.frontend.parameters() {
        parameters[key] = value;
    }
    if let Some(audit) = &served.header.audit {
        parameters["audit"] = json!(audit);
    }
    Ok(axum::Json(json!({
        "name": model,
        "versions": versions,
        "platform": "anneal",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
    }))
    .into_response())
}

async fn model_ready(
    s: AxumState<Shared>,
    UrlPath(model): UrlPath<String>,
) -> Result<Response, ServeError> {
    readiness(&s.0, &model, None)
}

async fn model_ready_v(
    s: AxumState<Shared>,
    UrlPath((model, version)): UrlPath<(String, String)>,
) -> Result<Response, ServeError> {
    readiness(&s.0, &model, Some(&version))
}

fn readiness(state: &State, model: &str, version: Option<&str>) -> Result<Response, ServeError> {
    state.model(model, version)?;
    let ready = state.ready.load(Ordering::SeqCst);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, axum::Json(json!({"name": model, "ready": ready}))).into_response())
}

async fn metrics_text(AxumState(state): AxumState<Shared>) -> Response {
    for (name, versions) in &state.models {
        let depth: usize = versions.values().map(|s| s.batcher.depth()).sum();
        state
            .metrics
            .queue_depth
            .get_or_create(&ModelLabel {
                model: name.clone(),
            })
            .set(depth as i64);
    }
    let mut resp = state.metrics.encode().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

async fn infer(
    s: AxumState<Shared>,
    UrlPath(model): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    run_infer(s.0, model, None, headers, body).await
}

async fn infer_v(
    s: AxumState<Shared>,
    UrlPath((model, version)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    run_infer(s.0, model, Some(version), headers, body).await
}

async fn run_infer(
    state: Shared,
    model: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    let start = Instant::now();
    if !state.ready.load(Ordering::SeqCst) {
        return Err(ServeError::NotReady);
    }
    let (version, served) = {
        let (v, s) = state.model(&model, version.as_deref())?;
        (v.to_string(), s.clone())
    };
    let header_len = header_length(&headers)?;
    let body = body::read(&headers, body, &state.config, &state.budget).await?;
    let limits = Limits {
        max_examples: state.config.max_examples,
        max_depth: state.config.max_json_depth,
    };
    let sig = &served.header.signature;
    let parsed = protocol::parse(&body.bytes, header_len, &served.frontend, limits)?;
    drop(body);
    let probs = predict(&state, &model, &served, &parsed).await?;
    let encoded = protocol::respond(&model, &version, &parsed, &probs, &sig.classes);
    state.metrics.latency.observe(start.elapsed().as_secs_f64());
    Ok(encoded.into_response())
}

/// The `Inference-Header-Content-Length` header, if any.
fn header_length(headers: &HeaderMap) -> Result<Option<usize>, ServeError> {
    let Some(v) = headers.get("inference-header-content-length") else {
        return Ok(None);
    };
    let n = v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok());
    let message = "Inference-Header-Content-Length must be a non-negative integer";
    n.map(Some).ok_or_else(|| bad(message))
}

/// Queue the request on the model's batcher and wait for its probabilities.
async fn predict(
    state: &State,
    model: &str,
    served: &Served,
    parsed: &protocol::Parsed,
) -> Result<Vec<f32>, ServeError> {
    let rx = served
        .batcher
        .submit(parsed.x.clone(), parsed.n)
        .map_err(|e| match e {
            SubmitError::Full => ServeError::Overloaded {
                model: model.to_string(),
                capacity: served.batcher.capacity(),
            },
            SubmitError::Closed => ServeError::Internal,
        })?;
    match tokio::time::timeout(state.config.timeout, rx).await {
        Err(_) => Err(ServeError::Timeout {
            ms: state.config.timeout.as_millis() as u64,
        }),
        Ok(Err(_)) => Err(ServeError::Internal),
        Ok(Ok(Err(e))) => {
            tracing::error!(model, error = e, "forward pass failed");
            Err(ServeError::Internal)
        }
        Ok(Ok(Ok(p))) => Ok(p),
    }
}
