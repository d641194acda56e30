//! An object store on an S3-compatible server (AWS S3, MinIO, Ceph, R2, ...): one bucket per
//! bot, named `<bot>.gbai`.
//!
//! Objects are listed, read and stat'ed through opendal, one operator per bucket, built on
//! first use and kept. Listings use ListObjectsV2, whose answer carries each object's ETag,
//! size and last-modified time: no HEAD per object; the top-level folders of a bucket are
//! listed concurrently ([`fanout`]). Bots are discovered with ListBuckets,
//! which opendal does not offer, so [`buckets`] signs and sends it itself.
//!
//! Credentials come only from [`S3Settings`]: loading them from the environment, profile
//! files or instance metadata is disabled, and they are never logged. Requests are not
//! retried here; failures are classified (see [`crate::error`]) and the monitor retries.
//!
//! Known limits: keys with empty or dot segments are listed but cannot be read (see
//! [`crate::keys`]); last-modified times have the millisecond precision of ListObjectsV2
//! (HEAD answers carry whole seconds, but stats keep the ETag, which is what is compared);
//! bucket names with dots do not work with virtual-host style over TLS.

pub(crate) mod buckets;
pub(crate) mod fanout;
pub(crate) mod sigv4;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use opendal::{HttpTransporter, OperationContext};
use opendal_http_transport_reqwest::ReqwestTransport;

use drive_core::{BotName, Lister, ObjectKey, ObjectMeta, ObjectStore, StoreError};

use self::buckets::BucketApi;
use self::fanout::FolderFanOutLister;
use self::sigv4::Credentials;
use crate::backend::BucketPath;
use crate::config::{S3Settings, Secret, parse_endpoint};
use crate::counting::{CountingTransport, RequestCounter};
use crate::error::{StorageError, classify_s3};
use crate::keys::KeyPolicy;

/// An [`ObjectStore`] on an S3-compatible server.
pub struct S3ObjectStore {
    endpoint: reqwest::Url,
    region: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    virtual_host_style: bool,
    client: reqwest::Client,
    counter: Option<RequestCounter>,
    operators: Mutex<HashMap<String, opendal::Operator>>,
}

impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ObjectStore")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("virtual_host_style", &self.virtual_host_style)
            .finish_non_exhaustive()
    }
}

impl S3ObjectStore {
    /// Returns a store on the server at `endpoint` (`http://127.0.0.1:9000`).
    ///
    /// No request is made until the store is used.
    ///
    /// # Errors
    /// [`StorageError::MissingCredentials`] without both keys;
    /// [`StorageError::InvalidUrl`] for an endpoint that is not an http(s) URL;
    /// [`StorageError::InvalidSettings`] when the HTTP client cannot be built.
    pub fn new(endpoint: &str, settings: &S3Settings) -> Result<Self, StorageError> {
        let (Some(access_key_id), Some(secret_access_key)) =
            (&settings.access_key_id, &settings.secret_access_key)
        else {
            return Err(StorageError::MissingCredentials);
        };
        if access_key_id.is_empty() || secret_access_key.expose().is_empty() {
            return Err(StorageError::MissingCredentials);
        }
        let endpoint = parse_endpoint(endpoint)
            .map_err(|reason| StorageError::InvalidUrl { url: endpoint.to_owned(), reason })?;

        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout())
            .read_timeout(settings.read_timeout())
            .build()
            .map_err(|err| StorageError::InvalidSettings {
                backend: "s3",
                source: Box::new(err),
            })?;
        Ok(Self {
            endpoint,
            region: settings.region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: settings.session_token.clone(),
            virtual_host_style: settings.virtual_host_style,
            client,
            counter: None,
            operators: Mutex::default(),
        })
    }

    /// Returns this store counting every request it sends into `counter`, by type.
    ///
    /// Call it before the store is used: operators built earlier keep sending uncounted.
    #[must_use]
    pub fn with_request_counter(mut self, counter: RequestCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Returns the operator of `bucket`, building it on first use.
    fn operator(&self, bucket: &str) -> Result<opendal::Operator, StoreError> {
        let mut operators = self.operators.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(op) = operators.get(bucket) {
            return Ok(op.clone());
        }

        let mut builder = opendal::services::S3::default()
            .bucket(bucket)
            .endpoint(self.endpoint.as_str().trim_end_matches('/'))
            .region(&self.region)
            .access_key_id(&self.access_key_id)
            .secret_access_key(self.secret_access_key.expose())
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(token) = &self.session_token {
            builder = builder.session_token(token.expose());
        }
        if self.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        let inner = ReqwestTransport::new(self.client.clone());
        let transport = match &self.counter {
            Some(counter) => {
                HttpTransporter::new(CountingTransport { inner, counter: counter.clone() })
            }
            None => HttpTransporter::new(inner),
        };
        let op = opendal::Operator::new(builder)
            .map_err(|err| StoreError::Refused(Box::new(err)))?
            .with_context(OperationContext::new().with_http_transport(transport));
        operators.insert(bucket.to_owned(), op.clone());
        Ok(op)
    }

    fn bucket_api(&self) -> BucketApi<'_> {
        BucketApi {
            client: &self.client,
            endpoint: &self.endpoint,
            region: &self.region,
            credentials: Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: self.secret_access_key.expose(),
                session_token: self.session_token.as_ref().map(Secret::expose),
            },
        }
    }
}

