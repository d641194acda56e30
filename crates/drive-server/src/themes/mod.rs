//! Theme files over HTTP, the browser script that keeps a page's theme live, and a demo page.
//!
//! - `GET /themes/{bot}/{path}` serves the live version of a theme file from the
//!   [`ThemeAssetStore`], with its type by extension. `?v=` equal to the file's version
//!   makes the response cacheable for good (`public, max-age=31536000, immutable`); any other
//!   request gets `no-cache` and an `ETag` (conditional requests get 304). A removed file is
//!   404.
//! - A stylesheet's references to other theme files (`@import`, `url()`) are served pinned
//!   to their versions (module `css`), and its version covers theirs: a sheet whose imports
//!   changed has a new version although its own bytes did not. A file referencing nothing
//!   has its content hash as version, which is the hash events carry.
//! - `GET /themes/{bot}/live.js` is the browser side (`live.js` next to this file).
//! - `GET /demo/{bot}` shows the bot's theme with live.js included.
//!
//! Every theme response says `X-Content-Type-Options: nosniff` and
//! `Content-Security-Policy: sandbox`, so a theme file opened as a page (an SVG, an HTML
//! file) runs no script with the service's origin.
//!
//! Known limits:
//! - A theme file named `live.js` at the root of the theme folder is hidden by the script.
//! - Every request reads the file from the database (a stylesheet with references also
//!   reads the list of theme files and the sheets it imports); nothing is cached in memory.
//! - Theme files and the demo page are as public as the service, except that the demo page
//!   of a bot with an access token asks for it (`?token=`).

mod css;
mod demo;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use drive_core::{BotName, ContentHash, PersistError, ThemeAssetStore, ThemePath};

use crate::http::ApiError;
use crate::hub::LiveState;

pub use demo::demo_page;

/// `Cache-Control` of a response whose URL names exactly its version.
const CACHE_FOR_GOOD: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of a response that may change: cache it, but ask before every use.
const REVALIDATE: &str = "no-cache";

/// Most stylesheets read to version one sheet; deeper import chains are versioned by the
/// content hash of the sheet at the limit, which is exact for every file but its imports.
const MAX_SHEETS_PER_REQUEST: usize = 64;

/// The browser script, served as it is.
const LIVE_JS: &str = include_str!("live.js");

/// The query of a theme file request.
#[derive(Debug, Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// Serves `GET /themes/{bot}/{path}`.
pub async fn theme_file(
    State(state): State<Arc<LiveState>>,
    Path((bot, path)): Path<(String, String)>,
    Query(query): Query<AssetQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let not_found = || ApiError::NotFound(format!("no theme file {path:?} in bot {bot}"));
    let Some(theme_path) = ThemePath::new(path.as_str()) else { return Err(not_found()) };
    let served = serve_file(state.themes.as_ref(), &bot, &theme_path)
        .await
        .map_err(|err| unavailable(err, &bot))?;
    let Some(served) = served else { return Err(not_found()) };

    let pinned = query.v.as_deref() == Some(served.version.as_str());
    let cache = if pinned { CACHE_FOR_GOOD } else { REVALIDATE };
    Ok(respond(&headers, content_type(&theme_path), cache, &served.version, served.body))
}

/// Serves `GET /themes/{bot}/live.js`.
pub async fn live_js(headers: HeaderMap) -> Response {
    static VERSION: OnceLock<String> = OnceLock::new();
    let version = VERSION.get_or_init(|| ContentHash::of(LIVE_JS.as_bytes()).to_hex());
    let body = bytes::Bytes::from_static(LIVE_JS.as_bytes());
    respond(&headers, "text/javascript; charset=utf-8", REVALIDATE, version, body)
}

/// A theme file ready to send.
struct Served {
    body: bytes::Bytes,
    version: String,
}

/// Returns the file `path` of `bot` as served: stylesheets with their references pinned.
async fn serve_file(
    store: &dyn ThemeAssetStore,
    bot: &BotName,
    path: &ThemePath,
) -> Result<Option<Served>, PersistError> {
    let Some(asset) = store.asset(bot, path).await? else { return Ok(None) };
    let raw = Served { version: asset.info.hash.to_hex(), body: asset.bytes.clone() };
    if path.extension() != "css" {
        return Ok(Some(raw));
    }
    let Ok(text) = std::str::from_utf8(&asset.bytes) else { return Ok(Some(raw)) };
    let references = css::references(text, path);
    if references.is_empty() {
        return Ok(Some(raw));
    }

    let sheets = SheetGraph::load(store, bot, path, &references).await?;
    let mut versions = HashMap::new();
    let version = sheets.version(path, &mut versions, &mut Vec::new());
    let body = css::pin_references(text, &references, |target| versions.get(target).cloned());
    Ok(Some(Served { body: body.into(), version }))
}

