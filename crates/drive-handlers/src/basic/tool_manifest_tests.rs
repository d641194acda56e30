//! Tests of what a script declares: its tool (PARAM, DESCRIPTION, the JSON Schema types, the
//! OpenAI and MCP shapes) and its manifest (schedules, webhooks, websites, knowledge bases,
//! tools, tables), plus compiling from bytes.

use expect_test::expect;

use super::test_support::check;
use super::{CompileError, compile, compile_bytes};
use crate::text::DecodeError;

#[test]
fn tool_is_named_after_the_file_stem() {
    let compiled = compile(
        "create-deal",
        "PARAM amount AS money\nDESCRIPTION \"Creates a deal\"\nRETURN amount\n",
    );
    let tool = compiled.tool.expect("a script with PARAM is a tool");
    assert_eq!(tool.name, "create-deal");
    assert_eq!(tool.to_core().name, "create-deal");
}

#[test]
fn optional_param_is_not_required() {
    check(
        r#"PARAM to_email AS EMAIL LIKE "user@example.com" DESCRIPTION "Recipient"
PARAM from_email AS EMAIL DESCRIPTION "Sender" OPTIONAL
DESCRIPTION "Send an email"
"#,
        expect![[r#"
            1:1 PARAM to_email AS EMAIL LIKE "user@example.com" DESCRIPTION "Recipient"
            2:1 PARAM from_email AS EMAIL DESCRIPTION "Sender" OPTIONAL
            3:1 DESCRIPTION "Send an email"
            -- tool
            {"name":"script","description":"Send an email","inputSchema":{"type":"object","properties":{"to_email":{"type":"string","description":"Recipient","examples":["user@example.com"]},"from_email":{"type":"string","description":"Sender"}},"required":["to_email"]}}
        "#]],
    );
}

#[test]
fn param_clauses_come_in_any_order() {
    check(
        r#"PARAM a AS STRING OPTIONAL DESCRIPTION "first" LIKE "x"
PARAM b AS integer LIKE -3 OPTIONAL
PARAM c AS string ENUM ["low", "high"] DESCRIPTION "level" LIKE "low"
DESCRIPTION "Clauses"
"#,
        expect![[r#"
            1:1 PARAM a AS STRING LIKE "x" DESCRIPTION "first" OPTIONAL
            2:1 PARAM b AS integer LIKE (- 3) OPTIONAL
            3:1 PARAM c AS string LIKE "low" ENUM ["low", "high"] DESCRIPTION "level"
            4:1 DESCRIPTION "Clauses"
            -- tool
            {"name":"script","description":"Clauses","inputSchema":{"type":"object","properties":{"a":{"type":"string","description":"first","examples":["x"]},"b":{"type":"integer","examples":[-3]},"c":{"type":"string","description":"level","enum":["low","high"],"examples":["low"]}},"required":["c"]}}
        "#]],
    );
}

#[test]
fn types_map_to_json_schema() {
    check(
        r#"PARAM s1 AS string
PARAM s2 AS TEXT
PARAM s3 AS email
PARAM s4 AS phone
PARAM s5 AS url
PARAM s6 AS file
PARAM d1 AS date
PARAM d2 AS datetime
PARAM d3 AS timestamp
PARAM i1 AS integer
PARAM i2 AS int
PARAM i3 AS number
PARAM n1 AS float
PARAM n2 AS double
PARAM n3 AS decimal
PARAM n4 AS money
PARAM b1 AS boolean
PARAM b2 AS bool
PARAM a1 AS array
PARAM a2 AS list
PARAM o1 AS object
PARAM o2 AS map
DESCRIPTION "Every type"
"#,
        expect![[r#"
            1:1 PARAM s1 AS string
            2:1 PARAM s2 AS TEXT
            3:1 PARAM s3 AS email
            4:1 PARAM s4 AS phone
            5:1 PARAM s5 AS url
            6:1 PARAM s6 AS file
            7:1 PARAM d1 AS date
            8:1 PARAM d2 AS datetime
            9:1 PARAM d3 AS timestamp
            10:1 PARAM i1 AS integer
            11:1 PARAM i2 AS int
            12:1 PARAM i3 AS number
            13:1 PARAM n1 AS float
            14:1 PARAM n2 AS double
            15:1 PARAM n3 AS decimal
            16:1 PARAM n4 AS money
            17:1 PARAM b1 AS boolean
            18:1 PARAM b2 AS bool
            19:1 PARAM a1 AS array
            20:1 PARAM a2 AS list
            21:1 PARAM o1 AS object
            22:1 PARAM o2 AS map
            23:1 DESCRIPTION "Every type"
            -- tool
            {"name":"script","description":"Every type","inputSchema":{"type":"object","properties":{"s1":{"type":"string"},"s2":{"type":"string"},"s3":{"type":"string"},"s4":{"type":"string"},"s5":{"type":"string"},"s6":{"type":"string"},"d1":{"type":"string","format":"date"},"d2":{"type":"string","format":"date-time"},"d3":{"type":"string","format":"date-time"},"i1":{"type":"integer"},"i2":{"type":"integer"},"i3":{"type":"integer"},"n1":{"type":"number"},"n2":{"type":"number"},"n3":{"type":"number"},"n4":{"type":"number"},"b1":{"type":"boolean"},"b2":{"type":"boolean"},"a1":{"type":"array","items":{}},"a2":{"type":"array","items":{}},"o1":{"type":"object"},"o2":{"type":"object"}},"required":["s1","s2","s3","s4","s5","s6","d1","d2","d3","i1","i2","i3","n1","n2","n3","n4","b1","b2","a1","a2","o1","o2"]}}
        "#]],
    );
}

#[test]
fn unknown_type_is_a_warning_and_a_string() {
    check(
        "PARAM doc AS QRCODE LIKE \"photo\"\nDESCRIPTION \"Scan a QR code\"\n",
        expect![[r#"
            1:1 PARAM doc AS QRCODE LIKE "photo"
            2:1 DESCRIPTION "Scan a QR code"
            --
            line 1, column 1: warning: PARAM doc has type QRCODE, which this dialect does not know; the tool declares it as a string
            -- tool
            {"name":"script","description":"Scan a QR code","inputSchema":{"type":"object","properties":{"doc":{"type":"string","examples":["photo"]}},"required":["doc"]}}
        "#]],
    );
}

#[test]
fn choices_after_as_are_an_enum() {
    check(
        "PARAM region AS \"africa\", \"asia\"\nPARAM size AS 1, 2, 3 OPTIONAL\nDESCRIPTION \"Pick\"\n",
        expect![[r#"
            1:1 PARAM region AS "africa", "asia"
            2:1 PARAM size AS 1, 2, 3 OPTIONAL
            3:1 DESCRIPTION "Pick"
            -- tool
            {"name":"script","description":"Pick","inputSchema":{"type":"object","properties":{"region":{"type":"string","enum":["africa","asia"]},"size":{"type":"integer","enum":[1,2,3]}},"required":["region"]}}
        "#]],
    );
}

#[test]
fn unreadable_param_line_is_an_error_never_dropped() {
    check(
        r#"PARAM
PARAM name
PARAM name STRING
PARAM age AS integer LIKE years
PARAM kind AS string ENUM "a", "b"
PARAM note AS string DESCRIPTION note_text
PARAM flag AS boolean OPTIONAL OPTIONAL
PARAM size AS integer HUGE
PARAM level AS "a", "b" ENUM ["c"]
PARAM ok AS string
DESCRIPTION "Broken params"
"#,
        expect![[r#"
            10:1 PARAM ok AS string
            11:1 DESCRIPTION "Broken params"
            --
            line 1, column 6: error: expected the parameter's name after PARAM, found the end of the line
            line 2, column 11: error: PARAM name needs a type: PARAM name AS type; expected AS, found the end of the line
            line 3, column 12: error: PARAM name needs a type: PARAM name AS type; expected AS, found `STRING`
            line 4, column 27: error: LIKE takes a literal: a string in double quotes, a number, TRUE or FALSE, found `years`
            line 5, column 27: error: expected `[` after ENUM: ENUM ["a", "b"], found a string
            line 6, column 34: error: DESCRIPTION takes its text as one string in double quotes, found `note_text`
            line 7, column 32: error: PARAM flag has OPTIONAL twice
            line 8, column 23: error: PARAM size: after the type come LIKE, ENUM, DESCRIPTION and OPTIONAL, found `HUGE`
            line 9, column 35: error: PARAM level lists its values twice, after AS and in ENUM; keep one
            -- tool
            {"name":"script","description":"Broken params","inputSchema":{"type":"object","properties":{"ok":{"type":"string"}},"required":["ok"]}}
        "#]],
    );
}

#[test]
fn tool_shapes_for_openai_and_mcp() {
    let compiled = compile(
        "send-sms",
        r#"PARAM phone AS PHONE LIKE "+1234567890" DESCRIPTION "Phone number with country code"
PARAM message AS STRING DESCRIPTION "Text"
PARAM when AS datetime OPTIONAL
PARAM tags AS list OPTIONAL
DESCRIPTION "Send an SMS message to any phone number"
"#,
    );
    let tool = compiled.tool.unwrap();
    let openai = serde_json::to_string_pretty(&tool.openai()).unwrap();
    expect![[r#"
        {
          "type": "function",
          "function": {
            "name": "send-sms",
            "description": "Send an SMS message to any phone number",
            "parameters": {
              "type": "object",
              "properties": {
                "phone": {
                  "type": "string",
                  "description": "Phone number with country code",
                  "examples": [
                    "+1234567890"
                  ]
                },
                "message": {
                  "type": "string",
                  "description": "Text"
                },
                "when": {
                  "type": "string",
                  "format": "date-time"
                },
                "tags": {
                  "type": "array",
                  "items": {}
                }
              },
              "required": [
                "phone",
                "message"
              ]
            }
          }
        }"#]]
    .assert_eq(&openai);
    let mcp = serde_json::to_string_pretty(&tool.mcp()).unwrap();
    expect![[r#"
        {
          "name": "send-sms",
          "description": "Send an SMS message to any phone number",
          "inputSchema": {
            "type": "object",
            "properties": {
              "phone": {
                "type": "string",
                "description": "Phone number with country code",
                "examples": [
                  "+1234567890"
                ]
              },
              "message": {
                "type": "string",
                "description": "Text"
              },
              "when": {
                "type": "string",
                "format": "date-time"
              },
              "tags": {
                "type": "array",
                "items": {}
              }
            },
            "required": [
              "phone",
              "message"
            ]
          }
        }"#]]
    .assert_eq(&mcp);
    let core = tool.to_core();
    assert_eq!(core.openai, serde_json::to_string(&tool.openai()).unwrap());
    assert_eq!(core.mcp, serde_json::to_string(&tool.mcp()).unwrap());
}

#[test]
fn description_alone_makes_a_tool_without_parameters() {
    check(
        "DESCRIPTION \"Refresh the analysis\"\nREFRESH \"data-analysis\"\n",
        expect![[r#"
        1:1 DESCRIPTION "Refresh the analysis"
        2:1 REFRESH "data-analysis"
        --
        line 2, column 1: warning: REFRESH is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
        -- tool
        {"name":"script","description":"Refresh the analysis","inputSchema":{"type":"object","properties":{},"required":[]}}
    "#]],
    );
}

#[test]
fn a_script_without_param_or_description_is_no_tool() {
    let compiled = compile("start", "TALK \"hello\"\n");
    assert_eq!(compiled.tool, None);
}

#[test]
fn a_tool_without_description_warns() {
    check(
        "PARAM query AS STRING\nRETURN query\n",
        expect![[r#"
        1:1 PARAM query AS STRING
        2:1 RETURN query
        --
        line 1, column 1: warning: this tool has no DESCRIPTION; add DESCRIPTION "what it does" so the model knows when to call it
        -- tool
        {"name":"script","description":"","inputSchema":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}
    "#]],
    );
}

#[test]
fn one_script_declares_one_tool() {
    check(
        r#"PARAM location AS string
DESCRIPTION "Weather"
RETURN 1
PARAM location AS string
DESCRIPTION "Forecast"
"#,
        expect![[r#"
            1:1 PARAM location AS string
            2:1 DESCRIPTION "Weather"
            3:1 RETURN 1
            4:1 PARAM location AS string
            5:1 DESCRIPTION "Forecast"
            --
            line 4, column 1: error: PARAM location is already declared at line 1; each parameter needs its own name
            line 5, column 1: error: this script already has a DESCRIPTION at line 2; a script is one tool with one description, so put each tool in its own file
            -- tool
            {"name":"script","description":"Weather","inputSchema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}
        "#]],
    );
}

#[test]
fn tool_names_must_suit_openai() {
    let compiled = compile("weather forecast", "DESCRIPTION \"x\"\n");
    let messages: Vec<String> = compiled.diagnostics.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "warning: the tool is named after the file, \"weather forecast\"; OpenAI accepts only letters, digits, `_` and `-`, at most 64 of them, so rename the file",
        ]
    "#]].assert_debug_eq(&messages);
}

#[test]
fn manifest_lists_what_the_script_declares() {
    check(
        r#"SET SCHEDULE "0 9 * * 1"
SET SCHEDULE "nightly", "0 0 21 * * *"
WEBHOOK "order-paid"
USE WEBSITE "https://example.org" REFRESH "1d"
USE_WEBSITE("https://pragmatismo.com.br", "30d")
USE KB "products.gbkb"
ADD TOOL "get-price"
IF premium THEN
    USE TOOL "pricing-inquiry"
END IF
SUB Setup
    USE KB "faq"
END SUB
TABLE students
    Id uuid key
    Name string(255)
END TABLE
"#,
        expect![[r#"
            1:1 SET SCHEDULE "0 9 * * 1"
            2:1 SET SCHEDULE "nightly", "0 0 21 * * *"
            3:1 WEBHOOK "order-paid"
            4:1 USE WEBSITE "https://example.org" REFRESH "1d"
            5:1 CALL (call USE_WEBSITE "https://pragmatismo.com.br" "30d")
            6:1 USE KB "products.gbkb"
            7:1 ADD TOOL "get-price"
            8:1 IF premium
            9:5   USE TOOL "pricing-inquiry"
            11:1 SUB Setup()
            12:5   USE KB "faq"
            14:1 TABLE students
            15:5   Id uuid KEY
            16:5   Name string(255)
            -- manifest
            {"knowledge_bases":[{"line":6,"name":"products.gbkb"},{"line":12,"name":"faq"}],"schedules":[{"cron":"0 9 * * 1","line":1,"name":null},{"cron":"0 0 21 * * *","line":2,"name":"nightly"}],"tables":[{"connection":null,"fields":[{"column":5,"key":true,"line":15,"name":"Id","scale":null,"size":null,"type":"uuid"},{"column":5,"key":false,"line":16,"name":"Name","scale":null,"size":255,"type":"string"}],"line":14,"name":"students"}],"tools_added":[{"line":7,"name":"get-price"}],"tools_used":[{"line":9,"name":"pricing-inquiry"}],"webhooks":[{"line":3,"name":"order-paid"}],"websites":[{"line":4,"refresh":"1d","url":"https://example.org"},{"line":5,"refresh":"30d","url":"https://pragmatismo.com.br"}]}
        "#]],
    );
}

#[test]
fn invalid_cron_is_an_error_on_its_line() {
    check(
        r#"SET SCHEDULE "0 9 * * 1"
SET SCHEDULE "every monday"
SET SCHEDULE "61 * * * *"
SET SCHEDULE "0 0 9 * * 1 2030"
SET SCHEDULE
SET SCHEDULE "a", "b", "c"
"#,
        expect![[r#"
            1:1 SET SCHEDULE "0 9 * * 1"
            2:1 SET SCHEDULE "every monday"
            3:1 SET SCHEDULE "61 * * * *"
            4:1 SET SCHEDULE "0 0 9 * * 1 2030"
            5:1 SET SCHEDULE
            6:1 SET SCHEDULE "a", "b", "c"
            --
            line 2, column 14: error: SET SCHEDULE "every monday" is not a valid cron expression: it has 2 fields; write 5 fields (minute hour day month weekday), or 6 with seconds first
            line 3, column 14: error: SET SCHEDULE "61 * * * *" is not a valid cron expression: component error: number out of bounds; write 5 fields (minute hour day month weekday), or 6 with seconds first
            line 4, column 14: error: SET SCHEDULE "0 0 9 * * 1 2030" is not a valid cron expression: it has 7 fields; write 5 fields (minute hour day month weekday), or 6 with seconds first
            line 5, column 1: error: SET SCHEDULE takes a cron expression in double quotes, optionally after a name: SET SCHEDULE "0 9 * * 1"
            line 6, column 1: error: SET SCHEDULE takes a cron expression in double quotes, optionally after a name: SET SCHEDULE "0 9 * * 1"
            -- manifest
            {"schedules":[{"cron":"0 9 * * 1","line":1,"name":null}]}
        "#]],
    );
}

#[test]
fn names_computed_at_run_time_are_not_listed() {
    check(
        "USE KB kb_name\nSET SCHEDULE cron_text\nWEBHOOK \"hook-\" + id\n",
        expect![[r#"
            1:1 USE KB kb_name
            2:1 SET SCHEDULE cron_text
            3:1 WEBHOOK (+ "hook-" id)
            --
            line 1, column 8: warning: USE KB gets its name computed when the script runs, so the manifest cannot list it; write it in double quotes to have it registered
            line 2, column 14: warning: SET SCHEDULE gets its cron expression computed when the script runs, so the manifest cannot list it; write it in double quotes to have it registered
            line 3, column 9: warning: WEBHOOK gets its name computed when the script runs, so the manifest cannot list it; write it in double quotes to have it registered
        "#]],
    );
}

#[test]
fn bytes_are_decoded_like_every_author_file() {
    let compiled = compile_bytes("greet", b"\xEF\xBB\xBFTALK \"ol\xC3\xA1\"\r\n").unwrap();
    assert!(compiled.diagnostics.is_empty(), "{:?}", compiled.diagnostics);

    let compiled = compile_bytes("greet", b"TALK \"ol\xE1\"\n").unwrap();
    let messages: Vec<String> = compiled.diagnostics.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "warning: the file is not UTF-8, so it was read as Windows-1252; save it as UTF-8 if accented letters look wrong",
        ]
    "#]].assert_debug_eq(&messages);

    let refused = compile_bytes("image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    assert_eq!(refused, Err(CompileError::NotText(DecodeError::NulBytes)));
}

#[test]
fn compiled_script_reports_errors_and_serialises() {
    let compiled = compile("x", "DESCRIPTION \"d\"\nSET SCHEDULE \"0 9 * * 1\"\nWEBHOOK w\n");
    assert!(!compiled.has_errors());
    assert_eq!(compiled.warnings().len(), 1);
    assert_eq!(compiled.manifest.crons(), ["0 9 * * 1"]);
    assert!(compiled.manifest.webhook_names().is_empty());
    let tree: super::SyntaxTree = serde_json::from_str(&compiled.tree_json()).unwrap();
    assert_eq!(tree, compiled.tree);
    let manifest: super::Manifest = serde_json::from_str(&compiled.manifest_json()).unwrap();
    assert_eq!(manifest, compiled.manifest);
    assert!(compile("x", "END IF\n").has_errors());
}

#[test]
fn tree_json_has_a_version_and_positions_on_every_node() {
    let compiled = compile("x", "IF a THEN\n    x = FIND \"t\", \"k=1\"\nEND IF\n");
    let json: serde_json::Value = serde_json::from_str(&compiled.tree_json()).unwrap();
    expect![[r#"
        {
          "body": [
            {
              "branches": [
                {
                  "body": [
                    {
                      "column": 5,
                      "line": 2,
                      "statement": "assign",
                      "target": {
                        "column": 5,
                        "expr": "name",
                        "line": 2,
                        "name": "x"
                      },
                      "value": {
                        "args": [
                          {
                            "column": 14,
                            "line": 2,
                            "value": {
                              "column": 14,
                              "expr": "string",
                              "line": 2,
                              "value": "t"
                            }
                          },
                          {
                            "column": 19,
                            "line": 2,
                            "value": {
                              "column": 19,
                              "expr": "string",
                              "line": 2,
                              "value": "k=1"
                            }
                          }
                        ],
                        "column": 9,
                        "expr": "keyword_call",
                        "line": 2,
                        "name": "FIND"
                      }
                    }
                  ],
                  "column": 1,
                  "condition": {
                    "column": 4,
                    "expr": "name",
                    "line": 1,
                    "name": "a"
                  },
                  "line": 1
                }
              ],
              "column": 1,
              "line": 1,
              "otherwise": null,
              "statement": "if"
            }
          ],
          "version": 1
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).unwrap());
}
