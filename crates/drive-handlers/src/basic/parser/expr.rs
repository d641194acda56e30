//! Expressions, keyword calls and command arguments.
//!
//! Precedence, loosest first: `OR`; `AND`; `NOT`; comparisons (`= <> < > <= >=`, `IS`,
//! `IS NOT`, `CONTAINS`); `+ - &`; `* / \ MOD`; `^`; unary minus; postfix call, index and
//! member. Binary operators group to the left, `^` included.
//!
//! Three places read values differently:
//!
//! - In a value position (after `=` or `RETURN`), a keyword phrase starts a keyword call
//!   whose arguments are whole expressions: `x = FIND "orders", "status=open"`.
//! - Inside an expression, a keyword phrase takes one argument read up to the next
//!   comparison, so `IF GET "tier" = "vip" THEN` compares what `GET` returned and
//!   `(GET "name" OR "Unknown")` supplies a fallback.
//! - After a command, arguments are separated by commas or joined by clause words
//!   (`ADD SUGGESTION "k" AS "Label"`, `MERGE t WITH rows BY "Id"`).
//!
//! Known limits: expressions deeper than [`MAX_EXPR_DEPTH`] are refused rather than built,
//! so that no tree is too deep to drop, print or serialise.

use crate::basic::lexer::{Sym, Tok, Token};
use crate::basic::parser::cursor::{Cursor, Fault, PResult, describe, is_word};
use crate::basic::phrases::{
    PhraseSite, is_clause_word, is_literal_word, is_operator_word, is_statement_keyword,
    read_phrase, starts_argument, starts_keyword_call, starts_known_phrase,
    starts_value_keyword_call,
};
use crate::basic::syntax::{Arg, BinaryOp, Expr, ExprKind, ObjectEntry, Pos, UnaryOp};

/// Deepest expression tree the parser builds. Long chains of `+` are deep trees but cost no
/// recursion while parsing; the limit keeps dropping, printing and serialising trees cheap.
pub(crate) const MAX_EXPR_DEPTH: u32 = 200;

/// Deepest recursion the expression parser enters: nested parentheses, brackets, unary
/// operators and keyword calls.
const MAX_NESTING: u32 = 64;

/// Returns a whole expression.
pub(crate) fn expression(cur: &mut Cursor<'_>) -> PResult<Expr> {
    Ok(or(cur)?.expr)
}

/// Returns the value after `=` or `RETURN`: a keyword call with its arguments, or an
/// expression.
pub(crate) fn value(cur: &mut Cursor<'_>) -> PResult<Expr> {
    if !starts_value_keyword_call(cur.rest()) {
        return expression(cur);
    }
    let pos = cur.pos();
    let name = phrase(cur, PhraseSite::Value);
    let (args, depth) = arguments_with_depth(cur)?;
    Ok(node(pos, ExprKind::KeywordCall { name, args }, depth)?.expr)
}

/// Returns the arguments of a command, up to the end of the statement.
pub(crate) fn arguments(cur: &mut Cursor<'_>) -> PResult<Vec<Arg>> {
    Ok(arguments_with_depth(cur)?.0)
}

/// Returns an assignment target: a name followed by members and indexes (`a`, `a.b[0].c`).
pub(crate) fn target(cur: &mut Cursor<'_>) -> PResult<Expr> {
    let Some((name, pos)) = cur.take_word() else {
        return Err(cur.fault_here("expected a variable name"));
    };
    let mut target = leaf(pos, ExprKind::Name { name });
    loop {
        target = if cur.sym_is(Sym::Dot) || cur.sym_is(Sym::QuestionDot) {
            member(cur, target)?
        } else if cur.sym_is(Sym::LBracket) {
            index(cur, target)?
        } else if cur.sym_is(Sym::LParen) {
            call(cur, target)?
        } else {
            return Ok(target.expr);
        };
    }
}

