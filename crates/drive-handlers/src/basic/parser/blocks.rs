//! Block statements: `IF`, `FOR`, `DO`, `WHILE`, `SELECT CASE`, `SUB`, `FUNCTION`, `WITH`,
//! `TABLE` and the raw text blocks.
//!
//! Each opener reads its header, registers itself as open, reads its body through
//! [`Parser::body`] and takes its closing line. A header it cannot read is reported and
//! replaced by [`ExprKind::Invalid`], and the block is still opened, so that its closing line
//! is not reported a second time as stray.

use crate::basic::lexer::{Line, Sym, Tok};
use crate::basic::parser::cursor::{Cursor, Fault, PResult, is_word};
use crate::basic::parser::expr::{expression, target, value};
use crate::basic::parser::{Block, Closer, MAX_BLOCK_DEPTH, Open, Parser, Stop};
use crate::basic::syntax::{
    Case, Expr, ExprKind, IfBranch, LoopTest, Pos, Routine, Statement, StatementKind, Table,
    TableField, WithField,
};

impl Parser {
    pub(super) fn if_statement(
        &mut self,
        cur: &mut Cursor<'_>,
        single_line: bool,
    ) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        let condition = match expression(cur) {
            Ok(condition) => condition,
            Err(fault) if !single_line => {
                // The line is most likely `IF <broken> THEN`: keep the block it opens.
                self.fault(fault);
                cur.skip_rest();
                return self.if_block(pos, invalid(pos));
            }
            Err(fault) => return Err(fault),
        };
        if !cur.eat_word("THEN") {
            let fault = cur.fault_here("expected THEN after the IF condition");
            if single_line {
                return Err(fault);
            }
            self.fault(fault);
            cur.skip_rest();
            return self.if_block(pos, condition);
        }
        if cur.at_end() {
            if single_line {
                return Err(Fault {
                    pos,
                    message: "a one-line IF holds one simple statement, not a block IF".to_owned(),
                });
            }
            return self.if_block(pos, condition);
        }

