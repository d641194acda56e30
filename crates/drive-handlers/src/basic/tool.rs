//! The LLM tool a script declares with `PARAM` and `DESCRIPTION`, and its two JSON shapes:
//! the OpenAI function-calling form and the MCP tool form.
//!
//! A script is a tool when it has at least one `PARAM` or a `DESCRIPTION` at the top level;
//! the tool is named after the file stem (`create-deal.bas` is `create-deal`). A script with
//! a `DESCRIPTION` and no `PARAM` is a tool without arguments (`ADD TOOL "refresh-llm"`
//! names such a script). Every `PARAM` the parser read becomes a parameter, in order; one it
//! could not read is already an error on its line and is never silently dropped.
//!
//! Types map to JSON Schema as the dialect defines: `string text email phone url file` to
//! `string`; `date` to `string` with `format: date`; `datetime timestamp` to `string` with
//! `format: date-time`; `integer int number` to `integer`; `float double decimal money` to
//! `number`; `boolean bool` to `boolean`; `array list` to `array`; `object map` to `object`.
//! Names are compared without regard to case. `AS "a", "b"` limits the parameter to those
//! values, like `ENUM`; its type is what the values all are (integer, number, boolean),
//! otherwise string.
//!
//! An unknown type (`AS QRCODE`) is a warning and the parameter is declared a string: the
//! model can always send text, the script receives what the author most likely meant (a file
//! name, a code, a URL), and one unusual type name should not keep a working tool from being
//! published. Arrays carry `items: {}` (any element), because OpenAI refuses an array schema
//! without `items`.
//!
//! Known limits: `LIKE` examples are emitted as written, even when they do not match the type
//! (`PARAM n AS integer LIKE 2.5`); object parameters have no declared properties.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use drive_core::Diagnostic;

use crate::basic::syntax::{
    Expr, ExprKind, Param, ParamKind, Pos, Statement, StatementKind, SyntaxTree, UnaryOp,
};

/// A tool declared by a script.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// The file stem of the script.
    pub name: String,
    /// The text of `DESCRIPTION`, empty when the script has none.
    pub description: String,
    /// One entry per `PARAM`, in the script's order.
    pub params: Vec<ToolParam>,
}

/// One parameter of a tool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolParam {
    pub name: String,
    /// Line of the `PARAM`.
    pub line: u32,
    /// False for `OPTIONAL` parameters.
    pub required: bool,
    pub schema: ParamSchema,
}

/// The JSON Schema of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSchema {
    #[serde(rename = "type")]
    pub json_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `{}` for arrays, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The allowed values, from `ENUM` or `AS "a", "b"`.
    #[serde(rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<Value>,
    /// The `LIKE` example.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Value>,
}

/// The JSON Schema of a tool's arguments: an object with one property per parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputSchema {
    #[serde(rename = "type")]
    pub json_type: &'static str,
    /// Properties in declaration order; a repeated name keeps its first declaration.
    pub properties: Properties,
    /// Names of the parameters that are not `OPTIONAL`.
    pub required: Vec<String>,
}

/// Properties of an [`InputSchema`], serialised as a JSON object in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct Properties(pub Vec<(String, ParamSchema)>);

impl Serialize for Properties {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, schema) in &self.0 {
            map.serialize_entry(name, schema)?;
        }
        map.end()
    }
}

/// The OpenAI function-calling form: `{"type": "function", "function": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenAiTool {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OpenAiFunction,
}

/// The `function` member of [`OpenAiTool`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenAiFunction {
    pub name: String,
    pub description: String,
    pub parameters: InputSchema,
}

/// The MCP tool form: `{"name", "description", "inputSchema"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct McpTool {
    pub name: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    pub input_schema: InputSchema,
}

impl ToolDefinition {
    /// Returns the JSON Schema of the tool's arguments.
    pub fn input_schema(&self) -> InputSchema {
        let mut properties: Vec<(String, ParamSchema)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut required = Vec::new();
        for param in &self.params {
            if !seen.insert(&param.name) {
                continue;
            }
            properties.push((param.name.clone(), param.schema.clone()));
            if param.required {
                required.push(param.name.clone());
            }
        }
        InputSchema { json_type: "object", properties: Properties(properties), required }
    }

    /// Returns the OpenAI function-calling form.
    pub fn openai(&self) -> OpenAiTool {
        OpenAiTool {
            kind: "function",
            function: OpenAiFunction {
                name: self.name.clone(),
                description: self.description.clone(),
                parameters: self.input_schema(),
            },
        }
    }

    /// Returns the MCP tool form.
    pub fn mcp(&self) -> McpTool {
        McpTool {
            name: self.name.clone(),
            description: self.description.clone(),
            input_schema: self.input_schema(),
        }
    }

    /// Returns the tool as drive-core's registry stores it: both forms as JSON text.
    pub fn to_core(&self) -> drive_core::ToolDefinition {
        drive_core::ToolDefinition {
            name: self.name.clone(),
            openai: to_json(&self.openai()),
            mcp: to_json(&self.mcp()),
        }
    }
}

