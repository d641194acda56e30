//! Snapshot tests of the lexer and parser: one `check` per construct and per diagnostic
//! class. Each snapshot is the tree dump, then the diagnostics, then the tool and manifest
//! when the script declares them (see `test_support`).

use expect_test::expect;

use super::test_support::check;

// Lexical rules.

#[test]
fn keywords_and_identifiers_are_case_insensitive() {
    check(
        r#"talk "a"
Talk "b"
if X then
    TaLk x
End If
"#,
        expect![[r#"
            1:1 TALK "a"
            2:1 TALK "b"
            3:1 IF X
            4:5   TALK x
        "#]],
    );
}

#[test]
fn remember_is_a_keyword_not_a_comment() {
    check(
        r#"REM a comment
rem another one
REMEMBER "name", user_name
REMOVE "item"
REM
x = 1 REM is not a comment here, so this line is an error
"#,
        expect![[r#"
            3:1 REMEMBER "name", user_name
            4:1 REMOVE "item"
            --
            line 6, column 7: error: expected the end of the line after the statement, found `REM`
        "#]],
    );
}

#[test]
fn apostrophe_starts_a_comment_only_outside_strings() {
    check(
        r#"' a whole-line comment
TALK "it's fine" ' a trailing comment
x = 1 'no space needed
"#,
        expect![[r#"
            2:1 TALK "it's fine"
            3:1 x = 1
        "#]],
    );
}

#[test]
fn doubled_quotes_are_one_quote() {
    check(
        r#"TALK "She said ""hi"" and left", """""#,
        expect![[r#"
        1:1 TALK "She said \"hi\" and left", "\""
    "#]],
    );
}

#[test]
fn bom_and_crlf_script_parses_clean() {
    check(
        "\u{feff}TALK \"a\"\r\nTALK \"b\"\rTALK \"c\"\r\n",
        expect![[r#"
        1:1 TALK "a"
        2:1 TALK "b"
        3:1 TALK "c"
    "#]],
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    check(
        "TALK \"ação 🎫\" + nome_açúcar\n    x = \"😀\" + y\n",
        expect![[r#"
        1:1 TALK (+ "ação 🎫" nome_açúcar)
        2:5 x = (+ "😀" y)
    "#]],
    );
}

#[test]
fn numbers_are_kept_as_written() {
    check(
        "x = 0.30 + 12312312 - -74.0060\n",
        expect![[r#"
        1:1 x = (- (+ 0.30 12312312) (- 74.0060))
    "#]],
    );
}

#[test]
fn unclosed_string_is_an_error_on_its_line() {
    check(
        "TALK \"hello\nTALK \"next line is fine\"\n",
        expect![[r#"
        2:1 TALK "next line is fine"
        --
        line 1, column 6: error: this string has no closing double quote on its line
    "#]],
    );
}

#[test]
fn characters_outside_the_dialect_are_reported() {
    check(
        "IF a && b THEN\nEND IF\nx = a ! b\nTALK a; b\n",
        expect![[r#"
            1:1 IF #invalid
            --
            line 1, column 7: error: `&&` is not an operator in this dialect; use AND
            line 3, column 7: error: `!` is not an operator here; use NOT, AND, OR or <>
            line 4, column 7: error: `;` does not separate anything in this dialect; use `,` between arguments and one statement per line
        "#]],
    );
}

// Expressions.

#[test]
fn precedence_follows_the_dialect() {
    check(
        "x = a OR b AND NOT c = d + e * f ^ -g.h(i)[j]\ny = a & b - c MOD d \\ e / f\n",
        expect![[r#"
            1:1 x = (OR a (AND b (NOT (= c (+ d (* e (^ f (- (index (call (. g h) i) j)))))))))
            2:1 y = (- (& a b) (/ (\ (MOD c d) e) f))
        "#]],
    );
}

#[test]
fn binary_operators_group_to_the_left() {
    check(
        "x = a - b - c\ny = 2 ^ 3 ^ 2\nz = a < b < c\n",
        expect![[r#"
        1:1 x = (- (- a b) c)
        2:1 y = (^ (^ 2 3) 2)
        3:1 z = (< (< a b) c)
    "#]],
    );
}

#[test]
fn unary_minus_binds_tighter_than_power() {
    check(
        "x = -2 ^ 2\ny = 2 ^ -2\nz = -(2 ^ 2)\n",
        expect![[r#"
        1:1 x = (^ (- 2) 2)
        2:1 y = (^ 2 (- 2))
        3:1 z = (- (^ 2 2))
    "#]],
    );
}

#[test]
fn not_binds_looser_than_comparisons() {
    check(
        "IF NOT a = b AND NOT (c CONTAINS d) THEN\nEND IF\nx = NOT y\n",
        expect![[r#"
        1:1 IF (AND (NOT (= a b)) (NOT (CONTAINS c d)))
        3:1 x = (NOT y)
    "#]],
    );
}

#[test]
fn is_is_not_and_contains_compare() {
    check(
        "ok = customer_id IS NOT NULL\nIF x IS NULL OR LOWER(msg) CONTAINS word THEN\nEND IF\n",
        expect![[r#"
            1:1 ok = (IS NOT customer_id NULL)
            2:1 IF (OR (IS x NULL) (CONTAINS (call LOWER msg) word))
        "#]],
    );
}

#[test]
fn postfix_calls_indexes_and_members_chain() {
    check(
        "x = FIRST(list).id\ny = list[j].produto?.midia?.imagens[0]\nz = a.b.c(1, \"2\")()\n",
        expect![[r#"
            1:1 x = (. (call FIRST list) id)
            2:1 y = (index (?. (?. (. (index list j) produto) midia) imagens) 0)
            3:1 z = (call (call (. (. a b) c) 1 "2"))
        "#]],
    );
}

#[test]
fn array_and_object_literals_may_span_lines() {
    check(
        r#"keywords = ["a", "b", "c",]
payload = #{
    status: status,

    "resolved by": GET "session.user_id",
    nested: {"a": [1, 2], "b": {}}
}
APPEND tips, {
    "type": "warning",
    "priority": 1
}
empty = {}
"#,
        expect![[r#"
            1:1 keywords = ["a" "b" "c"]
            2:1 payload = {status: status, resolved by: <GET "session.user_id">, nested: {a: [1 2], b: {}}}
            8:1 APPEND tips, {type: "warning", priority: 1}
            12:1 empty = {}
        "#]],
    );
}

#[test]
fn an_unbalanced_bracket_stays_on_its_line() {
    check(
        "x = (1 + 2\nTALK \"still read\"\ny = [1, 2\n",
        expect![[r#"
        2:1 TALK "still read"
        --
        line 1, column 11: error: expected `)` to close the parenthesis, found the end of the line
        line 3, column 10: error: expected `,` or `]`, found the end of the line
    "#]],
    );
}

#[test]
fn keyword_call_inside_an_expression_takes_one_argument() {
    check(
        r#"IF GET "session.tier" = "vip" OR GET "session.tier" = "enterprise" THEN
END IF
summary = "Customer: " + (GET "session.name" OR "Unknown") + "\n"
open = FIND "cases", "id='" + GET SESSION sid, "customer_id" + "'"
"#,
        expect![[r#"
            1:1 IF (OR (= <GET "session.tier"> "vip") (= <GET "session.tier"> "enterprise"))
            3:1 summary = (+ (+ "Customer: " (OR <GET "session.name"> "Unknown")) "\\n")
            4:1 open = <FIND "cases", (+ "id='" <GET SESSION sid>), (+ "customer_id" "'")>
        "#]],
    );
}

// Statements.

#[test]
fn assignments_take_names_members_and_elements() {
    check(
        "x = 1\nLET y = 2\nresult.answer = 3\nitems[k].sku = items[k].codigo\nnext = 5\n",
        expect![[r#"
            1:1 x = 1
            2:1 y = 2
            3:1 (. result answer) = 3
            4:1 (. (index items k) sku) = (. (index items k) codigo)
            5:1 next = 5
        "#]],
    );
}

#[test]
fn keyword_calls_after_equals_take_whole_arguments() {
    check(
        r#"rows = FIND "orders", "status=open"
reply = LLM "Summarise: " + text
data = GET "https://example.org/api"
answer = ASK "Type?"
o = NEW OBJECT
s = GET SESSION "user"
d = FORMAT NOW, "yyyy"
billable = MAX actual_weight, volumetric_weight
RETURN FIND "products" WITH "name = '" + info.name + "'"
RETURN WITH error AS "Product not found"
result = TRANSFER TO HUMAN "support", priority, summary
"#,
        expect![[r#"
            1:1 rows = <FIND "orders", "status=open">
            2:1 reply = <LLM (+ "Summarise: " text)>
            3:1 data = <GET "https://example.org/api">
            4:1 answer = <ASK "Type?">
            5:1 o = <NEW OBJECT>
            6:1 s = <GET SESSION "user">
            7:1 d = <FORMAT NOW, "yyyy">
            8:1 billable = <MAX actual_weight, volumetric_weight>
            9:1 RETURN <FIND "products" WITH (+ (+ "name = '" (. info name)) "'")>
            10:1 RETURN <WITH error AS "Product not found">
            11:1 result = <TRANSFER TO HUMAN "support", priority, summary>
        "#]],
    );
}

#[test]
fn commands_join_arguments_with_commas_and_clause_words() {
    check(
        r#"ADD SUGGESTION "k" AS "Label"
SET CONTEXT "backup" AS "You are a backup assistant."
SET BOT MEMORY "last", id
SAVE "products" WITH name AS query, category AS result.name
MERGE "maria.Produtos" WITH list BY "Id"
USE WEBSITE "https://example.org" REFRESH "1d"
all_tips = SORT all_tips BY "priority" ASC
TALK TO admin, "Stock updated"
SEND MAIL to, subject, body
CLEAR SUGGESTIONS
"#,
        expect![[r#"
            1:1 ADD SUGGESTION "k" AS "Label"
            2:1 SET CONTEXT "backup" AS "You are a backup assistant."
            3:1 SET BOT MEMORY "last", id
            4:1 SAVE "products" WITH name AS query, category AS (. result name)
            5:1 MERGE "maria.Produtos" WITH list BY "Id"
            6:1 USE WEBSITE "https://example.org" REFRESH "1d"
            7:1 all_tips = <SORT all_tips BY "priority" ASC>
            8:1 TALK TO admin, "Stock updated"
            9:1 SEND MAIL to, subject, body
            10:1 CLEAR SUGGESTIONS
            --
            line 7, column 12: warning: SORT is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
            -- manifest
            {"websites":[{"line":6,"refresh":"1d","url":"https://example.org"}]}
        "#]],
    );
}

#[test]
fn unknown_command_is_kept_with_a_warning() {
    check(
        r#"REFRESH "data-analysis"
existing = SEARCH PRODUCTS query, 1
SET ANSWER MODE "sql"
RESET REPORT
frobnicate 1, 2
"#,
        expect![[r#"
            1:1 REFRESH "data-analysis"
            2:1 existing = <SEARCH PRODUCTS query, 1>
            3:1 SET ANSWER MODE "sql"
            4:1 RESET REPORT
            5:1 FROBNICATE 1, 2
            --
            line 1, column 1: warning: REFRESH is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
            line 2, column 12: warning: SEARCH PRODUCTS is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
            line 3, column 1: warning: SET ANSWER MODE is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
            line 4, column 1: warning: RESET REPORT is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
            line 5, column 1: warning: FROBNICATE is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
        "#]],
    );
}

#[test]
fn a_capitalised_word_before_a_comma_is_an_argument() {
    check(
        "TALK USERNAME\nTALK NOW, \"x\"\nuser = USERNAME\nfrom = FROM\n",
        expect![[r#"
        1:1 TALK USERNAME
        2:1 TALK NOW, "x"
        3:1 user = USERNAME
        4:1 from = FROM
    "#]],
    );
}

#[test]
fn calls_stand_alone_as_statements() {
    check(
        "uuids.PUSH(uuid)\nUSE_WEBSITE(\"https://example.org\", \"30d\")\nCALL Sync(id)\n",
        expect![[r#"
            1:1 CALL (call (. uuids PUSH) uuid)
            2:1 CALL (call USE_WEBSITE "https://example.org" "30d")
            3:1 CALL (call Sync id)
            -- manifest
            {"websites":[{"line":2,"refresh":"30d","url":"https://example.org"}]}
        "#]],
    );
}

#[test]
fn hear_takes_a_type_choices_a_prompt_and_a_default() {
    check(
        r#"HEAR name
HEAR email AS EMAIL
HEAR answer AS "yes", "no" WITH "Continue?" DEFAULT "no"
HEAR count DEFAULT 1 AS INTEGER
"#,
        expect![[r#"
            1:1 HEAR name
            2:1 HEAR email AS EMAIL
            3:1 HEAR answer AS "yes", "no" WITH "Continue?" DEFAULT "no"
            4:1 HEAR count AS INTEGER DEFAULT 1
        "#]],
    );
}

#[test]
fn if_blocks_take_else_if_elseif_and_else() {
    check(
        r#"IF a THEN
    TALK "a"
ELSE IF b THEN
    TALK "b"
ELSEIF c THEN
    TALK "c"
ELSE
    TALK "d"
END IF
"#,
        expect![[r#"
            1:1 IF a
            2:5   TALK "a"
            3:1 ELSE IF b
            4:5   TALK "b"
            5:1 ELSE IF c
            6:5   TALK "c"
            *:* ELSE
            8:5   TALK "d"
        "#]],
    );
}

#[test]
fn one_line_if_takes_one_statement_and_an_else() {
    check(
        r#"IF a THEN TALK "a" ELSE TALK "b"
IF a THEN x = GET "y" ELSE x = 2
IF a THEN IF b THEN TALK "ab" ELSE TALK "a not b"
IF NOT product THEN RETURN WITH error AS "not found"
"#,
        expect![[r#"
            1:1 IF a
            1:11   TALK "a"
            *:* ELSE
            1:25   TALK "b"
            2:1 IF a
            2:11   x = <GET "y">
            *:* ELSE
            2:28   x = 2
            3:1 IF a
            3:11   IF b
            3:21     TALK "ab"
            *:*   ELSE
            3:36     TALK "a not b"
            4:1 IF (NOT product)
            4:21   RETURN <WITH error AS "not found">
        "#]],
    );
}

#[test]
fn for_each_closes_with_next_or_end_for() {
    check(
        r#"FOR EACH item IN queue.items
    TALK item.name
NEXT item
FOR EACH row IN rows
    TALK row
END FOR
"#,
        expect![[r#"
            1:1 FOR EACH item IN (. queue items)
            2:5   TALK (. item name)
            4:1 FOR EACH row IN rows
            5:5   TALK row
        "#]],
    );
}

#[test]
fn for_counts_with_an_optional_step() {
    check(
        "FOR i = 0 TO 2\n    TALK i\nNEXT\nFOR j = 10 TO 1 STEP -1\nNEXT j\n",
        expect![[r#"
        1:1 FOR i = 0 TO 2
        2:5   TALK i
        4:1 FOR j = 10 TO 1 STEP (- 1)
    "#]],
    );
}

#[test]
fn do_loops_test_at_the_top_or_the_bottom() {
    check(
        r#"DO WHILE i < 10
    i = i + 1
LOOP
DO UNTIL done
LOOP
DO
LOOP WHILE more
DO
LOOP UNTIL done
DO
    EXIT DO
LOOP
"#,
        expect![[r#"
            1:1 DO WHILE (< i 10)
            2:5   i = (+ i 1)
            4:1 DO UNTIL done
            6:1 DO LOOP WHILE more
            8:1 DO LOOP UNTIL done
            10:1 DO
            11:5   EXIT DO
        "#]],
    );
}

#[test]
fn while_closes_with_wend_end_while_or_loop() {
    check(
        "WHILE a\nWEND\nWHILE b DO\nEND WHILE\nWHILE c\n    EXIT WHILE\nLOOP\n",
        expect![[r#"
            1:1 WHILE a
            3:1 WHILE b
            5:1 WHILE c
            6:5   EXIT WHILE
        "#]],
    );
}

#[test]
fn select_case_takes_values_and_case_else() {
    check(
        r#"SELECT CASE action
    CASE "tips", "polish"
        TALK "assist"
    CASE 1
    CASE ELSE
        TALK "unknown"
END SELECT
"#,
        expect![[r#"
            1:1 SELECT CASE action
            2:5   CASE "tips", "polish"
            3:9     TALK "assist"
            4:5   CASE 1
            *:*   CASE ELSE
            6:9     TALK "unknown"
        "#]],
    );
}

#[test]
fn sub_and_function_take_parameters() {
    check(
        r#"SUB Greet(name, greeting)
    TALK greeting + name
    EXIT SUB
END SUB
SUB Refresh
END SUB
FUNCTION Double(x)
    RETURN x * 2
END FUNCTION
"#,
        expect![[r#"
            1:1 SUB Greet(name, greeting)
            2:5   TALK (+ greeting name)
            3:5   EXIT SUB
            5:1 SUB Refresh()
            7:1 FUNCTION Double(x)
            8:5   RETURN (* x 2)
        "#]],
    );
}

#[test]
fn with_sets_fields_one_per_line() {
    check(
        r#"WITH email_data
    to = to_email
    timestamp = NOW()
    record = FIND "x", "y"
END WITH
"#,
        expect![[r#"
            1:1 WITH email_data
            2:5   to = to_email
            3:5   timestamp = (call NOW)
            4:5   record = <FIND "x", "y">
        "#]],
    );
}

#[test]
fn text_blocks_are_kept_verbatim() {
    check(
        "BEGIN TALK\n**Title**\n\n  It's \"quoted\" ' not a comment\nREM not a comment either\nEND TALK\nbegin system prompt\nYou are ${name}.\n  end system prompt\nBEGIN MAIL\nEND MAIL\n",
        expect![[r#"
            1:1 TEXT TALK "**Title**\n\n  It's \"quoted\" ' not a comment\nREM not a comment either\n"
            7:1 TEXT SYSTEM PROMPT "You are ${name}.\n"
            10:1 TEXT MAIL ""
        "#]],
    );
}

#[test]
fn table_declares_fields_with_sizes_and_keys() {
    check(
        r#"TABLE Produtos ON maria
    Id number key
    Nome string(150)
    Preco decimal(10, 2)
    Next date
END TABLE
"#,
        expect![[r#"
            1:1 TABLE Produtos ON maria
            2:5   Id number KEY
            3:5   Nome string(150)
            4:5   Preco decimal(10,2)
            5:5   Next date
            -- manifest
            {"tables":[{"connection":"maria","fields":[{"column":5,"key":true,"line":2,"name":"Id","scale":null,"size":null,"type":"number"},{"column":5,"key":false,"line":3,"name":"Nome","scale":null,"size":150,"type":"string"},{"column":5,"key":false,"line":4,"name":"Preco","scale":2,"size":10,"type":"decimal"},{"column":5,"key":false,"line":5,"name":"Next","scale":null,"size":null,"type":"date"}],"line":1,"name":"Produtos"}]}
        "#]],
    );
}

#[test]
fn labels_goto_and_on_error() {
    check(
        "ON ERROR RESUME NEXT\nON ERROR GOTO failed\nON ERROR GOTO 0\nretry:\nGOTO retry\nfailed:\nON EVENT \"x\"\n",
        expect![[r#"
            1:1 ON ERROR RESUME NEXT
            2:1 ON ERROR GOTO failed
            3:1 ON ERROR GOTO 0
            4:1 LABEL retry
            5:1 GOTO retry
            6:1 LABEL failed
            7:1 ON EVENT "x"
        "#]],
    );
}

#[test]
fn return_and_exit() {
    check(
        "RETURN\nRETURN -1\nRETURN productRecord.price\nFOR EACH x IN y\n    EXIT FOR\nNEXT\n",
        expect![[r#"
            1:1 RETURN
            2:1 RETURN (- 1)
            3:1 RETURN (. productRecord price)
            4:1 FOR EACH x IN y
            5:5   EXIT FOR
        "#]],
    );
}

// Diagnostics.

#[test]
fn three_mistakes_give_three_diagnostics() {
    check(
        r#"TALK "one
x = (1 +
IF a THEN
    TALK "inside"
END IF
y = 2 3
TALK "after"
"#,
        expect![[r#"
            3:1 IF a
            4:5   TALK "inside"
            7:1 TALK "after"
            --
            line 1, column 6: error: this string has no closing double quote on its line
            line 2, column 9: error: expected a value, found the end of the line
            line 6, column 7: error: expected the end of the line after the statement, found the number 3
        "#]],
    );
}

#[test]
fn unclosed_if_reports_both_positions() {
    check(
        r#"TALK "start"

IF a THEN
    TALK "a"
"#,
        expect![[r#"
            1:1 TALK "start"
            3:1 IF a
            4:5   TALK "a"
            --
            line 3, column 1: error: IF at line 3 is never closed; the file ends at line 4 without END IF
        "#]],
    );
}

#[test]
fn stray_closers_are_reported_where_they_are() {
    check(
        "END IF\nNEXT\nLOOP\nWEND\nELSE\nCASE 1\nEND SELECT\nEND SUB\nEND TALK\n",
        expect![[r#"
        --
        line 1, column 1: error: END IF at line 1 has no IF to close
        line 2, column 1: error: NEXT at line 2 has no FOR to close
        line 3, column 1: error: LOOP at line 3 has no DO or WHILE to close
        line 4, column 1: error: WEND at line 4 has no WHILE to close
        line 5, column 1: error: ELSE at line 5 is not inside an IF
        line 6, column 1: error: CASE at line 6 is not inside a SELECT CASE
        line 7, column 1: error: END SELECT at line 7 has no SELECT CASE to close
        line 8, column 1: error: END SUB at line 8 has no SUB to close
        line 9, column 1: error: END TALK at line 9 has no BEGIN TALK to close
    "#]],
    );
}

#[test]
fn an_outer_closer_ends_the_inner_blocks() {
    check(
        r#"FOR EACH item IN items
    IF item THEN
        DO WHILE x
NEXT
"#,
        expect![[r#"
            1:1 FOR EACH item IN items
            2:5   IF item
            3:9     DO WHILE x
            --
            line 2, column 5: error: IF at line 2 is never closed; NEXT at line 4 closes the FOR EACH at line 1 first
            line 3, column 9: error: DO at line 3 is never closed; NEXT at line 4 closes the FOR EACH at line 1 first
        "#]],
    );
}

#[test]
fn end_must_name_a_known_block() {
    check(
        "END\nON EVENT \"x\" DO\nEND ON\nEND PARALLEL\n",
        expect![[r#"
        2:1 ON EVENT "x" DO
        --
        line 1, column 1: error: END at line 1 must name the block it closes, such as END IF or END SUB
        line 3, column 1: error: END ON at line 3 closes nothing: this dialect has no ON block
        line 4, column 1: error: END PARALLEL at line 4 closes nothing: this dialect has no PARALLEL block
    "#]],
    );
}

#[test]
fn next_must_name_its_loop_variable() {
    check(
        "FOR i = 1 TO 3\nNEXT j\nFOR EACH a IN b\nNEXT a b\n",
        expect![[r#"
            1:1 FOR i = 1 TO 3
            3:1 FOR EACH a IN b
            --
            line 2, column 6: error: NEXT j does not match the FOR i at line 1
            line 4, column 8: error: expected the end of the line after NEXT a, found `b`
        "#]],
    );
}

#[test]
fn if_takes_one_else_and_no_else_if_after_it() {
    check(
        "IF a THEN\nELSE\nELSE IF b THEN\nELSE\nEND IF\n",
        expect![[r#"
        1:1 IF a
        *:* ELSE
        --
        line 3, column 1: error: ELSE IF after the ELSE at line 2 never runs; move it before the ELSE
        line 4, column 1: error: this IF already has an ELSE at line 2; an IF has at most one
    "#]],
    );
}

#[test]
fn a_broken_if_header_keeps_its_block() {
    check(
        "IF a = THEN\n    TALK \"a\"\nEND IF\nIF b\n    TALK \"b\"\nEND IF\n",
        expect![[r#"
        1:1 IF #invalid
        2:5   TALK "a"
        4:1 IF b
        5:5   TALK "b"
        --
        line 1, column 8: error: expected a value, found `THEN`
        line 4, column 5: error: expected THEN after the IF condition, found the end of the line
    "#]],
    );
}

#[test]
fn a_one_line_if_holds_no_block() {
    check(
        "IF a THEN FOR EACH x IN y\nIF a THEN END IF\nIF a THEN TALK \"x\" ELSE TALK \"y\" ELSE TALK \"z\"\n",
        expect![[r#"
            --
            line 1, column 11: error: a one-line IF holds one simple statement; put the FOR block on its own lines
            line 2, column 11: error: END IF cannot stand inside a one-line IF
            line 3, column 34: error: expected the end of the line after the statement, found `ELSE`
        "#]],
    );
}

#[test]
fn lines_before_the_first_case_never_run() {
    check(
        "SELECT CASE x\n    TALK \"never\"\n    CASE 1\n    CASE ELSE\n    CASE 2\nEND SELECT\n",
        expect![[r#"
        1:1 SELECT CASE x
        3:5   CASE 1
        *:*   CASE ELSE
        --
        line 2, column 5: error: this line comes before the first CASE of the SELECT CASE at line 1, so it never runs
        line 5, column 5: error: this CASE comes after the CASE ELSE at line 4, so it never runs
    "#]],
    );
}

#[test]
fn do_loop_tests_once() {
    check(
        "DO WHILE a\nLOOP UNTIL b\nWHILE c\nLOOP WHILE d\n",
        expect![[r#"
            1:1 DO WHILE a
            3:1 WHILE c
            --
            line 2, column 12: error: the DO at line 1 already tests its condition; a DO loop tests at the top or at the bottom, not both
            line 4, column 6: error: expected the end of the line after LOOP closing a WHILE, found `WHILE`
        "#]],
    );
}

#[test]
fn exit_needs_its_block() {
    check(
        "EXIT FOR\nSUB s\n    FOR EACH a IN b\n        EXIT SUB\n    NEXT\n    EXIT DO\nEND SUB\nEXIT NOW\n",
        expect![[r#"
        2:1 SUB s()
        3:5   FOR EACH a IN b
        4:9     EXIT SUB
        --
        line 1, column 6: error: EXIT FOR is not inside a FOR
        line 6, column 10: error: EXIT DO is not inside a DO
        line 8, column 6: error: EXIT NOW: EXIT leaves a FOR, DO, WHILE, SUB or FUNCTION
    "#]],
    );
}

#[test]
fn goto_needs_a_label_defined_once() {
    check(
        "GOTO nowhere\nhere:\nhere:\nON ERROR GOTO also_nowhere\n",
        expect![[r#"
        1:1 GOTO nowhere
        2:1 LABEL here
        4:1 ON ERROR GOTO also_nowhere
        --
        line 1, column 6: error: GOTO nowhere: there is no line `nowhere:` to go to
        line 3, column 1: error: label here: is already defined at line 2
        line 4, column 15: error: GOTO also_nowhere: there is no line `also_nowhere:` to go to
    "#]],
    );
}

#[test]
fn tool_declarations_and_routines_belong_at_the_top_level() {
    check(
        "IF a THEN\n    PARAM x AS STRING\n    DESCRIPTION \"x\"\n    SUB inner\n    END SUB\nEND IF\n",
        expect![[r#"
            1:1 IF a
            4:5   SUB inner()
            --
            line 2, column 5: error: PARAM declares the script's tool and belongs at the top level, outside any block
            line 3, column 5: error: DESCRIPTION declares the script's tool and belongs at the top level, outside any block
            line 4, column 5: error: SUB inner is inside the IF at line 1; define it at the top level
        "#]],
    );
}

#[test]
fn with_lines_must_set_fields() {
    check(
        "WITH o\n    TALK \"x\"\n    a = 1\n    b =\nEND WITH\nx = LLM \"a\"\n  WITH OPTIMIZE FOR \"cost\"\n",
        expect![[r#"
            1:1 WITH o
            3:5   a = 1
            6:1 x = <LLM "a">
            --
            line 2, column 5: error: inside WITH, each line sets a field: name = value
            line 4, column 8: error: expected a value after `=`, found the end of the line
            line 7, column 17: error: WITH opens a block: WITH name on its own line, then one `field = value` per line, found `FOR`
        "#]],
    );
}

#[test]
fn table_fields_must_be_readable() {
    check(
        "TABLE t\n    Id\n    Name string(abc)\n    Total double KEY extra\nEND TABLE\n",
        expect![[r#"
            1:1 TABLE t
            --
            line 2, column 7: error: a TABLE field is written: name type[(size)] [KEY], found the end of the line
            line 3, column 17: error: expected a whole number for the size, found `abc`
            line 4, column 22: error: a TABLE field is written: name type[(size)] [KEY], found `extra`
            -- manifest
            {"tables":[{"connection":null,"fields":[],"line":1,"name":"t"}]}
        "#]],
    );
}

#[test]
fn an_unclosed_text_block_runs_to_the_end() {
    check(
        "BEGIN TALK\nhello\nEND IF\n",
        expect![[r#"
            1:1 TEXT TALK "hello\nEND IF\n"
            --
            line 1, column 1: error: BEGIN TALK at line 1 is never closed; the file ends at line 3 without END TALK
        "#]],
    );
}

#[test]
fn single_quotes_get_a_hint_that_they_start_a_comment() {
    check(
        "listV[k].hierarquia = 'f'\nTALK '\"' + quote.content + '\"'\nTIMEOUT 1800  ' 30 minutes\n",
        expect![[r#"
            2:1 TALK
            3:1 TIMEOUT 1800
            --
            line 1, column 22: error: expected a value after `=`, found the end of the line (the ' at column 23 starts a comment; strings use double quotes)
            line 2, column 6: warning: the text from this ' on is a comment; if it was meant as a string, use double quotes
            line 3, column 1: warning: TIMEOUT is not a command this compiler knows; it is kept as written and works only if the bot's runtime provides it
        "#]],
    );
}

#[test]
fn statements_start_with_a_word() {
    check(
        "\"text\"\n+ 1\n(x)\nx.y\nTRUE = 1\nf(1) = 2\n",
        expect![[r#"
        --
        line 1, column 1: error: a statement starts with a command, a keyword or a variable name, not a string
        line 2, column 1: error: a statement starts with a command, a keyword or a variable name, not `+`
        line 3, column 1: error: a statement starts with a command, a keyword or a variable name, not `(`
        line 4, column 1: error: this line reads a value but does nothing with it; assign it with `=` or pass it to a command
        line 5, column 1: error: TRUE is a keyword and cannot be assigned to
        line 6, column 1: error: a call cannot be assigned to; assign to a variable, a field or an element
    "#]],
    );
}

#[test]
fn absurd_nesting_is_refused_not_overflowed() {
    let deep_brackets = format!("x = {}1{}\n", "(".repeat(500), ")".repeat(500));
    let long_chain = format!("y = 1{}\n", " + 1".repeat(100_000));
    let deep_blocks = "IF a THEN\n".repeat(26) + &"END IF\n".repeat(26);
    let source = format!("{deep_brackets}{long_chain}{deep_blocks}");
    let compiled = super::compile("deep", &source);
    let messages: Vec<String> = compiled.diagnostics.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "line 1, column 69: error: this expression nests brackets or operators more than 64 levels deep; split it up",
            "line 2, column 5: error: this expression is more than 200 operations deep; split it into several assignments",
            "line 27, column 1: error: blocks are nested more than 24 deep here; move some of this into a SUB",
            "line 28, column 1: error: blocks are nested more than 24 deep here; move some of this into a SUB",
            "line 53, column 1: error: END IF at line 53 has no IF to close",
            "line 54, column 1: error: END IF at line 54 has no IF to close",
        ]
    "#]].assert_debug_eq(&messages);
}

#[test]
fn long_chains_are_fine() {
    let source = format!("y = 1{}\nTALK y\n", " + 1".repeat(120));
    let compiled = super::compile("chain", &source);
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
}

#[test]
fn trees_too_deep_to_store_are_refused() {
    let depth = 22;
    let mut source = "FOR EACH a IN b\n".repeat(depth);
    source.push_str(&format!("x = [{}1{}]\n", "[".repeat(40), "]".repeat(40)));
    source.push_str(&"NEXT\n".repeat(depth));
    let compiled = super::compile("deep", &source);
    let messages: Vec<String> = compiled.diagnostics.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "line 23, column 1: error: this statement nests too deeply to be stored: its tree would be more than 127 levels deep; move inner blocks into a SUB or split long expressions",
        ]
    "#]].assert_debug_eq(&messages);
}

#[test]
fn large_scripts_take_linear_work() {
    // Each of these was quadratic once: labels and GOTOs checked against every label, PARAM
    // names against every PARAM, and brackets counted again for every joined line.
    let labels: String = (0..20_000).map(|n| format!("l{n}:\nGOTO l{n}\n")).collect();
    let params: String = (0..20_000).map(|n| format!("PARAM p{n} AS string\n")).collect();
    let brackets = "x = f(\n".repeat(50_000);
    for source in [labels, params, brackets] {
        let compiled = super::compile("large", &source);
        assert!(compiled.diagnostics.len() < 10, "{:?}", compiled.diagnostics.first());
    }
}
