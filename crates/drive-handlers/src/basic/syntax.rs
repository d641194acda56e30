//! The syntax tree of a BASIC script: what the parser builds, the printer prints, and what is
//! stored as JSON for the runtime that executes scripts.
//!
//! Every node carries the 1-based line and column where it starts (columns count characters,
//! a tab is one column). Keywords and command names are stored in capitals, because the
//! dialect ignores their case; identifiers, strings and numbers are stored as written.
//! Parentheses, comments, blank lines and the spelling of block ends (`WEND` or `END WHILE`,
//! `NEXT` or `NEXT i`) are not kept: the tree is what a script means, not how it was typed.
//!
//! The JSON form is internally tagged (`"statement": "if"`, `"expr": "binary"`) with the
//! position flattened into each node, and the whole tree carries [`SYNTAX_VERSION`].
//!
//! Known limits: a tree that parsed with errors holds [`ExprKind::Invalid`] where a block
//! header could not be read, so that the block's body is kept; such a tree is for showing,
//! never for running. Lines with errors that open no block are left out of the tree.

use serde::{Deserialize, Serialize};

/// Version of the JSON form of [`SyntaxTree`]; a reader of stored trees checks it.
pub const SYNTAX_VERSION: u32 = 1;

/// A parsed script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntaxTree {
    /// Always [`SYNTAX_VERSION`] for trees built by this crate.
    pub version: u32,
    pub body: Vec<Statement>,
}

/// Where a node starts: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One statement, with the position of its first word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(flatten)]
    pub pos: Pos,
    #[serde(flatten)]
    pub kind: StatementKind,
}

/// What a statement does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "statement", rename_all = "snake_case")]
pub enum StatementKind {
    /// A keyword command: `TALK "hi"`, `ADD SUGGESTION "k" AS "Label"`, `SET BOT MEMORY k, v`.
    /// `name` is the phrase in capitals, words separated by one space.
    Command { name: String, args: Vec<Arg> },
    /// `x = value`, `LET x = value`, `obj.field = value`, `list[i] = value`. The value may be
    /// an [`ExprKind::KeywordCall`] such as `FIND "orders", "status=open"`.
    Assign { target: Expr, value: Expr },
    /// A call standing alone: `list.PUSH(x)`, `USE_WEBSITE("https://...", "30d")`.
    Call { call: Expr },
    /// `HEAR name [AS type | AS "a", "b"] [WITH prompt] [DEFAULT value]`.
    Hear(Hear),
    /// A block or one-line `IF`: the first branch is the `IF`, the others `ELSE IF`s.
    If { branches: Vec<IfBranch>, otherwise: Option<Vec<Statement>> },
    /// `FOR EACH item IN list` ... `NEXT` or `END FOR`.
    ForEach { item: String, list: Expr, body: Vec<Statement> },
    /// `FOR counter = from TO to [STEP step]` ... `NEXT`.
    For { counter: String, from: Expr, to: Expr, step: Option<Expr>, body: Vec<Statement> },
    /// `DO [WHILE|UNTIL cond]` ... `LOOP [WHILE|UNTIL cond]`; at most one of the two tests.
    Do { test: Option<LoopTest>, body: Vec<Statement> },
    /// `WHILE cond [DO]` ... `WEND`, `END WHILE` or `LOOP`.
    While { condition: Expr, body: Vec<Statement> },
    /// `SELECT CASE subject` ... `CASE a, b` ... `CASE ELSE` ... `END SELECT`.
    Select { subject: Expr, cases: Vec<Case>, otherwise: Option<Vec<Statement>> },
    /// `SUB name(params)` ... `END SUB`.
    Sub(Routine),
    /// `FUNCTION name(params)` ... `END FUNCTION`.
    Function(Routine),
    /// `WITH object` ... `field = value` lines ... `END WITH`.
    With { object: Expr, fields: Vec<WithField> },
    /// `BEGIN TALK|MAIL|SYSTEM PROMPT` ... `END ...`: the lines between, verbatim, each
    /// followed by a line feed.
    Text { block: TextBlock, text: String },
    /// `TABLE name [ON connection]` ... field lines ... `END TABLE`.
    Table(Table),
    /// `name:` on a line of its own.
    Label { name: String },
    /// `GOTO label`.
    Goto { label: String },
    /// `ON ERROR RESUME NEXT` or `ON ERROR GOTO label`.
    OnError { handler: ErrorHandler },
    /// `RETURN [value]`.
    Return { value: Option<Expr> },
    /// `EXIT FOR|DO|WHILE|SUB|FUNCTION`.
    Exit { block: ExitBlock },
    /// `PARAM name AS type [LIKE ...] [ENUM [...]] [DESCRIPTION "..."] [OPTIONAL]`.
    Param(Param),
    /// `DESCRIPTION "what the tool does"`.
    Description { text: String },
}

