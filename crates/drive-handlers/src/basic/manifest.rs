//! The manifest of a script: what it declares outside itself, so that a changed or deleted
//! script can take its schedules, webhooks and registrations with it.
//!
//! Read from every statement, inside blocks and routines too:
//!
//! - `SET SCHEDULE "cron"` or `SET SCHEDULE "name", "cron"`: the cron text must be a 5-field
//!   expression, or 6 fields with seconds first, checked by `croner`; anything else is an
//!   error on that line, because a schedule that never fires is a silent bug.
//! - `WEBHOOK "name"`, `USE KB "name"`, `USE TOOL "name"`, `ADD TOOL "name"`.
//! - `USE WEBSITE "url" [REFRESH "1d"]`, also written `USE_WEBSITE("url", "1d")`.
//! - `TABLE` blocks with their fields.
//!
//! Known limits: only literal names and URLs can be listed; a name computed at run time
//! (`USE KB kb_name`) gets a warning and stays out of the manifest.

use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};

use drive_core::Diagnostic;

use crate::basic::syntax::{
    Arg, Expr, ExprKind, Pos, Statement, StatementKind, SyntaxTree, TableField,
};

/// Version of the JSON form of [`Manifest`].
pub const MANIFEST_VERSION: u32 = 1;

/// What a script declares outside itself. Each entry carries the line it comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`] for manifests built by this crate.
    pub version: u32,
    pub schedules: Vec<Schedule>,
    pub webhooks: Vec<Declared>,
    pub websites: Vec<Website>,
    pub knowledge_bases: Vec<Declared>,
    /// `USE TOOL`: tools the script calls.
    pub tools_used: Vec<Declared>,
    /// `ADD TOOL`: tools the script offers to the model.
    pub tools_added: Vec<Declared>,
    pub tables: Vec<DeclaredTable>,
}

/// A name declared on a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub line: u32,
    pub name: String,
}

/// `SET SCHEDULE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub line: u32,
    /// The name given before the cron text, if any.
    pub name: Option<String>,
    /// The cron expression as written: 5 fields, or 6 with seconds first.
    pub cron: String,
}

/// `USE WEBSITE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Website {
    pub line: u32,
    pub url: String,
    /// How often to crawl again (`"1d"`), if given.
    pub refresh: Option<String>,
}

/// A `TABLE` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredTable {
    pub line: u32,
    pub name: String,
    pub connection: Option<String>,
    pub fields: Vec<TableField>,
}

impl Manifest {
    /// Returns the cron expressions of the schedules, in order.
    pub fn crons(&self) -> Vec<String> {
        self.schedules.iter().map(|schedule| schedule.cron.clone()).collect()
    }

    /// Returns the webhook names, in order.
    pub fn webhook_names(&self) -> Vec<String> {
        self.webhooks.iter().map(|webhook| webhook.name.clone()).collect()
    }
}

/// Returns the manifest of `tree`, adding invalid schedules and computed names to
/// `diagnostics`.
pub(crate) fn extract(tree: &SyntaxTree, diagnostics: &mut Vec<Diagnostic>) -> Manifest {
    let mut collector = Collector {
        manifest: Manifest { version: MANIFEST_VERSION, ..Manifest::default() },
        diagnostics,
    };
    collector.statements(&tree.body);
    collector.manifest
}

