//! Tests of `transform/mod.rs`.

use super::*;
use serde_json::json;

fn paths(list: &[&str]) -> Vec<Path> {
    list.iter().map(|p| Path::parse(p).unwrap()).collect()
}

fn render(t: &Transform, doc: &Value) -> String {
    let raw = Bytes::from(serde_json::to_vec(doc).unwrap());
    String::from_utf8(t.render(&raw, doc).unwrap().to_vec()).unwrap()
}

#[test]
fn none_forwards_the_original_bytes() {
    let raw = Bytes::from_static(b"{ \"b\" : 1.50,\n \"a\": 2 }");
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(Transform::None.render(&raw, &doc).unwrap(), raw);
}

#[test]
fn select_keeps_structure_and_order() {
    let doc = json!({"z": 1, "call": {"id": "x", "from": "49", "to": "1"},
        "assist": {"s": [{"name": "a", "id": 1, "x": 0}, {"id": 2}, {"x": 9}]}});
    let t = Transform::Select(Selection::new(&paths(&[
        "assist.s[*].name",
        "call.from",
        "call.id",
        "assist.s[*].id",
    ])));
    assert_eq!(
        render(&t, &doc),
        r#"{"call":{"id":"x","from":"49"},"assist":{"s":[{"name":"a","id":1},{"id":2}]}}"#
    );
    let nothing = Transform::Select(Selection::new(&paths(&["nope"])));
    assert_eq!(render(&nothing, &doc), "{}");
}

#[test]
fn select_of_an_index_and_a_wildcard_merges() {
    let doc = json!({"a": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]});
    let t = Transform::Select(Selection::new(&paths(&["a[*].x", "a[1].y"])));
    assert_eq!(render(&t, &doc), r#"{"a":[{"x":1},{"x":3,"y":4}]}"#);
}

#[test]
fn omit_drops_paths_and_keeps_the_rest() {
    let doc = json!({"call": {"id": "x"}, "assist": {"transcription": {"c": "..."}, "s": [{"a": 1, "b": 2}, {"a": 3}]}, "l": [0, 1, 2]});
    let t = Transform::Omit(paths(&[
        "assist.transcription",
        "assist.s[*].a",
        "l[0]",
        "l[2]",
        "missing.x",
    ]));
    assert_eq!(
        render(&t, &doc),
        r#"{"call":{"id":"x"},"assist":{"s":[{"b":2},{}]},"l":[1]}"#
    );
}

