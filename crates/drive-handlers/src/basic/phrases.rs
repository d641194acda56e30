//! The command vocabulary: which keyword phrases the compiler knows, which words are clause
//! words or operators, and how the words that open a command split into its name and its
//! first argument.
//!
//! How a phrase is read, from the first word on:
//!
//! 1. The longest known phrase of one to three words wins (`SET BOT MEMORY` over `SET`).
//! 2. The phrase grows by a following word written in capitals when that word is not a clause
//!    word, an operator, a literal, a statement keyword or the start of another known phrase,
//!    and is itself followed by the start of a value: `SET ANSWER MODE "sql"`, `GET TIPS session_id`, `SEARCH PRODUCTS q`.
//!    A capitalised word followed by a comma or the end of the line is an argument instead
//!    (`FORMAT NOW, "yyyy"`, `TALK USERNAME`). At statement start an unknown phrase also takes
//!    a trailing capitalised word (`RESET REPORT`, `CLEAR FOO`).
//! 3. A phrase is at most three words long.
//!
//! A phrase that rule 1 did not match in full is unknown; the parser keeps it and warns.
//!
//! Known limits: the vocabulary is the dialect's documented inventory plus the phrases the
//! real scripts use; an unknown phrase written in lower case after `=` is read as a variable
//! (`x = foo bar` is then an error), because only capitals mark a word as a command there.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::basic::lexer::{Sym, Tok, Token};

/// Known command phrases, each a space-separated sequence of capitalised words.
const KNOWN_PHRASES: &[&str] = &[
    // Dialog.
    "TALK",
    "TALK TO",
    "ASK",
    "PRINT",
    "WAIT",
    "PAUSE",
    "STOP",
    "CALL",
    "SWITCH",
    "CARD",
    "PLAY",
    "IMAGE",
    "QR CODE",
    // Tools, knowledge, LLM.
    "ADD TOOL",
    "USE TOOL",
    "CLEAR TOOLS",
    "USE KB",
    "CLEAR KB",
    "USE WEBSITE",
    "CLEAR WEBSITES",
    "USE MODEL",
    "LLM",
    "SET CONTEXT",
    "SUMMARIZE",
    "TRANSLATE",
    "CLASSIFY",
    "EXTRACT",
    "REWRITE",
    "ADD SUGGESTION",
    "CLEAR SUGGESTIONS",
    "ADD SWITCHER",
    // Memory and state.
    "SET",
    "GET",
    "SET BOT MEMORY",
    "GET BOT MEMORY",
    "SET USER MEMORY",
    "GET USER MEMORY",
    "REMEMBER",
    "RECALL",
    "REMOVE",
    "GET SESSION",
    "SET SESSION",
    // Data.
    "FIND",
    "SAVE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "FILTER",
    "AGGREGATE",
    "FIRST",
    "LAST",
    "JOIN",
    "SAVE FROM UNSTRUCTURED",
    "QUERY",
    "NEW OBJECT",
    "NEW ARRAY",
    "CREATE OBJECT",
    "PUSH",
    "APPEND",
    // Files and HTTP.
    "READ",
    "WRITE",
    "COPY",
    "MOVE",
    "DELETE FILE",
    "UPLOAD",
    "DOWNLOAD",
    "LIST",
    "GENERATE PDF",
    "POST",
    "PUT",
    "PATCH",
    "SET HEADER",
    "CLEAR HEADERS",
    "GRAPHQL",
    "WEBHOOK",
    // Messaging.
    "SEND MAIL",
    "SEND EMAIL",
    "SEND SMS",
    "SEND TEMPLATE",
    "SEND FILE",
    "SEND TO",
    "BROADCAST",
    "TRANSFER TO HUMAN",
    // Automation.
    "SET SCHEDULE",
    "ON EMAIL",
    "ON EVENT",
    "PUBLISH EVENT",
    "CREATE TASK",
    "BOOK",
    "DELEGATE TO",
    // `WITH name AS value, ...` after `=` or `RETURN` builds an object.
    "WITH",
    // Functions, which scripts also call without parentheses (`MAX a, b`).
    "LEN",
    "LEFT",
    "RIGHT",
    "MID",
    "INSTR",
    "UCASE",
    "LCASE",
    "TRIM",
    "REPLACE",
    "SPLIT",
    "STR",
    "VAL",
    "FORMAT",
    "ABS",
    "ROUND",
    "INT",
    "SQR",
    "MIN",
    "MAX",
    "SUM",
    "RND",
    "NOW",
    "TODAY",
    "YEAR",
    "MONTH",
    "DAY",
    "DATEADD",
    "DATEDIFF",
    "UBOUND",
    "IIF",
    "ISNULL",
    "ISEMPTY",
    "ISNUMERIC",
    "TYPEOF",
    "GUID",
];