struct Collector<'a> {
    manifest: Manifest,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Collector<'_> {
    fn statements(&mut self, statements: &[Statement]) {
        for statement in statements {
            self.statement(statement);
        }
    }

    fn statement(&mut self, statement: &Statement) {
        let pos = statement.pos;
        match &statement.kind {
            StatementKind::Command { name, args } => self.command(pos, name, args),
            StatementKind::Call { call } => {
                let ExprKind::Call { callee, args } = &call.kind else { return };
                let ExprKind::Name { name } = &callee.kind else { return };
                let args: Vec<Arg> = args
                    .iter()
                    .map(|arg| Arg { pos: arg.pos, keyword: None, value: Some(arg.clone()) })
                    .collect();
                self.command(pos, &name.replace('_', " ").to_ascii_uppercase(), &args);
            }
            StatementKind::Table(table) => self.manifest.tables.push(DeclaredTable {
                line: pos.line,
                name: table.name.clone(),
                connection: table.connection.clone(),
                fields: table.fields.clone(),
            }),
            StatementKind::If { branches, otherwise } => {
                for branch in branches {
                    self.statements(&branch.body);
                }
                self.statements(otherwise.as_deref().unwrap_or_default());
            }
            StatementKind::Select { cases, otherwise, .. } => {
                for case in cases {
                    self.statements(&case.body);
                }
                self.statements(otherwise.as_deref().unwrap_or_default());
            }
            StatementKind::ForEach { body, .. }
            | StatementKind::For { body, .. }
            | StatementKind::Do { body, .. }
            | StatementKind::While { body, .. } => self.statements(body),
            StatementKind::Sub(routine) | StatementKind::Function(routine) => {
                self.statements(&routine.body);
            }
            _ => {}
        }
    }

    fn command(&mut self, pos: Pos, name: &str, args: &[Arg]) {
        let line = pos.line;
        match name {
            "SET SCHEDULE" => self.schedule(pos, args),
            "WEBHOOK" | "USE KB" | "USE TOOL" | "ADD TOOL" => {
                let Some(declared) = self.literal(name, "name", positional(args, 0)) else {
                    return;
                };
                let list = match name {
                    "WEBHOOK" => &mut self.manifest.webhooks,
                    "USE KB" => &mut self.manifest.knowledge_bases,
                    "USE TOOL" => &mut self.manifest.tools_used,
                    _ => &mut self.manifest.tools_added,
                };
                list.push(Declared { line, name: declared });
            }
            "USE WEBSITE" => {
                let refresh_arg = keyword(args, "REFRESH").or_else(|| positional(args, 1));
                let Some(url) = self.literal(name, "URL", positional(args, 0)) else { return };
                let refresh = self.literal(name, "refresh period", refresh_arg);
                self.manifest.websites.push(Website { line, url, refresh });
            }
            _ => {}
        }
    }

    fn schedule(&mut self, pos: Pos, args: &[Arg]) {
        let positional: Vec<&Expr> = args
            .iter()
            .filter(|arg| arg.keyword.is_none())
            .filter_map(|arg| arg.value.as_ref())
            .collect();
        let (name_arg, cron_arg) = match positional.as_slice() {
            [cron] => (None, *cron),
            [name, cron] => (Some(*name), *cron),
            _ => {
                self.error(
                    pos,
                    "SET SCHEDULE takes a cron expression in double quotes, optionally after a \
                     name: SET SCHEDULE \"0 9 * * 1\""
                        .to_owned(),
                );
                return;
            }
        };
        let Some(cron) = self.literal("SET SCHEDULE", "cron expression", Some(cron_arg)) else {
            return;
        };
        let name = name_arg.and_then(|name| self.literal("SET SCHEDULE", "name", Some(name)));
        if let Err(reason) = check_cron(&cron) {
            let message = format!(
                "SET SCHEDULE {cron:?} is not a valid cron expression: {reason}; write 5 fields \
                 (minute hour day month weekday), or 6 with seconds first"
            );
            self.error(cron_arg.pos, message);
            return;
        }
        self.manifest.schedules.push(Schedule { line: pos.line, name, cron });
    }

    /// Returns the text of a string literal; warns when the value is computed instead.
    fn literal(&mut self, command: &str, what: &str, value: Option<&Expr>) -> Option<String> {
        let value = value?;
        if let ExprKind::String { value } = &value.kind {
            return Some(value.clone());
        }
        let message = format!(
            "{command} gets its {what} computed when the script runs, so the manifest cannot \
             list it; write it in double quotes to have it registered"
        );
        self.diagnostics
            .push(Diagnostic::warning(value.pos.line, message).at_column(value.pos.column));
        None
    }

    fn error(&mut self, pos: Pos, message: String) {
        self.diagnostics.push(Diagnostic::error(pos.line, message).at_column(pos.column));
    }
}

/// Returns the value of the `idx`-th argument without a clause word.
fn positional(args: &[Arg], idx: usize) -> Option<&Expr> {
    args.iter().filter(|arg| arg.keyword.is_none()).nth(idx).and_then(|arg| arg.value.as_ref())
}

/// Returns the value after the clause word `word`.
fn keyword<'a>(args: &'a [Arg], word: &str) -> Option<&'a Expr> {
    args.iter().find(|arg| arg.keyword.as_deref() == Some(word)).and_then(|arg| arg.value.as_ref())
}

/// Checks a cron expression: 5 fields, or 6 with seconds first; no year field. Returns
/// what is wrong, in words for the author.
pub(crate) fn check_cron(text: &str) -> Result<(), String> {
    let fields = text.split_whitespace().count();
    if !(fields == 5 || fields == 6 || text.trim_start().starts_with('@')) {
        return Err(format!("it has {fields} fields"));
    }
    let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
    parser.parse(text).map(|_| ()).map_err(|err| {
        // croner's messages are sentences; these read as a clause of ours.
        err.to_string().trim_end_matches('.').to_lowercase()
    })
}