/// One argument of a command or keyword call: a value after a comma, or a clause word
/// (`AS`, `WITH`, `BY`, `REFRESH`, ...) with its value. A clause word may stand without a
/// value (`SORT list BY "k" ASC`); a plain argument always has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    #[serde(flatten)]
    pub pos: Pos,
    /// The clause word in capitals, `None` for a plain argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    pub value: Option<Expr>,
}

/// `HEAR name ...`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hear {
    pub name: String,
    /// What `AS` says, if anything.
    pub expects: Option<HearAs>,
    /// `WITH prompt`.
    pub prompt: Option<Expr>,
    /// `DEFAULT value`.
    pub default: Option<Expr>,
}

/// What a `HEAR` accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HearAs {
    /// `AS STRING`, `AS EMAIL`, ...: the type name in capitals.
    Type { name: String },
    /// `AS "yes", "no"`: the answers offered.
    Choices { values: Vec<Expr> },
}

/// `IF cond THEN` or `ELSE IF cond THEN`, with the statements it guards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IfBranch {
    #[serde(flatten)]
    pub pos: Pos,
    pub condition: Expr,
    pub body: Vec<Statement>,
}

/// The test of a `DO` loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopTest {
    /// `WHILE` runs while the condition holds, `UNTIL` until it does.
    pub until: bool,
    /// True for `LOOP WHILE|UNTIL cond` (tested after each pass), false for `DO WHILE|UNTIL`.
    pub at_end: bool,
    pub condition: Expr,
}

/// `CASE a, b` and the statements it selects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    #[serde(flatten)]
    pub pos: Pos,
    pub values: Vec<Expr>,
    pub body: Vec<Statement>,
}

/// A `SUB` or `FUNCTION`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Routine {
    pub name: String,
    pub params: Vec<String>,
    pub body: Vec<Statement>,
}

/// `field = value` inside `WITH`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WithField {
    #[serde(flatten)]
    pub pos: Pos,
    pub name: String,
    pub value: Expr,
}

/// Which raw text block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextBlock {
    Talk,
    Mail,
    SystemPrompt,
}

impl TextBlock {
    /// Returns the words after `BEGIN` and `END`.
    pub fn words(self) -> &'static str {
        match self {
            TextBlock::Talk => "TALK",
            TextBlock::Mail => "MAIL",
            TextBlock::SystemPrompt => "SYSTEM PROMPT",
        }
    }
}

/// A `TABLE` declaration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    /// `ON connection`.
    pub connection: Option<String>,
    pub fields: Vec<TableField>,
}

/// One field line of a `TABLE`: `name type[(size[, scale])] [KEY]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableField {
    #[serde(flatten)]
    pub pos: Pos,
    pub name: String,
    /// The type as written, in lower case (`string`, `number`, `date`, ...).
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: Option<u32>,
    pub scale: Option<u32>,
    pub key: bool,
}

/// What `ON ERROR` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorHandler {
    /// `ON ERROR RESUME NEXT`.
    ResumeNext,
    /// `ON ERROR GOTO label`; `GOTO 0` has label `0` and turns handling off.
    Goto { label: String },
}

/// The block an `EXIT` leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitBlock {
    For,
    Do,
    While,
    Sub,
    Function,
}

impl ExitBlock {
    /// Returns the keyword after `EXIT`.
    pub fn keyword(self) -> &'static str {
        match self {
            ExitBlock::For => "FOR",
            ExitBlock::Do => "DO",
            ExitBlock::While => "WHILE",
            ExitBlock::Sub => "SUB",
            ExitBlock::Function => "FUNCTION",
        }
    }
}

/// A tool parameter declared by `PARAM`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// `LIKE value`: a literal (string, number, boolean).
    pub example: Option<Expr>,
    /// `ENUM [...]`: literals.
    pub allowed: Option<Vec<Expr>>,
    /// `DESCRIPTION "..."`.
    pub description: Option<String>,
    /// `OPTIONAL`.
    pub optional: bool,
}

/// What follows `AS` in a `PARAM`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamKind {
    /// `AS STRING`, `AS integer`: the type name as written.
    Type { name: String },
    /// `AS "a", "b"`: a string parameter limited to these literals.
    Choices { values: Vec<Expr> },
}

/// An expression, with the position of its first character.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    #[serde(flatten)]
    pub pos: Pos,
    #[serde(flatten)]
    pub kind: ExprKind,
}

