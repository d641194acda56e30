//! Turns script text into logical lines of tokens, the unit the parser works on.
//!
//! Owns the lexical rules of the dialect: line ends (LF, CRLF, lone CR), a leading byte order
//! mark, `REM` as a whole first word and `'` outside strings as comments, strings with doubled
//! quotes, numbers, words and operators. It also owns two line-level rules:
//!
//! - Continuation: a line inside an open `(`, `[` or `{` continues on the next line when it
//!   ends with the opening bracket or a comma, or when the next line starts with a closing
//!   bracket. This covers the multi-line object literals real scripts pass to `POST` and
//!   `SAVE`, while an unbalanced bracket elsewhere stays an error on its own line.
//! - Raw text: after a line `BEGIN TALK`, `BEGIN MAIL` or `BEGIN SYSTEM PROMPT`, every line up
//!   to the matching `END ...` is text, not code, and is kept verbatim.
//!
//! The lexer never fails: what it cannot read becomes an error token (an unclosed string, a
//! character the dialect does not use), which the parser reports with the rest of its line.
//!
//! Known limits: no exponent notation (`1e5` is a number followed by a word), no `_` line
//! continuation, and strings never span lines.

use crate::basic::syntax::{Pos, TextBlock};

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) pos: Pos,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A keyword or an identifier, as written.
    Word(String),
    /// A string literal's value.
    Str(String),
    /// A number as written.
    Number(String),
    Sym(Sym),
    /// Something unreadable, with what to tell the author.
    Error(String),
}

/// Punctuation and operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sym {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    /// `#{`, the map literal some scripts write.
    HashBrace,
    RBrace,
    Comma,
    Dot,
    /// `?.`, member access that tolerates a missing object.
    QuestionDot,
    Colon,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Backslash,
    Amp,
    Caret,
}

impl Sym {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Sym::LParen => "(",
            Sym::RParen => ")",
            Sym::LBracket => "[",
            Sym::RBracket => "]",
            Sym::LBrace => "{",
            Sym::HashBrace => "#{",
            Sym::RBrace => "}",
            Sym::Comma => ",",
            Sym::Dot => ".",
            Sym::QuestionDot => "?.",
            Sym::Colon => ":",
            Sym::Eq => "=",
            Sym::Ne => "<>",
            Sym::Lt => "<",
            Sym::Gt => ">",
            Sym::Le => "<=",
            Sym::Ge => ">=",
            Sym::Plus => "+",
            Sym::Minus => "-",
            Sym::Star => "*",
            Sym::Slash => "/",
            Sym::Backslash => "\\",
            Sym::Amp => "&",
            Sym::Caret => "^",
        }
    }

    fn opens(self) -> bool {
        matches!(self, Sym::LParen | Sym::LBracket | Sym::LBrace | Sym::HashBrace)
    }

    fn closes(self) -> bool {
        matches!(self, Sym::RParen | Sym::RBracket | Sym::RBrace)
    }
}

/// One statement's worth of tokens: a physical line, or several joined by continuation.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub(crate) tokens: Vec<Token>,
    /// Just after the last character of code, where "at the end of the line" points.
    pub(crate) end: Pos,
    /// The first `'` comment on the line, if any.
    pub(crate) comment: Option<Comment>,
    /// For a `BEGIN TALK|MAIL|SYSTEM PROMPT` line: the text up to the matching `END`.
    pub(crate) raw: Option<RawText>,
}

impl Line {
    /// Returns the position of the line's first token.
    pub(crate) fn start(&self) -> Pos {
        self.tokens.first().map_or(self.end, |token| token.pos)
    }
}

/// A `'` comment after code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Comment {
    pub(crate) pos: Pos,
    /// The comment starts right after code and holds another `'`, as when an author writes
    /// `'text'` meaning a string.
    pub(crate) looks_like_string: bool,
}

