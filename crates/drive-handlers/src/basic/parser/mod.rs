//! The recursive-descent parser: logical lines in, a [`SyntaxTree`] and diagnostics out.
//!
//! Owns the block structure and error recovery. Each block opener reads its body line by line
//! until a line that closes or continues it (`END IF`, `ELSE`, `NEXT`, `LOOP`, `CASE`, ...).
//! A closing line that belongs to no open block is reported where it stands and skipped; one
//! that belongs to an outer block ends the inner blocks, each reported as never closed with
//! both positions in the message; the end of the file does the same for every block still
//! open. A line that cannot be read gives one error (the first problem on it) and parsing goes
//! on with the next line. Block headers that cannot be read still open their block, so that
//! one broken `IF` line does not make its `END IF` stray as well.
//!
//! Known limits: the parser does not resolve names (an unknown variable is a runtime matter),
//! and stops nesting blocks at [`MAX_BLOCK_DEPTH`].

mod blocks;
pub(crate) mod cursor;
pub(crate) mod expr;
mod statements;

use std::collections::HashMap;

use drive_core::Diagnostic;

use crate::basic::lexer::{Line, Sym, Tok, lex};
use crate::basic::parser::cursor::{Cursor, Fault, is_word};
use crate::basic::syntax::{Pos, SYNTAX_VERSION, Statement, SyntaxTree};

/// Deepest nesting of blocks the parser accepts.
pub(crate) const MAX_BLOCK_DEPTH: usize = 24;

/// Returns the syntax tree of `source` and the diagnostics found while reading it.
pub(crate) fn parse(source: &str) -> (SyntaxTree, Vec<Diagnostic>) {
    let lexed = lex(source);
    let mut parser = Parser {
        lines: lexed.lines.into_iter().map(Some).collect(),
        next: 0,
        last_line: lexed.last_line,
        diagnostics: Vec::new(),
        open: Vec::new(),
        labels: HashMap::new(),
        gotos: Vec::new(),
    };
    let body = parser.top_level();
    parser.check_gotos();
    (SyntaxTree { version: SYNTAX_VERSION, body }, parser.diagnostics)
}

struct Parser {
    /// Logical lines; a line is taken out when read.
    lines: Vec<Option<Line>>,
    /// Index of the next line to read.
    next: usize,
    last_line: u32,
    diagnostics: Vec<Diagnostic>,
    /// Blocks being read, outermost first.
    open: Vec<Open>,
    /// Labels defined so far, in upper case, with where.
    labels: HashMap<String, Pos>,
    /// `GOTO` targets, checked against the labels at the end.
    gotos: Vec<(String, Pos)>,
}

/// A block being read.
#[derive(Clone, Debug)]
struct Open {
    block: Block,
    pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    If,
    ForEach { item: String },
    For { counter: String },
    Do,
    While,
    Select,
    Sub,
    Function,
    With,
    Table,
}

impl Block {
    /// Returns how the block's opener is written, for messages.
    fn opener(&self) -> &'static str {
        match self {
            Block::If => "IF",
            Block::ForEach { .. } => "FOR EACH",
            Block::For { .. } => "FOR",
            Block::Do => "DO",
            Block::While => "WHILE",
            Block::Select => "SELECT CASE",
            Block::Sub => "SUB",
            Block::Function => "FUNCTION",
            Block::With => "WITH",
            Block::Table => "TABLE",
        }
    }

    /// Returns the line that closes the block, for messages.
    fn closer(&self) -> &'static str {
        match self {
            Block::If => "END IF",
            Block::ForEach { .. } | Block::For { .. } => "NEXT",
            Block::Do => "LOOP",
            Block::While => "WEND",
            Block::Select => "END SELECT",
            Block::Sub => "END SUB",
            Block::Function => "END FUNCTION",
            Block::With => "END WITH",
            Block::Table => "END TABLE",
        }
    }

    fn accepts(&self, closer: &Closer) -> bool {
        use Closer as C;
        match self {
            Block::If => matches!(closer, C::EndIf | C::ElseIf | C::Else),
            Block::ForEach { .. } | Block::For { .. } => matches!(closer, C::Next | C::EndFor),
            Block::Do => matches!(closer, C::Loop),
            Block::While => matches!(closer, C::Wend | C::EndWhile | C::Loop),
            Block::Select => matches!(closer, C::Case | C::EndSelect),
            Block::Sub => matches!(closer, C::EndSub),
            Block::Function => matches!(closer, C::EndFunction),
            Block::With => matches!(closer, C::EndWith),
            Block::Table => matches!(closer, C::EndTable),
        }
    }
}

/// A line that closes or continues a block.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Closer {
    EndIf,
    ElseIf,
    Else,
    EndFor,
    Next,
    Loop,
    Wend,
    EndWhile,
    Case,
    EndSelect,
    EndSub,
    EndFunction,
    EndWith,
    EndTable,
    /// `END TALK`, `END MAIL`, `END SYSTEM PROMPT` outside their text block.
    EndText(&'static str),
    /// `END` followed by a word that names no block, such as `END PARALLEL`.
    EndUnknown(String),
    /// `END` alone.
    EndAlone,
}

