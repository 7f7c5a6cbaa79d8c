//! Tests of `transform/jq.rs`.

use super::*;
use serde_json::json;

#[test]
fn reshapes_and_keeps_key_order() {
    let p = Program::compile(r#"{text: "from \(.call.from)", b: 1, a: 2}"#).unwrap();
    let out = p.first(&json!({"call": {"from": "49"}})).unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        r#"{"text":"from 49","b":1,"a":2}"#
    );
}

#[test]
fn reports_compile_and_runtime_errors() {
    assert!(Program::compile("{").is_err());
    assert!(Program::compile("nosuchfn(1)").is_err());
    let p = Program::compile(".a + 1").unwrap();
    assert!(p.run(&json!({"a": "x"})).is_err());
}

#[test]
fn compile_errors_are_one_line_sentences() {
    for code in [
        "{",
        "(1",
        "[1",
        "\"abc",
        ".a +",
        "if . then 1",
        ".a |\n  +\n  .b",
        "$x",
        "nosuchfn(1)",
    ] {
        let message = Program::compile(code).unwrap_err().to_string();
        assert!(!message.contains('\n'), "{code:?}: {message}");
        assert!(
            message.contains("expected") || message.contains("undefined"),
            "{code:?}: {message}"
        );
    }
}

#[test]
fn deep_programs_compile_on_a_reload_sized_stack_or_are_refused() {
    // SIGHUP compiles on a tokio worker: 2 MiB of stack.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let deep = format!("{}.{}", "(".repeat(1000), ")".repeat(1000));
            assert!(Program::compile(&deep).is_ok());
            let long = ".|".repeat(1100) + ".";
            let e = Program::compile(&long).unwrap_err().to_string();
            assert!(e.contains("at most 2048"), "{e}");
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn empty_output_is_none() {
    let p = Program::compile("empty").unwrap();
    assert_eq!(p.first(&json!({})).unwrap(), None);
}
