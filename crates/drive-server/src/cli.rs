//! The command line: flags, commands and what each prints.
//!
//! Commands write their output to the writer they are given (standard output in the
//! binary), logs go to standard error, so `--json` output can be piped.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::json;

use drive_core::{BotName, BotReport, Change, Kind};

use crate::app::App;
use crate::config::Config;

/// Keeps conversational bots live while their authors edit them: watches bot packages in
/// object storage and applies every change.
#[derive(Debug, Parser)]
#[command(name = "drive-server", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command takes; each overrides the config file and the environment.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "DRIVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where bot packages live: `fs:PATH` or `s3:http://HOST:PORT` [default: fs:bots].
    #[arg(long, global = true, value_name = "SPEC")]
    pub storage: Option<String>,
    /// Where state goes: `sqlite:PATH` or `postgres://...` [default: sqlite:drive-monitor.db].
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Address of the HTTP server [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Token storage event notifications must carry (also `DRIVE_WEBHOOK_TOKEN`).
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub webhook_token: Option<String>,
    /// With `fs:` storage, apply edits as the OS reports them (also `DRIVE_WATCH=true`).
    #[arg(long, global = true)]
    pub watch: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Monitor every bot until Ctrl-C and serve HTTP (the default command).
    Run,
    /// Run one full pass over the bots, then exit; exit code 1 when a change failed.
    Sync(SyncArgs),
    /// Show the changes a pass would process, applying nothing.
    Check(BotArgs),
    /// Show the files tracked per kind and the changes that fail.
    Status(BotArgs),
    /// Print a bot's current settings.
    Settings(SettingsArgs),
    /// Print a bot's system prompt.
    Prompt(NamedBotArgs),
    /// Compile a script file and print its diagnostics; exit code 1 when it has errors.
    Compile(CompileArgs),
    /// Print a bot's tool registry, in the OpenAI and MCP forms.
    Tools(NamedBotArgs),
    /// Search a bot's knowledge: lexical and vector ranks fused.
    Search(SearchArgs),
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The bot (bucket name without `.gbai`).
    pub bot: String,
    /// What to look for.
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// Only this collection (the folder under `*.gbkb/`; `default` for loose documents).
    #[arg(long)]
    pub collection: Option<String>,
    /// How many results, best first (1 to 100).
    #[arg(short = 'k', long = "limit", default_value_t = crate::search::DEFAULT_LIMIT)]
    pub k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The `.bas` file; its stem names the tool it declares.
    pub file: PathBuf,
    /// Print one JSON object: diagnostics, tool (both forms) and manifest.
    #[arg(long)]
    pub json: bool,
    /// Also print the syntax tree (as JSON).
    #[arg(long)]
    pub ast: bool,
}

#[derive(Debug, Args)]
pub struct BotArgs {
    /// Only this bot (bucket name without `.gbai`).
    #[arg(long)]
    pub bot: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub bots: BotArgs,
    /// Apply deletions even when they exceed the deletion guard.
    #[arg(long)]
    pub allow_mass_deletion: bool,
}

#[derive(Debug, Args)]
pub struct NamedBotArgs {
    /// The bot (bucket name without `.gbai`).
    pub bot: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub bot: NamedBotArgs,
    /// Print the values of secret settings (names ending in `-key`, `-pass`, `-password`,
    /// `-secret` or `-token`) instead of `<redacted>`.
    #[arg(long)]
    pub show_secrets: bool,
}

/// How a command ended, as a process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Some change or bot failed; the output says which.
    Failures,
}

impl Cli {
    /// Returns the configuration: the file, then `DRIVE_*` variables, then these flags.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.global.config.as_deref(), |v| std::env::var(v).ok())?;
        if let Some(storage) = &self.global.storage {
            config.storage.clone_from(storage);
        }
        if let Some(database) = &self.global.database {
            config.database.clone_from(database);
        }
        if let Some(listen) = self.global.listen {
            config.listen = listen;
        }
        if let Some(token) = &self.global.webhook_token {
            config.webhook_token = Some(token.clone());
        }
        if self.global.watch {
            config.watch = true;
        }
        Ok(config)
    }
}

/// Runs the command of `cli`, writing its output to `out`.
///
/// # Errors
/// When the configuration is invalid or storage or database cannot be opened.
pub async fn execute(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let config = cli.load_config()?;
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::Compile(args) = &command {
        return compile(args, out);
    }
    if matches!(command, Command::Run) {
        crate::run::seed_default_storage(&config)?;
    }
    let app = if matches!(command, Command::Run) {
        App::open(config).await?
    } else {
        App::open_for_command(config).await?
    };
    match command {
        Command::Run => crate::run::run(app).await,
        Command::Sync(args) => sync(&app, args, out).await,
        Command::Check(args) => check(&app, args, out).await,
        Command::Status(args) => status(&app, args, out).await,
        Command::Settings(args) => settings(&app, args, out).await,
        Command::Prompt(args) => prompt(&app, args, out).await,
        Command::Tools(args) => tools(&app, args, out).await,
        Command::Search(args) => {
            let query = args.query.join(" ");
            let collection = args.collection.as_deref();
            crate::search::print_search(
                &app.knowledge,
                &args.bot,
                collection,
                &query,
                args.k,
                args.json,
                out,
            )
            .await?;
            Ok(Exit::Success)
        }
        // Handled above without opening storage or database; kept for exhaustiveness.
        Command::Compile(args) => compile(&args, out),
    }
}

