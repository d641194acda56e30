//! Snapshot tests of the parser: one `check` per construct and per diagnostic class.

use expect_test::expect;

use super::test_support::check;

#[test]
fn smoke() {
    check(
        r#"TALK "hello"
x = FIND "orders", "status=open"
IF LEN(x) > 0 AND NOT y THEN
    TALK "yes" + x
ELSE
    o = NEW OBJECT
END IF
"#,
        expect![[r#"
            1:1 TALK "hello"
            2:1 x = <FIND "orders", "status=open">
            3:1 IF (AND (> (call LEN x) 0) (NOT y))
            4:5   TALK (+ "yes" x)
            *:* ELSE
            6:5   o = <NEW OBJECT>
        "#]],
    );
}
