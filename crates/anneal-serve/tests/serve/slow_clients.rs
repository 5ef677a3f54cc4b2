//! Slow and idle clients on real sockets (RELIABILITY.md, promise 12a). Each limit is set to
//! 300 ms so that a test takes about a second; a connection that a limit should close is given
//! five seconds to close, and one that should stay open is checked with a wide margin.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// How long a connection that should close is given to close.
const PATIENCE: Duration = Duration::from_secs(5);
const LIVE: &[u8] = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A server on a real port; dropping it shuts the server down.
struct Running {
    addr: SocketAddr,
    state: Arc<State>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(config: Config) -> Running {
    let (dir, state) = server(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(anneal_serve::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        state,
        stop,
        task,
        _dir: dir,
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Read until the server closes the connection: what it sent, or `None` if it is still open
/// after [`PATIENCE`].
async fn until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    tokio::time::timeout(PATIENCE, read).await.ok()
}

/// One response from a connection that stays open: status, lowercased head, body.
async fn response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut more = async |buf: &mut Vec<u8>| {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("no response")
            .unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let end = loop {
        match buf.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => break i + 4,
            None => more(&mut buf).await,
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < end + len {
        more(&mut buf).await;
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, buf[end..end + len].to_vec())
}

/// Send `request` on a new connection and read the response.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut c = connect(addr).await;
    c.write_all(request).await.unwrap();
    response(&mut c).await
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn infer_head(len: usize) -> Vec<u8> {
    format!("POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes()
}

/// A valid inference request padded with spaces to `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let mut body = input(json!([1, 1, 2, 2]), "FP32", json!([0.1, 0.9, 0.3, 0.2]))
        .to_string()
        .into_bytes();
    body.resize(len, b' ');
    body
}

fn infer_request(len: usize) -> Vec<u8> {
    [infer_head(len), padded(len)].concat()
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited in vain: {what}");
        tokio::time::sleep(ms(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_closed_after_the_header_timeout() {
    let s = start(Config {
        header_timeout: ms(300),
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = connect(s.addr).await;
    let (mut slow, mut slow_write) = connect(s.addr).await.into_split();
    // The head trickles in a byte every 50 ms: 2 s in all. Each byte must not restart the clock.
    tokio::spawn(async move {
        for b in LIVE {
            if slow_write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(ms(50)).await;
        }
    });
    let answer = until_closed(&mut slow).await;
    assert_eq!(
        answer,
        Some(vec![]),
        "the trickled head was answered or left open"
    );
    let answer = until_closed(&mut silent).await;
    assert_eq!(
        answer,
        Some(vec![]),
        "a connection that sent nothing was left open"
    );
    assert!(started.elapsed() >= ms(300));
    // A prompt client is served as before.
    let mut prompt = connect(s.addr).await;
    prompt.write_all(LIVE).await.unwrap();
    assert_eq!(response(&mut prompt).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_64_kib_gets_431() {
    let s = start(Config::default()).await;
    let big = format!(
        "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(anneal_serve::server::MAX_HEAD)
    );
    let mut c = connect(s.addr).await;
    let _ = c.write_all(big.as_bytes()).await; // the server may close before reading it all
    let answer = until_closed(&mut c).await.expect("left open");
    let answer = String::from_utf8_lossy(&answer);
    // (The 431 may be lost to the reset a close with unread bytes sends; it is never a 200.)
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout_not_the_header_timeout() {
    let s = start(Config {
        idle_timeout: ms(300),
        ..Config::default()
    })
    .await;
    let mut c = connect(s.addr).await;
    c.write_all(LIVE).await.unwrap();
    assert_eq!(response(&mut c).await.0, 200);
    let answer = until_closed(&mut c).await;
    assert_eq!(answer, Some(vec![]), "an idle connection was left open");
    // With a 300 ms header timeout and a 30 s idle timeout, a connection idle for a second
    // still serves its next request.
    let s = start(Config {
        header_timeout: ms(300),
        idle_timeout: Duration::from_secs(30),
        ..Config::default()
    })
    .await;
    let mut c = connect(s.addr).await;
    c.write_all(LIVE).await.unwrap();
    assert_eq!(response(&mut c).await.0, 200);
    tokio::time::sleep(ms(1000)).await;
    c.write_all(LIVE).await.unwrap();
    assert_eq!(response(&mut c).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_held_one_byte_short_gets_408_and_its_memory_back() {
    let budget = 64 << 10;
    let s = start(Config {
        body_timeout: ms(300),
        max_body: budget,
        body_memory: budget,
        ..Config::default()
    })
    .await;
    let request = infer_request(60_000);
    let mut c = connect(s.addr).await;
    c.write_all(&request[..request.len() - 1]).await.unwrap();
    let (status, head, body) = response(&mut c).await;
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
    assert!(head.contains("connection: close"), "{head}");
    assert!(until_closed(&mut c).await.is_some(), "left open after 408");
    assert_eq!(s.state.budget.available(), budget);
    // A body needing most of the budget is read in full.
    assert_eq!(exchange(s.addr, &request).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_only_health_checks_are_served() {
    let s = start(Config {
        max_connections: 4,
        reserved_connections: 2,
        ..Config::default()
    })
    .await;
    let metrics = s.state.metrics.clone();
    let open = |n: i64| {
        let m = metrics.clone();
        move || m.connections.get() == n
    };
    // Two idle clients hold both ordinary connections.
    let held = [connect(s.addr).await, connect(s.addr).await];
    wait_until("2 open", open(2)).await;
    // On the next, a reserved one, health checks and metrics are served and inference is not.
    let mut c = connect(s.addr).await;
    for path in ["/v2/health/ready", "/metrics"] {
        c.write_all(&get_request(path)).await.unwrap();
        assert_eq!(response(&mut c).await.0, 200, "{path}");
    }
    c.write_all(&infer_request(200)).await.unwrap();
    let (status, head, body) = response(&mut c).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(head.contains("retry-after: 1") && head.contains("connection: close"));
    assert!(String::from_utf8_lossy(&body).contains("serves only /v2/health/*"));
    assert!(until_closed(&mut c).await.is_some(), "left open after 503");
    // Past the cap, a connection is closed as soon as it is accepted.
    wait_until("2 open", open(2)).await;
    let reserved = [connect(s.addr).await, connect(s.addr).await];
    wait_until("4 open", open(4)).await;
    let mut past = connect(s.addr).await;
    assert_eq!(until_closed(&mut past).await, Some(vec![]));
    assert_eq!(metrics.refused_connections.get(), 1);
    // Once the idle clients leave, inference is served again.
    drop((held, reserved));
    wait_until("0 open", open(0)).await;
    assert_eq!(exchange(s.addr, &infer_request(200)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_memory_budget_refuses_at_once_while_others_hold_it() {
    let budget = 64 << 10;
    let s = start(Config {
        max_body: 48 << 10,
        body_memory: budget,
        ..Config::default()
    })
    .await;
    // One client sends its head and 1,000 bytes of a 40,000-byte body, then holds the rest.
    let request = infer_request(40_000);
    let mut holder = connect(s.addr).await;
    holder
        .write_all(&request[..request.len() - 39_000])
        .await
        .unwrap();
    let state = s.state.clone();
    wait_until("the held body reserved", || {
        state.budget.available() < budget - 39_000
    })
    .await;
    // A second such body does not fit beside it: 503 at once, long before the 30 s body timeout.
    let started = Instant::now();
    let (status, head, _) = exchange(s.addr, &request).await;
    assert_eq!(
        (status, head.contains("retry-after: 1")),
        (503, true),
        "{head}"
    );
    assert!(started.elapsed() < PATIENCE);
    // Nor does a chunked one: it is refused as its chunks pass the budget.
    let mut chunked = connect(s.addr).await;
    let head = format!("POST {INFER} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("7530\r\n{}\r\n", " ".repeat(0x7530));
    chunked.write_all((head + &chunk).as_bytes()).await.unwrap();
    assert_eq!(response(&mut chunked).await.0, 503);
    // When the holder leaves, its share is returned and the same request is served.
    drop(holder);
    wait_until("the budget returned", || state.budget.available() == budget).await;
    assert_eq!(exchange(s.addr, &request).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_a_half_sent_body_at_the_deadline() {
    let s = start(Config {
        shutdown_timeout: ms(300),
        ..Config::default()
    })
    .await;
    let request = infer_request(1000);
    let mut c = connect(s.addr).await;
    c.write_all(&request[..request.len() - 500]).await.unwrap();
    let state = s.state.clone();
    let full = state.config.body_memory;
    wait_until("the body is being read", || state.budget.available() < full).await;
    let started = Instant::now();
    s.stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, s.task)
        .await
        .expect("serve did not return by the shutdown deadline")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= ms(300),
        "the request was not given its time"
    );
    assert!(!state.ready.load(std::sync::atomic::Ordering::SeqCst));
    assert!(until_closed(&mut c).await.is_some());
}