        // One-line form: `IF cond THEN statement [ELSE statement]`.
        let outer_else_ends = cur.else_ends;
        cur.else_ends = true;
        let then = self.statement(cur, None)?;
        cur.else_ends = false;
        let otherwise = if cur.eat_word("ELSE") {
            cur.else_ends = true;
            Some(vec![self.statement(cur, None)?])
        } else {
            None
        };
        cur.else_ends = outer_else_ends;
        let branch = IfBranch { pos, condition, body: vec![then] };
        Ok(Statement { pos, kind: StatementKind::If { branches: vec![branch], otherwise } })
    }

    fn if_block(&mut self, pos: Pos, condition: Expr) -> PResult<Statement> {
        let open = self.push_open(Block::If, pos)?;
        let mut branches = vec![IfBranch { pos, condition, body: Vec::new() }];
        let mut otherwise: Option<(Pos, Vec<Statement>)> = None;
        loop {
            let (body, stop) = self.body();
            match (&mut otherwise, branches.last_mut()) {
                (Some((_, statements)), _) => statements.extend(body),
                (None, Some(branch)) => branch.body.extend(body),
                (None, None) => {}
            }
            match stop {
                Stop::Closer(idx, Closer::EndIf) => {
                    self.closing_line(idx, 2, "END IF");
                    break;
                }
                Stop::Closer(idx, Closer::ElseIf) => {
                    let Some(line) = self.take_closer(idx) else { break };
                    let branch = self.else_if_branch(&line);
                    match &otherwise {
                        Some((else_pos, _)) => self.error(
                            branch.pos,
                            format!(
                                "ELSE IF after the ELSE at line {} never runs; move it before \
                                 the ELSE",
                                else_pos.line
                            ),
                        ),
                        None => branches.push(branch),
                    }
                }
                Stop::Closer(idx, Closer::Else) => {
                    let else_pos = self.lines.get(idx).and_then(Option::as_ref).map(Line::start);
                    self.closing_line(idx, 1, "ELSE");
                    let else_pos = else_pos.unwrap_or(pos);
                    match &otherwise {
                        Some((first, _)) => self.error(
                            else_pos,
                            format!(
                                "this IF already has an ELSE at line {}; an IF has at most one",
                                first.line
                            ),
                        ),
                        None => otherwise = Some((else_pos, Vec::new())),
                    }
                }
                stop => {
                    self.report_unclosed(&open, &stop);
                    break;
                }
            }
        }
        self.open.pop();
        let otherwise = otherwise.map(|(_, statements)| statements);
        Ok(Statement { pos, kind: StatementKind::If { branches, otherwise } })
    }

    /// Reads `ELSE IF cond THEN` or `ELSEIF cond THEN`.
    fn else_if_branch(&mut self, line: &Line) -> IfBranch {
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        let pos = cur.pos();
        let words = if cur.word_is("ELSEIF") { 1 } else { 2 };
        cur.advance(words);
        let result = expression(&mut cur).and_then(|condition| {
            cur.expect_word("THEN", "expected THEN after the ELSE IF condition")?;
            cur.expect_end("THEN; in a block IF, ELSE IF ... THEN ends its line")?;
            Ok(condition)
        });
        let condition = result.unwrap_or_else(|fault| {
            self.fault(fault);
            invalid(pos)
        });
        IfBranch { pos, condition, body: Vec::new() }
    }

    pub(super) fn for_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        if cur.eat_word("EACH") {
            let (item, list) = self.recover(cur, for_each_header, || (String::new(), invalid(pos)));
            let open = self.push_open(Block::ForEach { item: item.clone() }, pos)?;
            let body = self.loop_body(&open);
            return Ok(Statement { pos, kind: StatementKind::ForEach { item, list, body } });
        }

        let fallback = || (String::new(), invalid(pos), invalid(pos), None);
        let (counter, from, to, step) = self.recover(cur, for_header, fallback);
        let open = self.push_open(Block::For { counter: counter.clone() }, pos)?;
        let body = self.loop_body(&open);
        Ok(Statement { pos, kind: StatementKind::For { counter, from, to, step, body } })
    }

    /// Reads the body of a `FOR` or `FOR EACH` up to `NEXT [name]` or `END FOR`.
    fn loop_body(&mut self, open: &Open) -> Vec<Statement> {
        let (body, stop) = self.body();
        match stop {
            Stop::Closer(idx, Closer::Next) => {
                if let Some(line) = self.take_closer(idx) {
                    self.check_next(&line, open);
                }
            }
            Stop::Closer(idx, Closer::EndFor) => self.closing_line(idx, 2, "END FOR"),
            stop => self.report_unclosed(open, &stop),
        }
        self.open.pop();
        body
    }

    /// Checks that `NEXT name` names the loop's variable.
    fn check_next(&mut self, line: &Line, open: &Open) {
        let (Block::For { counter: expected } | Block::ForEach { item: expected }) = &open.block
        else {
            return;
        };
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        cur.advance(1);
        let Some((name, pos)) = cur.take_word() else {
            if let Err(fault) = cur.expect_end("NEXT") {
                self.fault(fault);
            }
            return;
        };
        if !expected.is_empty() && !name.eq_ignore_ascii_case(expected) {
            let message = format!(
                "NEXT {name} does not match the {} {expected} at line {}",
                open.block.opener(),
                open.pos.line
            );
            self.error(pos, message);
        } else if let Err(fault) = cur.expect_end(&format!("NEXT {name}")) {
            self.fault(fault);
        }
    }

    pub(super) fn do_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        let top = self.recover(cur, |cur| loop_test(cur, false, "DO"), || None);
        let open = self.push_open(Block::Do, pos)?;
        let (body, stop) = self.body();
        let mut test = top;
        match stop {
            Stop::Closer(idx, Closer::Loop) => {
                let bottom = self.closing_test(idx);
                if let Some(bottom) = bottom {
                    if test.is_some() {
                        self.error(
                            bottom.condition.pos,
                            format!(
                                "the DO at line {} already tests its condition; a DO loop tests \
                                 at the top or at the bottom, not both",
                                pos.line
                            ),
                        );
                    } else {
                        test = Some(bottom);
                    }
                }
            }
            stop => self.report_unclosed(&open, &stop),
        }
        self.open.pop();
        Ok(Statement { pos, kind: StatementKind::Do { test, body } })
    }

    /// Reads the optional test of a `LOOP` line.
    fn closing_test(&mut self, idx: usize) -> Option<LoopTest> {
        let line = self.take_closer(idx)?;
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        cur.advance(1);
        match loop_test(&mut cur, true, "LOOP") {
            Ok(test) => test,
            Err(fault) => {
                self.fault(fault);
                None
            }
        }
    }

    pub(super) fn while_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        let condition = self.recover(cur, while_header, || invalid(pos));
        let open = self.push_open(Block::While, pos)?;
        let (body, stop) = self.body();
        match stop {
            Stop::Closer(idx, Closer::Wend) => self.closing_line(idx, 1, "WEND"),
            Stop::Closer(idx, Closer::EndWhile) => self.closing_line(idx, 2, "END WHILE"),
            Stop::Closer(idx, Closer::Loop) => self.closing_line(idx, 1, "LOOP closing a WHILE"),
            stop => self.report_unclosed(&open, &stop),
        }
        self.open.pop();
        Ok(Statement { pos, kind: StatementKind::While { condition, body } })
    }

    pub(super) fn select_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(2);
        let subject = self.recover(
            cur,
            |cur| {
                let subject = expression(cur)?;
                cur.expect_end("the SELECT CASE value")?;
                Ok(subject)
            },
            || invalid(pos),
        );
        let open = self.push_open(Block::Select, pos)?;
        let (before, mut stop) = self.body();
        if let Some(first) = before.first() {
            let message = format!(
                "this line comes before the first CASE of the SELECT CASE at line {}, so it \
                 never runs",
                pos.line
            );
            self.error(first.pos, message);
        }

        let mut cases = Vec::new();
        let mut otherwise: Option<(Pos, Vec<Statement>)> = None;
        loop {
            match stop {
                Stop::Closer(idx, Closer::Case) => {
                    let Some(line) = self.take_closer(idx) else { break };
                    let case = self.case_line(&line);
                    let (body, next) = self.body();
                    stop = next;
                    match (case, &otherwise) {
                        (_, Some((else_pos, _))) => self.error(
                            line.start(),
                            format!(
                                "this CASE comes after the CASE ELSE at line {}, so it never runs",
                                else_pos.line
                            ),
                        ),
                        (None, None) => otherwise = Some((line.start(), body)),
                        (Some(values), None) => {
                            cases.push(Case { pos: line.start(), values, body });
                        }
                    }
                }
                Stop::Closer(idx, Closer::EndSelect) => {
                    self.closing_line(idx, 2, "END SELECT");
                    break;
                }
                stop => {
                    self.report_unclosed(&open, &stop);
                    break;
                }
            }
        }
        self.open.pop();
        let otherwise = otherwise.map(|(_, statements)| statements);
        Ok(Statement { pos, kind: StatementKind::Select { subject, cases, otherwise } })
    }

    /// Reads a `CASE` line: `Some(values)`, or `None` for `CASE ELSE`.
    fn case_line(&mut self, line: &Line) -> Option<Vec<Expr>> {
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        cur.advance(1);
        if cur.eat_word("ELSE") {
            if let Err(fault) = cur.expect_end("CASE ELSE") {
                self.fault(fault);
            }
            return None;
        }
        let mut values = Vec::new();
        let result = (|| {
            values.push(expression(&mut cur)?);
            while cur.eat_sym(Sym::Comma) {
                values.push(expression(&mut cur)?);
            }
            cur.expect_end("the CASE values")
        })();
        if let Err(fault) = result {
            self.fault(fault);
            values.push(invalid(line.start()));
        }
        Some(values)
    }

    pub(super) fn routine(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        let is_function = cur.word_is("FUNCTION");
        cur.advance(1);
        let (name, params) = self.recover(cur, routine_header, || (String::new(), Vec::new()));
        let (block, keyword) =
            if is_function { (Block::Function, "FUNCTION") } else { (Block::Sub, "SUB") };
        if let Some(outer) = self.open.last() {
            let message = format!(
                "{keyword} {name} is inside the {} at line {}; define it at the top level",
                outer.block.opener(),
                outer.pos.line
            );
            self.error(pos, message);
        }

        let open = self.push_open(block, pos)?;
        let (body, stop) = self.body();
        match stop {
            Stop::Closer(idx, Closer::EndSub | Closer::EndFunction) => {
                self.closing_line(idx, 2, &format!("END {keyword}"));
            }
            stop => self.report_unclosed(&open, &stop),
        }
        self.open.pop();
        let routine = Routine { name, params, body };
        let kind = if is_function {
            StatementKind::Function(routine)
        } else {
            StatementKind::Sub(routine)
        };
        Ok(Statement { pos, kind })
    }

    pub(super) fn with_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        // Unlike other headers, a broken `WITH` line opens no block: `WITH` followed by more
        // than a name is most often a clause continued from the line before, and a block
        // opened by mistake would swallow the rest of the file.
        let object = target(cur)?;
        cur.expect_end_or(
            "WITH opens a block: WITH name on its own line, then one `field = value` per line",
        )?;
        let open = self.push_open(Block::With, pos)?;
        let mut fields = Vec::new();
        let stop = loop {
            match self.step(false) {
                super::Step::Line(line) => fields.extend(self.with_field(&line)),
                super::Step::Stop(stop) => break stop,
            }
        };
        match stop {
            Stop::Closer(idx, Closer::EndWith) => self.closing_line(idx, 2, "END WITH"),
            stop => self.report_unclosed(&open, &stop),
        }
        self.open.pop();
        Ok(Statement { pos, kind: StatementKind::With { object, fields } })
    }

    fn with_field(&mut self, line: &Line) -> Option<WithField> {
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        let pos = cur.pos();
        let result = (|| {
            let is_field = matches!(
                (cur.peek().map(|t| &t.kind), cur.peek_at(1).map(|t| &t.kind)),
                (Some(Tok::Word(_)), Some(Tok::Sym(Sym::Eq)))
            );
            if !is_field {
                return Err(Fault {
                    pos,
                    message: "inside WITH, each line sets a field: name = value".to_owned(),
                });
            }
            let (name, _) = cur.take_word().unwrap_or_default();
            cur.advance(1);
            if cur.at_end() {
                return Err(cur.fault_here("expected a value after `=`"));
            }
            let value = value(&mut cur)?;
            cur.expect_end("the field's value")?;
            Ok(WithField { pos, name, value })
        })();
        match result {
            Ok(field) => {
                for (pos, message) in std::mem::take(&mut cur.warnings) {
                    self.warning(pos, message);
                }
                Some(field)
            }
            Err(fault) => {
                self.fault(fault);
                None
            }
        }
    }

    pub(super) fn table_statement(&mut self, cur: &mut Cursor<'_>) -> PResult<Statement> {
        let pos = cur.pos();
        cur.advance(1);
        let (name, connection) = self.recover(cur, table_header, || (String::new(), None));
        let open = self.push_open(Block::Table, pos)?;
        let mut fields = Vec::new();
        let stop = loop {
            match self.step(true) {
                super::Step::Line(line) => match table_field(&line) {
                    Ok(field) => fields.push(field),
                    Err(fault) => self.fault(fault),
                },
                super::Step::Stop(stop) => break stop,
            }
        };
        match stop {
            Stop::Closer(idx, Closer::EndTable) => self.closing_line(idx, 2, "END TABLE"),
            stop => self.report_unclosed(&open, &stop),
        }
        self.open.pop();
        Ok(Statement { pos, kind: StatementKind::Table(Table { name, connection, fields }) })
    }

    pub(super) fn text_statement(
        &mut self,
        cur: &mut Cursor<'_>,
        line: Option<&Line>,
    ) -> PResult<Statement> {
        let pos = cur.pos();
        let Some(raw) = line.and_then(|line| line.raw.as_ref()) else {
            return Err(Fault {
                pos,
                message: "BEGIN opens a text block on its own line: BEGIN TALK, BEGIN MAIL or \
                    BEGIN SYSTEM PROMPT"
                    .to_owned(),
            });
        };
        let words = raw.block.words().split(' ').count();
        cur.advance(1 + words);
        if let Err(fault) = cur.expect_end(&format!("BEGIN {}", raw.block.words())) {
            self.fault(fault);
            cur.skip_rest();
        }
        if raw.end_line.is_none() {
            let words = raw.block.words();
            let message = format!(
                "BEGIN {words} at line {} is never closed; the file ends at line {} without \
                 END {words}",
                pos.line, self.last_line
            );
            self.error(pos, message);
        }
        let kind = StatementKind::Text { block: raw.block, text: raw.text.clone() };
        Ok(Statement { pos, kind })
    }

    /// Registers an open block, refusing to nest deeper than [`MAX_BLOCK_DEPTH`].
    fn push_open(&mut self, block: Block, pos: Pos) -> PResult<Open> {
        if self.open.len() >= MAX_BLOCK_DEPTH {
            return Err(Fault {
                pos,
                message: format!(
                    "blocks are nested more than {MAX_BLOCK_DEPTH} deep here; move some of \
                     this into a SUB"
                ),
            });
        }
        let open = Open { block, pos };
        self.open.push(open.clone());
        Ok(open)
    }

    /// Reads a block header with `parse`; when that fails, reports why, skips the rest of
    /// the line and returns `fallback()`, so that the block still opens.
    fn recover<T>(
        &mut self,
        cur: &mut Cursor<'_>,
        parse: impl FnOnce(&mut Cursor<'_>) -> PResult<T>,
        fallback: impl FnOnce() -> T,
    ) -> T {
        match parse(cur) {
            Ok(value) => value,
            Err(fault) => {
                self.fault(fault);
                cur.skip_rest();
                fallback()
            }
        }
    }

    /// Takes a closing line of `words` words and reports anything after them.
    fn closing_line(&mut self, idx: usize, words: usize, text: &str) {
        let Some(line) = self.take_closer(idx) else { return };
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        cur.advance(words);
        if let Err(fault) = cur.expect_end(text) {
            self.fault(fault);
        }
    }
}