fn to_json(value: &impl Serialize) -> String {
    // These types hold only strings, numbers and JSON values, which always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

/// Returns the tool `tree` declares, if any, adding what is wrong with it to `diagnostics`.
pub(crate) fn extract(
    file_stem: &str,
    tree: &SyntaxTree,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ToolDefinition> {
    let mut description: Option<(Pos, String)> = None;
    let mut params: Vec<ToolParam> = Vec::new();
    let mut first_param: Option<Pos> = None;
    // Upper-cased parameter names, with the line that declared each first.
    let mut declared: HashMap<String, u32> = HashMap::new();
    for Statement { pos, kind } in &tree.body {
        match kind {
            StatementKind::Description { text } => match &description {
                Some((first, _)) => diagnostics.push(error(
                    *pos,
                    format!(
                        "this script already has a DESCRIPTION at line {}; a script is one tool \
                         with one description, so put each tool in its own file",
                        first.line
                    ),
                )),
                None => description = Some((*pos, text.clone())),
            },
            StatementKind::Param(param) => {
                first_param.get_or_insert(*pos);
                let key = param.name.to_ascii_uppercase();
                if let Some(first) = declared.get(&key) {
                    let message = format!(
                        "PARAM {} is already declared at line {first}; each parameter needs its \
                         own name",
                        param.name
                    );
                    diagnostics.push(error(*pos, message));
                } else {
                    declared.insert(key, pos.line);
                }
                params.push(tool_param(*pos, param, diagnostics));
            }
            _ => {}
        }
    }
    if description.is_none() && first_param.is_none() {
        return None;
    }

    if let (None, Some(pos)) = (&description, first_param) {
        diagnostics.push(warning(
            pos,
            "this tool has no DESCRIPTION; add DESCRIPTION \"what it does\" so the model knows \
             when to call it"
                .to_owned(),
        ));
    }
    if !is_portable_tool_name(file_stem) {
        diagnostics.push(Diagnostic::warning(
            0,
            format!(
                "the tool is named after the file, {file_stem:?}; OpenAI accepts only letters, \
                 digits, `_` and `-`, at most 64 of them, so rename the file"
            ),
        ));
    }
    let description = description.map(|(_, text)| text).unwrap_or_default();
    Some(ToolDefinition { name: file_stem.to_owned(), description, params })
}

fn tool_param(pos: Pos, param: &Param, diagnostics: &mut Vec<Diagnostic>) -> ToolParam {
    let (json_type, format, mut allowed) = match &param.kind {
        ParamKind::Type { name } => match json_type(name) {
            Some((json_type, format)) => (json_type, format, Vec::new()),
            None => {
                diagnostics.push(warning(
                    pos,
                    format!(
                        "PARAM {} has type {name}, which this dialect does not know; the tool \
                         declares it as a string",
                        param.name
                    ),
                ));
                ("string", None, Vec::new())
            }
        },
        ParamKind::Choices { values } => {
            let mut values: Vec<Value> = values.iter().map(json_value).collect();
            let json_type = choices_type(&values);
            if json_type == "string" {
                // Mixed choices are offered as text, so that the enum matches its type.
                for value in &mut values {
                    if !value.is_string() {
                        *value = Value::String(value.to_string());
                    }
                }
            }
            (json_type, None, values)
        }
    };
    if let Some(values) = &param.allowed {
        allowed = values.iter().map(json_value).collect();
    }
    let schema = ParamSchema {
        json_type: json_type.to_owned(),
        format: format.map(str::to_owned),
        items: (json_type == "array").then(|| Value::Object(serde_json::Map::new())),
        description: param.description.clone(),
        allowed,
        examples: param.example.iter().map(json_value).collect(),
    };
    ToolParam { name: param.name.clone(), line: pos.line, required: !param.optional, schema }
}

/// Returns the JSON Schema type of `AS "a", "b"` choices: what they all are, or `string`.
fn choices_type(values: &[Value]) -> &'static str {
    if values.iter().all(|value| value.as_i64().is_some() || value.as_u64().is_some()) {
        "integer"
    } else if values.iter().all(Value::is_number) {
        "number"
    } else if values.iter().all(Value::is_boolean) {
        "boolean"
    } else {
        "string"
    }
}

/// Returns the JSON Schema type and format of a dialect type name, `None` when unknown.
fn json_type(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    let mapped = match name.to_ascii_lowercase().as_str() {
        "string" | "text" | "email" | "phone" | "url" | "file" => ("string", None),
        "date" => ("string", Some("date")),
        "datetime" | "timestamp" => ("string", Some("date-time")),
        "integer" | "int" | "number" => ("integer", None),
        "float" | "double" | "decimal" | "money" => ("number", None),
        "boolean" | "bool" => ("boolean", None),
        "array" | "list" => ("array", None),
        "object" | "map" => ("object", None),
        _ => return None,
    };
    Some(mapped)
}

/// Returns the JSON value of a literal the parser accepted after `LIKE`, `ENUM` or `AS`.
fn json_value(expr: &Expr) -> Value {
    match &expr.kind {
        ExprKind::String { value } => Value::String(value.clone()),
        ExprKind::Boolean { value } => Value::Bool(*value),
        ExprKind::Number { text } => number(text),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => match &operand.kind {
            ExprKind::Number { text } => number(&format!("-{text}")),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

fn number(text: &str) -> Value {
    text.parse::<serde_json::Number>()
        .map_or_else(|_| Value::String(text.to_owned()), Value::Number)
}

fn is_portable_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn error(pos: Pos, message: String) -> Diagnostic {
    Diagnostic::error(pos.line, message).at_column(pos.column)
}

fn warning(pos: Pos, message: String) -> Diagnostic {
    Diagnostic::warning(pos.line, message).at_column(pos.column)
}
