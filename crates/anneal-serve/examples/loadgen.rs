//! A closed-loop HTTP load generator for Open Inference Protocol servers (anneal, MLServer,
//! Triton): C clients on keep-alive connections each send a request, wait for the answer and
//! send the next, for a fixed time. Prints throughput and latency percentiles as one JSON line.
//!
//! Usage: loadgen URL BODY_FILE CLIENTS SECONDS [HEADER_LEN]
//!   URL        e.g. http://127.0.0.1:8000/v2/models/digits/infer
//!   BODY_FILE  the request body (JSON, or JSON + binary when HEADER_LEN is given)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn client(
    uri: Uri,
    body: Bytes,
    header_len: Option<usize>,
    until: Instant,
) -> Result<(Vec<u32>, u64), Error> {
    let host = uri.host().unwrap_or("127.0.0.1").to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    // Origin-form request target (`/v2/...`), as ordinary clients send.
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    while Instant::now() < until {
        let mut req = Request::post(target.as_str())
            .header("host", format!("{host}:{port}"))
            .header("content-type", "application/json");
        if let Some(n) = header_len {
            req = req.header("inference-header-content-length", n);
        }
        let req = req.body(Full::new(body.clone()))?;
        let start = Instant::now();
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if status.is_success() {
            latencies.push(start.elapsed().as_micros() as u32);
        } else {
            if errors == 0 {
                eprintln!(
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                );
            }
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: loadgen URL BODY_FILE CLIENTS SECONDS [HEADER_LEN]");
        std::process::exit(2);
    }
    let uri: Uri = args[1].parse()?;
    let body = Bytes::from(std::fs::read(&args[2])?);
    let clients: usize = args[3].parse()?;
    let seconds: f64 = args[4].parse()?;
    let header_len: Option<usize> = args.get(5).map(|s| s.parse()).transpose()?;
    // Warm-up.
    client(
        uri.clone(),
        body.clone(),
        header_len,
        Instant::now() + Duration::from_millis(300),
    )
    .await?;
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(uri.clone(), body.clone(), header_len, until)))
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.await??;
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"clients\": {clients}, \"requests\": {}, \"errors\": {errors}, \"rps\": {:.1}, \"p50_us\": {}, \"p99_us\": {}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
