//! `anneal studio`: bind, make the token, open the studio library on the program folder, print
//! the URL and serve until Ctrl-C.

use std::path::PathBuf;

use anneal::error::CliError;

use super::serve::{init_logging, shutdown_signal};

/// `anneal studio`'s flags.
#[derive(Debug, clap::Args)]
pub struct StudioArgs {
    /// Run as if started in DIR (the folder holding anneal.toml and .anneal/).
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Address to bind (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8700)]
    pub port: u16,
    /// Do not open a browser.
    #[arg(long)]
    pub no_open: bool,
}

pub fn run(args: &StudioArgs) -> Result<u8, CliError> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("could not start the runtime: {e}")))?;
    runtime.block_on(serve(args))
}

async fn serve(args: &StudioArgs) -> Result<u8, CliError> {
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        CliError::new(format!("could not listen on {addr}: {e}")).hint("pick another --port")
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?
        .port();
    let token = anneal_studio::Token::random()
        .map_err(|e| CliError::new(format!("no random token: {e}")))?;
    let url = format!("http://127.0.0.1:{port}/?token={}", token.as_str());
    let guard = anneal_studio::Guard::new(token, &args.host, port);
    let studio =
        anneal_studio::Studio::open(&args.dir, guard).map_err(|e| CliError::new(e.to_string()))?;
    println!("{url}");
    if !args.no_open {
        open_browser(&url);
    }
    anneal_studio::serve(listener, studio, shutdown_signal())
        .await
        .map_err(|e| CliError::new(format!("server error: {e}")))?;
    Ok(0)
}

/// Ask the desktop to open `url`; silently nothing where there is no desktop.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    drop(spawned);
}