impl Closer {
    /// Returns the closing line as it is written, for messages.
    fn text(&self) -> String {
        match self {
            Closer::EndIf => "END IF".to_owned(),
            Closer::ElseIf => "ELSE IF".to_owned(),
            Closer::Else => "ELSE".to_owned(),
            Closer::EndFor => "END FOR".to_owned(),
            Closer::Next => "NEXT".to_owned(),
            Closer::Loop => "LOOP".to_owned(),
            Closer::Wend => "WEND".to_owned(),
            Closer::EndWhile => "END WHILE".to_owned(),
            Closer::Case => "CASE".to_owned(),
            Closer::EndSelect => "END SELECT".to_owned(),
            Closer::EndSub => "END SUB".to_owned(),
            Closer::EndFunction => "END FUNCTION".to_owned(),
            Closer::EndWith => "END WITH".to_owned(),
            Closer::EndTable => "END TABLE".to_owned(),
            Closer::EndText(words) => format!("END {words}"),
            Closer::EndUnknown(word) => format!("END {word}"),
            Closer::EndAlone => "END".to_owned(),
        }
    }

    /// Returns what to tell an author whose closing line belongs to no open block.
    fn stray_message(&self, line: u32) -> String {
        let text = self.text();
        match self {
            Closer::ElseIf | Closer::Else => format!("{text} at line {line} is not inside an IF"),
            Closer::Case => format!("CASE at line {line} is not inside a SELECT CASE"),
            Closer::Next | Closer::EndFor => format!("{text} at line {line} has no FOR to close"),
            Closer::Loop => format!("LOOP at line {line} has no DO or WHILE to close"),
            Closer::Wend | Closer::EndWhile => {
                format!("{text} at line {line} has no WHILE to close")
            }
            Closer::EndSelect => format!("END SELECT at line {line} has no SELECT CASE to close"),
            Closer::EndText(words) => {
                format!("{text} at line {line} has no BEGIN {words} to close")
            }
            Closer::EndUnknown(word) => {
                format!("{text} at line {line} closes nothing: this dialect has no {word} block")
            }
            Closer::EndAlone => format!(
                "END at line {line} must name the block it closes, such as END IF or END SUB"
            ),
            Closer::EndIf
            | Closer::EndSub
            | Closer::EndFunction
            | Closer::EndWith
            | Closer::EndTable => {
                let block = text.trim_start_matches("END ");
                format!("{text} at line {line} has no {block} to close")
            }
        }
    }
}

/// How reading a block's body ended.
#[derive(Debug)]
enum Stop {
    /// At a line for the innermost block, not yet taken: its index and kind.
    Closer(usize, Closer),
    /// At a line that closes an outer block: the blocks inside are left unclosed.
    Unwound {
        closer: Closer,
        pos: Pos,
        outer: Open,
    },
    Eof,
}

/// What the body reader hands out: a line to read as part of the body, or the end.
enum Step {
    Line(Line),
    Stop(Stop),
}

impl Parser {
    fn top_level(&mut self) -> Vec<Statement> {
        let mut body = Vec::new();
        loop {
            match self.step(false) {
                Step::Line(line) => body.extend(self.statement_line(line)),
                // Only the end of the file ends the top level: every closer is stray there.
                Step::Stop(_) => return body,
            }
        }
    }

    /// Returns the statements of a block body and how it ended.
    fn body(&mut self) -> (Vec<Statement>, Stop) {
        let mut body = Vec::new();
        loop {
            match self.step(false) {
                Step::Line(line) => body.extend(self.statement_line(line)),
                Step::Stop(stop) => return (body, stop),
            }
        }
    }

    /// Returns the next line of the current body, or why the body ends. Stray closers are
    /// reported and skipped. In `table` bodies only `END` lines can close, so that fields
    /// named `Next` or `Case` stay fields.
    fn step(&mut self, table: bool) -> Step {
        loop {
            let idx = self.next;
            let Some(line) = self.lines.get(idx).and_then(Option::as_ref) else {
                return Step::Stop(Stop::Eof);
            };
            let closer = closer_of(line).filter(|closer| !table || closer_is_end(closer));
            let Some(closer) = closer else {
                self.next += 1;
                let line = self.lines.get_mut(idx).and_then(Option::take);
                return line.map_or(Step::Stop(Stop::Eof), Step::Line);
            };

            let pos = line.start();
            if self.open.last().is_some_and(|open| open.block.accepts(&closer)) {
                return Step::Stop(Stop::Closer(idx, closer));
            }
            if let Some(outer) = self.open.iter().rev().find(|open| open.block.accepts(&closer)) {
                let outer = outer.clone();
                return Step::Stop(Stop::Unwound { closer, pos, outer });
            }
            self.error(pos, closer.stray_message(pos.line));
            self.next += 1;
        }
    }

    /// Takes the closing line at `idx`, which [`Parser::step`] reported.
    fn take_closer(&mut self, idx: usize) -> Option<Line> {
        self.next = idx + 1;
        self.lines.get_mut(idx).and_then(Option::take)
    }

