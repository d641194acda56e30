//! The embedder of an OpenAI-compatible service: `POST {url}/v1/embeddings` with
//! `{"model": ..., "input": [...]}`, answered by `{"data": [{"index": n, "embedding": [...]}]}`.
//!
//! Texts go in batches of [`HttpEmbedderConfig::batch`]; each request has a timeout and is
//! retried with doubling back-off on connection failures, timeouts, 429 and 5xx. Other
//! answers are refusals (bad key, unknown model) and are not retried here.
//!
//! The key is sent as a bearer token and never logged or shown: `Debug` redacts it and
//! errors name only the status and the service's own message.
//!
//! Known limits: no TLS client certificates; the service's `usage` figures are ignored.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drive_core::{EmbedError, Embedder};
use serde::Deserialize;
use tracing::debug;

/// Where and how to reach an embedding service.
#[derive(Clone)]
pub struct HttpEmbedderConfig {
    /// The service's base URL (`https://api.openai.com`); `/v1/embeddings` is appended
    /// unless the URL already ends with `/embeddings`.
    pub url: String,
    pub model: String,
    /// Bearer token; empty for none.
    pub key: String,
    /// Texts per request (default 64).
    pub batch: usize,
    /// Timeout of one request (default 30 s).
    pub timeout: Duration,
    /// Retries of a request after a transient failure (default 3).
    pub retries: u32,
    /// Wait before the first retry, doubled each time (default 250 ms).
    pub backoff: Duration,
}

impl HttpEmbedderConfig {
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            key: String::new(),
            batch: 64,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(250),
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    fn endpoint(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/embeddings") {
            base.to_owned()
        } else if base.ends_with("/v1") {
            format!("{base}/embeddings")
        } else {
            format!("{base}/v1/embeddings")
        }
    }
}

impl fmt::Debug for HttpEmbedderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEmbedderConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("key", &if self.key.is_empty() { "" } else { "<redacted>" })
            .field("batch", &self.batch)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

/// An [`Embedder`] over an OpenAI-compatible HTTP service.
#[derive(Debug)]
pub struct HttpEmbedder {
    config: HttpEmbedderConfig,
    endpoint: String,
    identity: String,
    client: Result<reqwest::Client, String>,
}

impl HttpEmbedder {
    /// Returns an embedder for `config`. A client that cannot be built (no TLS backend)
    /// makes every call fail as unavailable rather than failing here.
    pub fn new(config: HttpEmbedderConfig) -> Self {
        let endpoint = config.endpoint();
        let identity = format!("{}@{}", config.model, config.url.trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|err| err.to_string());
        Self { config, endpoint, identity, client }
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = serde_json::json!({ "model": self.config.model, "input": texts });
        let body = serde_json::to_vec(&body).map_err(|err| EmbedError::Refused(err.to_string()))?;
        let mut wait = self.config.backoff;
        let mut attempt = 0;
        loop {
            match self.post(&body).await {
                Err(Failure::Transient(cause)) if attempt < self.config.retries => {
                    debug!(attempt, error = %cause, "embedding request failed, retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                Err(Failure::Transient(cause)) => {
                    return Err(EmbedError::Unavailable(cause.into()));
                }
                Err(Failure::Refused(message)) => return Err(EmbedError::Refused(message)),
                Ok(vectors) => return check_count(vectors, texts.len()),
            }
        }
    }

    async fn post(&self, body: &[u8]) -> Result<Vec<Vec<f32>>, Failure> {
        let client = self.client.as_ref().map_err(|err| Failure::Transient(err.clone()))?;
        let mut request = client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if !self.config.key.is_empty() {
            request = request.bearer_auth(&self.config.key);
        }
        let response = request.send().await.map_err(|err| Failure::Transient(err.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| Failure::Transient(err.to_string()))?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Transient(format!("the service answered {status}")));
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .ok()
                .and_then(|body| body.error)
                .and_then(|error| error.message)
                .unwrap_or_default();
            return Err(Failure::Refused(format!("the service answered {status} {message}")));
        }
        let parsed: EmbeddingsBody = serde_json::from_slice(&bytes)
            .map_err(|err| Failure::Refused(format!("unexpected answer: {err}")))?;
        let mut data = parsed.data;
        data.sort_by_key(|item| item.index);
        Ok(data.into_iter().map(|item| item.embedding).collect())
    }
}

