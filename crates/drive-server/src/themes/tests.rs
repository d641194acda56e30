//! Theme files as served: versions, pinned references, cache headers and types.

use axum::body::to_bytes;
use drive_core::theme::MemoryThemeStoreForTests;
use drive_core::{ObjectKey, ThemeAssetStore};

use super::*;

fn bot() -> BotName {
    BotName::new("crm").unwrap()
}

fn path(text: &str) -> ThemePath {
    ThemePath::new(text).unwrap()
}

fn hash(content: &str) -> String {
    ContentHash::of(content.as_bytes()).to_hex()
}

async fn store_with(files: &[(&str, &str)]) -> MemoryThemeStoreForTests {
    let store = MemoryThemeStoreForTests::new();
    for (file, content) in files {
        let source = ObjectKey::new(format!("crm.gbtheme/{file}"));
        let bytes = bytes::Bytes::copy_from_slice(content.as_bytes());
        let hash = ContentHash::of(&bytes);
        store.put_asset(&bot(), &source, &path(file), &bytes, &hash).await.unwrap();
    }
    store
}

async fn served(store: &MemoryThemeStoreForTests, file: &str) -> (String, String) {
    let served = serve_file(store, &bot(), &path(file)).await.unwrap().unwrap();
    (String::from_utf8(served.body.to_vec()).unwrap(), served.version)
}

#[tokio::test]
async fn files_without_references_are_served_as_stored_under_their_hash() {
    let store = store_with(&[("a.css", "a{}"), ("logo.svg", "<svg/>")]).await;
    assert_eq!(served(&store, "a.css").await, ("a{}".to_owned(), hash("a{}")));
    assert_eq!(served(&store, "logo.svg").await.1, hash("<svg/>"));
    assert!(serve_file(&store, &bot(), &path("gone.css")).await.unwrap().is_none());
}

#[tokio::test]
async fn references_are_pinned_and_the_version_follows_what_they_reach() {
    let main = "@import 'base.css'; body { background: url(img/bg.png) } a { b: url(gone.png) }";
    let base = "@import \"deep/reset.css\"; p { color: red }";
    let files = [
        ("main.css", main),
        ("base.css", base),
        ("deep/reset.css", "*{margin:0}"),
        ("img/bg.png", "PNG1"),
    ];
    let store = store_with(&files).await;

    let (body, version) = served(&store, "main.css").await;
    let (_, base_version) = served(&store, "base.css").await;
    assert_eq!(
        body,
        format!(
            "@import 'base.css?v={base_version}'; body {{ background: url(img/bg.png?v={}) }} \
             a {{ b: url(gone.png) }}",
            hash("PNG1")
        )
    );
    assert_ne!(version, hash(main), "a sheet with references has a version of its own");
    assert_ne!(base_version, hash(base));
    let (base_body, _) = served(&store, "base.css").await;
    assert!(
        base_body.starts_with(&format!("@import \"deep/reset.css?v={}\"", hash("*{margin:0}")))
    );

    // A change two imports down gives both importing sheets new versions.
    let reset = store_with(&[("deep/reset.css", "*{margin:1px}")]).await;
    let changed = reset.asset(&bot(), &path("deep/reset.css")).await.unwrap().unwrap();
    let source = ObjectKey::new("crm.gbtheme/deep/reset.css");
    store
        .put_asset(&bot(), &source, &changed.info.path, &changed.bytes, &changed.info.hash)
        .await
        .unwrap();
    assert_ne!(served(&store, "main.css").await.1, version);
    assert_ne!(served(&store, "base.css").await.1, base_version);
}

#[tokio::test]
async fn import_cycles_end_and_stay_stable() {
    let store = store_with(&[("a.css", "@import 'b.css';"), ("b.css", "@import 'a.css';")]).await;
    let (body, version) = served(&store, "a.css").await;
    assert!(body.starts_with("@import 'b.css?v="), "{body}");
    assert_eq!(served(&store, "a.css").await.1, version);
}

async fn response_parts(response: Response) -> (StatusCode, HeaderMap, String) {
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn cache_headers_depend_on_the_version_asked_for() {
    let body = bytes::Bytes::from_static(b"a{}");
    let version = hash("a{}");
    let (status, headers, text) = response_parts(respond(
        &HeaderMap::new(),
        "text/css; charset=utf-8",
        CACHE_FOR_GOOD,
        &version,
        body.clone(),
    ))
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "a{}"));
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(headers[header::ETAG], format!("\"{version}\"").as_str());
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let mut conditional = HeaderMap::new();
    let tags = format!("\"other\", W/\"{version}\"");
    conditional.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&tags).unwrap());
    let (status, headers, text) =
        response_parts(respond(&conditional, "text/css", REVALIDATE, &version, body)).await;
    assert_eq!((status, text.as_str()), (StatusCode::NOT_MODIFIED, ""));
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
}

#[test]
fn types_follow_the_extension() {
    let check = |file: &str| content_type(&path(file));
    assert_eq!(check("a/MAIN.CSS"), "text/css; charset=utf-8");
    assert_eq!(check("x.js"), "text/javascript; charset=utf-8");
    assert_eq!(check("f.woff2"), "font/woff2");
    assert_eq!(check("logo.svg"), "image/svg+xml");
    assert_eq!(check("p.JPEG"), "image/jpeg");
    assert_eq!(check("README"), "application/octet-stream");
}

#[test]
fn the_browser_script_names_every_theme_setting() {
    for name in drive_core::THEME_SETTINGS {
        assert!(LIVE_JS.contains(&format!("\"{name}\": \"--{name}\"")), "{name}");
    }
}
