//! A cursor over the tokens of one logical line, and the fault a line parser returns.
//!
//! The cursor knows where its line ends (for "at the end of the line" messages), whether the
//! line has a `'` comment (for the hint that `'` does not quote), and whether `ELSE` ends a
//! statement (inside a one-line `IF`). It collects the warnings of its line, which the parser
//! keeps only when the whole line parses.

use crate::basic::lexer::{Comment, Sym, Tok, Token};
use crate::basic::syntax::Pos;

/// Why a line could not be read: the first problem found, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

pub(crate) type PResult<T> = Result<T, Fault>;

#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    tokens: &'a [Token],
    idx: usize,
    end: Pos,
    comment: Option<Comment>,
    /// Inside a one-line `IF`, `ELSE` ends the statement being read.
    pub(crate) else_ends: bool,
    /// Current nesting of expressions being read, to refuse absurd depths.
    pub(crate) depth: u32,
    /// Warnings about this line: `(position, message)`.
    pub(crate) warnings: Vec<(Pos, String)>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(tokens: &'a [Token], end: Pos, comment: Option<Comment>) -> Self {
        Self { tokens, idx: 0, end, comment, else_ends: false, depth: 0, warnings: Vec::new() }
    }

    /// Returns the next token, `None` at the end of the line (or at `ELSE` in a one-line IF).
    pub(crate) fn peek(&self) -> Option<&'a Token> {
        if self.at_end() { None } else { self.tokens.get(self.idx) }
    }

    /// Returns the token `ahead` places after the next one, ignoring `ELSE` endings.
    pub(crate) fn peek_at(&self, ahead: usize) -> Option<&'a Token> {
        self.tokens.get(self.idx + ahead)
    }

    /// Returns the tokens not yet read.
    pub(crate) fn rest(&self) -> &'a [Token] {
        self.tokens.get(self.idx..).unwrap_or_default()
    }

    pub(crate) fn at_end(&self) -> bool {
        match self.tokens.get(self.idx) {
            None => true,
            Some(token) => self.else_ends && is_word(&token.kind, "ELSE"),
        }
    }

    /// Returns true when only tokens of a one-line `IF`'s `ELSE` or nothing remain.
    pub(crate) fn at_line_end(&self) -> bool {
        self.idx >= self.tokens.len()
    }

    pub(crate) fn advance(&mut self, count: usize) {
        self.idx = (self.idx + count).min(self.tokens.len());
    }

    /// Skips everything up to the end of the line.
    pub(crate) fn skip_rest(&mut self) {
        self.idx = self.tokens.len();
    }

    /// Returns where the next token starts, or the end of the line.
    pub(crate) fn pos(&self) -> Pos {
        self.peek().map_or(self.end, |token| token.pos)
    }

    pub(crate) fn word_is(&self, word: &str) -> bool {
        self.peek().is_some_and(|token| is_word(&token.kind, word))
    }

    pub(crate) fn sym_is(&self, sym: Sym) -> bool {
        self.peek().is_some_and(|token| token.kind == Tok::Sym(sym))
    }

    /// Consumes `word` if it is next.
    pub(crate) fn eat_word(&mut self, word: &str) -> bool {
        let found = self.word_is(word);
        if found {
            self.idx += 1;
        }
        found
    }

    /// Consumes `sym` if it is next.
    pub(crate) fn eat_sym(&mut self, sym: Sym) -> bool {
        let found = self.sym_is(sym);
        if found {
            self.idx += 1;
        }
        found
    }

    /// Consumes and returns the next word, whatever it is.
    pub(crate) fn take_word(&mut self) -> Option<(String, Pos)> {
        let token = self.peek()?;
        let Tok::Word(word) = &token.kind else { return None };
        self.idx += 1;
        Some((word.clone(), token.pos))
    }

    /// Consumes `word` or fails with `message`.
    pub(crate) fn expect_word(&mut self, word: &str, message: &str) -> PResult<()> {
        if self.eat_word(word) { Ok(()) } else { Err(self.fault_here(message)) }
    }

    /// Consumes `sym` or fails with `message`.
    pub(crate) fn expect_sym(&mut self, sym: Sym, message: &str) -> PResult<()> {
        if self.eat_sym(sym) { Ok(()) } else { Err(self.fault_here(message)) }
    }

    /// Fails unless the statement ends here.
    pub(crate) fn expect_end(&self, after: &str) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(Token { kind: Tok::Error(message), pos }) => {
                Err(Fault { pos: *pos, message: message.clone() })
            }
            Some(token) => Err(Fault {
                pos: token.pos,
                message: format!(
                    "expected the end of the line after {after}, found {}",
                    describe(&token.kind)
                ),
            }),
        }
    }

    /// Fails with `message` (completed by what was found) unless the statement ends here.
    pub(crate) fn expect_end_or(&self, message: &str) -> PResult<()> {
        if self.peek().is_none() { Ok(()) } else { Err(self.fault_here(message)) }
    }

    /// Returns the token just read, if any.
    pub(crate) fn previous(&self) -> Option<&'a Token> {
        self.idx.checked_sub(1).and_then(|idx| self.tokens.get(idx))
    }

    /// Returns a fault at the next token whose message names what was found there.
    pub(crate) fn fault_here(&self, message: &str) -> Fault {
        let found = match self.peek() {
            Some(Token { kind: Tok::Error(error), pos }) => {
                return Fault { pos: *pos, message: error.clone() };
            }
            Some(token) => describe(&token.kind),
            None => "the end of the line".to_owned(),
        };
        let mut message = format!("{message}, found {found}");
        if self.peek().is_none() {
            message.push_str(&self.comment_hint());
        }
        Fault { pos: self.pos(), message }
    }

    /// Returns a hint when a `'` comment cut the line short, as `'text'` does.
    pub(crate) fn comment_hint(&self) -> String {
        match self.comment {
            Some(comment) if self.at_line_end() => format!(
                " (the ' at column {} starts a comment; strings use double quotes)",
                comment.pos.column
            ),
            _ => String::new(),
        }
    }

    pub(crate) fn warn(&mut self, pos: Pos, message: String) {
        self.warnings.push((pos, message));
    }
}

/// Returns true when `kind` is the word `word`, in any case.
pub(crate) fn is_word(kind: &Tok, word: &str) -> bool {
    matches!(kind, Tok::Word(found) if found.eq_ignore_ascii_case(word))
}

/// Returns how a token is named in messages.
pub(crate) fn describe(kind: &Tok) -> String {
    match kind {
        Tok::Word(word) => format!("`{word}`"),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Number(text) => format!("the number {text}"),
        Tok::Sym(sym) => format!("`{}`", sym.text()),
        Tok::Error(_) => "an unreadable character".to_owned(),
    }
}
