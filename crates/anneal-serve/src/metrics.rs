//! Prometheus metrics: requests by status, latency, batch sizes, queue depth and connections.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label: the HTTP status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// e.g. 200, 400, 503.
    pub code: u16,
}

/// Label: a model name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    /// The model.
    pub model: String,
}

/// Everything `/metrics` reports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by status.
    pub requests: Family<StatusLabel, Counter>,
    /// Inference latency in seconds, from receipt to response.
    pub latency: Histogram,
    /// Examples per forward pass.
    pub batch_size: Histogram,
    /// Requests queued or in service, per model (set at scrape time).
    pub queue_depth: Family<ModelLabel, Gauge>,
    /// Open connections.
    pub connections: Gauge,
    /// Connections closed on accept because the server was at its connection cap.
    pub refused_connections: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("anneal");
        let r = &mut registry;
        let requests = Family::<StatusLabel, Counter>::default();
        r.register("requests", "HTTP requests by status code", requests.clone());
        let latency = Histogram::new(exponential_buckets(0.0000625, 2.0, 18));
        let help = "Inference request latency";
        r.register("inference_latency_seconds", help, latency.clone());
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        r.register(
            "batch_size",
            "Examples per forward pass",
            batch_size.clone(),
        );
        let queue_depth = Family::<ModelLabel, Gauge>::default();
        r.register(
            "queue_depth",
            "Requests queued or in service",
            queue_depth.clone(),
        );
        let connections = Gauge::default();
        r.register("connections", "Open connections", connections.clone());
        let refused_connections = Counter::default();
        let help = "Connections closed at accept: the connection cap was reached";
        r.register("refused_connections", help, refused_connections.clone());
        Metrics {
            registry,
            requests,
            latency,
            batch_size,
            queue_depth,
            connections,
            refused_connections,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