/// What an expression is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "expr", rename_all = "snake_case")]
pub enum ExprKind {
    /// `"text"`, with doubled quotes already made single.
    String {
        value: String,
    },
    /// A number as written (`3`, `0.33`); a minus sign is a [`UnaryOp::Neg`].
    Number {
        text: String,
    },
    /// `TRUE` or `FALSE`.
    Boolean {
        value: bool,
    },
    /// `NULL`.
    Null,
    /// A variable or constant name, as written.
    Name {
        name: String,
    },
    /// `[a, b]`.
    Array {
        items: Vec<Expr>,
    },
    /// `{key: value, "other": value}` or `#{...}`.
    Object {
        entries: Vec<ObjectEntry>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `f(a, b)`, `obj.method(a)`.
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `list[i]`.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `obj.name`, or `obj?.name` when `optional`.
    Member {
        target: Box<Expr>,
        name: String,
        optional: bool,
    },
    /// A keyword phrase used as a value: `FIND "orders", "status=open"`, `NEW OBJECT`,
    /// `GET SESSION "user"`. Inside a larger expression it takes one argument, read up to
    /// the next comparison (`GET "tier" = "vip"` compares the result).
    KeywordCall {
        name: String,
        args: Vec<Arg>,
    },
    /// A part that could not be read; only in trees with error diagnostics.
    Invalid,
}

/// `{key: value}` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectEntry {
    #[serde(flatten)]
    pub pos: Pos,
    pub key: String,
    pub value: Expr,
}

/// A prefix operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    #[serde(rename = "-")]
    Neg,
    #[serde(rename = "NOT")]
    Not,
}

/// An infix operator. [`BinaryOp::Add`] also concatenates text, as `&` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    #[serde(rename = "OR")]
    Or,
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "<>")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    /// `a IS b`, mostly `IS NULL`.
    #[serde(rename = "IS")]
    Is,
    /// `a IS NOT b`.
    #[serde(rename = "IS NOT")]
    IsNot,
    /// `text CONTAINS part`.
    #[serde(rename = "CONTAINS")]
    Contains,
    #[serde(rename = "+")]
    Add,
    #[serde(rename = "-")]
    Sub,
    #[serde(rename = "&")]
    Concat,
    #[serde(rename = "*")]
    Mul,
    #[serde(rename = "/")]
    Div,
    /// `\`: integer division.
    #[serde(rename = "\\")]
    IntDiv,
    #[serde(rename = "MOD")]
    Mod,
    #[serde(rename = "^")]
    Pow,
}

impl BinaryOp {
    /// Returns the operator as written in source.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Gt => ">",
            BinaryOp::Le => "<=",
            BinaryOp::Ge => ">=",
            BinaryOp::Is => "IS",
            BinaryOp::IsNot => "IS NOT",
            BinaryOp::Contains => "CONTAINS",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Concat => "&",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::IntDiv => "\\",
            BinaryOp::Mod => "MOD",
            BinaryOp::Pow => "^",
        }
    }

    /// Returns how tightly the operator binds; higher binds tighter (see [`Precedence`]).
    pub(crate) fn precedence(self) -> Precedence {
        match self {
            BinaryOp::Or => Precedence::Or,
            BinaryOp::And => Precedence::And,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Gt
            | BinaryOp::Le
            | BinaryOp::Ge
            | BinaryOp::Is
            | BinaryOp::IsNot
            | BinaryOp::Contains => Precedence::Comparison,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Concat => Precedence::Additive,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::IntDiv | BinaryOp::Mod => {
                Precedence::Multiplicative
            }
            BinaryOp::Pow => Precedence::Power,
        }
    }
}

/// Binding strength of expressions, loosest first, as the dialect defines it: `OR`, `AND`,
/// `NOT`, comparisons, `+ - &`, `* / \ MOD`, `^`, unary minus, postfix, atoms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Precedence {
    Or,
    And,
    Not,
    Comparison,
    Additive,
    Multiplicative,
    Power,
    Negation,
    Postfix,
    Atom,
}

impl Expr {
    pub(crate) fn new(pos: Pos, kind: ExprKind) -> Self {
        Self { pos, kind }
    }

    /// Returns how tightly this expression holds together when printed without parentheses.
    pub(crate) fn precedence(&self) -> Precedence {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Unary { op: UnaryOp::Not, .. } => Precedence::Not,
            ExprKind::Unary { op: UnaryOp::Neg, .. } => Precedence::Negation,
            ExprKind::Call { .. } | ExprKind::Index { .. } | ExprKind::Member { .. } => {
                Precedence::Postfix
            }
            _ => Precedence::Atom,
        }
    }
}
