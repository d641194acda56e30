//! Statements that fit on one line, and the dispatch that decides what a line is.
//!
//! A line is, in this order: a label (`name:`), an assignment (`target = value`), a statement
//! introduced by a keyword of the dialect (`IF`, `PARAM`, `HEAR`, `RETURN`, ...), a command
//! of the known inventory, a call standing alone (`list.PUSH(x)`), or else a command with an
//! unknown phrase, which is kept and warned about.

use crate::basic::lexer::{Line, Sym, Tok};
use crate::basic::parser::cursor::{Cursor, Fault, PResult, describe};
use crate::basic::parser::expr::{
    arguments, assignment_ahead, expression, is_name_word, phrase, target, value,
};
use crate::basic::parser::{Block, Parser};
use crate::basic::phrases::{PhraseSite, starts_known_phrase};
use crate::basic::syntax::{
    ErrorHandler, ExitBlock, Expr, ExprKind, Hear, HearAs, Param, ParamKind, Pos, Statement,
    StatementKind, UnaryOp,
};

impl Parser {
    /// Reads the statement at the cursor. `line` gives access to a raw text block; a
    /// statement inside a one-line `IF` has none.
    pub(super) fn statement(
        &mut self,
        cur: &mut Cursor<'_>,
        line: Option<&Line>,
    ) -> PResult<Statement> {
        let Some(first) = cur.peek() else {
            return Err(cur.fault_here("expected a statement"));
        };
        let pos = first.pos;
        let word = match &first.kind {
            Tok::Word(word) => word.clone(),
            Tok::Error(message) => return Err(Fault { pos, message: message.clone() }),
            kind => {
                return Err(Fault {
                    pos,
                    message: format!(
                        "a statement starts with a command, a keyword or a variable name, not \
                         {}",
                        describe(kind)
                    ),
                });
            }
        };

        let rest = cur.rest();
        let second = rest.get(1).map(|token| &token.kind);
        if second == Some(&Tok::Sym(Sym::Colon)) && rest.len() == 2 {
            cur.advance(2);
            if let Some(first) = self.labels.get(&word.to_ascii_uppercase()) {
                return Err(Fault {
                    pos,
                    message: format!("label {word}: is already defined at line {}", first.line),
                });
            }
            self.labels.insert(word.to_ascii_uppercase(), pos);
            return Ok(Statement { pos, kind: StatementKind::Label { name: word } });
        }
        if assignment_ahead(rest) {
            return self.assignment(cur, pos);
        }

        let single_line = line.is_none();
        let kind = match word.to_ascii_uppercase().as_str() {
            "IF" => return self.if_statement(cur, single_line),
            "FOR" | "DO" | "WHILE" | "SUB" | "FUNCTION" | "WITH" | "TABLE" if single_line => {
                return Err(Fault {
                    pos,
                    message: format!(
                        "a one-line IF holds one simple statement; put the {} block on its own \
                         lines",
                        word.to_ascii_uppercase()
                    ),
                });
            }
            "FOR" => return self.for_statement(cur),
            "DO" => return self.do_statement(cur),
            "WHILE" => return self.while_statement(cur),
            "SELECT" if is_second_word(cur, "CASE") => {
                if single_line {
                    return Err(Fault {
                        pos,
                        message: "a one-line IF cannot hold a SELECT CASE block".to_owned(),
                    });
                }
                return self.select_statement(cur);
            }
            "SUB" | "FUNCTION" => return self.routine(cur),
            "WITH" => return self.with_statement(cur),
            "TABLE" => return self.table_statement(cur),
            "BEGIN" => return self.text_statement(cur, line),
            "END" | "NEXT" | "LOOP" | "WEND" | "CASE" | "ELSE" | "ELSEIF" if single_line => {
                let mut closer = word.to_ascii_uppercase();
                if let Some(Tok::Word(next)) = second.filter(|_| closer == "END") {
                    closer = format!("END {}", next.to_ascii_uppercase());
                }
                return Err(Fault {
                    pos,
                    message: format!("{closer} cannot stand inside a one-line IF"),
                });
            }
            "LET" => {
                cur.advance(1);
                return self.assignment(cur, pos);
            }
            "HEAR" => hear(cur)?,
            "PARAM" => self.top_level_only(cur, "PARAM").and_then(|()| param(cur))?,
            "DESCRIPTION" => {
                self.top_level_only(cur, "DESCRIPTION").and_then(|()| description(cur))?
            }
            "RETURN" => {
                cur.advance(1);
                let value = if cur.at_end() { None } else { Some(value(cur)?) };
                StatementKind::Return { value }
            }
            "EXIT" => self.exit(cur)?,
            "GOTO" => self.goto(cur)?,
            "ON" if is_second_word(cur, "ERROR") => self.on_error(cur)?,
            _ => return self.command_or_call(cur, &word, pos),
        };
        Ok(Statement { pos, kind })
    }

