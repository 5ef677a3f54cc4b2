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

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A server on a real port; dropping it shuts the server down.
struct Running {
    addr: SocketAddr,
    state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start(config: Config) -> Running {
    let (dir, state) = server(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(anneal_serve::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        state,
        _stop: stop,
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