#[test]
fn omit_indexes_mean_original_positions() {
    let doc = json!({"a": [[0, 1, 2], [3, 4]], "l": [0, 1, 2, 3]});
    let t = Transform::Omit(paths(&["a[*][0]", "a[0][1]", "l[1]", "l[2]", "l[*]"]));
    assert_eq!(render(&t, &doc), r#"{"a":[[2],[4]],"l":[]}"#);
    let t = Transform::Omit(paths(&["a[0][1]", "a[0]"]));
    assert_eq!(render(&t, &doc), r#"{"a":[[3,4]],"l":[0,1,2,3]}"#);
}

#[test]
fn omit_writes_what_serde_json_would() {
    let text = r#"{"k\"ey": 1.5e300, "ü": "a\nb\u0000", "n": [-0.0, 18446744073709551615, {"x": null, "y": [true]}], "e": {}, "z": []}"#;
    let doc: Value = serde_json::from_str(text).unwrap();
    let t = Transform::Omit(paths(&["n[2].x", "missing", "e.q"]));
    let mut expected = doc.clone();
    expected["n"][2].as_object_mut().unwrap().shift_remove("x");
    assert_eq!(render(&t, &doc), serde_json::to_string(&expected).unwrap());
    let all = Transform::Omit(paths(&["k\"ey", "ü", "n", "e", "z"]));
    assert_eq!(render(&all, &doc), "{}");
}

/// Select and omit on a grid of documents and paths, with the output
/// the first (quadratic) implementation gave: the linear walk must not
/// change a byte.
#[test]
fn select_and_omit_outputs_are_unchanged() {
    let doc = json!({
        "call": {"id": "c1", "users": [
            {"fullName": "A", "id": 1, "tags": ["x", "y"]},
            {"fullName": "B", "id": 2, "tags": []},
            {"id": 3, "tags": ["z"]},
            "not an object",
            null
        ]},
        "m": [[1, 2, 3], [4], [], [[5, 6], [7]]],
        "s": [1, "two", 3.5, null, true],
        "o": {"a": {"b": {"c": 1, "d": 2}}, "e": [{"f": {"g": 1, "h": 2}}]},
        "k": {"with space": 1, "ü": 2}
    });
    #[rustfmt::skip]
    let table: &[(&[&str], &str, &str)] = &[
        (&["call.users[*].fullName"],
         r#"{"call":{"users":[{"fullName":"A"},{"fullName":"B"}]}}"#,
         r#"{"call":{"id":"c1","users":[{"id":1,"tags":["x","y"]},{"id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["call.users[*].tags[*]"],
         r#"{"call":{"users":[{"tags":["x","y"]},{"tags":["z"]}]}}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":[]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":[]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["call.users[*].tags[0]", "call.users[1]"],
         r#"{"call":{"users":[{"tags":["x"]},{"fullName":"B","id":2,"tags":[]},{"tags":["z"]}]}}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["y"]},{"id":3,"tags":[]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["m[*][*]"],
         r#"{"m":[[1,2,3],[4],[[5,6],[7]]]}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[],[],[],[]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["m[*][*][1]", "m[0][2]"],
         r#"{"m":[[3],[[6]]]}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2],[4],[],[[5],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["s[*]"],
         r#"{"s":[1,"two",3.5,null,true]}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["s[1]", "s[3]", "s[9]", "s[*].x"],
         r#"{"s":["two",null]}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,3.5,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["missing", "call.missing", "call.id.deeper", "call.users[99]", "call[*]", "s.x", "o.a[0]"],
         r#"{}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{"with space":1,"ü":2}}"#),
        (&["o.a.b.c", "o.e[*].f.h", "o.a"],
         r#"{"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"h":2}}]}}"#,
         r#"{"call":{"id":"c1","users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"e":[{"f":{"g":1}}]},"k":{"with space":1,"ü":2}}"#),
        (&["k.with space", "k.ü", "call.users[*]"],
         r#"{"call":{"users":[{"fullName":"A","id":1,"tags":["x","y"]},{"fullName":"B","id":2,"tags":[]},{"id":3,"tags":["z"]},"not an object",null]},"k":{"with space":1,"ü":2}}"#,
         r#"{"call":{"id":"c1","users":[]},"m":[[1,2,3],[4],[],[[5,6],[7]]],"s":[1,"two",3.5,null,true],"o":{"a":{"b":{"c":1,"d":2}},"e":[{"f":{"g":1,"h":2}}]},"k":{}}"#),
    ];
    for (list, selected, omitted) in table {
        let select = Transform::Select(Selection::new(&paths(list)));
        assert_eq!(render(&select, &doc), *selected, "select {list:?}");
        let omit = Transform::Omit(paths(list));
        assert_eq!(render(&omit, &doc), *omitted, "omit {list:?}");
    }
    let top = json!([{"a": 1, "b": 2}, [3], 4]);
    let select = Transform::Select(Selection::new(&paths(&["[*].a", "[1]"])));
    assert_eq!(render(&select, &top), r#"[{"a":1},[3]]"#);
    let omit = Transform::Omit(paths(&["[*].a", "[2]"]));
    assert_eq!(render(&omit, &top), r#"[{"b":2},[3]]"#);
}

#[test]
fn jq_without_output_is_an_error() {
    let t = Transform::Jq(Program::compile("empty").unwrap());
    assert!(matches!(
        t.render(&Bytes::new(), &json!({})),
        Err(RenderError::NoOutput)
    ));
}