    fn assignment(&mut self, cur: &mut Cursor<'_>, pos: Pos) -> PResult<Statement> {
        let target_pos = cur.pos();
        let target = target(cur)?;
        if matches!(target.kind, ExprKind::Call { .. }) {
            return Err(Fault {
                pos: target_pos,
                message: "a call cannot be assigned to; assign to a variable, a field or an \
                    element"
                    .to_owned(),
            });
        }
        if let ExprKind::Name { name } = &target.kind
            && !is_name_word(name)
        {
            return Err(Fault {
                pos: target_pos,
                message: format!("{name} is a keyword and cannot be assigned to"),
            });
        }
        cur.expect_sym(Sym::Eq, "expected `=` after the variable")?;
        if cur.at_end() {
            return Err(cur.fault_here("expected a value after `=`"));
        }
        let value = value(cur)?;
        Ok(Statement { pos, kind: StatementKind::Assign { target, value } })
    }

    fn command_or_call(
        &mut self,
        cur: &mut Cursor<'_>,
        word: &str,
        pos: Pos,
    ) -> PResult<Statement> {
        // `list.PUSH(x)` calls a method even when the variable shares a command's name;
        // `FIRST(x)` and `TALK (x)` are commands when the word is one.
        let second = cur.peek_at(1).map(|token| &token.kind);
        let member = matches!(second, Some(Tok::Sym(Sym::Dot | Sym::QuestionDot)));
        let bracket = matches!(second, Some(Tok::Sym(Sym::LParen | Sym::LBracket)));
        if member || (bracket && !starts_known_phrase(word)) {
            let call = target(cur)?;
            if !matches!(call.kind, ExprKind::Call { .. }) {
                return Err(Fault {
                    pos,
                    message: "this line reads a value but does nothing with it; assign it with \
                        `=` or pass it to a command"
                        .to_owned(),
                });
            }
            return Ok(Statement { pos, kind: StatementKind::Call { call } });
        }
        let name = phrase(cur, PhraseSite::Statement);
        let args = arguments(cur)?;
        Ok(Statement { pos, kind: StatementKind::Command { name, args } })
    }

    /// Fails when a block is open: tool declarations belong to the whole script.
    fn top_level_only(&self, cur: &Cursor<'_>, keyword: &str) -> PResult<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        Err(Fault {
            pos: cur.pos(),
            message: format!(
                "{keyword} declares the script's tool and belongs at the top level, outside any \
                 block"
            ),
        })
    }

    fn exit(&mut self, cur: &mut Cursor<'_>) -> PResult<StatementKind> {
        cur.advance(1);
        let Some((word, pos)) = cur.take_word() else {
            return Err(cur.fault_here("expected FOR, DO, WHILE, SUB or FUNCTION after EXIT"));
        };
        let block = match word.to_ascii_uppercase().as_str() {
            "FOR" => ExitBlock::For,
            "DO" => ExitBlock::Do,
            "WHILE" => ExitBlock::While,
            "SUB" => ExitBlock::Sub,
            "FUNCTION" => ExitBlock::Function,
            _ => {
                return Err(Fault {
                    pos,
                    message: format!("EXIT {word}: EXIT leaves a FOR, DO, WHILE, SUB or FUNCTION"),
                });
            }
        };
        if !self.inside(block) {
            let keyword = block.keyword();
            return Err(Fault {
                pos,
                message: format!("EXIT {keyword} is not inside a {keyword}"),
            });
        }
        Ok(StatementKind::Exit { block })
    }

    /// Returns true when an `EXIT` of `block` has a block to leave: loops are looked for up
    /// to the enclosing `SUB` or `FUNCTION`.
    fn inside(&self, block: ExitBlock) -> bool {
        for open in self.open.iter().rev() {
            let found = match (&open.block, block) {
                (Block::For { .. } | Block::ForEach { .. }, ExitBlock::For)
                | (Block::Do, ExitBlock::Do)
                | (Block::While, ExitBlock::While)
                | (Block::Sub, ExitBlock::Sub)
                | (Block::Function, ExitBlock::Function) => true,
                (Block::Sub | Block::Function, _) => return false,
                _ => false,
            };
            if found {
                return true;
            }
        }
        false
    }

    fn goto(&mut self, cur: &mut Cursor<'_>) -> PResult<StatementKind> {
        cur.advance(1);
        let pos = cur.pos();
        let label = label(cur)?;
        self.gotos.push((label.clone(), pos));
        Ok(StatementKind::Goto { label })
    }

    fn on_error(&mut self, cur: &mut Cursor<'_>) -> PResult<StatementKind> {
        cur.advance(2);
        if cur.eat_word("RESUME") {
            cur.expect_word("NEXT", "expected NEXT after ON ERROR RESUME")?;
            return Ok(StatementKind::OnError { handler: ErrorHandler::ResumeNext });
        }
        cur.expect_word("GOTO", "expected RESUME NEXT or GOTO after ON ERROR")?;
        let pos = cur.pos();
        let label = label(cur)?;
        if label != "0" {
            self.gotos.push((label.clone(), pos));
        }
        Ok(StatementKind::OnError { handler: ErrorHandler::Goto { label } })
    }
}

