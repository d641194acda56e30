//! The hub without sockets: admission, numbering, the state a client starts from, fan-out
//! per bot, resync after falling behind, and the access token check.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use drive_core::testing::MemorySinkForTests;
use drive_core::theme::MemoryThemeStoreForTests;
use drive_core::{ContentHash, ObjectKey, Setting, ThemePath};
use serde_json::{Value, json};

use super::*;
use crate::http::ApiError;

fn bot(name: &str) -> BotName {
    BotName::new(name).unwrap()
}

struct Fixture {
    hub: Arc<Hub>,
    assets: Arc<MemoryThemeStoreForTests>,
    settings: Arc<MemorySinkForTests>,
}

fn fixture(config: HubConfig) -> Fixture {
    let assets = Arc::new(MemoryThemeStoreForTests::new());
    let settings = Arc::new(MemorySinkForTests::new());
    let hub = Arc::new(Hub::new(config, assets.clone(), settings.clone()));
    Fixture { hub, assets, settings }
}

async fn put(assets: &MemoryThemeStoreForTests, bot: &BotName, path: &str, content: &str) {
    let path = ThemePath::new(path).unwrap();
    let source = ObjectKey::new(format!("{bot}.gbtheme/{path}"));
    let bytes = Bytes::copy_from_slice(content.as_bytes());
    assets.put_asset(bot, &source, &path, &bytes, &ContentHash::of(&bytes)).await.unwrap();
}

fn parse(frame: &Frame) -> Value {
    serde_json::from_str(frame.text.as_str()).unwrap()
}

fn css_event(bot: &BotName, path: &str, content: &str) -> BotEvent {
    let path = ThemePath::new(path).unwrap();
    let file = ThemeFile::live(bot, &path, &ContentHash::of(content.as_bytes()));
    BotEvent::ThemeChanged { files: vec![file], settings: BTreeMap::new() }
}

#[tokio::test]
async fn a_new_client_starts_from_the_stored_theme_state() {
    let fx = fixture(HubConfig::default());
    let crm = bot("crm");
    put(&fx.assets, &crm, "a.css", "a{}").await;
    let source = ObjectKey::new("crm.gbot/config.csv");
    let config = [Setting::new("theme-color1", "#123"), Setting::new("db-password", "hunter2")];
    fx.settings.replace_settings(&crm, &source, &config).await.unwrap();
    fx.hub.publish(&crm, BotEvent::SettingsChanged { keys: vec!["x".into()] });

    let _admission = fx.hub.admit(&crm).unwrap();
    let subscription = fx.hub.subscribe(&crm).await.unwrap();

    let first = parse(&subscription.first);
    let hash = ContentHash::of(b"a{}").to_hex();
    assert_eq!(
        first,
        json!({
            "type": "theme.changed",
            "bot": "crm",
            "seq": 1,
            "payload": {
                "files": [{"path": "a.css", "url": format!("/themes/crm/a.css?v={hash}"), "hash": hash}],
                "settings": {"theme-color1": "#123"},
            },
        })
    );
    assert!(!subscription.first.text.contains("hunter2"));
}

#[tokio::test]
async fn events_reach_only_their_bot_numbered_in_order() {
    let fx = fixture(HubConfig::default());
    let (crm, shop) = (bot("crm"), bot("shop"));
    let _admissions = (fx.hub.admit(&crm).unwrap(), fx.hub.admit(&shop).unwrap());
    let mut crm_events = fx.hub.subscribe(&crm).await.unwrap().events;
    let mut shop_events = fx.hub.subscribe(&shop).await.unwrap().events;

    fx.hub.publish(&crm, css_event(&crm, "a.css", "1"));
    fx.hub
        .publish(&crm, BotEvent::KbIndexed { collection: "docs".into(), documents: 1, chunks: 3 });
    fx.hub.publish(&shop, css_event(&shop, "b.css", "2"));

    let first = parse(&crm_events.try_recv().unwrap());
    let second = parse(&crm_events.try_recv().unwrap());
    assert_eq!((first["type"].as_str(), first["seq"].as_u64()), (Some("theme.changed"), Some(1)));
    assert_eq!(second["type"], "kb.indexed");
    assert_eq!(second["seq"], 2);
    assert_eq!(second["payload"], json!({"collection": "docs", "documents": 1, "chunks": 3}));
    assert!(crm_events.try_recv().is_err(), "no event of another bot");
    let shop_first = parse(&shop_events.try_recv().unwrap());
    assert_eq!((shop_first["bot"].as_str(), shop_first["seq"].as_u64()), (Some("shop"), Some(1)));
}