fn invalid(pos: Pos) -> Expr {
    Expr::new(pos, ExprKind::Invalid)
}

fn for_each_header(cur: &mut Cursor<'_>) -> PResult<(String, Expr)> {
    let Some((item, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected the loop variable after FOR EACH"));
    };
    cur.expect_word("IN", "expected IN after the FOR EACH variable")?;
    let list = expression(cur)?;
    cur.expect_end("the FOR EACH list")?;
    Ok((item, list))
}

fn for_header(cur: &mut Cursor<'_>) -> PResult<(String, Expr, Expr, Option<Expr>)> {
    let Some((counter, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected FOR EACH item IN list, or FOR i = a TO b"));
    };
    cur.expect_sym(Sym::Eq, "expected `=` after the FOR variable")?;
    let from = expression(cur)?;
    cur.expect_word("TO", "expected TO after the FOR start value")?;
    let to = expression(cur)?;
    let step = if cur.eat_word("STEP") { Some(expression(cur)?) } else { None };
    cur.expect_end("the FOR range")?;
    Ok((counter, from, to, step))
}

/// Reads an optional `WHILE cond` or `UNTIL cond` after `DO` or `LOOP`.
fn loop_test(cur: &mut Cursor<'_>, at_end: bool, keyword: &str) -> PResult<Option<LoopTest>> {
    let until = if cur.eat_word("UNTIL") {
        true
    } else if cur.eat_word("WHILE") {
        false
    } else {
        cur.expect_end(keyword)?;
        return Ok(None);
    };
    let condition = expression(cur)?;
    cur.expect_end("the loop condition")?;
    Ok(Some(LoopTest { until, at_end, condition }))
}

fn while_header(cur: &mut Cursor<'_>) -> PResult<Expr> {
    let condition = expression(cur)?;
    cur.eat_word("DO");
    cur.expect_end("the WHILE condition")?;
    Ok(condition)
}

fn routine_header(cur: &mut Cursor<'_>) -> PResult<(String, Vec<String>)> {
    let Some((name, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected a name"));
    };
    let mut params = Vec::new();
    if cur.eat_sym(Sym::LParen) && !cur.eat_sym(Sym::RParen) {
        loop {
            let Some((param, _)) = cur.take_word() else {
                return Err(cur.fault_here("expected a parameter name"));
            };
            params.push(param);
            if cur.eat_sym(Sym::RParen) {
                break;
            }
            cur.expect_sym(Sym::Comma, "expected `,` or `)` after the parameter")?;
        }
    }
    cur.expect_end("the parameters")?;
    Ok((name, params))
}

fn table_header(cur: &mut Cursor<'_>) -> PResult<(String, Option<String>)> {
    let Some((name, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected the table's name after TABLE"));
    };
    let connection = if cur.eat_word("ON") {
        let Some((connection, _)) = cur.take_word() else {
            return Err(cur.fault_here("expected a connection name after ON"));
        };
        Some(connection)
    } else {
        None
    };
    cur.expect_end("the table's name")?;
    Ok((name, connection))
}

/// Reads `name type[(size[, scale])] [KEY]`.
fn table_field(line: &Line) -> PResult<TableField> {
    let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
    let pos = cur.pos();
    let shape = "a TABLE field is written: name type[(size)] [KEY]";
    let Some((name, _)) = cur.take_word() else { return Err(cur.fault_here(shape)) };
    let Some((type_name, _)) = cur.take_word() else { return Err(cur.fault_here(shape)) };
    let (mut size, mut scale) = (None, None);
    if cur.eat_sym(Sym::LParen) {
        size = Some(table_number(&mut cur)?);
        if cur.eat_sym(Sym::Comma) {
            scale = Some(table_number(&mut cur)?);
        }
        cur.expect_sym(Sym::RParen, "expected `)` after the size")?;
    }
    let key = cur.peek().is_some_and(|token| is_word(&token.kind, "KEY"));
    if key {
        cur.advance(1);
    }
    cur.expect_end_or(shape)?;
    Ok(TableField { pos, name, type_name: type_name.to_ascii_lowercase(), size, scale, key })
}

fn table_number(cur: &mut Cursor<'_>) -> PResult<u32> {
    let parsed = match cur.peek().map(|token| &token.kind) {
        Some(Tok::Number(text)) => text.parse::<u32>().ok(),
        _ => None,
    };
    let Some(number) = parsed else {
        return Err(cur.fault_here("expected a whole number for the size"));
    };
    cur.advance(1);
    Ok(number)
}