/// The verbatim text of a raw block.
#[derive(Clone, Debug)]
pub(crate) struct RawText {
    pub(crate) block: TextBlock,
    /// Each line followed by a line feed.
    pub(crate) text: String,
    /// The line of the closing `END`, `None` when the file ends first.
    pub(crate) end_line: Option<u32>,
}

/// The lexed script.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub(crate) lines: Vec<Line>,
    /// Number of physical lines, for "the file ends at line N".
    pub(crate) last_line: u32,
}

/// Returns the logical lines of `source`; blank and comment-only lines are left out.
pub(crate) fn lex(source: &str) -> Lexed {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let physical: Vec<&str> = split_lines(source);
    let mut lines = Vec::new();
    let mut idx = 0;
    while idx < physical.len() {
        let line_no = line_number(idx);
        let mut line = lex_physical(physical[idx], line_no);
        idx += 1;
        if line.tokens.is_empty() {
            continue;
        }

        idx = join_continuations(&mut line, &physical, idx);
        if let Some(block) = raw_block_opened(&line.tokens) {
            let (raw, next) = collect_raw(block, &physical, idx);
            line.raw = Some(raw);
            idx = next;
        }
        lines.push(line);
    }
    Lexed { lines, last_line: line_number(physical.len().saturating_sub(1)) }
}

/// Returns the tokens of one line of text, for callers that check a single printed line.
pub(crate) fn lex_one_line(text: &str) -> Vec<Token> {
    lex_physical(text, 1).tokens
}

fn line_number(idx: usize) -> u32 {
    u32::try_from(idx + 1).unwrap_or(u32::MAX)
}

/// Splits on LF, CRLF and lone CR.
fn split_lines(source: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = source.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'\n' => {
                lines.push(&source[start..idx]);
                start = idx + 1;
            }
            b'\r' => {
                lines.push(&source[start..idx]);
                if bytes.get(idx + 1) == Some(&b'\n') {
                    idx += 1;
                }
                start = idx + 1;
            }
            _ => {}
        }
        idx += 1;
    }
    // A final line break ends the last line; it does not start an empty one.
    if start < source.len() || lines.is_empty() {
        lines.push(&source[start..]);
    }
    lines
}

/// Appends the physical lines that continue `line` and returns the index of the next unread
/// physical line.
fn join_continuations(line: &mut Line, physical: &[&str], mut idx: usize) -> usize {
    // Counted per joined line, so that a file of unclosed brackets stays linear to read.
    let mut depth = bracket_depth(&line.tokens);
    loop {
        if depth <= 0 {
            return idx;
        }
        let ends_open = line.tokens.last().is_some_and(|token| match token.kind {
            Tok::Sym(sym) => sym.opens() || sym == Sym::Comma,
            _ => false,
        });

        // Blank and comment lines inside a literal are skipped, not ended on.
        let mut next_idx = idx;
        let next = loop {
            let Some(text) = physical.get(next_idx) else { return idx };
            let next = lex_physical(text, line_number(next_idx));
            if !next.tokens.is_empty() {
                break next;
            }
            next_idx += 1;
        };
        let starts_closed = matches!(next.tokens[0].kind, Tok::Sym(sym) if sym.closes());
        if !(ends_open || starts_closed) || starts_statement(&next.tokens) {
            return idx;
        }

        depth += bracket_depth(&next.tokens);
        line.tokens.extend(next.tokens);
        line.end = next.end;
        line.comment = line.comment.or(next.comment);
        idx = next_idx + 1;
    }
}

/// Returns true when `tokens` begin with a word that only ever starts a statement, so a line
/// starting with it is never the continuation of an unclosed bracket (`description:` inside
/// an object literal is a key, not the keyword).
fn starts_statement(tokens: &[Token]) -> bool {
    const STARTERS: [&str; 18] = [
        "BEGIN",
        "CASE",
        "DESCRIPTION",
        "DO",
        "ELSE",
        "END",
        "FOR",
        "FUNCTION",
        "IF",
        "LOOP",
        "NEXT",
        "PARAM",
        "RETURN",
        "SELECT",
        "SUB",
        "TABLE",
        "WEND",
        "WHILE",
    ];
    let Some(Tok::Word(word)) = tokens.first().map(|token| &token.kind) else { return false };
    let followed_by_colon =
        matches!(tokens.get(1).map(|token| &token.kind), Some(Tok::Sym(Sym::Colon)));
    !followed_by_colon && STARTERS.iter().any(|starter| word.eq_ignore_ascii_case(starter))
}