/// Words that join an argument to a command (`ADD SUGGESTION "k" AS "Label"`) or belong to a
/// statement's syntax (`THEN`, `TO`, `STEP`). They never start a command's argument or
/// extend its name.
const CLAUSE_WORDS: &[&str] = &[
    "AS",
    "ASC",
    "BY",
    "DEFAULT",
    "DESC",
    "DESCRIPTION",
    "DO",
    "ELSE",
    "ELSEIF",
    "ENUM",
    "FROM",
    "IN",
    "INTO",
    "LIKE",
    "ON",
    "OPTIONAL",
    "REFRESH",
    "STEP",
    "THEN",
    "TO",
    "UNTIL",
    "WHERE",
    "WHILE",
    "WITH",
];

/// Words that are operators inside expressions and never names.
const OPERATOR_WORDS: &[&str] = &["AND", "OR", "NOT", "MOD", "IS", "CONTAINS"];

/// Words that are literal values.
const LITERAL_WORDS: &[&str] = &["TRUE", "FALSE", "NULL"];

/// How a phrase was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Phrase {
    /// The words in capitals, separated by one space.
    pub(crate) name: String,
    /// How many tokens the phrase takes.
    pub(crate) len: usize,
    /// Whether the whole phrase is in the known inventory.
    pub(crate) known: bool,
}

/// Where a phrase is being read; decides whether a trailing capitalised word joins it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PhraseSite {
    /// At the start of a statement.
    Statement,
    /// After `=`, `RETURN` or inside an expression.
    Value,
}

