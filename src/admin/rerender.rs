//! Rendering an unrendered delivery again under the rules in force, for a
//! replay: the stored webhook (its source, headers and body) goes through
//! the same route-and-render step as at accept
//! ([`crate::ingress::render::render`]), and the delivery gets the body
//! its target and route are given now, or the reason it still gets none.
//! Pure: must not read the spool or write anything.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::ingress::render::render;
use crate::runtime::Runtime;
use crate::spool::bulk::{Rerendered, Unrendered};

/// What `runtime` makes of `row` now.
pub fn rerender(runtime: &Runtime, row: &Unrendered) -> Rerendered {
    Rerendered {
        id: row.id,
        body: body(runtime, row),
    }
}

fn body(runtime: &Runtime, row: &Unrendered) -> Result<Option<Bytes>, String> {
    let source = runtime.sources.get(&row.source).ok_or_else(|| {
        format!(
            "not rendered again: the source `{}` is no longer in the config",
            row.source
        )
    })?;
    let doc = crate::ingress::json::parse(&row.body)
        .map_err(|e| format!("not rendered again: the stored body is not JSON: {e}"))?;
    let headers = headers(row.headers.as_deref());
    let rendered = render(runtime, source, &headers, &row.body, &doc);
    let outgoing = rendered
        .targets
        .into_iter()
        .find(|o| o.choice.target == row.target && o.choice.route == row.route)
        .ok_or_else(|| {
            format!(
                "not rendered again: the rules in force no longer send this webhook to `{}` by route `{}`",
                row.target, row.route
            )
        })?;
    outgoing.body.map_err(|e| e.to_string())
}

/// The stored headers (a JSON object of names to a value or a list of
/// values, or a list of `[name, value]` pairs); whatever does not read as
/// a header is left out.
fn headers(stored: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    let Some(value) = stored.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
        return map;
    };
    let mut add = |name: &str, value: &Value| {
        let values = match value {
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        for v in values {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(v)) {
                map.append(n, v);
            }
        }
    };
    match &value {
        Value::Object(object) => object.iter().for_each(|(k, v)| add(k, v)),
        Value::Array(pairs) => {
            for pair in pairs {
                if let Some([Value::String(name), value]) = pair.as_array().map(Vec::as_slice) {
                    add(name, value);
                }
            }
        }
        _ => {}
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_headers_read_as_an_object_or_as_pairs() {
        let object = headers(Some(r#"{"x-agent": "reception", "x-many": ["a", "b"]}"#));
        assert_eq!(object.get("x-agent").unwrap(), "reception");
        assert_eq!(object.get_all("x-many").iter().count(), 2);
        let pairs = headers(Some(r#"[["x-agent", "reception"], ["bad name", "x"]]"#));
        assert_eq!(pairs.len(), 1);
        assert!(headers(Some("not json")).is_empty());
        assert!(headers(None).is_empty());
    }
}