fn bracket_depth(tokens: &[Token]) -> i64 {
    let mut depth = 0_i64;
    for token in tokens {
        if let Tok::Sym(sym) = token.kind {
            if sym.opens() {
                depth += 1;
            } else if sym.closes() {
                depth -= 1;
            }
        }
    }
    depth
}

/// Returns which raw block a line opens, if it is `BEGIN TALK|MAIL|SYSTEM PROMPT ...`.
fn raw_block_opened(tokens: &[Token]) -> Option<TextBlock> {
    let word = |idx: usize, expected: &str| matches!(tokens.get(idx).map(|t| &t.kind), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(expected));
    if !word(0, "BEGIN") {
        return None;
    }
    if word(1, "TALK") {
        Some(TextBlock::Talk)
    } else if word(1, "MAIL") {
        Some(TextBlock::Mail)
    } else if word(1, "SYSTEM") && word(2, "PROMPT") {
        Some(TextBlock::SystemPrompt)
    } else {
        None
    }
}

/// Reads raw lines from `idx` up to the `END` of `block`; returns them and the index after.
fn collect_raw(block: TextBlock, physical: &[&str], mut idx: usize) -> (RawText, usize) {
    let mut text = String::new();
    while let Some(line) = physical.get(idx) {
        if is_raw_end(line, block) {
            let raw = RawText { block, text, end_line: Some(line_number(idx)) };
            return (raw, idx + 1);
        }
        text.push_str(line);
        text.push('\n');
        idx += 1;
    }
    (RawText { block, text, end_line: None }, idx)
}

fn is_raw_end(line: &str, block: TextBlock) -> bool {
    let mut words = line.split_whitespace();
    if !words.next().is_some_and(|first| first.eq_ignore_ascii_case("END")) {
        return false;
    }
    let mut expected = block.words().split(' ');
    loop {
        match (words.next(), expected.next()) {
            (None, None) => return true,
            (Some(word), Some(expected)) if word.eq_ignore_ascii_case(expected) => {}
            _ => return false,
        }
    }
}

/// Lexes one physical line.
fn lex_physical(text: &str, line_no: u32) -> Line {
    let mut lexer = LineLexer { text, at: 0, column: 1, line: line_no };
    let mut tokens = Vec::new();
    let mut comment = None;
    let mut end = lexer.pos();
    loop {
        lexer.skip_blanks();
        let Some(c) = lexer.peek(0) else { break };
        if c == '\'' {
            comment = Some(lexer.comment(!tokens.is_empty()));
            break;
        }
        let token = lexer.token(c);
        if tokens.is_empty() && is_rem(&token.kind) {
            return Line { tokens: Vec::new(), end, comment: None, raw: None };
        }
        tokens.push(token);
        end = lexer.pos();
    }
    Line { tokens, end, comment, raw: None }
}

fn is_rem(kind: &Tok) -> bool {
    matches!(kind, Tok::Word(word) if word.eq_ignore_ascii_case("REM"))
}

/// Reads one line: `at` is a byte offset into `text`, `column` the 1-based character column
/// at that offset.
struct LineLexer<'a> {
    text: &'a str,
    at: usize,
    column: u32,
    line: u32,
}

