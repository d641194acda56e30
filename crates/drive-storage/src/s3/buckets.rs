//! Bucket-level S3 requests that opendal does not make: ListBuckets for bot discovery, and
//! CreateBucket and DeleteBucket for test fixtures.
//!
//! Requests are signed here (see [`super::sigv4`]) and always use path-style addressing
//! against the configured endpoint, which is where S3 serves the bucket list in either
//! addressing style.
//!
//! Known limits: CreateBucket sends no location constraint, so it only creates buckets in
//! the endpoint's default region (enough for local S3 servers used in tests). A 200 answer
//! to ListBuckets that is not a `ListAllMyBucketsResult` document is an error rather than an
//! empty list, so that a misrouted request never unmounts every bot.

use std::time::SystemTime;

use bytes::Bytes;
use reqwest::{Method, Url};
use serde::Deserialize;
use tracing::debug;

use drive_core::StoreError;

use super::sigv4::{self, Credentials};
use crate::error::{StorageError, classify_s3_status, classify_s3_transport};

/// Where and as whom bucket-level requests are sent.
pub(crate) struct BucketApi<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) endpoint: &'a Url,
    pub(crate) region: &'a str,
    pub(crate) credentials: Credentials<'a>,
}

impl BucketApi<'_> {
    /// Returns the names of every bucket the credentials can see, in the server's order.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached, answers 5xx or sends
    /// an unreadable body; [`StoreError::Refused`] when it denies the request.
    pub(crate) async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "ListBuckets";
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query: Vec<(&str, &str)> = token
                .as_deref()
                .map(|token| vec![("continuation-token", token)])
                .unwrap_or_default();
            let body = self.send(OPERATION, Method::GET, "/", &query).await?;
            let page = parse_bucket_list(&body)?;
            names.extend(page.buckets.bucket.into_iter().map(|bucket| bucket.name));

            // A server that answers the same token again would loop forever.
            match page.continuation_token.filter(|next| !next.is_empty()) {
                Some(next) if token.as_ref() == Some(&next) => {
                    return Err(unreadable(
                        OPERATION,
                        "the server repeated its continuation token",
                    ));
                }
                Some(next) => token = Some(next),
                None => break,
            }
        }
        debug!(buckets = names.len(), "listed buckets");
        Ok(names)
    }

    /// Creates a bucket.
    #[cfg(any(test, feature = "test-util"))]
    ///
    /// # Errors
    /// The classified error of the request; an existing bucket is [`StoreError::Refused`].
    pub(crate) async fn create_bucket(&self, name: &str) -> Result<(), StoreError> {
        self.send("CreateBucket", Method::PUT, &format!("/{name}"), &[]).await.map(drop)
    }

    /// Deletes an empty bucket.
    #[cfg(any(test, feature = "test-util"))]
    ///
    /// # Errors
    /// The classified error of the request; a missing bucket is [`StoreError::NotFound`].
    pub(crate) async fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        self.send("DeleteBucket", Method::DELETE, &format!("/{name}"), &[]).await.map(drop)
    }

    /// Sends one signed request with an empty body and returns the body of a 2xx answer.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Bytes, StoreError> {
        let mut url = self.endpoint.clone();
        url.set_path(&sigv4::canonical_path(path));
        let query_text = sigv4::canonical_query(query);
        url.set_query((!query_text.is_empty()).then_some(query_text.as_str()));

        let host = host_header(self.endpoint);
        let request = sigv4::Request {
            method: method.as_str(),
            host: &host,
            path,
            query,
            region: self.region,
            service: "s3",
            time: SystemTime::now(),
        };
        let headers = sigv4::sign(&request, &self.credentials);
        let mut builder = self.client.request(method, url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }

        let response = builder.send().await.map_err(|err| classify_s3_transport(operation, err))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| classify_s3_transport(operation, err))?;
        if !status.is_success() {
            return Err(classify_s3_status(operation, status.as_u16(), error_code(&body)));
        }
        Ok(body)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketList {
    #[serde(default)]
    buckets: Buckets,
    #[serde(default)]
    continuation_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Buckets {
    #[serde(rename = "Bucket", default)]
    bucket: Vec<Bucket>,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code")]
    code: Option<String>,
}

/// Returns the bucket list in a ListBuckets answer.
fn parse_bucket_list(body: &[u8]) -> Result<BucketList, StoreError> {
    const OPERATION: &str = "ListBuckets";
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(unreadable(OPERATION, "the body is not UTF-8"));
    };
    if root_element(text) != Some("ListAllMyBucketsResult") {
        return Err(unreadable(OPERATION, "the body is not a ListAllMyBucketsResult document"));
    }
    quick_xml::de::from_str(text).map_err(|err| {
        StoreError::Unavailable(Box::new(StorageError::S3Body {
            operation: OPERATION,
            source: Box::new(err),
        }))
    })
}

/// Returns the name of the first element of an XML document, without its namespace prefix.
fn root_element(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        // Skip the XML declaration, processing instructions, comments and doctypes.
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
        let name = &rest[..end];
        return Some(name.rsplit(':').next().unwrap_or(name));
    }
}

/// Returns the S3 error code of an error answer, if its body has one.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let parsed: ErrorBody = quick_xml::de::from_str(text).ok()?;
    parsed.code.filter(|code| !code.is_empty())
}

/// Returns the `Host` header reqwest sends for `endpoint`.
fn host_header(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn unreadable(operation: &'static str, reason: &'static str) -> StoreError {
    StoreError::Unavailable(Box::new(StorageError::S3Body { operation, source: reason.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_lists_parse_with_owner_dates_and_tokens() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Owner><ID>1</ID><DisplayName>me</DisplayName></Owner>
              <Buckets>
                <Bucket><Name>crm.gbai</Name><CreationDate>2024-01-01T00:00:00Z</CreationDate></Bucket>
                <Bucket><Name>logs</Name><CreationDate>2024-01-01T00:00:00Z</CreationDate></Bucket>
              </Buckets>
              <ContinuationToken>next-page</ContinuationToken>
            </ListAllMyBucketsResult>"#;
        let list = parse_bucket_list(body).unwrap();
        let names: Vec<&str> = list.buckets.bucket.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["crm.gbai", "logs"]);
        assert_eq!(list.continuation_token.as_deref(), Some("next-page"));
    }

    #[test]
    fn empty_bucket_lists_parse_to_nothing() {
        let body = b"<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>";
        assert!(parse_bucket_list(body).unwrap().buckets.bucket.is_empty());
        let body = b"<ListAllMyBucketsResult><Owner/><Buckets/></ListAllMyBucketsResult>";
        assert!(parse_bucket_list(body).unwrap().buckets.bucket.is_empty());
    }

    #[test]
    fn a_page_that_is_not_a_bucket_list_is_an_error_not_an_empty_list() {
        for body in [&b"<html><body>proxy says hi</body></html>"[..], b"", b"\xff\xfe"] {
            let err = parse_bucket_list(body).unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        }
    }

    #[test]
    fn error_bodies_give_their_code() {
        let body = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("AccessDenied"));
        assert_eq!(error_code(b"not xml"), None);
    }

    #[test]
    fn host_headers_keep_only_non_default_ports() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert_eq!(host_header(&url("http://127.0.0.1:9000")), "127.0.0.1:9000");
        assert_eq!(host_header(&url("https://s3.example.com:443")), "s3.example.com");
        assert_eq!(host_header(&url("http://[::1]:9000/")), "[::1]:9000");
    }
}
