use std::path::PathBuf;
use std::time::Duration;

use anneal::error::CliError;

/// `anneal serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Packages (.anneal) or folders of them.
    #[arg(required = true)]
    pub packages: Vec<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Serve the (one program's) packages under this model name instead of the program's, as
    /// a KServe runtime is given the InferenceService's name.
    #[arg(long)]
    pub model_name: Option<String>,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Most examples gathered into one forward pass.
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch, in microseconds. With 0 (the
    /// default) a forward pass takes every request queued while the previous one ran.
    #[arg(long, default_value_t = 0)]
    pub max_delay_us: u64,
    /// Requests that may queue per model before new ones get 503.
    #[arg(long, default_value_t = 256)]
    pub queue: usize,
    /// Per-request timeout in milliseconds (504 past it).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Largest request body in bytes (413 past it).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body: usize,
    /// Longest a client may take to send a request's head, in milliseconds (from accept,
    /// or from its first byte on a kept-alive connection); past it the connection closes.
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest a kept-alive connection may wait for its next request, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Longest a request body may take to arrive in full, in milliseconds (408 past it).
    #[arg(long, default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// Most open connections; past it new ones are closed at once.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// How many of --max-connections serve only /v2/health/* and /metrics.
    #[arg(long, default_value_t = 64)]
    pub reserved_connections: usize,
    /// Most bytes of request bodies being read at once, over all connections (503 past it).
    #[arg(long, default_value_t = 256 << 20)]
    pub body_memory: usize,
    /// After SIGTERM, how long in-flight requests get to finish, in milliseconds, before
    /// their connections are closed and the server exits.
    #[arg(long, default_value_t = 25_000)]
    pub shutdown_timeout_ms: u64,
}

impl ServeArgs {
    /// The server's configuration.
    fn config(&self) -> anneal_serve::Config {
        let ms = Duration::from_millis;
        anneal_serve::Config {
            batch: anneal_serve::BatchConfig {
                max_batch: self.max_batch,
                max_delay: Duration::from_micros(self.max_delay_us),
                queue: self.queue,
            },
            max_body: self.max_body,
            timeout: ms(self.timeout_ms),
            header_timeout: ms(self.header_timeout_ms),
            idle_timeout: ms(self.idle_timeout_ms),
            body_timeout: ms(self.body_timeout_ms),
            max_connections: self.max_connections,
            reserved_connections: self.reserved_connections,
            body_memory: self.body_memory,
            shutdown_timeout: ms(self.shutdown_timeout_ms),
            ..anneal_serve::Config::default()
        }
    }
}

pub fn run(args: &ServeArgs) -> Result<u8, CliError> {
    init_logging();
    let config = args.config();
    check(&config)?;
    let name = args.model_name.as_deref();
    let state = anneal_serve::load_named(&args.packages, config, name)
        .map_err(|e| CliError::new(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("could not start the runtime: {e}")))?;
    runtime.block_on(serve(format!("{}:{}", args.host, args.port), state))
}

/// Logs to stderr, filtered by `ANNEAL_LOG` (default `info`).
pub(crate) fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ANNEAL_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Listen on `addr` and serve `state` until SIGINT or SIGTERM.
async fn serve(addr: String, state: anneal_serve::Shared) -> Result<u8, CliError> {
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        CliError::new(format!("could not listen on {addr}: {e}")).hint("pick another --port")
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?;
    let names: Vec<String> = state
        .models
        .iter()
        .flat_map(|(n, vs)| vs.keys().map(move |v| format!("{n} {v}")))
        .collect();
    eprintln!("serving {} on http://{local}", names.join(", "));
    anneal_serve::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| CliError::new(format!("server error: {e}")))?;
    eprintln!("stopped");
    Ok(0)
}

/// Refuse settings the server could not work with.
fn check(config: &anneal_serve::Config) -> Result<(), CliError> {
    if config.batch.max_batch == 0 || config.batch.queue == 0 {
        return Err(CliError::new("--max-batch and --queue must be at least 1"));
    }
    let timeouts = [
        config.header_timeout,
        config.idle_timeout,
        config.body_timeout,
    ];
    if timeouts.iter().any(Duration::is_zero) {
        return Err(CliError::new(
            "--header-timeout-ms, --idle-timeout-ms and --body-timeout-ms must be at least 1",
        ));
    }
    if config.reserved_connections >= config.max_connections {
        return Err(CliError::new(format!(
            "--reserved-connections ({}) must be below --max-connections ({})",
            config.reserved_connections, config.max_connections
        )));
    }
    if config.body_memory < config.max_body {
        return Err(CliError::new(format!(
            "--body-memory ({}) is below --max-body ({}): a body of the largest size could never be read",
            config.body_memory, config.max_body
        )));
    }
    Ok(())
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