impl<'a> LineLexer<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.rest().chars().nth(ahead)
    }

    /// Moves past the next character.
    fn bump(&mut self) {
        if let Some(c) = self.peek(0) {
            self.at += c.len_utf8();
            self.column = self.column.saturating_add(1);
        }
    }

    /// Moves past the characters while `keep` holds and returns the text moved over.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let (mut len, mut chars) = (0, 0_u32);
        for c in rest.chars().take_while(|&c| keep(c)) {
            len += c.len_utf8();
            chars = chars.saturating_add(1);
        }
        self.at += len;
        self.column = self.column.saturating_add(chars);
        rest.get(..len).unwrap_or_default()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn skip_blanks(&mut self) {
        self.take_while(|c| c.is_whitespace() || c == '\u{feff}');
    }

    fn comment(&mut self, after_code: bool) -> Comment {
        let pos = self.pos();
        let rest = self.rest().get(1..).unwrap_or_default();
        let looks_like_string = after_code
            && rest.chars().next().is_some_and(|c| !c.is_whitespace())
            && rest.contains('\'');
        self.at = self.text.len();
        Comment { pos, looks_like_string }
    }

    fn token(&mut self, c: char) -> Token {
        let pos = self.pos();
        let kind = if c == '"' {
            self.string()
        } else if c.is_ascii_digit() {
            self.number()
        } else if c.is_alphabetic() || c == '_' {
            Tok::Word(self.take_while(|c| c.is_alphanumeric() || c == '_').to_owned())
        } else {
            self.symbol(c)
        };
        Token { kind, pos }
    }

    fn string(&mut self) -> Tok {
        self.bump();
        let mut value = String::new();
        loop {
            match self.peek(0) {
                None => {
                    return Tok::Error(
                        "this string has no closing double quote on its line".to_owned(),
                    );
                }
                Some('"') if self.peek(1) == Some('"') => {
                    value.push('"');
                    self.bump();
                    self.bump();
                }
                Some('"') => {
                    self.bump();
                    return Tok::Str(value);
                }
                Some(_) => {
                    value.push_str(self.take_while(|c| c != '"'));
                }
            }
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.at;
        self.take_while(|c| c.is_ascii_digit());
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.take_while(|c| c.is_ascii_digit());
        }
        Tok::Number(self.text.get(start..self.at).unwrap_or_default().to_owned())
    }

    fn symbol(&mut self, c: char) -> Tok {
        let next = self.peek(1);
        let (sym, len) = match (c, next) {
            ('<', Some('=')) => (Sym::Le, 2),
            ('<', Some('>')) => (Sym::Ne, 2),
            ('>', Some('=')) => (Sym::Ge, 2),
            ('#', Some('{')) => (Sym::HashBrace, 2),
            ('?', Some('.')) => (Sym::QuestionDot, 2),
            ('<', _) => (Sym::Lt, 1),
            ('>', _) => (Sym::Gt, 1),
            ('(', _) => (Sym::LParen, 1),
            (')', _) => (Sym::RParen, 1),
            ('[', _) => (Sym::LBracket, 1),
            (']', _) => (Sym::RBracket, 1),
            ('{', _) => (Sym::LBrace, 1),
            ('}', _) => (Sym::RBrace, 1),
            (',', _) => (Sym::Comma, 1),
            ('.', _) => (Sym::Dot, 1),
            (':', _) => (Sym::Colon, 1),
            ('=', _) => (Sym::Eq, 1),
            ('+', _) => (Sym::Plus, 1),
            ('-', _) => (Sym::Minus, 1),
            ('*', _) => (Sym::Star, 1),
            ('/', _) => (Sym::Slash, 1),
            ('\\', _) => (Sym::Backslash, 1),
            ('&', _) => (Sym::Amp, 1),
            ('^', _) => (Sym::Caret, 1),
            _ => {
                self.bump();
                return Tok::Error(unexpected_character(c));
            }
        };
        for _ in 0..len {
            self.bump();
        }
        Tok::Sym(sym)
    }
}

fn unexpected_character(c: char) -> String {
    match c {
        '!' | '|' => format!("`{c}` is not an operator here; use NOT, AND, OR or <>"),
        ';' => "`;` does not separate anything in this dialect; use `,` between arguments and \
            one statement per line"
            .to_owned(),
        _ if c.is_control() => format!("unexpected control character U+{:04X}", u32::from(c)),
        _ => format!("unexpected character `{c}`"),
    }
}
