//! AWS Signature Version 4 for the few bucket-level requests opendal does not make
//! (ListBuckets, and CreateBucket and DeleteBucket for test fixtures).
//!
//! Signs a request with an empty body (its payload hash is sent as `x-amz-content-sha256`)
//! and returns the headers to add. The signature covers the method, path, query, `host`,
//! `x-amz-content-sha256`, `x-amz-date` and, with temporary credentials,
//! `x-amz-security-token`.
//!
//! Known limits: only empty bodies are signed; no chunked or unsigned payloads, no presigned
//! URLs.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of the empty payload, in hex.
pub(crate) const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Keys that sign a request. Never logged.
pub(crate) struct Credentials<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) session_token: Option<&'a str>,
}

/// What the signature covers.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The `Host` header as it will be sent: `host` or `host:port` for non-default ports.
    pub(crate) host: &'a str,
    /// The absolute path, not yet encoded (`/` or `/bucket`).
    pub(crate) path: &'a str,
    /// Query parameters, not yet encoded.
    pub(crate) query: &'a [(&'a str, &'a str)],
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) time: SystemTime,
}

/// Returns the query string as SigV4 encodes it: names and values percent-encoded, sorted.
///
/// Send exactly this string, so that what the server decodes is what was signed.
pub(crate) fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (uri_encode(name, true), uri_encode(value, true)))
        .collect();
    pairs.sort();
    let pairs: Vec<String> =
        pairs.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
    pairs.join("&")
}

/// Returns the path as SigV4 encodes it: every segment percent-encoded, slashes kept.
pub(crate) fn canonical_path(path: &str) -> String {
    uri_encode(path, false)
}

/// Returns the headers that authenticate `request`, as (lower-case name, value) pairs.
pub(crate) fn sign(request: &Request<'_>, credentials: &Credentials<'_>) -> Vec<(String, String)> {
    let (amz_date, day) = amz_date(request.time);
    let scope = format!("{day}/{}/{}/aws4_request", request.region, request.service);

    let mut headers = vec![
        ("host".to_owned(), request.host.to_owned()),
        ("x-amz-content-sha256".to_owned(), EMPTY_PAYLOAD_SHA256.to_owned()),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ];
    if let Some(token) = credentials.session_token {
        headers.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let signed_headers: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    let signed_headers = signed_headers.join(";");

    // Canonical request, then the string to sign, then the signature.
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query)
    );
    for (name, value) in &headers {
        let _ = writeln!(canonical, "{name}:{}", value.trim());
    }
    let _ = write!(canonical, "\n{signed_headers}\n{EMPTY_PAYLOAD_SHA256}");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(&canonical)));
    let signature = hex(&hmac(&signing_key(credentials, &day, request), &string_to_sign));

    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        credentials.access_key_id
    );
    headers.retain(|(name, _)| name != "host");
    headers.push(("authorization".to_owned(), authorization));
    headers
}

fn signing_key(credentials: &Credentials<'_>, day: &str, request: &Request<'_>) -> Vec<u8> {
    let secret = format!("AWS4{}", credentials.secret_access_key);
    let key = hmac(secret.as_bytes(), day);
    let key = hmac(&key, request.region);
    let key = hmac(&key, request.service);
    hmac(&key, "aws4_request")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so construction cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return Vec::new() };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Percent-encodes everything but unreserved characters (and `/` unless `encode_slash`).
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte);
        if unreserved || (byte == b'/' && !encode_slash) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Returns `(YYYYMMDD'T'HHMMSS'Z', YYYYMMDD)` for `time` in UTC.
fn amz_date(time: SystemTime) -> (String, String) {
    // Times before 1970 cannot be signed meaningfully; they become the epoch.
    let seconds = time.duration_since(UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0);
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days);
    let (hour, minute, second) =
        (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    let day_text = format!("{year:04}{month:02}{day:02}");
    (format!("{day_text}T{hour:02}{minute:02}{second:02}Z"), day_text)
}

/// Returns the Gregorian (year, month, day) of a count of days since 1970-01-01.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01 so that the leap day falls at the end of each year; then split
    // into 400-year eras of 146 097 days.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn dates_format_in_utc_across_leap_days_and_centuries() {
        assert_eq!(amz_date(at(0)), ("19700101T000000Z".into(), "19700101".into()));
        assert_eq!(amz_date(at(1_440_938_160)).0, "20150830T123600Z");
        assert_eq!(amz_date(at(951_782_400)).0, "20000229T000000Z");
        assert_eq!(amz_date(at(4_107_542_399)).0, "21000228T235959Z", "2100 is no leap year");
        assert_eq!(amz_date(at(1_709_164_800)).0, "20240229T000000Z");
    }

    /// Signs like the reference signer of the AWS SDK for Python did for the same inputs.
    fn check(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
        expected: &str,
    ) {
        let request = Request {
            method,
            host: "127.0.0.1:9000",
            path,
            query,
            region: "us-east-1",
            service: "s3",
            time: at(1_440_938_160),
        };
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: token,
        };
        let headers = sign(&request, &credentials);
        let authorization = headers.iter().find(|(name, _)| name == "authorization").unwrap();
        assert!(authorization.1.ends_with(&format!("Signature={expected}")), "{}", authorization.1);
        assert!(!headers.iter().any(|(name, _)| name == "host"), "reqwest sets the host itself");
    }

    #[test]
    fn signatures_match_the_reference_signer() {
        check(
            "GET",
            "/",
            &[],
            None,
            "7510ead8224b8a03a10a857e73735dbc21f6f335bd41b9b971a942fdd3fd1e8c",
        );
        check(
            "GET",
            "/",
            &[("continuation-token", "a/b=")],
            None,
            "5530fbaac575229dfde641f36e1146ab6837f51cf88a03652e91b30e4d76f0dd",
        );
        check(
            "PUT",
            "/crm.gbai",
            &[],
            Some("session/token="),
            "f720e63032d3be173c1607c2ab07cc157f7a47202b47f4b1048f963d9146f060",
        );
    }

    #[test]
    fn queries_and_paths_encode_as_sigv4_expects() {
        assert_eq!(canonical_query(&[("b", "x y"), ("a", "1/2=3~")]), "a=1%2F2%3D3~&b=x%20y");
        assert_eq!(canonical_path("/my bucket/ação"), "/my%20bucket/a%C3%A7%C3%A3o");
    }
}
