//! Test helpers of the script compiler: the one `check` helper every snapshot goes through,
//! and a compact, readable dump of syntax trees.
//!
//! The dump has one line per statement, `line:column` first and two spaces of indentation per
//! block level, with expressions as S-expressions: `(+ a 1)`, `(call LEN x)`, `(. obj field)`,
//! `(index list 0)`, and keyword calls in angle brackets, `<FIND "orders", "open">`.

use expect_test::Expect;
use serde_json::Value;

use crate::basic::{
    Arg, CompiledScript, ErrorHandler, Expr, ExprKind, HearAs, ParamKind, Statement, StatementKind,
    SyntaxTree, UnaryOp, compile, print,
};

/// Compiles `source` as `script.bas` and compares a rendering of the result with `expected`:
/// the tree dump, then the diagnostics, then the tool in MCP form and the manifest when the
/// script declares them.
#[track_caller]
pub(crate) fn check(source: &str, expected: Expect) {
    expected.assert_eq(&render(&compile("script", source)));
}

pub(crate) fn render(compiled: &CompiledScript) -> String {
    let mut out = dump(&compiled.tree);
    if !compiled.diagnostics.is_empty() {
        out.push_str("--\n");
        for diagnostic in &compiled.diagnostics {
            out.push_str(&format!("{diagnostic}\n"));
        }
    }
    if let Some(tool) = &compiled.tool {
        out.push_str(&format!("-- tool\n{}\n", serde_json::to_string(&tool.mcp()).unwrap()));
    }
    let mut manifest = serde_json::to_value(&compiled.manifest).unwrap();
    if let Value::Object(fields) = &mut manifest {
        fields.retain(|key, value| {
            key != "version" && value.as_array().is_none_or(|v| !v.is_empty())
        });
        if !fields.is_empty() {
            out.push_str(&format!("-- manifest\n{manifest}\n"));
        }
    }
    out
}

/// Returns the dump of a tree.
pub(crate) fn dump(tree: &SyntaxTree) -> String {
    let mut out = String::new();
    statements(&mut out, &tree.body, 0);
    out
}

