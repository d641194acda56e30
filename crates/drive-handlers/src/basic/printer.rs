//! Prints a syntax tree back as BASIC source.
//!
//! The contract: for a tree the parser built from a script without errors, parsing the
//! printed text gives the same tree again, positions aside (they follow the printed layout).
//! The layout is canonical: four spaces per block level, keywords in capitals, block ends
//! spelled `END IF`, `NEXT item`, `LOOP`, `WEND`, parentheses only where precedence needs
//! them, object keys quoted, one-line `IF`s as blocks. Comments and blank lines are not in
//! the tree, so they are not printed.
//!
//! A keyword call inside an expression is printed in parentheses, `(GET "x") + 1`, except as
//! a whole argument of a command, where the parentheses could change how the command's name
//! is read; the printer checks the name it prints reads back the same and otherwise tries the
//! other spelling.
//!
//! Known limits: [`ExprKind::Invalid`] prints as `?`, which does not parse; a hand-built tree
//! may hold what no script can say (a string with a line break, text that does not end in a
//! line feed, a keyword-call argument looser than `+`) and then prints as best it can.

use crate::basic::lexer::lex_one_line;
use crate::basic::phrases::{PhraseSite, read_phrase, starts_value_keyword_call};
use crate::basic::syntax::{
    Arg, ErrorHandler, Expr, ExprKind, HearAs, Param, ParamKind, Precedence, Statement,
    StatementKind, SyntaxTree, UnaryOp,
};

/// Returns BASIC source for `tree`.
pub fn print(tree: &SyntaxTree) -> String {
    let mut printer = Printer { out: String::new(), indent: 0 };
    printer.statements(&tree.body);
    printer.out
}

struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn block(&mut self, statements: &[Statement]) {
        self.indent += 1;
        self.statements(statements);
        self.indent -= 1;
    }

    fn statements(&mut self, statements: &[Statement]) {
        for statement in statements {
            self.statement(statement);
        }
    }

    fn statement(&mut self, statement: &Statement) {
        match &statement.kind {
            StatementKind::Command { name, args } => {
                self.line(&phrase_with_args(name, args, PhraseSite::Statement));
            }
            StatementKind::Assign { target, value } => {
                self.line(&format!(
                    "{} = {}",
                    expr(target, Precedence::Postfix),
                    value_text(value)
                ));
            }
            StatementKind::Call { call } => self.line(&expr(call, Precedence::Postfix)),
            StatementKind::Hear(hear) => {
                let mut text = format!("HEAR {}", hear.name);
                match &hear.expects {
                    Some(HearAs::Type { name }) => text.push_str(&format!(" AS {name}")),
                    Some(HearAs::Choices { values }) => {
                        text.push_str(" AS ");
                        text.push_str(&choices(values));
                    }
                    None => {}
                }
                if let Some(prompt) = &hear.prompt {
                    text.push_str(&format!(" WITH {}", expr(prompt, Precedence::Or)));
                }
                if let Some(default) = &hear.default {
                    text.push_str(&format!(" DEFAULT {}", expr(default, Precedence::Or)));
                }
                self.line(&text);
            }
            StatementKind::If { branches, otherwise } => {
                for (idx, branch) in branches.iter().enumerate() {
                    let keyword = if idx == 0 { "IF" } else { "ELSE IF" };
                    self.line(&format!(
                        "{keyword} {} THEN",
                        expr(&branch.condition, Precedence::Or)
                    ));
                    self.block(&branch.body);
                }
                if let Some(otherwise) = otherwise {
                    self.line("ELSE");
                    self.block(otherwise);
                }
                self.line("END IF");
            }
            StatementKind::ForEach { item, list, body } => {
                self.line(&format!("FOR EACH {item} IN {}", expr(list, Precedence::Or)));
                self.block(body);
                self.line(&format!("NEXT {item}"));
            }
            StatementKind::For { counter, from, to, step, body } => {
                let mut text = format!(
                    "FOR {counter} = {} TO {}",
                    expr(from, Precedence::Or),
                    expr(to, Precedence::Or)
                );
                if let Some(step) = step {
                    text.push_str(&format!(" STEP {}", expr(step, Precedence::Or)));
                }
                self.line(&text);
                self.block(body);
                self.line(&format!("NEXT {counter}"));
            }
            StatementKind::Do { test, body } => {
                let test_text = |test: &crate::basic::syntax::LoopTest| {
                    let word = if test.until { "UNTIL" } else { "WHILE" };
                    format!(" {word} {}", expr(&test.condition, Precedence::Or))
                };
                let (top, bottom) = match test {
                    Some(test) if test.at_end => (String::new(), test_text(test)),
                    Some(test) => (test_text(test), String::new()),
                    None => (String::new(), String::new()),
                };
                self.line(&format!("DO{top}"));
                self.block(body);
                self.line(&format!("LOOP{bottom}"));
            }
            StatementKind::While { condition, body } => {
                self.line(&format!("WHILE {}", expr(condition, Precedence::Or)));
                self.block(body);
                self.line("WEND");
            }
            StatementKind::Select { subject, cases, otherwise } => {
                self.line(&format!("SELECT CASE {}", expr(subject, Precedence::Or)));
                self.indent += 1;
                for case in cases {
                    let values: Vec<String> =
                        case.values.iter().map(|value| expr(value, Precedence::Or)).collect();
                    self.line(&format!("CASE {}", values.join(", ")));
                    self.block(&case.body);
                }
                if let Some(otherwise) = otherwise {
                    self.line("CASE ELSE");
                    self.block(otherwise);
                }
                self.indent -= 1;
                self.line("END SELECT");
            }
            StatementKind::Sub(routine) => {
                let params = if routine.params.is_empty() {
                    String::new()
                } else {
                    format!("({})", routine.params.join(", "))
                };
                self.line(&format!("SUB {}{params}", routine.name));
                self.block(&routine.body);
                self.line("END SUB");
            }
            StatementKind::Function(routine) => {
                self.line(&format!("FUNCTION {}({})", routine.name, routine.params.join(", ")));
                self.block(&routine.body);
                self.line("END FUNCTION");
            }
            StatementKind::With { object, fields } => {
                self.line(&format!("WITH {}", expr(object, Precedence::Postfix)));
                self.indent += 1;
                for field in fields {
                    self.line(&format!("{} = {}", field.name, value_text(&field.value)));
                }
                self.indent -= 1;
                self.line("END WITH");
            }
            StatementKind::Text { block, text } => {
                self.line(&format!("BEGIN {}", block.words()));
                // The text is verbatim: no indentation is added to it.
                self.out.push_str(text);
                if !text.is_empty() && !text.ends_with('\n') {
                    self.out.push('\n');
                }
                self.line(&format!("END {}", block.words()));
            }
            StatementKind::Table(table) => {
                let on = table.connection.as_ref().map(|c| format!(" ON {c}")).unwrap_or_default();
                self.line(&format!("TABLE {}{on}", table.name));
                self.indent += 1;
                for field in &table.fields {
                    let mut text = format!("{} {}", field.name, field.type_name);
                    match (field.size, field.scale) {
                        (Some(size), Some(scale)) => text.push_str(&format!("({size}, {scale})")),
                        (Some(size), None) => text.push_str(&format!("({size})")),
                        _ => {}
                    }
                    if field.key {
                        text.push_str(" KEY");
                    }
                    self.line(&text);
                }
                self.indent -= 1;
                self.line("END TABLE");
            }
            StatementKind::Label { name } => self.line(&format!("{name}:")),
            StatementKind::Goto { label } => self.line(&format!("GOTO {label}")),
            StatementKind::OnError { handler } => match handler {
                ErrorHandler::ResumeNext => self.line("ON ERROR RESUME NEXT"),
                ErrorHandler::Goto { label } => self.line(&format!("ON ERROR GOTO {label}")),
            },
            StatementKind::Return { value } => match value {
                Some(value) => self.line(&format!("RETURN {}", value_text(value))),
                None => self.line("RETURN"),
            },
            StatementKind::Exit { block } => self.line(&format!("EXIT {}", block.keyword())),
            StatementKind::Param(param) => self.line(&param_text(param)),
            StatementKind::Description { text } => {
                self.line(&format!("DESCRIPTION {}", string(text)));
            }
        }
    }
}

