//! Tests of `config/tree.rs`.

use super::*;

#[test]
fn plain_scalars_follow_the_core_schema() {
    for (text, want) in [
        ("~", Scalar::Null),
        ("", Scalar::Null),
        ("true", Scalar::Bool(true)),
        ("8", Scalar::Int(8)),
        ("-1", Scalar::Int(-1)),
        ("0x1F", Scalar::Int(31)),
        ("1.5", Scalar::Float(1.5)),
        ("1e3", Scalar::Float(1000.0)),
        ("yes", Scalar::Str("yes")),
        ("10s", Scalar::Str("10s")),
        ("127.0.0.1", Scalar::Str("127.0.0.1")),
        ("1.2.3", Scalar::Str("1.2.3")),
    ] {
        assert_eq!(resolve(text), want, "{text}");
    }
}

#[test]
fn nodes_carry_their_positions_and_aliases_are_expanded() {
    let root = parse("a: &x\n  b: \"8\"\nc: *x\n<<: {d: 1, a: 2}\n").unwrap();
    let Value::Map(entries) = &root.value else {
        panic!("{root:?}")
    };
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.text().unwrap()).collect();
    assert_eq!(keys, ["a", "c", "d"]);
    assert_eq!(entries[0].0.at, (1, 1));
    let Value::Map(inner) = &entries[0].1.value else {
        panic!()
    };
    assert_eq!(inner[0].1.at, (2, 6));
    assert_eq!(inner[0].1.scalar(), Some(Scalar::Str("8")));
    assert_eq!(entries[1].1.at, (3, 4));
}

#[test]
fn syntax_errors_have_a_position() {
    let e = parse("a: \"open\n").unwrap_err();
    assert!(e.message.contains("quote"), "{e:?}");
    assert!(parse("a: 1\n---\nb: 2\n").is_err());
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    // Flow collections meet the YAML parser's own limit first.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse(&deep).is_err());
    let deep: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    let e = parse(&deep).unwrap_err();
    assert!(e.message.contains("nested more than 128"), "{e:?}");

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = parse(&bomb).unwrap_err();
    assert!(e.message.contains("more than 1000000 values"), "{e:?}");
}
