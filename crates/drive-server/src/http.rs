//! The HTTP API: routes, shared state and the one error type every handler returns.
//!
//! Rejected input gets a 4xx with a short JSON body and is not logged as an error; a 5xx
//! body is generic and the cause is logged inside the request's span.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tracing::error;

use drive_core::{BotName, BotReport, FileStateStore, MonitorHandle};
use drive_handlers::KnowledgeHandler;

/// What request handlers share.
#[derive(Debug)]
pub struct ApiState {
    pub handle: MonitorHandle,
    /// The file state, for status and readiness.
    pub state: Arc<dyn FileStateStore>,
    /// Token storage event notifications must carry; `None` refuses them all.
    pub webhook_token: Option<String>,
    /// Answers knowledge searches.
    pub knowledge: Arc<KnowledgeHandler>,
}

/// Returns the service's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(crate::api::readyz))
        .route("/metrics", get(crate::api::metrics_text))
        .route("/api/bots", get(crate::api::list_bots))
        .route("/api/bots/{bot}", get(crate::api::bot_detail))
        .route("/api/bots/{bot}/sync", post(sync_bot))
        .route("/api/bots/{bot}/kb/search", get(crate::search::search_bot))
        .route("/api/bots/{bot}/search", get(crate::search::search_bot))
        .route(
            "/hooks/storage",
            post(crate::webhook::storage_event)
                .layer(axum::extract::DefaultBodyLimit::max(crate::webhook::MAX_BODY_BYTES)),
        )
        .with_state(state)
}

/// A page for people: the status API rendered, refreshed every two seconds.
async fn status_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../assets/status.html"))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Runs a cycle of one bot now and returns its report; waits for a cycle already running.
async fn sync_bot(
    State(state): State<Arc<ApiState>>,
    Path(bot): Path<String>,
) -> Result<Json<BotReport>, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    if !state.handle.bots().contains(&bot) {
        return Err(ApiError::NotFound(format!("no bot named {bot}")));
    }
    let report = state.handle.monitor().sync(&bot).await.map_err(|err| {
        ApiError::Unavailable(anyhow::Error::from(err).context(format!("sync of bot {bot}")))
    })?;
    Ok(Json(report))
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// The request lacks the credentials the endpoint needs; nothing happened.
    Unauthorized(&'static str),
    NotFound(String),
    /// The service is at a limit (connections); trying again later may work.
    Busy(String),
    /// Storage or database trouble; the cause is logged, not sent.
    Unavailable(anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Unauthorized(message) => (StatusCode::UNAUTHORIZED, message.to_owned()),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::Busy(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
            ApiError::Unavailable(err) => {
                error!(error = format!("{err:#}"), "request failed");
                let message = "storage or database unavailable, see the service log".to_owned();
                (StatusCode::SERVICE_UNAVAILABLE, message)
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