/// Returns true when the tokens ahead read `target =`, which makes a line an assignment.
///
/// A statement keyword or a command is never assigned to through a bracket: `IF (a) = b THEN`
/// and `TALK (a) = b` are an `IF` and a command, while `next = 1` assigns to `next`.
pub(crate) fn assignment_ahead(tokens: &[Token]) -> bool {
    let Some(Tok::Word(first)) = tokens.first().map(|token| &token.kind) else { return false };
    let keyword = is_statement_keyword(first) || starts_known_phrase(first);
    if keyword
        && matches!(tokens.get(1).map(|t| &t.kind), Some(Tok::Sym(Sym::LParen | Sym::LBracket)))
    {
        return false;
    }
    let mut idx = 1;
    loop {
        match tokens.get(idx).map(|token| &token.kind) {
            Some(Tok::Sym(Sym::Eq)) => return true,
            Some(Tok::Sym(Sym::Dot | Sym::QuestionDot)) => {
                if !matches!(tokens.get(idx + 1).map(|token| &token.kind), Some(Tok::Word(_))) {
                    return false;
                }
                idx += 2;
            }
            Some(Tok::Sym(open @ (Sym::LBracket | Sym::LParen))) => {
                let close = if *open == Sym::LBracket { Sym::RBracket } else { Sym::RParen };
                let Some(after) = matching_close(tokens, idx, *open, close) else { return false };
                idx = after;
            }
            _ => return false,
        }
    }
}

