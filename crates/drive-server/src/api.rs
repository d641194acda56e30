//! Operability endpoints: readiness, Prometheus metrics and the per-bot status API.
//!
//! `/readyz` says whether the service can do its job now (storage and database answer);
//! `/healthz` only that the process runs. Metrics come from the `metrics` facade the core
//! records into; the recorder is installed once per process.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use drive_core::BotName;

use crate::http::{ApiError, ApiState};
use crate::status::{BotStatus, bot_status};

/// Longest a readiness probe waits for storage or database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Returns the process's Prometheus handle, installing the recorder on first use; `None`
/// when another recorder was installed by the host application.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

pub(crate) async fn metrics_text() -> impl IntoResponse {
    let body = metrics_handle().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// 200 when storage and database answer within the timeout, 503 otherwise, with what was
/// checked.
pub(crate) async fn readyz(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    let storage = tokio::time::timeout(READINESS_TIMEOUT, state.handle.monitor().discover()).await;
    let storage_ok = matches!(storage, Ok(Ok(_)));
    let database = tokio::time::timeout(READINESS_TIMEOUT, state.state.bots()).await;
    let database_ok = matches!(database, Ok(Ok(_)));
    let status =
        if storage_ok && database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": storage_ok && database_ok,
        "storage": if storage_ok { "ok" } else { "unavailable" },
        "database": if database_ok { "ok" } else { "unavailable" },
        "bots": state.handle.bots().len(),
    });
    (status, Json(body))
}

/// The mounted bots with their file counts and failing changes.
pub(crate) async fn list_bots(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut bots = Vec::new();
    for bot in state.handle.bots() {
        let status = load_status(&state, &bot).await?;
        bots.push(json!({
            "bot": status.bot,
            "tracked": status.tracked,
            "failing": status.failing.len(),
            "last_cycle": status.recent_cycles.last(),
            "progress": status.progress,
        }));
    }
    Ok(Json(json!({ "bots": bots })))
}

/// One bot: files by kind, failing changes with errors, recent cycles.
pub(crate) async fn bot_detail(
    State(state): State<Arc<ApiState>>,
    Path(bot): Path<String>,
) -> Result<Json<BotStatus>, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    if !state.handle.bots().contains(&bot) {
        return Err(ApiError::NotFound(format!("no bot named {bot}")));
    }
    Ok(Json(load_status(&state, &bot).await?))
}

async fn load_status(state: &ApiState, bot: &BotName) -> Result<BotStatus, ApiError> {
    bot_status(state.state.as_ref(), state.handle.monitor(), &state.knowledge, bot).await.map_err(
        |err| {
            ApiError::Unavailable(anyhow::Error::from(err).context(format!("status of bot {bot}")))
        },
    )
}