fn bucket_path<'a>(op: &'a opendal::Operator, bucket: &'a str) -> BucketPath<'a> {
    BucketPath {
        op,
        bucket,
        prefix: String::new(),
        policy: KeyPolicy::Remote,
        classify: classify_s3,
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        let buckets = self.bucket_api().list_buckets().await?;
        let mut bots: Vec<BotName> =
            buckets.iter().filter_map(|bucket| BotName::from_bucket(bucket)).collect();
        bots.sort();
        Ok(bots)
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        let bucket = bot.bucket();
        let op = self.operator(&bucket)?;
        Ok(Box::new(FolderFanOutLister::start(op, &bucket).await?))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        let bucket = bot.bucket();
        let op = self.operator(&bucket)?;
        bucket_path(&op, &bucket).read(key, limit).await
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let bucket = bot.bucket();
        let op = self.operator(&bucket)?;
        bucket_path(&op, &bucket).stat(key).await
    }
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl crate::contract::StoreFixture for S3ObjectStore {
    fn store(&self) -> &dyn ObjectStore {
        self
    }

    fn has_etags(&self) -> bool {
        true
    }

    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.bucket_api().create_bucket(bucket).await
    }

    async fn put(&self, bucket: &str, key: &str, content: &[u8]) -> Result<(), StoreError> {
        crate::keys::check_key(key, KeyPolicy::Remote)?;
        let op = self.operator(bucket)?;
        let written = if key.ends_with('/') {
            op.create_dir(key).await
        } else {
            op.write(key, content.to_vec()).await.map(drop)
        };
        written.map_err(classify_s3)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        crate::keys::check_key(key, KeyPolicy::Remote)?;
        self.operator(bucket)?.delete(key).await.map_err(classify_s3)
    }

    async fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let op = self.operator(bucket)?;
        op.delete_with("/").recursive(true).await.map_err(classify_s3)?;
        self.operators.lock().unwrap_or_else(PoisonError::into_inner).remove(bucket);
        self.bucket_api().delete_bucket(bucket).await
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::lister::PAGE_SIZE;

    /// The variable naming an S3 server for the contract suite (`http://127.0.0.1:9000`).
    const ENDPOINT_VAR: &str = "DRIVE_TEST_S3_ENDPOINT";

    fn settings() -> S3Settings {
        let key = std::env::var("DRIVE_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "test".into());
        let secret = std::env::var("DRIVE_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "test".into());
        S3Settings::with_keys(key, Secret::new(secret))
    }

    #[tokio::test]
    #[expect(clippy::print_stderr, reason = "a skipped suite must say so where tests report")]
    async fn contract_holds_on_a_real_s3_server() {
        let Ok(endpoint) = std::env::var(ENDPOINT_VAR) else {
            eprintln!("skipped: the S3 contract suite runs when {ENDPOINT_VAR} names a server");
            return;
        };
        let store = S3ObjectStore::new(&endpoint, &settings()).expect("valid s3 settings");
        crate::contract::run_all(&store).await;
    }

    /// Serves connections on a loopback port with `answers` in order, repeating the last
    /// one; returns the endpoint.
    async fn scripted_server(answers: Vec<(u16, String)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut answers = answers.into_iter().peekable();
            let mut current = answers.next().unwrap();
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let (status, body) = &current;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/xml\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                if answers.peek().is_some() {
                    current = answers.next().unwrap();
                }
            }
        });
        format!("http://{address}")
    }

    async fn canned_server(status: u16, body: &str) -> String {
        scripted_server(vec![(status, body.to_owned())]).await
    }

    fn store_at(endpoint: &str) -> S3ObjectStore {
        S3ObjectStore::new(endpoint, &settings()).unwrap()
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        // Take a free port, then close it again so that nothing listens there.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let store = store_at(&endpoint);
        let bot = BotName::new("crm").unwrap();

        assert!(matches!(store.list_bots().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.list(&bot).await, Err(StoreError::Unavailable(_))));
        let read = store.read(&bot, &ObjectKey::new("a.md"), 10).await;
        assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    }

    #[tokio::test]
    async fn server_errors_are_unavailable_and_denials_refused() {
        let bot = BotName::new("crm").unwrap();
        let busy = store_at(&canned_server(503, "<Error><Code>SlowDown</Code></Error>").await);
        assert!(matches!(busy.list_bots().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(busy.list(&bot).await, Err(StoreError::Unavailable(_))));

        let denied = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        let denied = store_at(&canned_server(403, denied).await);
        let Err(StoreError::Refused(cause)) = denied.list_bots().await else {
            panic!("a 403 must be refused");
        };
        assert!(cause.to_string().contains("AccessDenied"), "{cause}");
        assert!(matches!(denied.list(&bot).await, Err(StoreError::Refused(_))));
    }

    #[tokio::test]
    async fn a_missing_bucket_lists_as_not_found() {
        let body = "<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>";
        let store = store_at(&canned_server(404, body).await);
        let bot = BotName::new("crm").unwrap();
        assert!(matches!(store.list(&bot).await, Err(StoreError::NotFound)));
        let read = store.read(&bot, &ObjectKey::new("a.md"), 10).await;
        assert!(matches!(read, Err(StoreError::NotFound)), "{read:?}");
        assert_eq!(store.stat(&bot, &ObjectKey::new("a.md")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_listing_that_fails_halfway_fails_from_next_page_and_stays_failed() {
        let objects: String = (0..PAGE_SIZE)
            .map(|idx| {
                format!(
                    "<Contents><Key>k{idx:04}</Key><Size>1</Size><ETag>\"e{idx}\"</ETag>\
                     <LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>"
                )
            })
            .collect();
        let first_page = format!(
            "<ListBucketResult><IsTruncated>true</IsTruncated>\
             <NextContinuationToken>more</NextContinuationToken>{objects}</ListBucketResult>"
        );
        let broken = "<Error><Code>InternalError</Code></Error>".to_owned();
        let store = store_at(&scripted_server(vec![(200, first_page), (500, broken)]).await);

        let mut lister = store.list(&BotName::new("crm").unwrap()).await.unwrap();
        let page = lister.next_page().await.unwrap().unwrap();
        assert_eq!(page.len(), PAGE_SIZE);
        assert_eq!(page[7].etag.as_ref().map(|etag| etag.as_str()), Some("e7"));
        assert!(matches!(lister.next_page().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(lister.next_page().await, Err(StoreError::Unavailable(_))));
    }

    #[test]
    fn credentials_are_required_and_never_shown() {
        let anonymous = S3ObjectStore::new("http://127.0.0.1:9000", &S3Settings::default());
        assert!(matches!(anonymous, Err(StorageError::MissingCredentials)));
        let settings = S3Settings::with_keys("drive", Secret::new("very-secret"));
        let store = S3ObjectStore::new("http://127.0.0.1:9000", &settings).unwrap();
        assert!(!format!("{store:?}").contains("very-secret"));
        assert!(!format!("{settings:?}").contains("very-secret"));
    }
}