/// Returns the index after the bracket that closes the one at `open_idx`.
fn matching_close(tokens: &[Token], open_idx: usize, open: Sym, close: Sym) -> Option<usize> {
    let mut depth = 0_usize;
    for (idx, token) in tokens.iter().enumerate().skip(open_idx) {
        match token.kind {
            Tok::Sym(sym) if sym == open => depth += 1,
            Tok::Sym(sym) if sym == close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(idx + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// An expression with the depth of its tree.
struct Node {
    expr: Expr,
    depth: u32,
}

fn leaf(pos: Pos, kind: ExprKind) -> Node {
    Node { expr: Expr::new(pos, kind), depth: 1 }
}

/// Returns a node above children whose deepest is `child_depth` deep.
fn node(pos: Pos, kind: ExprKind, child_depth: u32) -> PResult<Node> {
    let depth = child_depth + 1;
    if depth > MAX_EXPR_DEPTH {
        return Err(Fault { pos, message: too_deep() });
    }
    Ok(Node { expr: Expr::new(pos, kind), depth })
}

fn too_deep() -> String {
    format!(
        "this expression is more than {MAX_EXPR_DEPTH} operations deep; split it into several \
         assignments"
    )
}

fn binary(op: BinaryOp, left: Node, right: Node) -> PResult<Node> {
    let depth = left.depth.max(right.depth);
    let pos = left.expr.pos;
    let kind = ExprKind::Binary { op, left: Box::new(left.expr), right: Box::new(right.expr) };
    node(pos, kind, depth)
}

fn unary(pos: Pos, op: UnaryOp, operand: Node) -> PResult<Node> {
    node(pos, ExprKind::Unary { op, operand: Box::new(operand.expr) }, operand.depth)
}

/// Runs `parse` one nesting level deeper, refusing absurd nesting before it overflows.
fn nested<T>(
    cur: &mut Cursor<'_>,
    parse: impl FnOnce(&mut Cursor<'_>) -> PResult<T>,
) -> PResult<T> {
    if cur.depth >= MAX_NESTING {
        return Err(Fault {
            pos: cur.pos(),
            message: format!(
                "this expression nests brackets or operators more than {MAX_NESTING} levels \
                 deep; split it up"
            ),
        });
    }
    cur.depth += 1;
    let result = parse(cur);
    cur.depth -= 1;
    result
}

fn or(cur: &mut Cursor<'_>) -> PResult<Node> {
    nested(cur, |cur| {
        let mut left = and(cur)?;
        while cur.eat_word("OR") {
            left = binary(BinaryOp::Or, left, and(cur)?)?;
        }
        Ok(left)
    })
}

fn and(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut left = not(cur)?;
    while cur.eat_word("AND") {
        left = binary(BinaryOp::And, left, not(cur)?)?;
    }
    Ok(left)
}

fn not(cur: &mut Cursor<'_>) -> PResult<Node> {
    if !cur.word_is("NOT") {
        return comparison(cur);
    }
    let pos = cur.pos();
    cur.advance(1);
    let operand = nested(cur, not)?;
    unary(pos, UnaryOp::Not, operand)
}

fn comparison(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut left = additive(cur)?;
    loop {
        let op = match cur.peek().map(|token| &token.kind) {
            Some(Tok::Sym(Sym::Eq)) => BinaryOp::Eq,
            Some(Tok::Sym(Sym::Ne)) => BinaryOp::Ne,
            Some(Tok::Sym(Sym::Lt)) => BinaryOp::Lt,
            Some(Tok::Sym(Sym::Gt)) => BinaryOp::Gt,
            Some(Tok::Sym(Sym::Le)) => BinaryOp::Le,
            Some(Tok::Sym(Sym::Ge)) => BinaryOp::Ge,
            Some(kind) if is_word(kind, "CONTAINS") => BinaryOp::Contains,
            Some(kind) if is_word(kind, "IS") => {
                let negated = cur.peek_at(1).is_some_and(|next| is_word(&next.kind, "NOT"));
                if negated {
                    cur.advance(1);
                }
                if negated { BinaryOp::IsNot } else { BinaryOp::Is }
            }
            _ => return Ok(left),
        };
        cur.advance(1);
        left = binary(op, left, additive(cur)?)?;
    }
}

fn additive(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut left = multiplicative(cur)?;
    loop {
        let op = match cur.peek().map(|token| &token.kind) {
            Some(Tok::Sym(Sym::Plus)) => BinaryOp::Add,
            Some(Tok::Sym(Sym::Minus)) => BinaryOp::Sub,
            Some(Tok::Sym(Sym::Amp)) => BinaryOp::Concat,
            _ => return Ok(left),
        };
        cur.advance(1);
        left = binary(op, left, multiplicative(cur)?)?;
    }
}

fn multiplicative(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut left = power(cur)?;
    loop {
        let op = match cur.peek().map(|token| &token.kind) {
            Some(Tok::Sym(Sym::Star)) => BinaryOp::Mul,
            Some(Tok::Sym(Sym::Slash)) => BinaryOp::Div,
            Some(Tok::Sym(Sym::Backslash)) => BinaryOp::IntDiv,
            Some(kind) if is_word(kind, "MOD") => BinaryOp::Mod,
            _ => return Ok(left),
        };
        cur.advance(1);
        left = binary(op, left, power(cur)?)?;
    }
}

fn power(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut left = negation(cur)?;
    while cur.eat_sym(Sym::Caret) {
        left = binary(BinaryOp::Pow, left, negation(cur)?)?;
    }
    Ok(left)
}

fn negation(cur: &mut Cursor<'_>) -> PResult<Node> {
    if !cur.sym_is(Sym::Minus) {
        return postfix(cur);
    }
    let pos = cur.pos();
    cur.advance(1);
    let operand = nested(cur, negation)?;
    unary(pos, UnaryOp::Neg, operand)
}

fn postfix(cur: &mut Cursor<'_>) -> PResult<Node> {
    let mut expr = primary(cur)?;
    loop {
        expr = if cur.sym_is(Sym::LParen) {
            call(cur, expr)?
        } else if cur.sym_is(Sym::LBracket) {
            index(cur, expr)?
        } else if cur.sym_is(Sym::Dot) || cur.sym_is(Sym::QuestionDot) {
            member(cur, expr)?
        } else {
            return Ok(expr);
        };
    }
}

fn call(cur: &mut Cursor<'_>, callee: Node) -> PResult<Node> {
    cur.advance(1);
    let (args, depth) = list(cur, Sym::RParen, "`)` to close the call")?;
    let pos = callee.expr.pos;
    let kind = ExprKind::Call { callee: Box::new(callee.expr), args };
    node(pos, kind, depth.max(callee.depth))
}

fn index(cur: &mut Cursor<'_>, target: Node) -> PResult<Node> {
    cur.advance(1);
    let index = or(cur)?;
    cur.expect_sym(Sym::RBracket, "expected `]` to close the index")?;
    let pos = target.expr.pos;
    let depth = target.depth.max(index.depth);
    let kind = ExprKind::Index { target: Box::new(target.expr), index: Box::new(index.expr) };
    node(pos, kind, depth)
}

fn member(cur: &mut Cursor<'_>, target: Node) -> PResult<Node> {
    let optional = cur.sym_is(Sym::QuestionDot);
    cur.advance(1);
    let Some((name, _)) = cur.take_word() else {
        return Err(cur.fault_here("expected a field name after `.`"));
    };
    let pos = target.expr.pos;
    let kind = ExprKind::Member { target: Box::new(target.expr), name, optional };
    node(pos, kind, target.depth)
}

/// Reads comma-separated expressions up to `close`; a trailing comma is allowed.
fn list(cur: &mut Cursor<'_>, close: Sym, expected: &str) -> PResult<(Vec<Expr>, u32)> {
    let mut items = Vec::new();
    let mut depth = 0;
    loop {
        if cur.eat_sym(close) {
            return Ok((items, depth));
        }
        let item = or(cur)?;
        depth = depth.max(item.depth);
        items.push(item.expr);
        if !cur.eat_sym(Sym::Comma) {
            cur.expect_sym(close, &format!("expected `,` or {expected}"))?;
            return Ok((items, depth));
        }
    }
}

fn primary(cur: &mut Cursor<'_>) -> PResult<Node> {
    let Some(token) = cur.peek() else {
        return Err(cur.fault_here("expected a value"));
    };
    let pos = token.pos;
    match &token.kind {
        Tok::Str(value) => {
            cur.advance(1);
            Ok(leaf(pos, ExprKind::String { value: value.clone() }))
        }
        Tok::Number(text) => {
            cur.advance(1);
            Ok(leaf(pos, ExprKind::Number { text: text.clone() }))
        }
        Tok::Word(word) => word_value(cur, word, pos),
        Tok::Sym(Sym::LParen) => {
            cur.advance(1);
            let inner = or(cur)?;
            cur.expect_sym(Sym::RParen, "expected `)` to close the parenthesis")?;
            Ok(inner)
        }
        Tok::Sym(Sym::LBracket) => {
            cur.advance(1);
            let (items, depth) = list(cur, Sym::RBracket, "`]`")?;
            node(pos, ExprKind::Array { items }, depth)
        }
        Tok::Sym(Sym::LBrace | Sym::HashBrace) => {
            cur.advance(1);
            object(cur, pos)
        }
        Tok::Error(message) => Err(Fault { pos, message: message.clone() }),
        Tok::Sym(Sym::Amp) if cur.previous().is_some_and(|t| t.kind == Tok::Sym(Sym::Amp)) => {
            Err(Fault {
                pos,
                message: "`&&` is not an operator in this dialect; use AND".to_owned(),
            })
        }
        Tok::Sym(_) => Err(cur.fault_here("expected a value")),
    }
}

fn word_value(cur: &mut Cursor<'_>, word: &str, pos: Pos) -> PResult<Node> {
    if is_literal_word(word) || is_operator_word(word) {
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        let kind = if is("TRUE") || is("FALSE") {
            ExprKind::Boolean { value: is("TRUE") }
        } else if is("NULL") {
            ExprKind::Null
        } else if is("NOT") {
            // `x = NOT y` reads as `x = (NOT y)`, as authors mean it.
            return not(cur);
        } else {
            return Err(cur.fault_here("expected a value"));
        };
        cur.advance(1);
        return Ok(leaf(pos, kind));
    }
    if ["THEN", "ELSE", "ELSEIF"].iter().any(|keyword| word.eq_ignore_ascii_case(keyword)) {
        return Err(cur.fault_here("expected a value"));
    }
    if starts_keyword_call(cur.rest()) {
        return nested(cur, inner_keyword_call);
    }
    cur.advance(1);
    Ok(leaf(pos, ExprKind::Name { name: word.to_owned() }))
}

/// Reads a keyword call inside an expression: the phrase and at most one argument, read up
/// to the next comparison.
fn inner_keyword_call(cur: &mut Cursor<'_>) -> PResult<Node> {
    let pos = cur.pos();
    let name = phrase(cur, PhraseSite::Value);
    let mut args = Vec::new();
    let mut depth = 0;
    if cur.peek().is_some_and(|token| starts_value(&token.kind)) {
        let arg_pos = cur.pos();
        let value = additive(cur)?;
        depth = value.depth;
        args.push(Arg { pos: arg_pos, keyword: None, value: Some(value.expr) });
    }
    node(pos, ExprKind::KeywordCall { name, args }, depth)
}

/// Reads the phrase at the cursor, warns when it is unknown and returns its name.
pub(crate) fn phrase(cur: &mut Cursor<'_>, site: PhraseSite) -> String {
    let pos = cur.pos();
    let phrase = read_phrase(cur.rest(), site);
    cur.advance(phrase.len);
    if !phrase.known {
        cur.warn(pos, unknown_command(&phrase.name));
    }
    phrase.name
}

/// Returns the warning for a command phrase the compiler does not know.
pub(crate) fn unknown_command(name: &str) -> String {
    format!(
        "{name} is not a command this compiler knows; it is kept as written and works only if \
         the bot's runtime provides it"
    )
}

/// Returns true when a token can start an expression.
fn starts_value(kind: &Tok) -> bool {
    match kind {
        Tok::Str(_) | Tok::Number(_) | Tok::Error(_) => true,
        Tok::Word(word) => {
            !(is_clause_word(word) || is_operator_word(word)) || word.eq_ignore_ascii_case("NOT")
        }
        Tok::Sym(sym) => {
            matches!(sym, Sym::LParen | Sym::LBracket | Sym::LBrace | Sym::HashBrace | Sym::Minus)
        }
    }
}

fn object(cur: &mut Cursor<'_>, pos: Pos) -> PResult<Node> {
    let mut entries = Vec::new();
    let mut depth = 0;
    loop {
        if cur.eat_sym(Sym::RBrace) {
            return node(pos, ExprKind::Object { entries }, depth);
        }
        let Some(token) = cur.peek() else {
            return Err(cur.fault_here("expected `}` to close the object"));
        };
        let key = match &token.kind {
            Tok::Str(key) | Tok::Word(key) => key.clone(),
            _ => return Err(cur.fault_here("expected a field name in the object")),
        };
        let key_pos = token.pos;
        cur.advance(1);
        cur.expect_sym(Sym::Colon, "expected `:` after the field name")?;
        let value = or(cur)?;
        depth = depth.max(value.depth);
        entries.push(ObjectEntry { pos: key_pos, key, value: value.expr });
        if !cur.eat_sym(Sym::Comma) {
            cur.expect_sym(Sym::RBrace, "expected `,` or `}` in the object")?;
            return node(pos, ExprKind::Object { entries }, depth);
        }
    }
}

/// Reads command arguments up to the end of the statement, with the depth of the deepest.
fn arguments_with_depth(cur: &mut Cursor<'_>) -> PResult<(Vec<Arg>, u32)> {
    let mut args = Vec::new();
    let mut depth = 0;
    if cur.at_end() {
        return Ok((args, depth));
    }
    let (first, first_depth) = first_argument(cur)?;
    args.push(first);
    depth = depth.max(first_depth);
    while let Some(token) = cur.peek() {
        let (arg, arg_depth) = match &token.kind {
            Tok::Sym(Sym::Comma) => {
                cur.advance(1);
                if cur.at_end() {
                    return Err(cur.fault_here("expected an argument after `,`"));
                }
                first_argument(cur)?
            }
            Tok::Word(word) => clause(cur, word.to_ascii_uppercase(), token.pos)?,
            Tok::Error(message) => return Err(Fault { pos: token.pos, message: message.clone() }),
            kind => {
                return Err(Fault {
                    pos: token.pos,
                    message: format!("expected `,` between arguments, found {}", describe(kind)),
                });
            }
        };
        args.push(arg);
        depth = depth.max(arg_depth);
    }
    Ok((args, depth))
}

/// Reads an argument where a clause word may lead it (`AS "Label"`) or a value stands alone.
fn first_argument(cur: &mut Cursor<'_>) -> PResult<(Arg, u32)> {
    let pos = cur.pos();
    if let Some(Token { kind: Tok::Word(word), .. }) = cur.peek() {
        let leads_value = cur.peek_at(1).is_some_and(|next| {
            starts_argument(&next.kind)
                || matches!(next.kind, Tok::Sym(Sym::LParen | Sym::LBracket | Sym::Minus))
        });
        if is_clause_word(word) && leads_value {
            return clause(cur, word.to_ascii_uppercase(), pos);
        }
    }
    let value = or(cur)?;
    Ok((Arg { pos, keyword: None, value: Some(value.expr) }, value.depth))
}

/// Reads a clause word and its value, if one follows.
fn clause(cur: &mut Cursor<'_>, keyword: String, pos: Pos) -> PResult<(Arg, u32)> {
    cur.advance(1);
    let has_value = cur.peek().is_some_and(|token| {
        starts_value(&token.kind) && !matches!(&token.kind, Tok::Word(w) if is_clause_word(w))
    });
    if !has_value {
        return Ok((Arg { pos, keyword: Some(keyword), value: None }, 0));
    }
    let value = or(cur)?;
    Ok((Arg { pos, keyword: Some(keyword), value: Some(value.expr) }, value.depth))
}

/// Returns true when `word` may be used as a variable name.
pub(crate) fn is_name_word(word: &str) -> bool {
    !(is_operator_word(word) || is_literal_word(word))
}
