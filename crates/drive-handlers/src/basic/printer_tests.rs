//! Tests of the printer: the canonical layout, and that printed source parses back to the
//! same tree in the corners where precedence or phrase reading could change it.

use expect_test::expect;

use super::test_support::assert_round_trip;

#[test]
fn every_construct_prints_in_the_canonical_layout() {
    let source = r#"PARAM name AS string LIKE "Ana" DESCRIPTION "Who" OPTIONAL
PARAM level AS "low", "high"
PARAM size AS integer ENUM [1, 2] LIKE 1
DESCRIPTION "Everything ""at once"""
' a comment that is not kept
rows = find "orders", "status=open"
o = NEW OBJECT
let o.name = name
items[k].sku = -items[k].codigo ^ 2
IF a AND NOT b THEN TALK "one" ELSE TALK "two"
if x = 1 then
    talk "x"
elseif x = 2 then
    talk "y"
else
    talk "z"
end if
FOR EACH item IN list
    ADD SUGGESTION item.key AS item.label
NEXT
FOR i = 1 TO 10 STEP 2
    EXIT FOR
NEXT i
DO
LOOP UNTIL done
DO WHILE x < 3
LOOP
WHILE y
WEND
SELECT CASE kind
    CASE "a", "b"
        TALK "ab"
    CASE ELSE
        TALK "other"
END SELECT
SUB Greet(who)
    TALK "Hi " & who
END SUB
FUNCTION Twice(n)
    RETURN n * 2
END FUNCTION
WITH contact
    name = "Ana"
    found = FIND "contacts", "id=1"
END WITH
BEGIN TALK
  **Hello** it's "me"

END TALK
TABLE t ON db
    Id number key
    Price decimal(10, 2)
END TABLE
HEAR answer AS "yes", "no" WITH "Sure?" DEFAULT "no"
HEAR mail AS EMAIL
again:
ON ERROR GOTO again
ON ERROR RESUME NEXT
payload = #{status: "open", "two words": [1, 2.5, TRUE, NULL]}
list.PUSH(payload)
USE_WEBSITE("https://example.org", "1d")
SET SCHEDULE "0 9 * * 1"
total = (GET "a") + 1
RETURN WITH ok AS TRUE, data AS payload
"#;
    let printed = assert_round_trip(source);
    expect![[r#"
        PARAM name AS string LIKE "Ana" DESCRIPTION "Who" OPTIONAL
        PARAM level AS "low", "high"
        PARAM size AS integer LIKE 1 ENUM [1, 2]
        DESCRIPTION "Everything ""at once"""
        rows = FIND "orders", "status=open"
        o = NEW OBJECT
        o.name = name
        items[k].sku = -items[k].codigo ^ 2
        IF a AND NOT b THEN
            TALK "one"
        ELSE
            TALK "two"
        END IF
        IF x = 1 THEN
            TALK "x"
        ELSE IF x = 2 THEN
            TALK "y"
        ELSE
            TALK "z"
        END IF
        FOR EACH item IN list
            ADD SUGGESTION item.key AS item.label
        NEXT item
        FOR i = 1 TO 10 STEP 2
            EXIT FOR
        NEXT i
        DO
        LOOP UNTIL done
        DO WHILE x < 3
        LOOP
        WHILE y
        WEND
        SELECT CASE kind
            CASE "a", "b"
                TALK "ab"
            CASE ELSE
                TALK "other"
        END SELECT
        SUB Greet(who)
            TALK "Hi " & who
        END SUB
        FUNCTION Twice(n)
            RETURN n * 2
        END FUNCTION
        WITH contact
            name = "Ana"
            found = FIND "contacts", "id=1"
        END WITH
        BEGIN TALK
          **Hello** it's "me"

        END TALK
        TABLE t ON db
            Id number KEY
            Price decimal(10, 2)
        END TABLE
        HEAR answer AS "yes", "no" WITH "Sure?" DEFAULT "no"
        HEAR mail AS EMAIL
        again:
        ON ERROR GOTO again
        ON ERROR RESUME NEXT
        payload = {"status": "open", "two words": [1, 2.5, TRUE, NULL]}
        list.PUSH(payload)
        USE_WEBSITE("https://example.org", "1d")
        SET SCHEDULE "0 9 * * 1"
        total = (GET "a") + 1
        RETURN WITH ok AS TRUE, data AS payload
    "#]]
    .assert_eq(&printed);
}

#[test]
fn operators_print_with_the_parentheses_they_need() {
    let printed = assert_round_trip(
        "a = -2 ^ 2\nb = -(2 ^ 2)\nc = 2 ^ -2\nd = - -x\ne = x - -y\nf = x - (y - z)\n\
         g = (x - y) - z\nh = x = NOT y\ni = NOT x = y\nj = (NOT x) = y\nk = (a OR b) AND c\n\
         l = (a + b).c\nm = (-a).b\nn = a CONTAINS b IS NOT NULL\no = 2 ^ 3 ^ 2\n\
         p = 2 ^ (3 ^ 2)\nq = a & (b + c) * d MOD e\n",
    );
    expect![[r#"
        a = -2 ^ 2
        b = -(2 ^ 2)
        c = 2 ^ -2
        d = --x
        e = x - -y
        f = x - (y - z)
        g = x - y - z
        h = x = (NOT y)
        i = NOT x = y
        j = (NOT x) = y
        k = (a OR b) AND c
        l = (a + b).c
        m = (-a).b
        n = a CONTAINS b IS NOT NULL
        o = 2 ^ 3 ^ 2
        p = 2 ^ (3 ^ 2)
        q = a & (b + c) * d MOD e
    "#]]
    .assert_eq(&printed);
}

#[test]
fn keyword_calls_print_so_that_their_names_read_back() {
    let printed = assert_round_trip(
        r#"TALK (FOO "x")
TALK GET "x"
ADD NOTE GET "x"
history = GET CUSTOMER HISTORY GET SESSION sid, "user_id"
TALK (BAR) BAZ "x"
SEND (MAIL "x")
TALK (USERNAME)
x = (GET "a" OR "b")
y = GET "tier" = "vip"
z = (GET "tier") = "vip"
IF GET "tier" = "vip" THEN
END IF
HEAR choice AS (options)
w = WITH a AS b
"#,
    );
    expect![[r#"
        TALK (FOO "x")
        TALK GET "x"
        ADD NOTE GET "x"
        history = GET CUSTOMER HISTORY GET SESSION sid, "user_id"
        TALK (BAR) BAZ "x"
        SEND (MAIL "x")
        TALK USERNAME
        x = (GET "a") OR "b"
        y = GET "tier" = "vip"
        z = (GET "tier") = "vip"
        IF GET "tier" = "vip" THEN
        END IF
        HEAR choice AS (options)
        w = WITH a AS b
    "#]]
    .assert_eq(&printed);
}

#[test]
fn strings_keep_quotes_and_any_text() {
    let printed = assert_round_trip(
        "TALK \"say \"\"hi\"\"\", \"ação 🎫\", \"\", \"it's\", \"{name} ${x}\", \"a\\nb\"\n",
    );
    expect![[r#"
        TALK "say ""hi""", "ação 🎫", "", "it's", "{name} ${x}", "a\nb"
    "#]]
    .assert_eq(&printed);
}
