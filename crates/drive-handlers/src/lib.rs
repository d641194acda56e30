//! Change handlers of Drive Monitor: what makes each kind of object in a bot package live.
//!
//! Each handler implements drive-core's [`ChangeHandler`](drive_core::ChangeHandler) for one
//! [`Kind`](drive_core::Kind) and reaches the world only through drive-core's ports; this
//! crate knows no database, no storage and no HTTP:
//!
//! - [`SettingsHandler`]: `*.gbot/config.csv`, read by [`read_config`], into a
//!   [`ConfigSink`](drive_core::ConfigSink).
//! - [`PromptHandler`]: `*.gbot/*prompt*.md|txt` into a
//!   [`PromptSink`](drive_core::PromptSink).
//! - [`ThemeHandler`]: `*.gbtheme/**` into a
//!   [`ThemeAssetStore`](drive_core::ThemeAssetStore), announced on an
//!   [`EventBus`](drive_core::EventBus).
//! - [`KnowledgeHandler`]: `*.gbkb/**` documents extracted, chunked, embedded and
//!   indexed into a [`KnowledgeIndex`](drive_core::KnowledgeIndex), searchable per bot
//!   and collection.
//! - [`basic`]: the compiler of `*.gbdialog/*.bas` scripts: syntax tree, diagnostics, tool
//!   definition and manifest, with no IO.
//!
//! [`decode_text`] is how every handler turns an author's bytes into text: byte order marks,
//! UTF-8 or a Windows-1252 fallback, and the refusal of binary files.
//!
//! Handlers parse on the blocking pool, so that no parse holds a runtime thread, and apply
//! the changes of a batch one after another, returning one outcome per change in order.

pub mod basic;
pub mod knowledge;
mod offload;
mod outcome;
mod prompt;
mod script;
mod settings;
mod text;
mod theme;

pub use knowledge::{KnowledgeConfig, KnowledgeHandler};
pub use prompt::PromptHandler;
pub use script::ScriptHandler;
pub use settings::{ConfigFile, InvalidConfig, SettingsHandler, read_config};
pub use text::{DecodeError, DecodedText, SourceEncoding, decode_text, normalize_line_breaks};
pub use theme::{ThemeHandler, ThemeHandlerConfig};
