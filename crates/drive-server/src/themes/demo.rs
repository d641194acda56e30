//! `GET /demo/{bot}`: a small page that shows a bot's theme (its stylesheets linked by their
//! versioned URLs, its logo, title and colours) and includes live.js, so that an author can
//! watch edits arrive without reloading. Stylesheets that other sheets of the theme import
//! are not linked: they arrive through the importing sheet.
//!
//! Everything taken from the bot (paths, setting values, the token) is HTML-escaped; colours
//! reach the page's first paint only when they look like colours, and every theme setting
//! arrives through live.js anyway.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Deserialize;

use drive_core::{BotName, PersistError, ThemeAssetStore, ThemeFile, ThemePath};

use super::css::references;
use crate::http::ApiError;
use crate::hub::{LiveState, authorize};

/// The query of the demo page.
#[derive(Debug, Deserialize)]
pub struct DemoQuery {
    token: Option<String>,
}

/// Serves `GET /demo/{bot}`.
pub async fn demo_page(
    State(state): State<Arc<LiveState>>,
    Path(bot): Path<String>,
    Query(query): Query<DemoQuery>,
    headers: HeaderMap,
) -> Result<Html<String>, ApiError> {
    let bot = BotName::new(bot).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    authorize(&state.hub, &bot, query.token.as_deref(), &headers)?;
    if !state.api.handle.bots().contains(&bot) {
        return Err(ApiError::NotFound(format!("no bot named {bot}")));
    }
    let unavailable = |err: PersistError| {
        ApiError::Unavailable(anyhow::Error::from(err).context(format!("theme of bot {bot}")))
    };
    let (files, settings) = state.hub.theme_state(&bot).await.map_err(unavailable)?;
    let referenced =
        referenced_sheets(state.themes.as_ref(), &bot, &files).await.map_err(unavailable)?;
    let entry_sheets: Vec<&ThemeFile> = files
        .iter()
        .filter(|file| file.path.to_ascii_lowercase().ends_with(".css"))
        .filter(|file| !referenced.contains(&file.path))
        .collect();
    Ok(Html(render(&bot, &files, &entry_sheets, &settings, query.token.as_deref())))
}

/// Returns the paths of the stylesheets other stylesheets of the theme reference: the page
/// gets them through those sheets (and live.js follows them there), not through links of
/// their own.
async fn referenced_sheets(
    store: &dyn ThemeAssetStore,
    bot: &BotName,
    files: &[ThemeFile],
) -> Result<HashSet<String>, PersistError> {
    let mut referenced = HashSet::new();
    for file in files {
        let Some(path) = ThemePath::new(file.path.as_str()).filter(|p| p.extension() == "css")
        else {
            continue;
        };
        let Some(asset) = store.asset(bot, &path).await? else { continue };
        let Ok(text) = std::str::from_utf8(&asset.bytes) else { continue };
        let targets = references(text, &path).into_iter().map(|r| r.target.to_string());
        referenced.extend(targets.filter(|target| *target != file.path));
    }
    Ok(referenced)
}

