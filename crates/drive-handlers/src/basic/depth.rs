//! How deeply the JSON of a syntax tree nests, so that compiling refuses a tree that a JSON
//! reader with default limits could not load back (serde_json stops at 127 nested arrays and
//! objects, and so do many readers in other languages).
//!
//! The measure mirrors the serde form of [`crate::basic::syntax`] exactly: every struct and
//! enum variant with fields is one object, every `Vec` one array, flattened positions and
//! kinds add nothing. A test compares it with the nesting of real serialised trees.
//!
//! Known limits: the mirror must follow any change to the tree's serde attributes; the test
//! above fails when it does not.

use crate::basic::syntax::{
    Arg, Expr, ExprKind, HearAs, ParamKind, Pos, Statement, StatementKind, SyntaxTree,
};

/// Deepest nesting of JSON arrays and objects a stored tree may have.
pub(crate) const MAX_JSON_DEPTH: usize = 127;

/// Returns the nesting depth of the tree's JSON.
#[cfg(test)]
pub(crate) fn tree_depth(tree: &SyntaxTree) -> usize {
    // The root object holds the `body` array.
    2 + tree.body.iter().map(statement).max().unwrap_or(0)
}

/// Returns the position of the innermost statement that makes the tree's JSON nest deeper
/// than [`MAX_JSON_DEPTH`], or `None` when it fits.
pub(crate) fn too_deep(tree: &SyntaxTree) -> Option<Pos> {
    find(&tree.body, 2)
}

/// Looks among `statements`, whose objects sit inside `base` enclosing arrays and objects.
fn find(statements: &[Statement], base: usize) -> Option<Pos> {
    for statement in statements {
        if base + self::statement(statement) <= MAX_JSON_DEPTH {
            continue;
        }
        for (body, inner_base) in bodies(statement, base) {
            if let Some(pos) = find(body, inner_base) {
                return Some(pos);
            }
        }
        return Some(statement.pos);
    }
    None
}

/// Returns the statement lists inside `statement`, each with the depth its objects sit at.
fn bodies(statement: &Statement, base: usize) -> Vec<(&[Statement], usize)> {
    // The statement's object, then its field's array: `base + 2`. Lists inside a list of
    // objects (`branches`, `cases`) sit two levels deeper still.
    let direct = base + 2;
    let nested = base + 4;
    match &statement.kind {
        StatementKind::If { branches, otherwise } => {
            let mut lists: Vec<(&[Statement], usize)> =
                branches.iter().map(|branch| (branch.body.as_slice(), nested)).collect();
            lists.extend(otherwise.as_deref().map(|body| (body, direct)));
            lists
        }
        StatementKind::Select { cases, otherwise, .. } => {
            let mut lists: Vec<(&[Statement], usize)> =
                cases.iter().map(|case| (case.body.as_slice(), nested)).collect();
            lists.extend(otherwise.as_deref().map(|body| (body, direct)));
            lists
        }
        StatementKind::ForEach { body, .. }
        | StatementKind::For { body, .. }
        | StatementKind::Do { body, .. }
        | StatementKind::While { body, .. } => vec![(body.as_slice(), direct)],
        StatementKind::Sub(routine) | StatementKind::Function(routine) => {
            vec![(routine.body.as_slice(), direct)]
        }
        _ => Vec::new(),
    }
}

/// Returns the depth of an array of `items`, each measured by `depth`.
fn array<T>(items: &[T], depth: impl Fn(&T) -> usize) -> usize {
    1 + items.iter().map(depth).max().unwrap_or(0)
}

fn optional<T>(item: Option<&T>, depth: impl Fn(&T) -> usize) -> usize {
    item.map_or(0, depth)
}

fn statements(body: &[Statement]) -> usize {
    array(body, statement)
}

fn statement(statement: &Statement) -> usize {
    let inside = match &statement.kind {
        StatementKind::Command { args, .. } => array(args, arg),
        StatementKind::Assign { target, value } => expr(target).max(expr(value)),
        StatementKind::Call { call } => expr(call),
        StatementKind::Hear(hear) => {
            let expects = optional(hear.expects.as_ref(), |expects| match expects {
                HearAs::Type { .. } => 1,
                HearAs::Choices { values } => 1 + array(values, expr),
            });
            expects
                .max(optional(hear.prompt.as_ref(), expr))
                .max(optional(hear.default.as_ref(), expr))
        }
        StatementKind::If { branches, otherwise } => {
            let branch = |branch: &crate::basic::syntax::IfBranch| {
                1 + expr(&branch.condition).max(statements(&branch.body))
            };
            array(branches, branch).max(optional(otherwise.as_ref(), |body| statements(body)))
        }
        StatementKind::ForEach { list, body, .. } => expr(list).max(statements(body)),
        StatementKind::For { from, to, step, body, .. } => {
            expr(from).max(expr(to)).max(optional(step.as_ref(), expr)).max(statements(body))
        }
        StatementKind::Do { test, body } => {
            optional(test.as_ref(), |test| 1 + expr(&test.condition)).max(statements(body))
        }
        StatementKind::While { condition, body } => expr(condition).max(statements(body)),
        StatementKind::Select { subject, cases, otherwise } => {
            let case = |case: &crate::basic::syntax::Case| {
                1 + array(&case.values, expr).max(statements(&case.body))
            };
            expr(subject)
                .max(array(cases, case))
                .max(optional(otherwise.as_ref(), |body| statements(body)))
        }
        StatementKind::Sub(routine) | StatementKind::Function(routine) => {
            1.max(statements(&routine.body))
        }
        StatementKind::With { object, fields } => {
            expr(object).max(array(fields, |field| 1 + expr(&field.value)))
        }
        StatementKind::Table(table) => array(&table.fields, |_| 1),
        StatementKind::OnError { .. } => 1,
        StatementKind::Return { value } => optional(value.as_ref(), expr),
        StatementKind::Param(param) => {
            let kind = match &param.kind {
                ParamKind::Type { .. } => 1,
                ParamKind::Choices { values } => 1 + array(values, expr),
            };
            kind.max(optional(param.example.as_ref(), expr))
                .max(optional(param.allowed.as_ref(), |values| array(values, expr)))
        }
        StatementKind::Text { .. }
        | StatementKind::Label { .. }
        | StatementKind::Goto { .. }
        | StatementKind::Exit { .. }
        | StatementKind::Description { .. } => 0,
    };
    1 + inside
}

fn arg(arg: &Arg) -> usize {
    1 + optional(arg.value.as_ref(), expr)
}

fn expr(expr_: &Expr) -> usize {
    let inside = match &expr_.kind {
        ExprKind::String { .. }
        | ExprKind::Number { .. }
        | ExprKind::Boolean { .. }
        | ExprKind::Null
        | ExprKind::Name { .. }
        | ExprKind::Invalid => 0,
        ExprKind::Array { items } => array(items, expr),
        ExprKind::Object { entries } => array(entries, |entry| 1 + expr(&entry.value)),
        ExprKind::Unary { operand, .. } => expr(operand),
        ExprKind::Binary { left, right, .. } => expr(left).max(expr(right)),
        ExprKind::Call { callee, args } => expr(callee).max(array(args, expr)),
        ExprKind::Index { target, index } => expr(target).max(expr(index)),
        ExprKind::Member { target, .. } => expr(target),
        ExprKind::KeywordCall { args, .. } => array(args, arg),
    };
    1 + inside
}