/// Returns the JSON of a tree with every `line` and `column` removed.
pub(crate) fn without_positions(tree: &SyntaxTree) -> Value {
    let mut value = serde_json::to_value(tree).unwrap();
    strip(&mut value);
    value
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.remove("line");
            fields.remove("column");
            fields.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Asserts that `source` parses without errors, that its printed form parses to the same
/// tree (positions aside) and that printing is stable; returns the printed form.
#[track_caller]
pub(crate) fn assert_round_trip(source: &str) -> String {
    let first = compile("script", source);
    assert!(!first.has_errors(), "{source}\n{:#?}", first.diagnostics);
    let printed = print(&first.tree);
    let second = compile("script", &printed);
    assert!(!second.has_errors(), "printed:\n{printed}\n{:#?}", second.diagnostics);
    assert_eq!(
        without_positions(&first.tree),
        without_positions(&second.tree),
        "printed:\n{printed}"
    );
    assert_eq!(print(&second.tree), printed);
    printed
}

/// Returns how deeply JSON text nests arrays and objects.
pub(crate) fn json_nesting(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0_usize, 0, false, false);
    for c in json.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            (false, _, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn statements(out: &mut String, statements: &[Statement], depth: usize) {
    for statement in statements {
        self::statement(out, statement, depth);
    }
}

fn line(out: &mut String, pos: crate::basic::Pos, depth: usize, text: &str) {
    out.push_str(&format!("{}:{} {}{text}\n", pos.line, pos.column, "  ".repeat(depth)));
}

/// Writes a line for a part of a statement that has no position of its own.
fn line_without_pos(out: &mut String, depth: usize, text: &str) {
    out.push_str(&format!("*:* {}{text}\n", "  ".repeat(depth)));
}

fn statement(out: &mut String, statement: &Statement, depth: usize) {
    let pos = statement.pos;
    match &statement.kind {
        StatementKind::Command { name, args } => {
            line(out, pos, depth, &format!("{name}{}", arguments(args)))
        }
        StatementKind::Assign { target, value } => {
            line(out, pos, depth, &format!("{} = {}", expr(target), expr(value)));
        }
        StatementKind::Call { call } => line(out, pos, depth, &format!("CALL {}", expr(call))),
        StatementKind::Hear(hear) => {
            let mut text = format!("HEAR {}", hear.name);
            match &hear.expects {
                Some(HearAs::Type { name }) => text.push_str(&format!(" AS {name}")),
                Some(HearAs::Choices { values }) => {
                    text.push_str(&format!(" AS {}", exprs(values)))
                }
                None => {}
            }
            if let Some(prompt) = &hear.prompt {
                text.push_str(&format!(" WITH {}", expr(prompt)));
            }
            if let Some(default) = &hear.default {
                text.push_str(&format!(" DEFAULT {}", expr(default)));
            }
            line(out, pos, depth, &text);
        }
        StatementKind::If { branches, otherwise } => {
            for (idx, branch) in branches.iter().enumerate() {
                let keyword = if idx == 0 { "IF" } else { "ELSE IF" };
                line(out, branch.pos, depth, &format!("{keyword} {}", expr(&branch.condition)));
                statements(out, &branch.body, depth + 1);
            }
            if let Some(otherwise) = otherwise {
                line_without_pos(out, depth, "ELSE");
                statements(out, otherwise, depth + 1);
            }
        }
        StatementKind::ForEach { item, list, body } => {
            line(out, pos, depth, &format!("FOR EACH {item} IN {}", expr(list)));
            statements(out, body, depth + 1);
        }
        StatementKind::For { counter, from, to, step, body } => {
            let step = step.as_ref().map(|s| format!(" STEP {}", expr(s))).unwrap_or_default();
            line(out, pos, depth, &format!("FOR {counter} = {} TO {}{step}", expr(from), expr(to)));
            statements(out, body, depth + 1);
        }
        StatementKind::Do { test, body } => {
            let text = match test {
                None => "DO".to_owned(),
                Some(test) => format!(
                    "DO{} {} {}",
                    if test.at_end { " LOOP" } else { "" },
                    if test.until { "UNTIL" } else { "WHILE" },
                    expr(&test.condition)
                ),
            };
            line(out, pos, depth, &text);
            statements(out, body, depth + 1);
        }
        StatementKind::While { condition, body } => {
            line(out, pos, depth, &format!("WHILE {}", expr(condition)));
            statements(out, body, depth + 1);
        }
        StatementKind::Select { subject, cases, otherwise } => {
            line(out, pos, depth, &format!("SELECT CASE {}", expr(subject)));
            for case in cases {
                line(out, case.pos, depth + 1, &format!("CASE {}", exprs(&case.values)));
                statements(out, &case.body, depth + 2);
            }
            if let Some(otherwise) = otherwise {
                line_without_pos(out, depth + 1, "CASE ELSE");
                statements(out, otherwise, depth + 2);
            }
        }
        StatementKind::Sub(routine) | StatementKind::Function(routine) => {
            let keyword =
                if matches!(statement.kind, StatementKind::Sub(_)) { "SUB" } else { "FUNCTION" };
            line(
                out,
                pos,
                depth,
                &format!("{keyword} {}({})", routine.name, routine.params.join(", ")),
            );
            statements(out, &routine.body, depth + 1);
        }
        StatementKind::With { object, fields } => {
            line(out, pos, depth, &format!("WITH {}", expr(object)));
            for field in fields {
                line(
                    out,
                    field.pos,
                    depth + 1,
                    &format!("{} = {}", field.name, expr(&field.value)),
                );
            }
        }
        StatementKind::Text { block, text } => {
            line(out, pos, depth, &format!("TEXT {} {text:?}", block.words()));
        }
        StatementKind::Table(table) => {
            let on = table.connection.as_ref().map(|c| format!(" ON {c}")).unwrap_or_default();
            line(out, pos, depth, &format!("TABLE {}{on}", table.name));
            for field in &table.fields {
                let size = match (field.size, field.scale) {
                    (Some(size), Some(scale)) => format!("({size},{scale})"),
                    (Some(size), None) => format!("({size})"),
                    _ => String::new(),
                };
                let key = if field.key { " KEY" } else { "" };
                line(
                    out,
                    field.pos,
                    depth + 1,
                    &format!("{} {}{size}{key}", field.name, field.type_name),
                );
            }
        }
        StatementKind::Label { name } => line(out, pos, depth, &format!("LABEL {name}")),
        StatementKind::Goto { label } => line(out, pos, depth, &format!("GOTO {label}")),
        StatementKind::OnError { handler } => {
            let text = match handler {
                ErrorHandler::ResumeNext => "ON ERROR RESUME NEXT".to_owned(),
                ErrorHandler::Goto { label } => format!("ON ERROR GOTO {label}"),
            };
            line(out, pos, depth, &text);
        }
        StatementKind::Return { value } => {
            let value = value.as_ref().map(|v| format!(" {}", expr(v))).unwrap_or_default();
            line(out, pos, depth, &format!("RETURN{value}"));
        }
        StatementKind::Exit { block } => {
            line(out, pos, depth, &format!("EXIT {}", block.keyword()))
        }
        StatementKind::Param(param) => {
            let mut text = format!("PARAM {} AS ", param.name);
            match &param.kind {
                ParamKind::Type { name } => text.push_str(name),
                ParamKind::Choices { values } => text.push_str(&exprs(values)),
            }
            if let Some(example) = &param.example {
                text.push_str(&format!(" LIKE {}", expr(example)));
            }
            if let Some(allowed) = &param.allowed {
                text.push_str(&format!(" ENUM [{}]", exprs(allowed)));
            }
            if let Some(description) = &param.description {
                text.push_str(&format!(" DESCRIPTION {description:?}"));
            }
            if param.optional {
                text.push_str(" OPTIONAL");
            }
            line(out, pos, depth, &text);
        }
        StatementKind::Description { text } => {
            line(out, pos, depth, &format!("DESCRIPTION {text:?}"))
        }
    }
}

fn arguments(args: &[Arg]) -> String {
    let mut text = String::new();
    for (idx, arg) in args.iter().enumerate() {
        let value = arg.value.as_ref().map(expr);
        match (&arg.keyword, value) {
            (Some(keyword), Some(value)) => text.push_str(&format!(" {keyword} {value}")),
            (Some(keyword), None) => text.push_str(&format!(" {keyword}")),
            (None, Some(value)) if idx == 0 => text.push_str(&format!(" {value}")),
            (None, Some(value)) => text.push_str(&format!(", {value}")),
            (None, None) => text.push_str(" ?"),
        }
    }
    text
}

fn exprs(values: &[Expr]) -> String {
    values.iter().map(expr).collect::<Vec<_>>().join(", ")
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::String { value } => format!("{value:?}"),
        ExprKind::Number { text } => text.clone(),
        ExprKind::Boolean { value } => if *value { "TRUE" } else { "FALSE" }.to_owned(),
        ExprKind::Null => "NULL".to_owned(),
        ExprKind::Name { name } => name.clone(),
        ExprKind::Array { items } => {
            format!("[{}]", items.iter().map(expr).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Object { entries } => {
            let entries: Vec<String> =
                entries.iter().map(|e| format!("{}: {}", e.key, expr(&e.value))).collect();
            format!("{{{}}}", entries.join(", "))
        }
        ExprKind::Unary { op, operand } => {
            let op = if *op == UnaryOp::Neg { "-" } else { "NOT" };
            format!("({op} {})", expr(operand))
        }
        ExprKind::Binary { op, left, right } => {
            format!("({} {} {})", op.symbol(), expr(left), expr(right))
        }
        ExprKind::Call { callee, args } => {
            let args: String = args.iter().map(|a| format!(" {}", expr(a))).collect();
            format!("(call {}{args})", expr(callee))
        }
        ExprKind::Index { target, index } => format!("(index {} {})", expr(target), expr(index)),
        ExprKind::Member { target, name, optional } => {
            format!("({} {} {name})", if *optional { "?." } else { "." }, expr(target))
        }
        ExprKind::KeywordCall { name, args } => format!("<{name}{}>", arguments(args)),
        ExprKind::Invalid => "#invalid".to_owned(),
    }
}
