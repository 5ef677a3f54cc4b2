//! # anneal-studio: the local web IDE on a program's dataset and its last build
//!
//! `anneal studio` serves this crate on 127.0.0.1. Server-rendered pages (askama templates in
//! `templates/`, escaping every value) with one small script and one stylesheet (`assets/`,
//! embedded with `include_str!`): `cargo build` is the only build step.
//!
//! - [`state`]: [`Studio`], the shared state; every request brings its index up to date with
//!   HEAD and the report, so CLI edits made meanwhile show.
//! - [`index`]: the HEAD snapshot in memory, interned, patched in place on label edits;
//!   [`joined`]: the build report joined to it by id; [`filter`]: the grid's filters.
//! - [`views`]: the pages: grid, example (and the panel the script swaps in), confusion
//!   matrix, training curves, the mislabel and uncertain queues; [`svg`]: their small charts; [`media`]: payloads as PNG, WAV
//!   and waveforms, at URLs named by content hash.
//! - [`edits`]: label edits: staged and committed, or in bulk as one commit; [`history`]: an
//!   example's label across commits; [`build`]: rebuilding from the studio; the queues
//!   ([`views::queue`]) come from `anneal_build::queue`.
//! - [`security`]: the token, cookie, `Host` and `Origin` checks and the headers (promise 13);
//!   [`error`]: [`StudioError`], the one error type, as responses.
//!
//! [`app`] is the router (testable with `tower::ServiceExt::oneshot`); [`serve`] runs it on a
//! listener until `shutdown` completes.

pub mod build;
pub mod edits;
pub mod error;
pub mod filter;
pub mod history;
pub mod index;
pub mod joined;
pub mod media;
pub mod security;
pub mod state;
pub mod svg;
pub mod views;

use std::future::Future;

use anneal_data::ContentHash;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use error::StudioError;
pub use security::{Guard, Token};
pub use state::Studio;

const SCRIPT: &str = include_str!("../assets/studio.js");
const STYLE: &str = include_str!("../assets/studio.css");
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The script's and stylesheet's URLs, named by their content (so a browser caches them for
/// good and a new binary's are fetched anew).
pub(crate) fn asset_urls() -> &'static (String, String) {
    static URLS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    URLS.get_or_init(|| {
        let short = |s: &str| ContentHash::of(s.as_bytes()).to_hex()[..12].to_string();
        let (js, css) = (short(SCRIPT), short(STYLE));
        (
            format!("/assets/studio-{js}.js"),
            format!("/assets/studio-{css}.css"),
        )
    })
}

/// The studio's routes, behind its guard.
pub fn app(studio: Studio) -> Router {
    let guard = studio.inner.guard.clone();
    Router::new()
        .route("/", get(views::grid::grid))
        .route("/example/{id}", get(views::example::example))
        .route("/panel/{id}", get(views::example::panel))
        .route("/confusion", get(views::charts::confusion))
        .route("/curves", get(views::charts::curves))
        .route("/queue/mislabeled", get(views::queue::mislabeled_page))
        .route("/queue/uncertain", get(views::queue::uncertain_page))
        .route(
            "/queue/{name}/panel/{id}",
            get(views::queue::queue_panel_route),
        )
        .route("/media/{hash}", get(media))
        .route("/wave/{hash}", get(wave))
        .route("/assets/{file}", get(asset))
        .route("/api/stage", post(stage))
        .route("/api/commit", post(commit))
        .route("/api/discard", post(discard))
        .route("/api/bulk", post(bulk))
        .route("/api/keep", post(keep))
        .route("/api/rebuild", post(rebuild))
        .route("/api/build", get(build_state))
        .with_state(studio)
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
}

/// Serve `studio` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    studio: Studio,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(studio))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The payload named `hash`: from the index as it is (payloads never change under their
/// name), or after bringing it up to date when it is not there yet (a new import).
async fn payload_of(studio: &Studio, hash: &str) -> Result<Vec<u8>, StudioError> {
    let unknown = || StudioError::UnknownPayload(hash.to_string());
    let h: ContentHash = hash.parse().map_err(|_| unknown())?;
    let read = || studio.index().payload(h).map(<[u8]>::to_vec);
    if let Some(bytes) = read() {
        return Ok(bytes);
    }
    studio.refresh().await?;
    read().ok_or_else(unknown)
}

/// A response cached for good (its URL names its content).
fn immutable(kind: &'static str, body: impl IntoResponse) -> Response {
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, IMMUTABLE),
    ];
    (headers, body).into_response()
}

/// `GET /media/{hash}`: the payload as an image or a sound.
async fn media(
    State(studio): State<Studio>,
    Path(hash): Path<String>,
) -> Result<Response, StudioError> {
    let (kind, body) = media::served(&payload_of(&studio, &hash).await?)?;
    Ok(immutable(kind, body))
}

/// `GET /wave/{hash}`: a WAV payload's waveform.
async fn wave(
    State(studio): State<Studio>,
    Path(hash): Path<String>,
) -> Result<Response, StudioError> {
    let svg = media::waveform(&payload_of(&studio, &hash).await?, 96)?;
    Ok(immutable("image/svg+xml", svg))
}

/// `GET /assets/{file}`: the script or the stylesheet, under its content-named URL.
async fn asset(Path(file): Path<String>) -> Result<Response, StudioError> {
    let (js, css) = asset_urls();
    let path = format!("/assets/{file}");
    if path == *js {
        return Ok(immutable("text/javascript; charset=utf-8", SCRIPT));
    }
    if path == *css {
        return Ok(immutable("text/css; charset=utf-8", STYLE));
    }
    Err(StudioError::UnknownPayload(file))
}

async fn stage(
    State(studio): State<Studio>,
    Json(edit): Json<edits::LabelEdit>,
) -> Result<Json<edits::Outcome>, StudioError> {
    studio.refresh().await?;
    Ok(Json(studio.stage(edit).await?))
}

async fn commit(State(studio): State<Studio>) -> Result<Json<edits::Outcome>, StudioError> {
    studio.refresh().await?;
    Ok(Json(studio.commit().await?))
}

async fn discard(State(studio): State<Studio>) -> Result<Json<edits::Outcome>, StudioError> {
    Ok(Json(studio.discard().await?))
}

async fn bulk(
    State(studio): State<Studio>,
    Json(edit): Json<edits::BulkEdit>,
) -> Result<Json<edits::Outcome>, StudioError> {
    studio.refresh().await?;
    Ok(Json(studio.bulk(edit).await?))
}

async fn keep(
    State(studio): State<Studio>,
    Json(edit): Json<edits::LabelEdit>,
) -> Result<Json<edits::Outcome>, StudioError> {
    Ok(Json(studio.keep(edit).await?))
}

async fn rebuild(State(studio): State<Studio>) -> Result<Json<build::BuildState>, StudioError> {
    studio.start_build()?;
    Ok(Json(studio.build_state()))
}

async fn build_state(State(studio): State<Studio>) -> Json<build::BuildState> {
    Json(studio.build_state())
}