fn param_text(param: &Param) -> String {
    let mut text = format!("PARAM {} AS ", param.name);
    match &param.kind {
        ParamKind::Type { name } => text.push_str(name),
        ParamKind::Choices { values } => text.push_str(&list(values)),
    }
    if let Some(example) = &param.example {
        text.push_str(&format!(" LIKE {}", expr(example, Precedence::Or)));
    }
    if let Some(allowed) = &param.allowed {
        text.push_str(&format!(" ENUM [{}]", list(allowed)));
    }
    if let Some(description) = &param.description {
        text.push_str(&format!(" DESCRIPTION {}", string(description)));
    }
    if param.optional {
        text.push_str(" OPTIONAL");
    }
    text
}

fn list(values: &[Expr]) -> String {
    values.iter().map(|value| expr(value, Precedence::Or)).collect::<Vec<_>>().join(", ")
}

/// Prints the choices of `HEAR ... AS`, keeping a lone name from reading as a type.
fn choices(values: &[Expr]) -> String {
    let printed: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(idx, value)| match &value.kind {
            ExprKind::Name { name } if idx == 0 => format!("({name})"),
            _ => expr(value, Precedence::Or),
        })
        .collect();
    printed.join(", ")
}

/// Prints a value after `=` or `RETURN`, where a keyword call needs no parentheses.
fn value_text(value: &Expr) -> String {
    match &value.kind {
        ExprKind::KeywordCall { name, args } => {
            let text = phrase_with_args(name, args, PhraseSite::Value);
            if starts_value_keyword_call(&tokens_at(&text, PhraseSite::Value)) {
                text
            } else {
                format!("({text})")
            }
        }
        _ => expr_on(value, Precedence::Or, Spine::Value),
    }
}

/// Where an expression stands, for the keyword calls on its leftmost edge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spine {
    /// At the start of the value after `=` or `RETURN`, where a bare keyword call would take
    /// the whole rest of the line as its arguments.
    Value,
    /// Anywhere else.
    Other,
}

/// Prints a phrase and its arguments so that the phrase reads back as `name`.
fn phrase_with_args(name: &str, args: &[Arg], site: PhraseSite) -> String {
    let plain = format!("{name}{}", arguments(args, false));
    if args.is_empty() || reads_back(&plain, name, site) {
        return plain;
    }
    let wrapped = format!("{name}{}", arguments(args, true));
    if reads_back(&wrapped, name, site) { wrapped } else { plain }
}

/// Returns true when the phrase at the start of `text` is `name`.
fn reads_back(text: &str, name: &str, site: PhraseSite) -> bool {
    let tokens = tokens_at(text, site);
    !tokens.is_empty() && read_phrase(&tokens, site).name == name
}

/// Returns the tokens of `text` as the lexer reads them where `site` is: a value is lexed
/// after `x = `, so that a leading `REM` is a word there, as it is in the printed line.
fn tokens_at(text: &str, site: PhraseSite) -> Vec<crate::basic::lexer::Token> {
    match site {
        PhraseSite::Statement => lex_one_line(text),
        PhraseSite::Value => {
            lex_one_line(&format!("x = {text}")).get(2..).map(<[_]>::to_vec).unwrap_or_default()
        }
    }
}

/// Prints arguments after a phrase, each with its leading separator. With `wrap_first`, the
/// first argument is put in parentheses.
fn arguments(args: &[Arg], wrap_first: bool) -> String {
    let mut text = String::new();
    for (idx, arg) in args.iter().enumerate() {
        let value = arg.value.as_ref().map(|value| {
            let printed = argument_value(value);
            if idx == 0 && wrap_first && arg.keyword.is_none() {
                format!("({printed})")
            } else {
                printed
            }
        });
        match (&arg.keyword, value) {
            (Some(keyword), Some(value)) => text.push_str(&format!(" {keyword} {value}")),
            (Some(keyword), None) => text.push_str(&format!(" {keyword}")),
            (None, Some(value)) if idx == 0 => text.push_str(&format!(" {value}")),
            (None, Some(value)) => text.push_str(&format!(", {value}")),
            (None, None) => {}
        }
    }
    text
}

/// Prints a whole argument: a keyword call standing alone needs no parentheses there.
fn argument_value(value: &Expr) -> String {
    argument_value_at(value, Precedence::Or)
}

/// Prints a whole argument at least `min` tight. A keyword call is printed bare: in
/// parentheses right after a phrase it would read as a call of that phrase.
fn argument_value_at(value: &Expr, min: Precedence) -> String {
    match &value.kind {
        ExprKind::KeywordCall { name, args } => {
            format!("{name}{}", arguments_at(args, Precedence::Additive))
        }
        _ => expr(value, min),
    }
}