fn is_second_word(cur: &Cursor<'_>, word: &str) -> bool {
    cur.peek_at(1).is_some_and(|token| crate::basic::parser::cursor::is_word(&token.kind, word))
}

fn label(cur: &mut Cursor<'_>) -> PResult<String> {
    let Some(token) = cur.peek() else {
        return Err(cur.fault_here("expected a label name"));
    };
    let label = match &token.kind {
        Tok::Word(word) => word.clone(),
        Tok::Number(text) if text == "0" => text.clone(),
        _ => return Err(cur.fault_here("expected a label name")),
    };
    cur.advance(1);
    Ok(label)
}

/// `HEAR name [AS type | AS "a", "b"] [WITH prompt] [DEFAULT value]`, clauses in any order.
fn hear(cur: &mut Cursor<'_>) -> PResult<StatementKind> {
    cur.advance(1);
    let Some((name, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected the name of the variable HEAR fills"));
    };
    let mut hear = Hear { name, expects: None, prompt: None, default: None };
    while let Some(token) = cur.peek() {
        let pos = token.pos;
        let Tok::Word(word) = &token.kind else {
            return Err(cur.fault_here("expected AS, WITH or DEFAULT"));
        };
        let clause = word.to_ascii_uppercase();
        let slot_taken = match clause.as_str() {
            "AS" => hear.expects.is_some(),
            "WITH" => hear.prompt.is_some(),
            "DEFAULT" => hear.default.is_some(),
            _ => return Err(cur.fault_here("expected AS, WITH or DEFAULT")),
        };
        if slot_taken {
            return Err(Fault { pos, message: format!("HEAR has {clause} twice") });
        }
        cur.advance(1);
        match clause.as_str() {
            "AS" => hear.expects = Some(hear_as(cur)?),
            "WITH" => hear.prompt = Some(expression(cur)?),
            _ => hear.default = Some(expression(cur)?),
        }
    }
    Ok(StatementKind::Hear(hear))
}

fn hear_as(cur: &mut Cursor<'_>) -> PResult<HearAs> {
    let is_type = matches!(cur.peek().map(|token| &token.kind), Some(Tok::Word(_)))
        && cur.peek_at(1).is_none_or(|next| matches!(next.kind, Tok::Word(_)));
    if is_type && let Some((name, _)) = cur.take_word() {
        return Ok(HearAs::Type { name: name.to_ascii_uppercase() });
    }
    let mut values = vec![expression(cur)?];
    while cur.eat_sym(Sym::Comma) {
        values.push(expression(cur)?);
    }
    Ok(HearAs::Choices { values })
}

/// `PARAM name AS type|"a", "b" [LIKE v] [ENUM [..]] [DESCRIPTION "..."] [OPTIONAL]`.
fn param(cur: &mut Cursor<'_>) -> PResult<StatementKind> {
    cur.advance(1);
    let Some((name, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected the parameter's name after PARAM"));
    };
    cur.expect_word(
        "AS",
        &format!("PARAM {name} needs a type: PARAM {name} AS type; expected AS"),
    )?;
    let kind = param_kind(cur, &name)?;
    let mut param =
        Param { name, kind, example: None, allowed: None, description: None, optional: false };
    while let Some(token) = cur.peek() {
        let pos = token.pos;
        let clause = match &token.kind {
            Tok::Word(word) => word.to_ascii_uppercase(),
            _ => return Err(cur.fault_here(&param_clause_expected(&param.name))),
        };
        let taken = match clause.as_str() {
            "LIKE" => param.example.is_some(),
            "ENUM" => param.allowed.is_some(),
            "DESCRIPTION" => param.description.is_some(),
            "OPTIONAL" => param.optional,
            _ => return Err(cur.fault_here(&param_clause_expected(&param.name))),
        };
        if taken {
            return Err(Fault { pos, message: format!("PARAM {} has {clause} twice", param.name) });
        }
        cur.advance(1);
        match clause.as_str() {
            "LIKE" => param.example = Some(literal(cur, "LIKE")?),
            "ENUM" => param.allowed = Some(allowed(cur)?),
            "DESCRIPTION" => param.description = Some(string(cur, "DESCRIPTION")?),
            _ => param.optional = true,
        }
    }
    if matches!(param.kind, ParamKind::Choices { .. }) && param.allowed.is_some() {
        return Err(Fault {
            pos: cur.pos(),
            message: format!(
                "PARAM {} lists its values twice, after AS and in ENUM; keep one",
                param.name
            ),
        });
    }
    Ok(StatementKind::Param(param))
}

fn param_clause_expected(name: &str) -> String {
    format!("PARAM {name}: after the type come LIKE, ENUM, DESCRIPTION and OPTIONAL")
}

fn param_kind(cur: &mut Cursor<'_>, name: &str) -> PResult<ParamKind> {
    if let Some((type_name, _)) = cur.take_word() {
        return Ok(ParamKind::Type { name: type_name });
    }
    if !matches!(cur.peek().map(|token| &token.kind), Some(Tok::Str(_) | Tok::Number(_))) {
        return Err(cur.fault_here(&format!("PARAM {name} AS needs a type such as STRING")));
    }
    let mut values = vec![literal(cur, "AS")?];
    while cur.eat_sym(Sym::Comma) {
        values.push(literal(cur, "AS")?);
    }
    Ok(ParamKind::Choices { values })
}

/// Reads `ENUM ["a", "b"]`.
fn allowed(cur: &mut Cursor<'_>) -> PResult<Vec<Expr>> {
    cur.expect_sym(Sym::LBracket, "expected `[` after ENUM: ENUM [\"a\", \"b\"]")?;
    let mut values = Vec::new();
    while !cur.eat_sym(Sym::RBracket) {
        values.push(literal(cur, "ENUM")?);
        if !cur.eat_sym(Sym::Comma) {
            cur.expect_sym(Sym::RBracket, "expected `,` or `]` in the ENUM list")?;
            break;
        }
    }
    Ok(values)
}

/// Reads a literal value: a string, a number (maybe negative), TRUE or FALSE.
fn literal(cur: &mut Cursor<'_>, after: &str) -> PResult<Expr> {
    let pos = cur.pos();
    let negative = cur.eat_sym(Sym::Minus);
    let Some(token) = cur.peek() else {
        return Err(cur.fault_here(&format!("expected a literal value after {after}")));
    };
    let kind = match &token.kind {
        Tok::Number(text) => ExprKind::Number { text: text.clone() },
        Tok::Str(value) if !negative => ExprKind::String { value: value.clone() },
        Tok::Word(word) if !negative && word.eq_ignore_ascii_case("TRUE") => {
            ExprKind::Boolean { value: true }
        }
        Tok::Word(word) if !negative && word.eq_ignore_ascii_case("FALSE") => {
            ExprKind::Boolean { value: false }
        }
        _ => {
            return Err(cur.fault_here(&format!(
                "{after} takes a literal: a string in double quotes, a number, TRUE or FALSE"
            )));
        }
    };
    let literal_pos = token.pos;
    cur.advance(1);
    let literal = Expr::new(literal_pos, kind);
    if !negative {
        return Ok(literal);
    }
    Ok(Expr::new(pos, ExprKind::Unary { op: UnaryOp::Neg, operand: Box::new(literal) }))
}

/// Reads a string literal, the only form a description may take.
fn string(cur: &mut Cursor<'_>, keyword: &str) -> PResult<String> {
    let Some(Tok::Str(text)) = cur.peek().map(|token| &token.kind) else {
        return Err(
            cur.fault_here(&format!("{keyword} takes its text as one string in double quotes"))
        );
    };
    cur.advance(1);
    Ok(text.clone())
}

fn description(cur: &mut Cursor<'_>) -> PResult<StatementKind> {
    cur.advance(1);
    let text = string(cur, "DESCRIPTION")?;
    Ok(StatementKind::Description { text })
}
