//! The client against a small fake registry on a real socket: the Bearer token flow (a 401
//! challenge, the token fetched with Basic credentials, the request retried), and a blob whose
//! bytes do not hash to the digest asked for, which leaves nothing in the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use anneal_registry::{Access, Cache, Client, Credentials, Digest, Reference, RegistryError};

/// Serve requests until the test ends; returns the port and the request lines seen (with
/// their Authorization header).
fn fake_registry(body: &'static [u8]) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:") {
                    auth = h.trim()["authorization:".len()..].trim().to_string();
                }
            }
            log.lock()
                .unwrap()
                .push(format!("{} [{auth}]", line.trim()));
            let reply = answer(port, &line, &auth, body);
            stream.write_all(&reply).unwrap();
        }
    });
    (port, seen)
}

fn answer(port: u16, line: &str, auth: &str, body: &[u8]) -> Vec<u8> {
    let ok = |b: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            b.len()
        )
        .into_bytes();
        r.extend_from_slice(b);
        r
    };
    if line.starts_with("GET /token") {
        return ok(br#"{"token":"t0k"}"#);
    }
    if auth != "Bearer t0k" {
        let challenge = format!(
            r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="repository:a/b:pull""#
        );
        return format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes();
    }
    ok(body)
}

#[test]
fn a_blob_that_does_not_hash_to_its_digest_leaves_nothing_behind() {
    let (port, seen) = fake_registry(b"not the weights");
    let reference = Reference::parse(&format!("127.0.0.1:{port}/a/b")).unwrap();
    let creds = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let client = Client::new(&reference, Access::Pull, Some(creds), false).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::at(tmp.path());
    let wanted = Digest::of(b"the weights");
    let e = cache.fetch(&client, &wanted).unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "blob from `127.0.0.1:{port}/a/b`: expected digest {wanted}, got {}; nothing was stored",
            Digest::of(b"not the weights")
        )
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("oci/blobs/sha256"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].ends_with("[]"), "{seen:?}");
    assert!(
        seen[1].starts_with("GET /token?scope=repository%3Aa%2Fb%3Apull&service=fake"),
        "{seen:?}"
    );
    assert!(seen[1].ends_with("[Basic dTpw]"), "{seen:?}");
    assert!(seen[2].ends_with("[Bearer t0k]"), "{seen:?}");
}

#[test]
fn an_unreachable_registry_is_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reference = Reference::parse(&format!("127.0.0.1:{port}/a/b")).unwrap();
    let e = Client::new(&reference, Access::Pull, None, false)
        .unwrap()
        .ping()
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "cannot reach registry `127.0.0.1:{port}` at http://127.0.0.1:{port}/v2/: "
        )),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("is the registry running?"));
}

#[test]
fn a_registry_token_is_sent_as_it_is() {
    let (port, seen) = fake_registry(b"the weights");
    let reference = Reference::parse(&format!("127.0.0.1:{port}/a/b")).unwrap();
    let client = Client::new(
        &reference,
        Access::Pull,
        Some(Credentials::Token("t0k".into())),
        false,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let wanted = Digest::of(b"the weights");
    let (path, _) = Cache::at(tmp.path()).fetch(&client, &wanted).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"the weights");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "no token endpoint was asked: {seen:?}");
    assert!(seen[1].ends_with("[Bearer t0k]"), "{seen:?}");
}
