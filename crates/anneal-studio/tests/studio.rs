//! The studio through its router (no sockets) and once on a real socket: the guard (token,
//! cookie, Host, Origin, headers), every page, media, label edits that become commits, and CLI
//! edits made while it is open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: panics are failures

use std::collections::BTreeMap;
use std::path::Path;

use anneal_build::{PoolReport, Report, TestReport, TrainReport};
use anneal_data::object::Row;
use anneal_data::payload::encode_raw;
use anneal_data::row::Meta;
use anneal_data::tables::Change;
use anneal_data::{ContentHash, Store};
use anneal_studio::{Guard, Studio, Token, app};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

const PORT: u16 = 8765;
const HOST: &str = "127.0.0.1:8765";
const ORIGIN: &str = "http://127.0.0.1:8765";

const MANIFEST: &str = r#"[program]
name = "tiny"
version = "0.1.0"
[data]
input = "image"
shape = [1, 2, 2]
classes = 3
[model]
layers = ["flatten", "dense 3"]
"#;

/// An odd id: user data that must be escaped wherever it is shown.
const ODD: &str = "odd<b>\"&'";

/// Nine examples (`e0`…`e7` and [`ODD`]): labels `i % 3`, `e6`…`e7` and ODD in test, one
/// unlabeled; metadata `pen` = `red` or `blue`.
fn rows_and_blobs() -> (Vec<Row>, Vec<Vec<u8>>) {
    let ids: Vec<String> = (0..8)
        .map(|i| format!("e{i}"))
        .chain([ODD.to_string()])
        .collect();
    let blobs: Vec<Vec<u8>> = (0..9u8)
        .map(|i| encode_raw(1, 2, 2, &[i * 20, 0, 255, i]))
        .collect();
    let rows = ids.iter().enumerate().map(|(i, id)| Row {
        id: id.as_str().into(),
        payload: ContentHash::of(&blobs[i]),
        label: if i == 5 {
            None
        } else {
            Some((i % 3).to_string())
        },
        split: if i >= 6 { "test" } else { "train" }.into(),
        meta: Meta::from_fields(&BTreeMap::from([(
            "pen".to_string(),
            if i % 2 == 0 { "red" } else { "blue" }.to_string(),
        )])),
    });
    (rows.collect(), blobs)
}

/// A program with one commit and a report: trained on `e0`…`e4` (`e4`, labelled 1, with the
/// highest loss and predicted 2), tested on `e6`, `e7`, ODD (predicted 2, 1, 0), and `e5` in
/// the unlabeled pool (predicted 0).
fn one_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("anneal.toml"), MANIFEST).unwrap();
    let store = Store::init(dir.path()).unwrap();
    let (rows, blobs) = rows_and_blobs();
    let blobs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    store.commit(rows, &blobs, "import").unwrap();
    write_report(dir.path());
    dir
}

fn write_report(dir: &Path) {
    let report = Report {
        format: 1,
        build_key: "k".into(),
        dataset_commit: "c".into(),
        classes: vec!["0".into(), "1".into(), "2".into()],
        train: TrainReport {
            ids: (0..5).map(|i| format!("e{i}").into()).collect(),
            labels: vec![0, 1, 2, 0, 1],
            loss: vec![vec![1.0, 2.0, 3.0, 4.0, 5.0], vec![0.5, 1.0, 1.5, 2.0, 9.0]],
            probs: vec![
                vec![0.8, 0.1, 0.1],
                vec![0.1, 0.8, 0.1],
                vec![0.1, 0.1, 0.8],
                vec![0.5, 0.4, 0.1],
                vec![0.05, 0.05, 0.9],
            ],
        },
        test: TestReport {
            ids: vec!["e6".into(), "e7".into(), ODD.into()],
            labels: vec![0, 1, 2],
            probs: vec![
                vec![0.1, 0.2, 0.7],
                vec![0.1, 0.8, 0.1],
                vec![0.6, 0.3, 0.1],
            ],
        },
        pool: PoolReport {
            ids: vec!["e5".into()],
            probs: vec![vec![0.4, 0.35, 0.25]],
        },
    };
    std::fs::create_dir_all(dir.join("target")).unwrap();
    report
        .write(&dir.join("target/tiny-0.1.0.report.json"))
        .unwrap();
}

