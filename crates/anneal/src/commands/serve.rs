use std::path::PathBuf;
use std::time::Duration;

use anneal::error::CliError;

pub fn run(
    packages: &[PathBuf],
    host: &str,
    port: u16,
    config: anneal_serve::Config,
) -> Result<u8, CliError> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ANNEAL_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    check(&config)?;
    let state = anneal_serve::load(packages, config).map_err(|e| CliError::new(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("could not start the runtime: {e}")))?;
    runtime.block_on(async move {
        let addr = format!("{host}:{port}");
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
    })
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
async fn shutdown_signal() {
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