#[async_trait]
impl Embedder for HttpEmbedder {
    fn model(&self) -> &str {
        &self.identity
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch.max(1)) {
            vectors.extend(self.embed_batch(batch).await?);
        }
        Ok(vectors)
    }
}

enum Failure {
    Transient(String),
    Refused(String),
}

fn check_count(vectors: Vec<Vec<f32>>, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    if vectors.len() == expected {
        Ok(vectors)
    } else {
        Err(EmbedError::Refused(format!("{} vectors for {expected} texts", vectors.len())))
    }
}

#[derive(Deserialize)]
struct EmbeddingsBody {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// One request as the loopback server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        authorization: Option<String>,
        body: serde_json::Value,
    }

    /// Starts a loopback HTTP/1.1 server answering each request with the next status in
    /// `statuses` (then 200), vectors `[len(text), index]`; returns its URL and requests.
    fn serve(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&mut stream) else { continue };
                let status = statuses.next().unwrap_or(200);
                let body = if status == 200 { answer(&request.body) } else { error_body() };
                log.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        (url, seen)
    }

    fn read_request(stream: &mut std::net::TcpStream) -> Option<Seen> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let path = line.split_whitespace().nth(1)?.to_owned();
        let (mut length, mut authorization) = (0, None);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Seen { path, authorization, body: serde_json::from_slice(&body).ok()? })
    }

    fn answer(request: &serde_json::Value) -> String {
        let inputs = request["input"].as_array().cloned().unwrap_or_default();
        // Answered in reverse order, as the index field allows.
        let data: Vec<serde_json::Value> = inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(idx, text)| {
                let len = text.as_str().unwrap_or("").len() as f32;
                serde_json::json!({ "index": idx, "embedding": [len, idx as f32] })
            })
            .collect();
        serde_json::json!({ "data": data }).to_string()
    }

    fn error_body() -> String {
        r#"{"error":{"message":"nope"}}"#.to_owned()
    }

    fn config(url: &str) -> HttpEmbedderConfig {
        let mut config = HttpEmbedderConfig::new(url, "tiny").with_key("sk-secret");
        config.batch = 2;
        config.backoff = Duration::from_millis(1);
        config
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn texts_are_batched_and_vectors_come_back_in_order() {
        let (url, seen) = serve(vec![]);
        let embedder = HttpEmbedder::new(config(&url));
        let vectors = embedder.embed(&texts(&["a", "bb", "ccc"])).await.unwrap();
        assert_eq!(vectors, [vec![1.0, 0.0], vec![2.0, 1.0], vec![3.0, 0.0]]);

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "two batches of at most two");
        assert_eq!(seen[0].path, "/v1/embeddings");
        assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-secret"));
        assert_eq!(seen[0].body["model"], "tiny");
        assert_eq!(embedder.model(), format!("tiny@{url}"));
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_refusals_are_not() {
        let (url, seen) = serve(vec![503, 429]);
        let embedder = HttpEmbedder::new(config(&url));
        assert_eq!(embedder.embed(&texts(&["a"])).await.unwrap().len(), 1);
        assert_eq!(seen.lock().unwrap().len(), 3);

        let (url, seen) = serve(vec![401]);
        let err = HttpEmbedder::new(config(&url)).embed(&texts(&["a"])).await.unwrap_err();
        assert!(!err.is_retryable() && err.to_string().contains("nope"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_service_is_unavailable_after_retries() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = HttpEmbedder::new(config(&url)).embed(&texts(&["a"])).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let embedder = HttpEmbedder::new(config("http://127.0.0.1:1"));
        assert!(!format!("{embedder:?}").contains("sk-secret"));
    }

    #[test]
    fn endpoints_accept_base_or_full_urls() {
        let endpoint = |url: &str| HttpEmbedderConfig::new(url, "m").endpoint();
        assert_eq!(endpoint("http://h:1/"), "http://h:1/v1/embeddings");
        assert_eq!(endpoint("http://h/v1"), "http://h/v1/embeddings");
        assert_eq!(endpoint("http://h/v1/embeddings"), "http://h/v1/embeddings");
    }
}
