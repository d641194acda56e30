//! Storage event notifications: `POST /hooks/storage` takes S3 event JSON as MinIO and AWS
//! send it and turns each record into a hint for the bot's task.
//!
//! An event is a hint, never the truth: the monitor re-reads the object before acting, so
//! duplicates, losses and reordering change nothing in the end state. Events for unknown
//! buckets, or records that cannot be read, are acknowledged and dropped with a debug log.
//!
//! Authentication: the token configured with `--webhook-token` (or `DRIVE_WEBHOOK_TOKEN`)
//! in the `Authorization` header, bare (as MinIO sends it) or as `Bearer <token>`, compared
//! in constant time. Without a configured token the endpoint refuses every request.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::json;
use tracing::debug;

use drive_core::{BotName, ObjectKey};

use crate::http::{ApiError, ApiState};

/// Largest request body accepted: MinIO batches at most a few hundred records.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The part of an S3 event notification the monitor reads.
#[derive(Debug, Deserialize)]
pub struct EventNotification {
    #[serde(rename = "Records", default)]
    pub records: Vec<EventRecord>,
}

#[derive(Debug, Deserialize)]
pub struct EventRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub s3: EventS3,
}

#[derive(Debug, Deserialize)]
pub struct EventS3 {
    pub bucket: EventBucket,
    pub object: EventObject,
}

#[derive(Debug, Deserialize)]
pub struct EventBucket {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct EventObject {
    /// URL-form-encoded, as S3 sends it.
    pub key: String,
}

/// Takes one notification and hints every record's key to its bot.
pub(crate) async fn storage_event(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Err(err) = check_token(state.webhook_token.as_deref(), &headers) {
        metrics::counter!("drive_webhook_events_total", "outcome" => "unauthorized").increment(1);
        return Err(err);
    }
    let notification: EventNotification = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("not an S3 event notification: {err}")))?;

    let (mut accepted, mut ignored) = (0usize, 0usize);
    for record in notification.records {
        match hint_target(&record) {
            Some((bot, key)) if state.handle.hint(&bot, key.clone()) => {
                debug!(bot = %bot, object.key = %key, event = %record.event_name, "storage event");
                accepted += 1;
            }
            _ => {
                debug!(bucket = %record.s3.bucket.name, event = %record.event_name, "storage event ignored");
                ignored += 1;
            }
        }
    }
    metrics::counter!("drive_webhook_events_total", "outcome" => "accepted")
        .increment(accepted as u64);
    metrics::counter!("drive_webhook_events_total", "outcome" => "ignored")
        .increment(ignored as u64);
    Ok(Json(json!({ "accepted": accepted, "ignored": ignored })))
}

/// Returns the bot and decoded key a record is about, `None` when it names no bot bucket
/// or its key cannot be decoded.
pub fn hint_target(record: &EventRecord) -> Option<(BotName, ObjectKey)> {
    let bot = BotName::from_bucket(&record.s3.bucket.name)?;
    let key = decode_key(&record.s3.object.key)?;
    if key.is_empty() {
        return None;
    }
    Some((bot, ObjectKey::new(key)))
}

/// Decodes an event key exactly once: `+` is a space, `%XX` a byte; the bytes must be
/// UTF-8. `%2B` is a literal `+`, `%2F` a `/`.
pub fn decode_key(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(idx + 1..idx + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                idx += 2;
            }
            byte => out.push(byte),
        }
        idx += 1;
    }
    String::from_utf8(out).ok()
}

/// Accepts the request when its `Authorization` header carries the configured token.
fn check_token(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::Unauthorized("storage events are off: no webhook token is set"));
    };
    let given = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let given = given.map(|value| value.strip_prefix("Bearer ").unwrap_or(value).trim());
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized("missing or wrong webhook token")),
    }
}

/// Compares two byte strings in time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_exactly_once() {
        assert_eq!(decode_key("crm.gbot/config.csv").as_deref(), Some("crm.gbot/config.csv"));
        assert_eq!(decode_key("docs/my+file.md").as_deref(), Some("docs/my file.md"));
        assert_eq!(decode_key("docs/a%2Bb.md").as_deref(), Some("docs/a+b.md"));
        assert_eq!(decode_key("crm.gbkb%2Fdocs%2Fx.md").as_deref(), Some("crm.gbkb/docs/x.md"));
        assert_eq!(decode_key("a%252B.md").as_deref(), Some("a%2B.md"), "decoded once, not twice");
        assert_eq!(decode_key("a%C3%A7%C3%A3o.md").as_deref(), Some("ação.md"));
        assert_eq!(decode_key("bad%2"), None);
        assert_eq!(decode_key("bad%zz"), None);
        assert_eq!(decode_key("bad%FF"), None, "not UTF-8");
    }

    fn record(json: &str) -> EventRecord {
        let notification: EventNotification = serde_json::from_str(json).unwrap();
        notification.records.into_iter().next().unwrap()
    }

    #[test]
    fn minio_and_aws_records_name_bot_and_key() {
        let minio = r#"{"EventName":"s3:ObjectCreated:Put","Key":"crm.gbai/crm.gbot/config.csv",
            "Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put",
            "s3":{"bucket":{"name":"crm.gbai"},"object":{"key":"crm.gbot%2Fconfig.csv","eTag":"abc","size":10,"sequencer":"17"}}}]}"#;
        let (bot, key) = hint_target(&record(minio)).unwrap();
        assert_eq!((bot.as_str(), key.as_str()), ("crm", "crm.gbot/config.csv"));

        let aws = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRemoved:Delete",
            "s3":{"bucket":{"name":"crm.gbai","arn":"arn:aws:s3:::crm.gbai"},"object":{"key":"crm.gbkb/my+notes+%2B1.md","sequencer":"0A"}}}]}"#;
        let (_, key) = hint_target(&record(aws)).unwrap();
        assert_eq!(key.as_str(), "crm.gbkb/my notes +1.md");

        let other = r#"{"Records":[{"eventName":"x","s3":{"bucket":{"name":"logs"},"object":{"key":"a"}}}]}"#;
        assert!(hint_target(&record(other)).is_none(), "buckets that are no bot are ignored");
    }

    #[test]
    fn tokens_are_accepted_bare_or_as_bearer_and_nothing_else() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(check_token(Some("s3cret"), &with("s3cret")).is_ok());
        assert!(check_token(Some("s3cret"), &with("Bearer s3cret")).is_ok());
        assert!(check_token(Some("s3cret"), &with("Bearer wrong")).is_err());
        assert!(check_token(Some("s3cret"), &with("s3cre")).is_err());
        assert!(check_token(Some("s3cret"), &HeaderMap::new()).is_err());
        assert!(check_token(None, &with("anything")).is_err(), "no token configured, no events");
    }
}