/// Prints the arguments of a keyword call inside an expression, each at least `min` tight.
fn arguments_at(args: &[Arg], min: Precedence) -> String {
    let mut text = String::new();
    for (idx, arg) in args.iter().enumerate() {
        let separator = if idx == 0 { " " } else { ", " };
        match (&arg.keyword, &arg.value) {
            (Some(keyword), Some(value)) => {
                text.push_str(&format!(" {keyword} {}", expr(value, min)));
            }
            (Some(keyword), None) => text.push_str(&format!(" {keyword}")),
            (None, Some(value)) => {
                text.push_str(&format!("{separator}{}", argument_value_at(value, min)));
            }
            (None, None) => {}
        }
    }
    text
}

/// Prints an expression, in parentheses when it binds looser than `min`.
fn expr(expr_: &Expr, min: Precedence) -> String {
    expr_on(expr_, min, Spine::Other)
}

fn expr_on(expr_: &Expr, min: Precedence, spine: Spine) -> String {
    let text = bare(expr_, spine);
    if expr_.precedence() < min { format!("({text})") } else { text }
}

/// Prints the left operand of a binary operator at `level`. A keyword call there needs no
/// parentheses before a comparison or a looser operator, since its one argument stops at
/// them; outside a value's start it must not have them either, as `FROB (GET x) = 1` would
/// read as a call of `FROB`.
fn left_operand(left: &Expr, level: Precedence, spine: Spine) -> String {
    match &left.kind {
        ExprKind::KeywordCall { name, args }
            if level <= Precedence::Comparison && spine == Spine::Other =>
        {
            format!("{name}{}", arguments_at(args, Precedence::Additive))
        }
        _ => expr_on(left, level, spine),
    }
}

fn bare(e: &Expr, spine: Spine) -> String {
    match &e.kind {
        ExprKind::String { value } => string(value),
        ExprKind::Number { text } => text.clone(),
        ExprKind::Boolean { value } => if *value { "TRUE" } else { "FALSE" }.to_owned(),
        ExprKind::Null => "NULL".to_owned(),
        ExprKind::Name { name } => name.clone(),
        ExprKind::Array { items } => format!("[{}]", list(items)),
        ExprKind::Object { entries } => {
            let entries: Vec<String> = entries
                .iter()
                .map(|entry| {
                    format!("{}: {}", string(&entry.key), expr(&entry.value, Precedence::Or))
                })
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        ExprKind::Unary { op: UnaryOp::Neg, operand } => {
            format!("-{}", expr(operand, Precedence::Negation))
        }
        ExprKind::Unary { op: UnaryOp::Not, operand } => {
            format!("NOT {}", expr(operand, Precedence::Not))
        }
        ExprKind::Binary { op, left, right } => {
            let level = op.precedence();
            let left = left_operand(left, level, spine);
            format!("{left} {} {}", op.symbol(), expr(right, next_level(level)))
        }
        ExprKind::Call { callee, args } => {
            format!("{}({})", expr_on(callee, Precedence::Postfix, spine), list(args))
        }
        ExprKind::Index { target, index } => {
            let target = expr_on(target, Precedence::Postfix, spine);
            format!("{target}[{}]", expr(index, Precedence::Or))
        }
        ExprKind::Member { target, name, optional } => {
            let dot = if *optional { "?." } else { "." };
            format!("{}{dot}{name}", expr_on(target, Precedence::Postfix, spine))
        }
        ExprKind::KeywordCall { name, args } => {
            format!("({name}{})", arguments_at(args, Precedence::Additive))
        }
        ExprKind::Invalid => "?".to_owned(),
    }
}

/// Returns the level just tighter than `level`, for right operands.
fn next_level(level: Precedence) -> Precedence {
    match level {
        Precedence::Or => Precedence::And,
        Precedence::And => Precedence::Not,
        Precedence::Not => Precedence::Comparison,
        Precedence::Comparison => Precedence::Additive,
        Precedence::Additive => Precedence::Multiplicative,
        Precedence::Multiplicative => Precedence::Power,
        Precedence::Power => Precedence::Negation,
        Precedence::Negation => Precedence::Postfix,
        Precedence::Postfix | Precedence::Atom => Precedence::Atom,
    }
}

/// Prints a string literal, doubling the quotes inside.
fn string(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}
