//! Tests of `logs/json.rs`.

use super::*;
use std::sync::{Arc, Mutex};

/// The lines `emit` logs through `format`, parsed.
fn lines<F>(format: F, emit: impl FnOnce()) -> Vec<Value>
where
    F: FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::DefaultFields>
        + Send
        + Sync
        + 'static,
{
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Sink(sink.clone()))
        .event_format(format)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn emit() {
    let routes = vec!["to-crm".to_owned(), "quote\"d\n".to_owned()];
    tracing::info!(
        target: "switchboard::ingress",
        id = %"0190",
        source = "sipgate",
        deliveries = 2u64,
        ok = true,
        routes = %List(&routes),
        "accepted"
    );
    tracing::warn!(reason = ?"x\u{1b}y", n = -3i64, "other");
}

#[test]
fn routes_are_a_json_array() {
    let got = lines(JsonLines, emit);
    assert_eq!(
        got[0]["fields"]["routes"],
        serde_json::json!(["to-crm", "quote\"d\n"])
    );
    assert_eq!(got[0]["fields"]["message"], "accepted");
    assert_eq!(got[0]["target"], "switchboard::ingress");
}

#[test]
fn otherwise_lines_are_shaped_like_tracing_subscribers() {
    let ours = lines(JsonLines, emit);
    let stock = lines(tracing_subscriber::fmt::format().json(), emit);
    assert_eq!(ours.len(), 2);
    for (mut ours, mut stock) in ours.into_iter().zip(stock) {
        assert!(ours["timestamp"].as_str().unwrap().ends_with('Z'));
        ours.as_object_mut().unwrap().remove("timestamp");
        stock.as_object_mut().unwrap().remove("timestamp");
        if ours["fields"]["message"] == "accepted" {
            // The one difference: the list.
            stock["fields"]["routes"] = ours["fields"]["routes"].clone();
        }
        assert_eq!(ours, stock);
    }
}

#[test]
fn a_list_shows_as_json_in_text_lines() {
    let routes = vec!["a".to_owned(), "b\u{1b}[31m".to_owned()];
    assert_eq!(List(&routes).to_string(), r#"["a","b\u001b[31m"]"#);
}