fn studio(dir: &Path) -> (Studio, String) {
    let token = Token::random().unwrap();
    let text = token.as_str().to_string();
    (
        Studio::open(dir, Guard::new(token, "127.0.0.1", PORT)).unwrap(),
        text,
    )
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(studio: &Studio, req: Request<Body>) -> Reply {
    let response = app(studio.clone()).oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A request with the session cookie and the right Host (and Origin, for a POST).
fn authed(method: &str, uri: &str, token: &str, json: Option<&str>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST)
        .header(
            header::COOKIE,
            format!("other=1; anneal_studio_{PORT}={token}"),
        );
    match json {
        Some(body) => builder
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

async fn get(studio: &Studio, token: &str, uri: &str) -> Reply {
    send(studio, authed("GET", uri, token, None)).await
}

async fn post(studio: &Studio, token: &str, uri: &str, json: &str) -> Reply {
    send(studio, authed("POST", uri, token, Some(json))).await
}

#[tokio::test]
async fn the_token_in_the_url_becomes_a_cookie_and_is_dropped_from_the_url() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let uri = format!("/?split=train&token={token}");
    let req = Request::builder()
        .uri(uri)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let reply = send(&studio, req).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/?split=train");
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert_eq!(
        cookie,
        format!("anneal_studio_{PORT}={token}; HttpOnly; SameSite=Strict; Path=/")
    );
    assert_eq!(get(&studio, &token, "/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_without_the_token_from_a_foreign_host_or_origin_are_refused() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let bare = Request::builder()
        .uri("/")
        .header(header::HOST, HOST)
        .body(Body::empty());
    assert_eq!(
        send(&studio, bare.unwrap()).await.status,
        StatusCode::FORBIDDEN
    );
    let wrong = format!("/?token={}", "0".repeat(64));
    let req = Request::builder()
        .uri(wrong)
        .header(header::HOST, HOST)
        .body(Body::empty());
    assert_eq!(
        send(&studio, req.unwrap()).await.status,
        StatusCode::FORBIDDEN
    );
    let mut cookie = authed("GET", "/", &"f".repeat(64), None);
    assert_eq!(send(&studio, cookie).await.status, StatusCode::FORBIDDEN);
    cookie = authed("GET", "/", &token, None);
    cookie
        .headers_mut()
        .insert(header::HOST, "evil.example:8765".parse().unwrap());
    assert_eq!(send(&studio, cookie).await.status, StatusCode::FORBIDDEN);
    let body = r#"{"id":"e0","label":"2"}"#;
    let mut foreign = authed("POST", "/api/stage", &token, Some(body));
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    let refused = send(&studio, foreign).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Origin"), "{}", refused.body);
    let mut missing = authed("POST", "/api/stage", &token, Some(body));
    missing.headers_mut().remove(header::ORIGIN);
    assert_eq!(send(&studio, missing).await.status, StatusCode::FORBIDDEN);
    assert!(Store::open(dir.path()).unwrap().staged().unwrap().is_none());
    assert_eq!(
        post(&studio, &token, "/api/stage", body).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_response_carries_the_strict_headers_and_no_cors() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    for reply in [
        get(&studio, &token, "/").await,
        get(&studio, "nope", "/").await,
    ] {
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self'"),
            "{csp}"
        );
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(reply.headers[header::REFERRER_POLICY], "no-referrer");
        assert!(
            !reply
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
    let page = get(&studio, &token, "/").await.body;
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline script or style"
    );
}

#[tokio::test]
async fn the_grid_filters_counts_and_escapes_user_data() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let all = get(&studio, &token, "/").await.body;
    assert_eq!(all.matches("class=\"cell").count(), 9);
    assert!(!all.contains("odd<b>"), "ids are escaped");
    assert!(all.contains("odd&#60;b&#62;") || all.contains("odd&lt;b&gt;"));
    let ones = get(&studio, &token, "/?label=1").await.body;
    assert_eq!(ones.matches("class=\"cell").count(), 3, "e1, e4, e7");
    let wrong = get(&studio, &token, "/?split=test&correct=no").await.body;
    assert_eq!(
        wrong.matches("class=\"cell wrong").count(),
        2,
        "e6 (0 -> 2) and ODD (2 -> 0)"
    );
    let red = get(&studio, &token, "/?meta=pen%3Dred").await.body;
    assert_eq!(red.matches("class=\"cell").count(), 5);
    let pool = get(&studio, &token, "/?pool=1").await.body;
    assert_eq!(pool.matches("class=\"cell").count(), 1);
    let top = get(&studio, &token, "/?top=2").await.body;
    let (e4, e3) = (
        top.find("data-id=\"e4\"").unwrap(),
        top.find("data-id=\"e3\"").unwrap(),
    );
    assert!(e4 < e3, "highest mean loss first");
    assert_eq!(top.matches("class=\"cell").count(), 2);
}

#[tokio::test]
async fn the_example_view_shows_the_model_the_loss_and_the_history() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let e6 = get(&studio, &token, "/example/e6?split=test").await;
    assert_eq!(e6.status, StatusCode::OK);
    assert!(e6.body.contains("70.0%"), "top-3");
    assert!(
        e6.body.contains("data-next=\"/panel/e7?split=test\""),
        "{}",
        e6.body
    );
    let e4 = get(&studio, &token, "/panel/e4").await.body;
    assert!(e4.contains("<polyline"), "loss sparkline");
    assert!(e4.contains("<th>pen</th><td>red</td>"));
    let missing = get(&studio, &token, "/example/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("`nope`"));
    let odd = get(&studio, &token, "/example/odd%3Cb%3E%22%26%27").await;
    assert_eq!(odd.status, StatusCode::OK);
}

#[tokio::test]
async fn payloads_are_served_as_png_and_cached_for_good() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let hash = ContentHash::of(&encode_raw(1, 2, 2, &[0, 0, 255, 0])).to_hex();
    let png = get(&studio, &token, &format!("/media/{hash}")).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.headers[header::CONTENT_TYPE], "image/png");
    assert!(
        png.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let unknown = get(&studio, &token, &format!("/media/{}", "a".repeat(64))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&studio, &token, "/media/zz").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn staged_edits_commit_with_a_clear_message_and_bulk_edits_commit_at_once() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    for (id, label) in [("e0", "2"), ("e3", "2"), ("e1", "0")] {
        let body = format!(r#"{{"id":"{id}","label":"{label}"}}"#);
        assert_eq!(
            post(&studio, &token, "/api/stage", &body).await.status,
            StatusCode::OK
        );
    }
    let shown = get(&studio, &token, "/?label=0").await.body;
    assert!(
        shown.contains("3 staged") && shown.contains("&rarr; 2"),
        "staged edits show"
    );
    let done = post(&studio, &token, "/api/commit", "{}").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let store = Store::open(dir.path()).unwrap();
    let log = store.log().unwrap();
    assert_eq!(
        log[0].1.message,
        "studio: relabel 3 examples (0 -> 2 ×2, 1 -> 0)"
    );
    let bulk = r#"{"ids":["e6","e7"],"label":"1"}"#;
    assert_eq!(
        post(&studio, &token, "/api/bulk", bulk).await.status,
        StatusCode::OK
    );
    let log = store.log().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[0].1.message,
        "studio: relabel 2 examples (0 -> 1, 1 -> 1)"
    );
    let ones = get(&studio, &token, "/?label=1&split=test").await.body;
    assert_eq!(ones.matches("class=\"cell").count(), 2);
    let bad = post(&studio, &token, "/api/stage", r#"{"id":"e0","label":"7"}"#).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let gone = post(&studio, &token, "/api/stage", r#"{"id":"zz","label":"1"}"#).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        post(&studio, &token, "/api/commit", "{}").await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn edits_made_from_the_cli_while_the_studio_is_open_show_and_are_not_lost() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let store = Store::open(dir.path()).unwrap();
    post(&studio, &token, "/api/stage", r#"{"id":"e0","label":"1"}"#).await;
    let cli = Change::Label {
        id: "e2".into(),
        label: Some("0".into()),
    };
    store.apply("cli edit", &[cli]).unwrap();
    let zeros = get(&studio, &token, "/?label=0").await.body;
    assert!(zeros.contains("data-id=\"e2\""), "the CLI's edit shows");
    let done = post(&studio, &token, "/api/commit", "{}").await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "staged on an older commit, staged again"
    );
    let head = store.head().unwrap().unwrap();
    let rows = store.commit_rows(&head).unwrap();
    let label = |id: &str| rows.iter().find(|r| r.id == id).unwrap().label.clone();
    assert_eq!(
        (label("e0"), label("e2")),
        (Some("1".into()), Some("0".into()))
    );
}

#[tokio::test]
async fn the_confusion_matrix_links_each_cell_and_the_curves_draw_the_mean_loss() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let matrix = get(&studio, &token, "/confusion").await.body;
    assert!(
        matrix.contains("href=\"/?split=test&#38;label=0&#38;pred=2\""),
        "{matrix}"
    );
    assert!(matrix.contains("accuracy 0.3333"));
    let curves = get(&studio, &token, "/curves").await.body;
    assert!(curves.contains("<polyline") && curves.contains("3.0000") && curves.contains("2.8000"));
}

#[tokio::test]
async fn the_studio_serves_on_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = one_build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = Token::random().unwrap();
    let text = token.as_str().to_string();
    let studio = Studio::open(dir.path(), Guard::new(token, "127.0.0.1", port)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(anneal_studio::serve(listener, studio, async {
        let _ = stopped.await;
    }));
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "GET /curves HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: anneal_studio_{port}={text}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Mean training loss"));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_mislabel_queue_suggests_a_label_and_a_kept_label_leaves_it() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let queue = get(&studio, &token, "/queue/mislabeled").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains("training examples wrong")
            || queue.body.contains("training labels wrong"),
        "{}",
        queue.body
    );
    assert!(
        queue.body.contains("data-suggestion=\"2\" data-id=\"e4\""),
        "{}",
        queue.body
    );
    let next = get(&studio, &token, "/queue/mislabeled/panel/e4")
        .await
        .body;
    assert!(
        next.contains("data-next=\"/queue/mislabeled/panel/"),
        "{next}"
    );
    let kept = post(&studio, &token, "/api/keep", r#"{"id":"e4","label":"1"}"#).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let queue = get(&studio, &token, "/queue/mislabeled").await.body;
    assert!(
        !queue.contains("data-id=\"e4\""),
        "kept labels leave the queue"
    );
}

#[tokio::test]
async fn the_uncertain_queue_prefills_the_predicted_label() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let queue = get(&studio, &token, "/queue/uncertain").await.body;
    assert!(
        queue.contains("data-suggestion=\"0\" data-id=\"e5\""),
        "{queue}"
    );
    assert!(queue.contains("1 least sure of 1 unlabeled"));
    post(&studio, &token, "/api/stage", r#"{"id":"e5","label":"0"}"#).await;
    post(&studio, &token, "/api/commit", "{}").await;
    let queue = get(&studio, &token, "/queue/uncertain").await.body;
    assert!(queue.contains("Nothing to review"), "{queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_runs_the_build_and_the_views_follow_its_report() {
    let dir = one_build();
    let (studio, token) = studio(dir.path());
    let started = post(&studio, &token, "/api/rebuild", "{}").await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let mut state = serde_json::Value::Null;
    for _ in 0..600 {
        state = serde_json::from_str(&get(&studio, &token, "/api/build").await.body).unwrap();
        if state["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state["failed"], false, "{state}");
    assert!(
        state["note"].as_str().unwrap().starts_with("built"),
        "{state}"
    );
    let report = Report::read(&dir.path().join("target/tiny-0.1.0.report.json")).unwrap();
    assert_eq!(
        report.build_key.len(),
        64,
        "a real build's report replaced the fixture's"
    );
    let curves = get(&studio, &token, "/curves").await.body;
    assert!(curves.contains(&format!(
        "over {} training examples",
        report.train.ids.len()
    )));
}

/// A bare store (no program) holding a sound and a table row.
fn sound_and_row() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut wav = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut wav, spec).unwrap();
    for i in 0..800i32 {
        writer.write_sample(((i % 40 - 20) * 800) as i16).unwrap();
    }
    writer.finalize().unwrap();
    let blobs = [
        wav.into_inner(),
        anneal_data::payload::encode_f32(&[0.5, -1.25, 3.0]),
    ];
    let rows = ["sound", "table"].iter().zip(&blobs).map(|(id, b)| Row {
        id: (*id).into(),
        payload: ContentHash::of(b),
        label: Some("yes".into()),
        split: "train".into(),
        meta: Meta::default(),
    });
    let store = Store::init(dir.path()).unwrap();
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    store.commit(rows.collect(), &refs, "import").unwrap();
    dir
}

#[tokio::test]
async fn sounds_show_as_waveforms_with_a_play_button_and_table_rows_as_values() {
    let dir = sound_and_row();
    let (studio, token) = studio(dir.path());
    let grid = get(&studio, &token, "/").await.body;
    assert!(
        grid.contains("class=\"play\"") && grid.contains("src=\"/wave/"),
        "{grid}"
    );
    assert!(
        grid.contains("<code class=\"features\">0.500 -1.250 3.000</code>"),
        "{grid}"
    );
    let hash = grid
        .split("data-src=\"/media/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let wav = get(&studio, &token, &format!("/media/{hash}")).await;
    assert_eq!(wav.headers[header::CONTENT_TYPE], "audio/wav");
    let wave = get(&studio, &token, &format!("/wave/{hash}")).await;
    assert_eq!(wave.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(wave.body.matches("<rect").count(), 96);
    let bad = post(
        &studio,
        &token,
        "/api/stage",
        r#"{"id":"sound","label":"no"}"#,
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::OK,
        "without a program any label goes"
    );
}
