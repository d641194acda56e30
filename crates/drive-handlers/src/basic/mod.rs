//! The compiler of the bot BASIC dialect: script text in, a syntax tree, diagnostics, the LLM
//! tool the script declares and its manifest out. Pure: no IO, no async, no mutable global
//! state (the keyword tables are built once, on first use).
//!
//! The pipeline is `lexer` (logical lines of tokens, raw text blocks), `parser` (the typed
//! [`SyntaxTree`] with positions, block structure and error recovery), then `tool`
//! (`PARAM`/`DESCRIPTION` to JSON Schema in the OpenAI and MCP shapes) and `manifest`
//! (schedules, webhooks, websites, knowledge bases, tools, tables). [`print()`] turns a tree
//! back into source that parses to the same tree.
//!
//! Dialect decisions where the dialect's description is silent, taken from real scripts:
//!
//! - `IS`, `IS NOT` and `CONTAINS` are comparisons; `?.` is member access that tolerates a
//!   missing object; `{key: value}` and `#{key: value}` are object literals and, like any
//!   bracket, may span lines when the line ends with the opening bracket or a comma.
//! - A keyword call inside an expression takes one argument read up to the next comparison:
//!   `IF GET "tier" = "vip" THEN` compares the result of `GET`.
//! - Unknown commands are recognised by their capitals (`SEARCH PRODUCTS q, 5`), kept, and
//!   warned about; the `phrases` module says how a phrase and its arguments are told apart.
//! - `PARAM name AS "a", "b"` declares a parameter limited to those values.
//! - After `=` or `RETURN`, `WITH name AS value, ...` builds an object, and a keyword phrase
//!   followed by `(` is a function call (`x = FIRST(list)`), not a keyword call.
//! - A line starting with an unknown word followed by `(` is a call (`USE_WEBSITE(...)`),
//!   which the manifest still reads as `USE WEBSITE`.
//! - `REM` is a comment only as the first word of a line; elsewhere it is a word.
//! - A script with a `DESCRIPTION` and no `PARAM` is a tool without arguments.
//! - A script declares one tool: a second `DESCRIPTION` or a repeated `PARAM` name is an
//!   error, since the tool's schema could not say which one holds.
//! - `SET SCHEDULE` takes 5 cron fields or 6 with seconds first, optionally after a name.
//! - `END FOR` also closes a counted `FOR`; `LOOP` also closes a `WHILE`.
//! - Bare `END`, `END <word>` naming no block, `PARAM` or `DESCRIPTION` inside a block, and
//!   `SUB`/`FUNCTION` inside a block are errors.
//!
//! Known limits: names are not resolved (an unknown variable or routine is the runtime's
//! business), no exponent notation in numbers, one statement per line (no `:` separator),
//! and the printer does not keep comments. Expressions more than 200 operations deep, brackets
//! nested more than 64 deep and blocks nested more than 24 deep are refused, so that no tree
//! is too deep to drop, print or serialise; a tree whose JSON would nest more than 127 levels
//! (what serde_json and most readers accept by default) is an error too.

mod depth;
mod lexer;
mod manifest;
mod parser;
mod phrases;
mod printer;
mod syntax;
mod tool;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod printer_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tool_manifest_tests;

use drive_core::{Diagnostic, Severity};
use serde::Serialize;

use crate::text::{DecodeError, GUESSED_ENCODING_WARNING, decode_text};

pub use manifest::{Declared, DeclaredTable, MANIFEST_VERSION, Manifest, Schedule, Website};
pub use printer::print;
pub use syntax::{
    Arg, BinaryOp, Case, ErrorHandler, ExitBlock, Expr, ExprKind, Hear, HearAs, IfBranch, LoopTest,
    ObjectEntry, Param, ParamKind, Pos, Routine, SYNTAX_VERSION, Statement, StatementKind,
    SyntaxTree, Table, TableField, TextBlock, UnaryOp, WithField,
};
pub use tool::{
    InputSchema, McpTool, OpenAiFunction, OpenAiTool, ParamSchema, Properties, ToolDefinition,
    ToolParam,
};

/// Everything compiling one script produces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompiledScript {
    pub tree: SyntaxTree,
    /// Errors and warnings, sorted by line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// The tool the script declares, if it has `PARAM` or `DESCRIPTION` lines.
    pub tool: Option<ToolDefinition>,
    pub manifest: Manifest,
}

impl CompiledScript {
    /// Returns true when a diagnostic is an error: such a script must not replace the last
    /// version that compiled.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|diagnostic| diagnostic.severity == Severity::Error)
    }

    /// Returns the warnings, for a script that compiled.
    pub fn warnings(&self) -> Vec<Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Warning)
            .cloned()
            .collect()
    }

    /// Returns the syntax tree as JSON text.
    pub fn tree_json(&self) -> String {
        json(&self.tree)
    }

    /// Returns the manifest as JSON text.
    pub fn manifest_json(&self) -> String {
        json(&self.manifest)
    }
}

fn json(value: &impl Serialize) -> String {
    // Trees and manifests hold only strings, numbers, booleans and sequences of them, which
    // always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

/// Why bytes could not be compiled at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The file is not text (an image or archive saved with a `.bas` name).
    #[error("the script cannot be read as text")]
    NotText(#[source] DecodeError),
}

/// Compiles the script `source` stored as `<file_stem>.bas`.
///
/// Never fails and never panics: what is wrong with the script is in the diagnostics, and
/// [`CompiledScript::has_errors`] says whether it may go live. The tool, if any, is named
/// `file_stem`.
pub fn compile(file_stem: &str, source: &str) -> CompiledScript {
    let (tree, mut diagnostics) = parser::parse(source);
    if let Some(pos) = depth::too_deep(&tree) {
        let message = format!(
            "this statement nests too deeply to be stored: its tree would be more than {} \
             levels deep; move inner blocks into a SUB or split long expressions",
            depth::MAX_JSON_DEPTH
        );
        diagnostics.push(Diagnostic::error(pos.line, message).at_column(pos.column));
    }
    let tool = tool::extract(file_stem, &tree, &mut diagnostics);
    let manifest = manifest::extract(&tree, &mut diagnostics);
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    CompiledScript { tree, diagnostics, tool, manifest }
}

/// Compiles a script from its bytes: decodes them as every author file is decoded (byte
/// order marks, UTF-8 or Windows-1252), then [`compile`]s. A guessed encoding adds a warning.
///
/// # Errors
/// [`CompileError::NotText`] when the bytes are binary.
pub fn compile_bytes(file_stem: &str, bytes: &[u8]) -> Result<CompiledScript, CompileError> {
    let decoded = decode_text(bytes).map_err(CompileError::NotText)?;
    let mut compiled = compile(file_stem, &decoded.text);
    if decoded.encoding.is_guess() {
        compiled.diagnostics.insert(0, Diagnostic::warning(0, GUESSED_ENCODING_WARNING));
    }
    Ok(compiled)
}