/// Returns the phrase that starts at `tokens[0]`, which must be a word.
pub(crate) fn read_phrase(tokens: &[Token], site: PhraseSite) -> Phrase {
    let words: Vec<String> = tokens
        .iter()
        .take(3)
        .map_while(|token| match &token.kind {
            Tok::Word(word) => Some(word.to_ascii_uppercase()),
            _ => None,
        })
        .collect();

    let matched = (1..=words.len()).rev().find(|&n| is_known(&words[..n].join(" ")));
    let mut len = matched.unwrap_or(1);
    while len < 3 && extends_phrase(tokens, len, matched.is_none() && site == PhraseSite::Statement)
    {
        len += 1;
    }
    let name = tokens
        .iter()
        .take(len)
        .filter_map(|token| match &token.kind {
            Tok::Word(word) => Some(word.to_ascii_uppercase()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ");
    Phrase { name, len, known: matched == Some(len) }
}

/// Returns true when `tokens[idx]` is a word that joins the phrase before it.
fn extends_phrase(tokens: &[Token], idx: usize, at_line_end_too: bool) -> bool {
    let Some(Tok::Word(word)) = tokens.get(idx).map(|token| &token.kind) else { return false };
    let joins = is_capitalised(word)
        && !is_reserved(word)
        && !is_literal_word(word)
        && !is_statement_keyword(word)
        && !starts_known_phrase(word);
    if !joins {
        return false;
    }
    match tokens.get(idx + 1) {
        None => at_line_end_too,
        Some(next) => starts_argument(&next.kind),
    }
}

/// Returns true when a token can begin a command argument or keyword-call argument, as
/// opposed to continuing what came before (`(` calls, `[` indexes, `.` selects).
pub(crate) fn starts_argument(kind: &Tok) -> bool {
    match kind {
        Tok::Str(_) | Tok::Number(_) => true,
        Tok::Sym(sym) => matches!(sym, Sym::LBrace | Sym::HashBrace),
        Tok::Word(word) => !is_clause_word(word) && !is_operator_word(word),
        Tok::Error(_) => false,
    }
}

/// Returns true when `tokens[0]` (a word) begins a keyword call in a value position:
/// a known phrase or a capitalised word, followed by the start of an argument, or a known
/// phrase of several words (`NEW OBJECT`).
pub(crate) fn starts_keyword_call(tokens: &[Token]) -> bool {
    let Some(Tok::Word(word)) = tokens.first().map(|token| &token.kind) else { return false };
    let class = class(word);
    if class & (CLAUSE | OPERATOR | LITERAL | STATEMENT) != 0 {
        return false;
    }
    if class & PHRASE_START == 0 && !is_capitalised(word) {
        return false;
    }
    if tokens.get(1).is_some_and(|next| starts_argument(&next.kind)) {
        return true;
    }
    let phrase = read_phrase(tokens, PhraseSite::Value);
    phrase.known && phrase.len > 1
}

/// Returns true when `tokens` begin a keyword call in a value position (after `=` or
/// `RETURN`): what [`starts_keyword_call`] accepts, and `WITH name AS value, ...`, which
/// builds an object.
pub(crate) fn starts_value_keyword_call(tokens: &[Token]) -> bool {
    let with_object = matches!(
        (tokens.first().map(|t| &t.kind), tokens.get(1).map(|t| &t.kind)),
        (Some(Tok::Word(first)), Some(Tok::Word(_))) if first.eq_ignore_ascii_case("WITH")
    );
    with_object || starts_keyword_call(tokens)
}

/// Returns true for words in the known inventory's first position (`GET`, `SEND`, `ADD`).
pub(crate) fn starts_known_phrase(word: &str) -> bool {
    class(word) & PHRASE_START != 0
}

fn is_known(phrase: &str) -> bool {
    VOCABULARY.phrases.contains(phrase)
}

pub(crate) fn is_clause_word(word: &str) -> bool {
    class(word) & CLAUSE != 0
}

pub(crate) fn is_operator_word(word: &str) -> bool {
    class(word) & OPERATOR != 0
}

pub(crate) fn is_literal_word(word: &str) -> bool {
    class(word) & LITERAL != 0
}

/// Returns true for the words that open a statement of the dialect's own syntax.
pub(crate) fn is_statement_keyword(word: &str) -> bool {
    class(word) & STATEMENT != 0
}

/// Words that open a statement of the dialect's own syntax. `SELECT` is not among them: it
/// is also the SQL-like keyword call `rows = SELECT ... FROM ...` some scripts use.
const STATEMENT_KEYWORDS: &[&str] = &[
    "BEGIN",
    "CASE",
    "DESCRIPTION",
    "DO",
    "ELSE",
    "ELSEIF",
    "END",
    "EXIT",
    "FOR",
    "FUNCTION",
    "GOTO",
    "HEAR",
    "IF",
    "LET",
    "LOOP",
    "NEXT",
    "ON",
    "PARAM",
    "RETURN",
    "SUB",
    "TABLE",
    "WEND",
    "WHILE",
    "WITH",
];

/// Bits of [`class`].
pub(crate) const CLAUSE: u8 = 1;
pub(crate) const OPERATOR: u8 = 2;
pub(crate) const LITERAL: u8 = 4;
const STATEMENT: u8 = 8;
const PHRASE_START: u8 = 16;

/// The word lists as hash tables: every word is looked up once per use, so the lists are
/// indexed once per process instead of scanned each time.
struct Vocabulary {
    /// Capitalised word to its [`class`] bits.
    words: HashMap<&'static [u8], u8, BuildHasherDefault<Fnv>>,
    phrases: HashSet<&'static str>,
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(|| {
    let mut words: HashMap<&'static [u8], u8, BuildHasherDefault<Fnv>> = HashMap::default();
    let lists: [(&[&'static str], u8); 4] = [
        (CLAUSE_WORDS, CLAUSE),
        (OPERATOR_WORDS, OPERATOR),
        (LITERAL_WORDS, LITERAL),
        (STATEMENT_KEYWORDS, STATEMENT),
    ];
    for (list, bit) in lists {
        for word in list {
            *words.entry(word.as_bytes()).or_default() |= bit;
        }
    }
    for phrase in KNOWN_PHRASES {
        let first = phrase.split(' ').next().unwrap_or(phrase);
        *words.entry(first.as_bytes()).or_default() |= PHRASE_START;
    }
    Vocabulary { words, phrases: KNOWN_PHRASES.iter().copied().collect() }
});

/// Returns the class bits of `word`, compared without regard to ASCII case; 0 for a word in
/// no list.
pub(crate) fn class(word: &str) -> u8 {
    // No listed word is longer than this, and upper-casing in a buffer avoids an allocation
    // per word looked up.
    let mut buffer = [0_u8; 16];
    let Some(upper) = buffer.get_mut(..word.len()) else { return 0 };
    for (upper, byte) in upper.iter_mut().zip(word.bytes()) {
        *upper = byte.to_ascii_uppercase();
    }
    VOCABULARY.words.get(&*upper).copied().unwrap_or(0)
}

/// FNV-1a: keywords are short and not chosen by an attacker, so a fast hash is enough.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Words that cannot name a variable or a command word inside an expression.
fn is_reserved(word: &str) -> bool {
    is_clause_word(word) || is_operator_word(word)
}

/// Returns true for a word whose letters are all capitals (`SEARCH`, `SCRAPE_ALL`, `V2`).
pub(crate) fn is_capitalised(word: &str) -> bool {
    word.chars().any(char::is_alphabetic)
        && word.chars().filter(|c| c.is_alphabetic()).all(char::is_uppercase)
}