    /// Reports a block that a `Stop` other than its own closer ended.
    fn report_unclosed(&mut self, open: &Open, stop: &Stop) {
        let opener = open.block.opener();
        let line = open.pos.line;
        let message = match stop {
            Stop::Eof => format!(
                "{opener} at line {line} is never closed; the file ends at line {} without {}",
                self.last_line,
                open.block.closer()
            ),
            Stop::Unwound { closer, pos, outer } => format!(
                "{opener} at line {line} is never closed; {} at line {} closes the {} at \
                 line {} first",
                closer.text(),
                pos.line,
                outer.block.opener(),
                outer.pos.line
            ),
            Stop::Closer(_, closer) => {
                format!("{opener} at line {line} is never closed; {} comes first", closer.text())
            }
        };
        self.error(open.pos, message);
    }

    /// Reads one line as a statement; on failure reports the fault and returns nothing.
    fn statement_line(&mut self, line: Line) -> Option<Statement> {
        let mut cur = Cursor::new(&line.tokens, line.end, line.comment);
        let result = self.statement(&mut cur, Some(&line)).and_then(|statement| {
            cur.expect_end("the statement")?;
            Ok(statement)
        });
        match result {
            Ok(statement) => {
                for (pos, message) in cur.warnings {
                    self.warning(pos, message);
                }
                if let Some(comment) = line.comment.filter(|comment| comment.looks_like_string) {
                    self.warning(
                        comment.pos,
                        "the text from this ' on is a comment; if it was meant as a string, \
                         use double quotes"
                            .to_owned(),
                    );
                }
                Some(statement)
            }
            Err(fault) => {
                self.fault(fault);
                None
            }
        }
    }

    fn fault(&mut self, fault: Fault) {
        self.error(fault.pos, fault.message);
    }

    fn error(&mut self, pos: Pos, message: String) {
        self.diagnostics.push(Diagnostic::error(pos.line, message).at_column(pos.column));
    }

    fn warning(&mut self, pos: Pos, message: String) {
        self.diagnostics.push(Diagnostic::warning(pos.line, message).at_column(pos.column));
    }

    /// Reports `GOTO`s whose label the script never defines.
    fn check_gotos(&mut self) {
        let gotos = std::mem::take(&mut self.gotos);
        for (label, pos) in gotos {
            let defined = self.labels.contains_key(&label.to_ascii_uppercase());
            if !defined && label != "0" {
                self.error(pos, format!("GOTO {label}: there is no line `{label}:` to go to"));
            }
        }
    }
}

/// Returns the closer a line is, if it is one.
fn closer_of(line: &Line) -> Option<Closer> {
    let kind = |idx: usize| line.tokens.get(idx).map(|token| &token.kind);
    let word_at = |idx: usize, word: &str| kind(idx).is_some_and(|kind| is_word(kind, word));
    let Some(Tok::Word(first)) = kind(0) else { return None };

    // `next = 1` and `loop.count = 2` assign to variables that happen to share a keyword;
    // only `CASE [1, 2]` starts a value with a bracket.
    let is_case = first.eq_ignore_ascii_case("CASE");
    match kind(1) {
        Some(Tok::Sym(Sym::Eq | Sym::Colon)) => return None,
        Some(Tok::Sym(Sym::Dot | Sym::QuestionDot | Sym::LBracket)) if !is_case => return None,
        _ => {}
    }
    let closer = match first.to_ascii_uppercase().as_str() {
        "ELSEIF" => Closer::ElseIf,
        "ELSE" if word_at(1, "IF") => Closer::ElseIf,
        "ELSE" => Closer::Else,
        "NEXT" => Closer::Next,
        "LOOP" => Closer::Loop,
        "WEND" => Closer::Wend,
        "CASE" => Closer::Case,
        "END" => end_closer(kind(1), kind(2))?,
        _ => return None,
    };
    Some(closer)
}

fn end_closer(second: Option<&Tok>, third: Option<&Tok>) -> Option<Closer> {
    let Some(Tok::Word(word)) = second else { return Some(Closer::EndAlone) };
    let closer = match word.to_ascii_uppercase().as_str() {
        "IF" => Closer::EndIf,
        "FOR" => Closer::EndFor,
        "WHILE" => Closer::EndWhile,
        "SELECT" => Closer::EndSelect,
        "SUB" => Closer::EndSub,
        "FUNCTION" => Closer::EndFunction,
        "WITH" => Closer::EndWith,
        "TABLE" => Closer::EndTable,
        "TALK" => Closer::EndText("TALK"),
        "MAIL" => Closer::EndText("MAIL"),
        "SYSTEM" if third.is_some_and(|kind| is_word(kind, "PROMPT")) => {
            Closer::EndText("SYSTEM PROMPT")
        }
        other => Closer::EndUnknown(other.to_owned()),
    };
    Some(closer)
}

/// Returns true for closers that start with `END` and name a block.
fn closer_is_end(closer: &Closer) -> bool {
    !matches!(
        closer,
        Closer::ElseIf
            | Closer::Else
            | Closer::Next
            | Closer::Loop
            | Closer::Wend
            | Closer::Case
            | Closer::EndUnknown(_)
            | Closer::EndAlone
    )
}