/// One bot's line of `sync --json`: the cycle's report with the knowledge chunks embedded
/// in this pass and those whose stored vector was reused.
#[derive(Debug, serde::Serialize)]
struct SyncReport {
    #[serde(flatten)]
    report: BotReport,
    embedded: u64,
    reused: u64,
}

async fn sync(app: &App, args: SyncArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let mut reports = Vec::new();
    let mut exit = Exit::Success;
    for bot in app.select_bots(args.bots.bot.as_deref()).await? {
        let before = app.knowledge.counts(&bot);
        let report = match app.monitor.sync_with(&bot, args.allow_mass_deletion).await {
            Ok(report) => report,
            Err(err) => {
                let error = format!("{:#}", anyhow::Error::from(err));
                BotReport {
                    bot: bot.to_string(),
                    failed: 1,
                    errors: vec![drive_core::ChangeError {
                        key: String::new(),
                        error,
                        retrying: true,
                    }],
                    ..BotReport::default()
                }
            }
        };
        if report.failed > 0 || report.held_deletions > 0 {
            exit = Exit::Failures;
        }
        let after = app.knowledge.counts(&bot);
        let embedded = after.embedded - before.embedded;
        let reused = after.reused - before.reused;
        reports.push(SyncReport { report, embedded, reused });
    }

    if args.bots.json {
        write_json(out, &json!({ "bots": reports }))?;
        return Ok(exit);
    }
    for SyncReport { report, embedded, reused } in &reports {
        writeln!(
            out,
            "{}: {} added, {} modified, {} removed; {} processed, {} failed, {} waiting for a \
             handler, {} ignored, {} unchanged content",
            report.bot,
            report.added,
            report.modified,
            report.removed,
            report.processed,
            report.failed,
            report.unhandled,
            report.ignored,
            report.same_content,
        )?;
        if embedded + reused > 0 {
            writeln!(out, "  knowledge: {embedded} chunks embedded, {reused} reused")?;
        }
        if report.held_deletions > 0 {
            writeln!(
                out,
                "  {} deletions held: more than the guard allows at once; run `sync \
                 --allow-mass-deletion` to apply them",
                report.held_deletions
            )?;
        }
        for error in &report.errors {
            let key = if error.key.is_empty() { "(bot)" } else { &error.key };
            writeln!(out, "  {key}: {}", error.error.replace('\n', "\n    "))?;
        }
    }
    Ok(exit)
}

#[derive(Serialize)]
struct PlannedChange<'a> {
    op: &'static str,
    kind: Kind,
    key: &'a str,
}

async fn check(app: &App, args: BotArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let mut plans = Vec::new();
    for bot in app.select_bots(args.bot.as_deref()).await? {
        let plan = app.monitor.check(&bot).await.with_context(|| format!("checking bot {bot}"))?;
        plans.push(plan);
    }
    if args.json {
        let bots: Vec<_> = plans
            .iter()
            .map(|plan| {
                let changes: Vec<PlannedChange<'_>> = plan.changes.iter().map(planned).collect();
                json!({ "bot": plan.bot, "changes": changes, "held_deletions": plan.held_deletions })
            })
            .collect();
        write_json(out, &json!({ "bots": bots }))?;
        return Ok(Exit::Success);
    }
    for plan in &plans {
        writeln!(out, "{}: {} changes", plan.bot, plan.changes.len())?;
        for change in &plan.changes {
            writeln!(out, "  {:<8} {:<9} {}", change.op_name(), change.kind(), change.key())?;
        }
        if plan.held_deletions > 0 {
            writeln!(out, "  {} deletions would be held by the guard", plan.held_deletions)?;
        }
    }
    Ok(Exit::Success)
}

fn planned(change: &Change) -> PlannedChange<'_> {
    PlannedChange { op: change.op_name(), kind: change.kind(), key: change.key().as_str() }
}

