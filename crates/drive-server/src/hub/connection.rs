//! One WebSocket client: the `GET /ws/{bot}` route that checks and upgrades the request, and
//! the task that serves the connection until either side ends it.
//!
//! Checks, in order, before anything is upgraded: the bot name (400), the bot's access token
//! when it has one (401: `?token=` or `Authorization: Bearer`, compared in constant time;
//! browsers cannot set headers on a WebSocket, hence the query form), that the bot is
//! mounted (404), the upgrade headers (400), and room for one more client of the bot (503).
//!
//! Clients only ever send control frames: text and binary frames are ignored, and frames
//! over [`MAX_CLIENT_MESSAGE`] end the connection.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument as _, debug, info, info_span, warn};

use drive_core::BotName;

use super::{Admission, Frame, Hub, LiveState, Subscription};
use crate::http::ApiError;
use crate::webhook::constant_time_eq;

/// Largest frame a client may send. Clients send nothing but control frames, whose payload
/// is at most 125 bytes; anything larger is not a client of this hub.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// Bytes read from a client socket at once. Tungstenite allocates this buffer up front for
/// every connection (128 KiB by default), and clients send only control frames.
const READ_BUFFER: usize = 4 * 1024;

/// How long a close frame may take to leave before the connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The query of `GET /ws/{bot}`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Upgrades `GET /ws/{bot}` to a WebSocket subscribed to the bot's events.
pub async fn ws_route(
    State(state): State<Arc<LiveState>>,
    Path(bot): Path<String>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    authorize(&state.hub, &bot, query.token.as_deref(), &headers)?;
    if !state.api.handle.bots().contains(&bot) {
        return Err(ApiError::NotFound(format!("no bot named {bot}")));
    }
    let upgrade = upgrade.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let Some(admission) = state.hub.admit(&bot) else {
        return Err(ApiError::Busy(format!("bot {bot} has as many live clients as allowed")));
    };

    let upgrade = upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE);
    let hub = state.hub.clone();
    Ok(upgrade.on_upgrade(move |socket| hub.connections.track_future(serve(socket, admission))))
}

/// Accepts the request when `bot` has no token, or when the request carries it.
///
/// # Errors
/// [`ApiError::Unauthorized`] when the bot has a token and the request lacks it or carries
/// another; which of the two is not said.
pub(crate) fn authorize(
    hub: &Hub,
    bot: &BotName,
    query_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(expected) = hub.config.tokens.get(bot) else { return Ok(()) };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer.or(query_token) {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized("missing or wrong access token for this bot")),
    }
}

/// Serves one client until it leaves, falls silent, cannot keep up, or the hub closes.
async fn serve(socket: WebSocket, admission: Admission) {
    let hub = admission.hub().clone();
    let client_id = hub.next_client.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let span = info_span!("ws_client", bot = %admission.bot(), client.id = client_id);
    let mut client = Client { socket, hub, admission, lagged_before: false };
    async move {
        debug!("client connected");
        let reason = client.run().await;
        debug!(reason, "client gone");
    }
    .instrument(span)
    .await;
}

struct Client {
    socket: WebSocket,
    hub: Arc<Hub>,
    admission: Admission,
    /// Whether this client fell behind before, so that only the first time is logged.
    lagged_before: bool,
}

/// Why a connection ended, for the debug log.
type EndReason = &'static str;

impl Client {
    /// Sends the state, then events as they come, answering pings and sending its own,
    /// until the connection ends; returns why it ended.
    async fn run(&mut self) -> EndReason {
        let bot = self.admission.bot().clone();
        let Subscription { first, mut events } = match self.hub.subscribe(&bot).await {
            Ok(subscription) => subscription,
            Err(err) => {
                warn!(
                    error = &err as &(dyn std::error::Error + 'static),
                    "theme state unavailable"
                );
                self.close(close_code::ERROR, "theme state unavailable").await;
                return "theme state unavailable";
            }
        };
        if let Err(reason) = self.send(first).await {
            return reason;
        }

        let interval = self.hub.config.ping_interval;
        let mut pings = tokio::time::interval_at(Instant::now() + interval, interval);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            let step = tokio::select! {
                biased;
                () = self.hub.shutdown.cancelled() => {
                    self.close(close_code::AWAY, "server shutting down").await;
                    Err("server shutting down")
                }
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None => Err("client closed"),
                    Some(Ok(_)) => {
                        last_heard = Instant::now();
                        Ok(())
                    }
                    Some(Err(_)) => Err("client sent a bad or oversized frame"),
                },
                _ = pings.tick() => {
                    if last_heard.elapsed() > 2 * interval {
                        self.close(close_code::AWAY, "no answer to pings").await;
                        Err("no answer to pings")
                    } else {
                        self.send_message(Message::Ping(Default::default())).await
                    }
                }
                event = events.recv() => match event {
                    Ok(frame) => self.send(frame).await,
                    Err(RecvError::Lagged(missed)) => match self.hub.resubscribe(&bot) {
                        Some(resync) => {
                            self.log_lag(missed);
                            events = resync.events;
                            self.send(resync.first).await
                        }
                        None => Err("bot channel closed"),
                    },
                    Err(RecvError::Closed) => Err("bot channel closed"),
                },
            };
            if let Err(reason) = step {
                return reason;
            }
        }
    }

    async fn send(&mut self, frame: Frame) -> Result<(), EndReason> {
        self.send_message(Message::Text(frame.text)).await
    }

    /// Sends one message, giving up on a client that cannot take it within the send timeout.
    async fn send_message(&mut self, message: Message) -> Result<(), EndReason> {
        match tokio::time::timeout(self.hub.config.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("client went away"),
            Err(_) => {
                self.hub.slow_disconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                info!(
                    send_timeout.s = self.hub.config.send_timeout.as_secs_f64(),
                    "client too slow to take a message, disconnected"
                );
                Err("client too slow")
            }
        }
    }

    /// Sends a close frame, briefly: a client that does not take it is dropped anyway.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.send(Message::Close(Some(frame))))
            .await;
    }

    fn log_lag(&mut self, missed: u64) {
        if self.lagged_before {
            debug!(events.missed = missed, "client fell behind again, sent the full state");
        } else {
            self.lagged_before = true;
            info!(events.missed = missed, "client fell behind, sent the full state instead");
        }
    }
}
