//! The accept loop: HTTP/1.1 connections served by hyper, with the limits that keep slow and
//! idle clients from starving the server.
//!
//! A connection is in one of three phases, and a watchdog closes it when a phase outlasts its
//! limit (the socket is dropped; no response is sent, as nginx does):
//!
//! | phase | starts | ends | limit |
//! |---|---|---|---|
//! | head | at accept, or at the first byte after an idle spell | the request head is parsed | `header_timeout` |
//! | busy | the request head is parsed | the response is ready | none here: `body_timeout` bounds the body, `timeout` inference |
//! | idle | the response is ready | the next request's first byte | `idle_timeout` |
//!
//! A request head is at most [`MAX_HEAD`] bytes (431 past it), so slow heads hold little memory.
//!
//! hyper's own `header_read_timeout` is not used: it runs from the end of the previous
//! response, so it would also close idle connections, and one setting cannot give a request
//! head 10 s and an idle connection 60 s.
//!
//! **Connection cap.** At most `max_connections` are open. The last `reserved_connections` of
//! them serve only `/v2/health/*` and `/metrics` (anything else gets 503 with `Retry-After` and
//! the connection closes), so health checks and scrapes still get through when ordinary
//! clients hold every other connection. A connection past the cap is closed as soon as it is
//! accepted, and counted in `anneal_refused_connections_total`.
//!
//! **Shutdown.** Readiness turns false and the listener closes at once; idle connections close,
//! busy ones finish their request and close. Whatever is still open `shutdown_timeout` later is
//! dropped, and [`serve`] returns.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::metrics::Metrics;
use crate::{Config, Shared, app};

/// Largest request head (request line and headers) in bytes; past it hyper answers 431 and
/// closes. Its default, its ~400 KiB read buffer, would let 1,024 slow heads hold 400 MiB.
pub const MAX_HEAD: usize = 64 << 10;

/// Which routes a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Every route.
    Open,
    /// Health and metrics only: the connection is one of the reserved ones.
    Reserved,
}

/// Where a connection is in its request cycle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Busy,
    Idle,
}

/// What every connection task shares.
#[derive(Clone)]
struct Ctx {
    router: Router,
    http: http1::Builder,
    config: Config,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

/// Serve on `listener` until `shutdown` resolves; then readiness turns false at once, new
/// connections are refused and in-flight requests get `shutdown_timeout` to finish.
pub async fn serve(
    listener: TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.header_read_timeout(None).max_header_size(MAX_HEAD);
    let ctx = Ctx {
        router: app(state.clone()),
        http,
        config: state.config,
        metrics: state.metrics.clone(),
        stop: stopped,
    };
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => admit(stream, &mut conns, &ctx),
                Err(e) => back_off(e).await,
            },
        }
    }
    state.ready.store(false, Ordering::SeqCst);
    tracing::info!("shutting down: readiness is false, finishing in-flight requests");
    drop(listener);
    let _ = stop.send(true);
    drain(conns, state.config.shutdown_timeout).await;
    Ok(())
}

/// Start serving `stream`, on a reserved slot past the ordinary ones, or close it past the cap.
fn admit(stream: TcpStream, conns: &mut JoinSet<()>, ctx: &Ctx) {
    while conns.try_join_next().is_some() {}
    let open = usize::try_from(ctx.metrics.connections.get()).unwrap_or(0);
    let config = &ctx.config;
    if open >= config.max_connections {
        ctx.metrics.refused_connections.inc();
        tracing::debug!(open, "connection closed: at the connection cap");
        return;
    }
    let ordinary = config
        .max_connections
        .saturating_sub(config.reserved_connections);
    let slot = if open >= ordinary {
        Slot::Reserved
    } else {
        Slot::Open
    };
    let counted = Counted::new(ctx.metrics.connections.clone());
    conns.spawn(connection(stream, slot, ctx.clone(), counted));
}

/// Accept failed: a connection reset before it was accepted is skipped; anything else (out of
/// file descriptors, say) is retried after a pause rather than in a busy loop.
async fn back_off(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait up to `deadline` for the connections to finish, then drop the rest.
async fn drain(mut conns: JoinSet<()>, deadline: Duration) {
    let finished = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, finished).await.is_err() {
        tracing::warn!(
            left = conns.len(),
            "shutdown deadline passed: closing the connections still open"
        );
        conns.shutdown().await;
    }
}

/// One open connection in the `anneal_connections` gauge, for as long as this lives.
struct Counted(Gauge);

impl Counted {
    fn new(gauge: Gauge) -> Counted {
        gauge.inc();
        Counted(gauge)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serve one connection until it ends, a phase outlasts its limit, or shutdown closes it.
async fn connection(stream: TcpStream, slot: Slot, ctx: Ctx, _counted: Counted) {
    let (phase, watched) = watch::channel(Phase::Head);
    let phase = Arc::new(phase);
    let io = TokioIo::new(Watched {
        stream,
        phase: phase.clone(),
    });
    let router = ctx.router;
    let service = service_fn(move |req| respond(req, slot, router.clone(), phase.clone()));
    let mut conn = std::pin::pin!(ctx.http.serve_connection(io, service));
    let config = ctx.config;
    let mut watchdog = std::pin::pin!(watchdog(watched, config));
    let mut stop = ctx.stop;
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => return log_end(done),
            phase = &mut watchdog => {
                tracing::debug!(?phase, "connection closed: timed out");
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn log_end(done: Result<(), hyper::Error>) {
    if let Err(e) = done {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Hand a request to the router, marking the connection busy until the response is ready.
async fn respond(
    mut req: Request<Incoming>,
    slot: Slot,
    router: Router,
    phase: Arc<watch::Sender<Phase>>,
) -> Result<Response, Infallible> {
    let _busy = Busy::enter(phase);
    req.extensions_mut().insert(slot);
    router.oneshot(req.map(Body::new)).await
}

/// The busy phase, for as long as this lives; idle after.
struct Busy(Arc<watch::Sender<Phase>>);

impl Busy {
    fn enter(phase: Arc<watch::Sender<Phase>>) -> Busy {
        phase.send_replace(Phase::Busy);
        Busy(phase)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_replace(Phase::Idle);
    }
}

/// Resolve with the phase that outlasted its limit.
async fn watchdog(mut phase: watch::Receiver<Phase>, config: Config) -> Phase {
    loop {
        let now = *phase.borrow_and_update();
        let limit = match now {
            Phase::Head => config.header_timeout,
            Phase::Idle => config.idle_timeout,
            Phase::Busy => Duration::MAX,
        };
        match tokio::time::timeout(limit, phase.changed()).await {
            Err(_) => return now,
            Ok(Err(_)) => std::future::pending::<()>().await,
            Ok(Ok(())) => {}
        }
    }
}

/// The socket, moving an idle connection to the head phase when a byte arrives.
struct Watched {
    stream: TcpStream,
    phase: Arc<watch::Sender<Phase>>,
}

impl Watched {
    fn arrived(&self) {
        self.phase.send_if_modified(|p| {
            let idle = *p == Phase::Idle;
            if idle {
                *p = Phase::Head;
            }
            idle
        });
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