/// Returns the demo page of `bot`.
fn render(
    bot: &BotName,
    files: &[ThemeFile],
    entry_sheets: &[&ThemeFile],
    settings: &BTreeMap<String, String>,
    token: Option<&str>,
) -> String {
    let setting = |name: &str| settings.get(name).map_or("", String::as_str);
    let title =
        if setting("theme-title").is_empty() { bot.as_str() } else { setting("theme-title") };
    let mut page = String::with_capacity(4096);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\" style=\"{colours}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · live theme</title>\n<style>{STYLE}</style>\n",
        colours = escape(&first_paint_colours(settings)),
        title = escape(title),
    );
    for file in entry_sheets {
        let Some(url) = &file.url else { continue };
        let _ = writeln!(
            page,
            "<link rel=\"stylesheet\" href=\"{}\" data-theme-path=\"{}\">",
            escape(url),
            escape(&file.path)
        );
    }

    let logo = setting("theme-logo");
    let _ = write!(
        page,
        "</head>\n<body>\n<main class=\"demo\">\n<header class=\"demo-header\">\n\
         <img class=\"bot-logo\" data-theme-setting=\"theme-logo\" src=\"{logo}\" alt=\"\"{hidden}>\n\
         <h1 class=\"bot-title\" data-theme-setting=\"theme-title\">{title}</h1>\n\
         <p class=\"bot-logo-text\" data-theme-setting=\"theme-logo-text\">{logo_text}</p>\n\
         </header>\n<div class=\"demo-swatches\">\
         <span class=\"demo-swatch demo-one\" title=\"theme-color1\"></span>\
         <span class=\"demo-swatch demo-two\" title=\"theme-color2\"></span></div>\n\
         <p class=\"demo-note\">This page follows the theme of bot <code>{bot}</code> live: edit a \
         file of its <code>*.gbtheme</code> folder or a <code>theme-*</code> setting and it changes \
         here without a reload.</p>\n<h2>Theme files</h2>\n<ul class=\"demo-files\">\n",
        logo = escape(logo),
        hidden = if logo.is_empty() { " hidden" } else { "" },
        title = escape(title),
        logo_text = escape(setting("theme-logo-text")),
        bot = escape(bot.as_str()),
    );
    for file in files {
        let _ = writeln!(page, "<li><code>{}</code></li>", escape(&file.path));
    }
    let token_attribute = match token {
        Some(token) => format!(" data-token=\"{}\"", escape(token)),
        None => String::new(),
    };
    let _ = write!(
        page,
        "</ul>\n</main>\n<script src=\"/themes/{bot}/live.js\"{token_attribute}></script>\n\
         </body>\n</html>\n",
        bot = escape(bot.as_str()),
    );
    page
}

/// The demo page's own look; it leaves `body` to the theme.
const STYLE: &str = ".demo{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem}.demo-swatches{display:flex;gap:.5rem}.demo-swatch{display:inline-block;\
width:4rem;height:2rem;border:1px solid #8886;border-radius:.25rem}\
.demo-one{background:var(--theme-color1,transparent)}\
.demo-two{background:var(--theme-color2,transparent)}.bot-logo{max-height:3rem}";

/// Returns the `style` of the page's root with the theme colours that look like colours
/// (letters, digits, `#`, parentheses, commas, dots, `%` and spaces), so that the first
/// paint has them.
fn first_paint_colours(settings: &BTreeMap<String, String>) -> String {
    let mut style = String::new();
    for name in ["theme-color1", "theme-color2"] {
        let Some(value) = settings.get(name).map(|value| value.trim()) else { continue };
        let looks_like_colour = !value.is_empty()
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "#(),.% -".contains(c));
        if looks_like_colour {
            let _ = write!(style, "--{name}: {value};");
        }
    }
    style
}

/// Returns `text` escaped for HTML text and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_stylesheets_by_version_and_escapes_what_it_shows() {
        let bot = BotName::new("shop").unwrap();
        let css = ThemeFile {
            path: "a\"b.css".into(),
            url: Some("/themes/shop/a%22b.css?v=1".into()),
            hash: Some("1".into()),
        };
        let logo = ThemeFile { path: "logo.png".into(), url: Some("/x".into()), hash: None };
        let settings = BTreeMap::from([
            ("theme-title".to_owned(), "<script>alert(1)</script>".to_owned()),
            ("theme-color1".to_owned(), "#1f6feb".to_owned()),
            ("theme-color2".to_owned(), "red;}body{x:y".to_owned()),
        ]);

        let files = [css, logo];
        let page = render(&bot, &files, &[&files[0]], &settings, Some("t\"k"));

        assert!(page.contains(
            "<link rel=\"stylesheet\" href=\"/themes/shop/a%22b.css?v=1\" \
             data-theme-path=\"a&quot;b.css\">"
        ));
        assert_eq!(page.matches("<link").count(), 1, "only stylesheets are linked");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("style=\"--theme-color1: #1f6feb;\""), "{page}");
        assert!(page.contains("<script src=\"/themes/shop/live.js\" data-token=\"t&quot;k\">"));
    }
}