#[tokio::test]
async fn later_clients_start_from_the_state_the_events_built() {
    let fx = fixture(HubConfig::default());
    let crm = bot("crm");
    put(&fx.assets, &crm, "old.css", "old").await;
    let _first = fx.hub.admit(&crm).unwrap();
    fx.hub.subscribe(&crm).await.unwrap();

    let removed = ThemeFile::removed(&ThemePath::new("old.css").unwrap());
    let settings = BTreeMap::from([("theme-title".to_owned(), "Shop".to_owned())]);
    fx.hub.publish(&crm, BotEvent::ThemeChanged { files: vec![removed], settings });
    fx.hub.publish(&crm, css_event(&crm, "new.css", "new"));

    let _second = fx.hub.admit(&crm).unwrap();
    let state = parse(&fx.hub.subscribe(&crm).await.unwrap().first);
    assert_eq!(state["seq"], 2);
    let paths: Vec<&str> = state["payload"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["new.css"]);
    assert_eq!(state["payload"]["settings"], json!({}), "each event carries the settings whole");
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_the_whole_state_and_continues_after_it() {
    let fx = fixture(HubConfig { event_buffer: 4, ..HubConfig::default() });
    let crm = bot("crm");
    let _admission = fx.hub.admit(&crm).unwrap();
    let mut events = fx.hub.subscribe(&crm).await.unwrap().events;

    for idx in 0..10 {
        fx.hub.publish(&crm, css_event(&crm, &format!("{idx}.css"), "x"));
    }
    assert!(matches!(events.try_recv(), Err(broadcast::error::TryRecvError::Lagged(6))));
    let resync = fx.hub.resubscribe(&crm).unwrap();
    let mut events = resync.events;
    fx.hub.publish(&crm, css_event(&crm, "late.css", "y"));

    let state = parse(&resync.first);
    assert_eq!((state["type"].as_str(), state["seq"].as_u64()), (Some("resync"), Some(10)));
    assert_eq!(state["payload"]["files"].as_array().unwrap().len(), 10);
    assert_eq!(parse(&events.try_recv().unwrap())["seq"], 11);
    assert_eq!(fx.hub.stats().resyncs, 1);
}

#[tokio::test]
async fn admission_is_capped_per_bot_and_released_on_drop() {
    let fx = fixture(HubConfig { max_connections_per_bot: 2, ..HubConfig::default() });
    let (crm, shop) = (bot("crm"), bot("shop"));
    let first = fx.hub.admit(&crm).unwrap();
    let _second = fx.hub.admit(&crm).unwrap();
    assert!(fx.hub.admit(&crm).is_none());
    let other_bot = fx.hub.admit(&shop);
    assert!(other_bot.is_some(), "another bot has its own limit");

    drop(first);
    let again = fx.hub.admit(&crm);
    assert!(again.is_some());
    assert_eq!(fx.hub.stats().connections, 3);
}

#[tokio::test]
async fn a_closing_hub_admits_nobody() {
    let fx = fixture(HubConfig::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    assert!(fx.hub.close(deadline).await);
    assert!(fx.hub.admit(&bot("crm")).is_none());
}

#[tokio::test]
async fn publishing_to_a_bot_without_clients_only_counts() {
    let fx = fixture(HubConfig::default());
    let crm = bot("crm");
    for _ in 0..3 {
        fx.hub.publish(&crm, css_event(&crm, "a.css", "x"));
    }
    let _admission = fx.hub.admit(&crm).unwrap();
    let state = parse(&fx.hub.subscribe(&crm).await.unwrap().first);
    assert_eq!(state["seq"], 3);
    assert_eq!(state["payload"]["files"], json!([]), "the state comes from the store");
}

#[track_caller]
fn check_token(
    tokens: &[(&str, &str)],
    bot_name: &str,
    query: Option<&str>,
    bearer: Option<&str>,
) -> bool {
    let tokens = tokens.iter().map(|(b, t)| (bot(b), (*t).to_owned())).collect();
    let fx = fixture(HubConfig { tokens, ..HubConfig::default() });
    let mut headers = HeaderMap::new();
    if let Some(bearer) = bearer {
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(bearer).unwrap());
    }
    match authorize(&fx.hub, &bot(bot_name), query, &headers) {
        Ok(()) => true,
        Err(ApiError::Unauthorized(_)) => false,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[test]
fn tokens_are_checked_per_bot_from_the_query_or_a_bearer_header() {
    let tokens = [("crm", "s3cret-token")];
    assert!(check_token(&tokens, "crm", Some("s3cret-token"), None));
    assert!(check_token(&tokens, "crm", None, Some("Bearer s3cret-token")));
    assert!(!check_token(&tokens, "crm", None, None));
    assert!(!check_token(&tokens, "crm", Some("s3cret-tokem"), None));
    assert!(!check_token(&tokens, "crm", Some("s3cret-token-and-more"), None));
    assert!(!check_token(&tokens, "crm", None, Some("s3cret-token")), "a bare header is no bearer");
    assert!(!check_token(&tokens, "crm", Some(""), None));
    assert!(check_token(&tokens, "shop", None, None), "bots without a token are open");
    assert!(!check_token(&[("crm", "a"), ("shop", "b")], "shop", Some("a"), None));
}

#[test]
fn config_debug_names_protected_bots_but_never_their_tokens() {
    let tokens = [(bot("crm"), "s3cret-token".to_owned())].into_iter().collect();
    let shown = format!("{:?}", HubConfig { tokens, ..HubConfig::default() });
    assert!(shown.contains("crm") && !shown.contains("s3cret"), "{shown}");
}

#[test]
fn access_tokens_come_from_the_config_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drive.toml");
    let file = "[ws]\nping_interval = \"5s\"\n[ws.tokens]\ncrm = \"file-token\"\nshop = \"old\"\n";
    std::fs::write(&path, file).unwrap();
    let env = |var: &str| (var == "DRIVE_WS_TOKENS").then(|| "shop=env-token, help.desk=t2".into());

    let config = crate::Config::load(Some(&path), env).unwrap();

    let hub = config.ws.to_hub_config();
    assert_eq!(hub.ping_interval, Duration::from_secs(5));
    assert_eq!(hub.tokens[&bot("crm")], "file-token");
    assert_eq!(hub.tokens[&bot("shop")], "env-token", "the environment wins");
    assert_eq!(hub.tokens[&bot("help.desk")], "t2");
    let shown = format!("{config:?}");
    assert!(!shown.contains("file-token") && !shown.contains("env-token"), "{shown}");
}

#[test]
fn unusable_access_tokens_are_refused_without_showing_them() {
    for (file, env) in [
        ("[ws.tokens]\ncrm = \" \"\n", None),
        ("[ws.tokens]\n\"no/bot\" = \"s3cret\"\n", None),
        ("", Some("crm:s3cret")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.toml");
        std::fs::write(&path, file).unwrap();
        let env = |var: &str| if var == "DRIVE_WS_TOKENS" { env.map(str::to_owned) } else { None };
        let err = crate::Config::load(Some(&path), env).unwrap_err();
        assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
    }
}