async fn status(app: &App, args: BotArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let mut bots = Vec::new();
    for bot in app.select_bots(args.bot.as_deref()).await? {
        let status =
            crate::status::bot_status(app.state.as_ref(), &app.monitor, &app.knowledge, &bot)
                .await
                .with_context(|| format!("loading state of {bot}"))?;
        bots.push(status);
    }

    if args.json {
        write_json(out, &json!({ "bots": bots }))?;
        return Ok(Exit::Success);
    }
    for status in &bots {
        writeln!(out, "{}: {} files tracked", status.bot, status.tracked)?;
        for (kind, counts) in &status.files {
            writeln!(
                out,
                "  {kind:<9} {:>6} total  {:>6} live  {:>4} waiting for a handler  {:>4} retrying  \
                 {:>4} invalid",
                counts.total, counts.live, counts.unhandled, counts.retrying, counts.invalid
            )?;
        }
        for failing in &status.failing {
            writeln!(out, "  failing {} ({}): {}", failing.key, failing.status, failing.error)?;
        }
        let kb = &status.knowledge;
        if kb.stats.documents > 0 {
            let search = match &kb.model {
                Some(model) => format!("hybrid search with {model}"),
                None => "lexical search only (no embedder configured)".to_owned(),
            };
            writeln!(
                out,
                "  knowledge {} documents, {} chunks, {} waiting for a vector; {search}",
                kb.stats.documents, kb.stats.chunks, kb.pending_vectors
            )?;
        }
    }
    Ok(Exit::Success)
}

async fn settings(
    app: &App,
    args: SettingsArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Exit> {
    let bot = BotName::new(args.bot.bot)?;
    let settings = app.settings.settings(&bot).await.context("reading settings")?;
    let shown = |name: &str, value: String| {
        if args.show_secrets || !drive_core::is_secret_setting(name) {
            value
        } else {
            "<redacted>".to_owned()
        }
    };
    if args.bot.json {
        let object: serde_json::Map<String, serde_json::Value> = settings
            .into_iter()
            .map(|s| {
                let value = shown(&s.name, s.value);
                (s.name, serde_json::Value::String(value))
            })
            .collect();
        write_json(out, &serde_json::Value::Object(object))?;
        return Ok(Exit::Success);
    }
    for setting in settings {
        writeln!(out, "{} = {}", setting.name, shown(&setting.name, setting.value))?;
    }
    Ok(Exit::Success)
}

async fn prompt(
    app: &App,
    args: NamedBotArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Exit> {
    let bot = BotName::new(args.bot)?;
    let prompt = app.prompts.prompt(&bot).await.context("reading the prompt")?;
    if args.json {
        write_json(out, &json!({ "bot": bot, "prompt": prompt }))?;
        return Ok(Exit::Success);
    }
    match prompt {
        Some(text) => writeln!(out, "{text}")?,
        None => anyhow::bail!("bot {bot} has no system prompt"),
    }
    Ok(Exit::Success)
}

fn write_json(out: &mut (dyn Write + Send), value: &serde_json::Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// How long shutdown may take after Ctrl-C before the process exits anyway.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Compiles one file without storage or database.
fn compile(args: &CompileArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let stem = args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let compiled = drive_handlers::basic::compile_bytes(&stem, &bytes)
        .with_context(|| format!("compiling {}", args.file.display()))?;
    let exit = if compiled.has_errors() { Exit::Failures } else { Exit::Success };

    if args.json {
        let tool = compiled
            .tool
            .as_ref()
            .map(|tool| json!({ "openai": tool.openai(), "mcp": tool.mcp() }));
        let mut doc = json!({
            "diagnostics": compiled.diagnostics,
            "tool": tool,
            "manifest": compiled.manifest,
        });
        if args.ast {
            doc["tree"] = serde_json::to_value(&compiled.tree)?;
        }
        write_json(out, &doc)?;
        return Ok(exit);
    }
    let file = args.file.display();
    for diagnostic in &compiled.diagnostics {
        let severity = match diagnostic.severity {
            drive_core::Severity::Error => "error",
            drive_core::Severity::Warning => "warning",
        };
        writeln!(
            out,
            "{file}:{}:{}: {severity}: {}",
            diagnostic.line, diagnostic.column, diagnostic.message
        )?;
    }
    if args.ast {
        write_json(out, &serde_json::to_value(&compiled.tree)?)?;
    }
    Ok(exit)
}

async fn tools(
    app: &App,
    args: NamedBotArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Exit> {
    let bot = BotName::new(args.bot)?;
    let tools = app.scripts.tools(&bot).await.context("reading the tool registry")?;
    if args.json {
        let mut entries = Vec::new();
        for registered in &tools {
            let openai: serde_json::Value = serde_json::from_str(&registered.tool.openai)?;
            let mcp: serde_json::Value = serde_json::from_str(&registered.tool.mcp)?;
            entries.push(json!({
                "key": registered.key,
                "name": registered.tool.name,
                "openai": openai,
                "mcp": mcp,
            }));
        }
        write_json(out, &json!({ "bot": bot, "tools": entries }))?;
        return Ok(Exit::Success);
    }
    for registered in &tools {
        let mcp: serde_json::Value = serde_json::from_str(&registered.tool.mcp)?;
        let description = mcp["description"].as_str().unwrap_or_default();
        writeln!(
            out,
            "{:<24} {:<40} {description}",
            registered.tool.name,
            registered.key.as_str()
        )?;
    }
    Ok(Exit::Success)
}