/// The theme files a stylesheet reaches through its references, with what versions them.
struct SheetGraph {
    /// Content hash of every theme file of the bot.
    hashes: BTreeMap<ThemePath, ContentHash>,
    /// The theme files each stylesheet read references, in order.
    references: HashMap<ThemePath, Vec<ThemePath>>,
}

impl SheetGraph {
    /// Reads the bot's file list and every stylesheet `path` reaches, up to
    /// [`MAX_SHEETS_PER_REQUEST`].
    async fn load(
        store: &dyn ThemeAssetStore,
        bot: &BotName,
        path: &ThemePath,
        references: &[css::Reference],
    ) -> Result<Self, PersistError> {
        let hashes: BTreeMap<ThemePath, ContentHash> =
            store.assets(bot).await?.into_iter().map(|info| (info.path, info.hash)).collect();
        let mut graph = Self { hashes, references: HashMap::new() };
        let targets = |refs: &[css::Reference]| refs.iter().map(|r| r.target.clone()).collect();
        graph.references.insert(path.clone(), targets(references));

        let mut queue: VecDeque<ThemePath> = graph.references[path].iter().cloned().collect();
        while let Some(next) = queue.pop_front() {
            let is_new_sheet = next.extension() == "css"
                && graph.hashes.contains_key(&next)
                && !graph.references.contains_key(&next);
            if !is_new_sheet || graph.references.len() >= MAX_SHEETS_PER_REQUEST {
                continue;
            }
            let Some(asset) = store.asset(bot, &next).await? else { continue };
            let found = std::str::from_utf8(&asset.bytes)
                .map(|text| css::references(text, &next))
                .unwrap_or_default();
            queue.extend(found.iter().map(|r| r.target.clone()));
            graph.references.insert(next, targets(&found));
        }
        Ok(graph)
    }

    /// Returns the version of `path`: its content hash when it references no theme file,
    /// else a hash over that and the versions of what it references. A file reached again
    /// while its own version is being worked out counts by its content hash.
    fn version(
        &self,
        path: &ThemePath,
        versions: &mut HashMap<ThemePath, String>,
        visiting: &mut Vec<ThemePath>,
    ) -> String {
        if let Some(known) = versions.get(path) {
            return known.clone();
        }
        let own = self.hashes.get(path).map(ContentHash::to_hex).unwrap_or_default();
        let references: Vec<&ThemePath> = self
            .references
            .get(path)
            .map(|refs| refs.iter().filter(|r| self.hashes.contains_key(*r)).collect())
            .unwrap_or_default();
        if visiting.contains(path) {
            return own;
        }
        if references.is_empty() {
            versions.insert(path.clone(), own.clone());
            return own;
        }

        visiting.push(path.clone());
        let mut summary = own;
        for reference in references {
            let version = self.version(reference, versions, visiting);
            let _ = write!(summary, "\n{reference}={version}");
        }
        visiting.pop();
        let version = ContentHash::of(summary.as_bytes()).to_hex();
        versions.insert(path.clone(), version.clone());
        version
    }
}

/// Returns `body` with caching headers for `version`, or 304 when the request already has
/// that version.
fn respond(
    request: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    version: &str,
    body: bytes::Bytes,
) -> Response {
    let etag = format!("\"{version}\"");
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| etag_matches(tags, &etag));
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
    ];
    // A version is 64 hex digits, always a valid header value.
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers, [(header::ETAG, etag)]).into_response();
    }
    let typed =
        [(header::ETAG, etag), (header::CONTENT_TYPE, HeaderValue::from_static(content_type))];
    (headers, typed, body).into_response()
}

/// Returns true when an `If-None-Match` list names `etag` (weakly compared) or is `*`.
fn etag_matches(tags: &str, etag: &str) -> bool {
    tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// Returns the `Content-Type` of a theme file by its extension.
fn content_type(path: &ThemePath) -> &'static str {
    match path.extension().as_str() {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "bmp" => "image/bmp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        _ => "application/octet-stream",
    }
}

fn unavailable(err: PersistError, bot: &BotName) -> ApiError {
    ApiError::Unavailable(anyhow::Error::from(err).context(format!("theme of bot {bot}")))
}

#[cfg(test)]
mod tests;
